//! A line-exact outline of block-style YAML (what Ansible repositories and compose files are
//! written in): keys, list items, their lines and indentation, and inline values. Suggestions
//! need line numbers and the original text to write diffs against, which a serde parse loses.
//!
//! Flow collections (`{a: 1}`, `[x, y]`) stay inline values; block scalars (`|`, `>`) swallow
//! their indented lines; comments and blank lines are skipped. Anything it cannot read is
//! kept as an inline value rather than guessed at.

/// One node: a `key: value` line, or a `- item` line (whose first key, if any, is a child).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based line number.
    pub line: usize,
    /// Column of the key or the item's dash.
    pub indent: usize,
    /// The key, for `key:` lines; `None` for list items.
    pub key: Option<String>,
    /// What follows `key:` or `- ` on the same line, without a trailing comment.
    pub value: String,
    pub children: Vec<Node>,
    /// The last line of its own text (a block scalar spans several).
    end: usize,
}

impl Node {
    pub fn is_item(&self) -> bool {
        self.key.is_none()
    }

    /// The child with this key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.key.as_deref() == Some(key))
    }

    /// Keys of this node's children, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.children.iter().filter_map(|c| c.key.as_deref())
    }

    /// The inline value without quotes.
    pub fn scalar(&self) -> &str {
        let v = self.value.trim();
        v.strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v)
    }

    /// The last line this node spans (its deepest last descendant).
    pub fn last_line(&self) -> usize {
        self.children
            .last()
            .map_or(self.end, Node::last_line)
            .max(self.end)
    }

    /// Whether its value is a block scalar (`key: |`, `key: >-`).
    pub fn is_block_scalar(&self) -> bool {
        self.value.trim_start().starts_with(['|', '>'])
    }

    /// The text of its block scalar, its indentation removed (`lines` are the document's); its
    /// first line is the line after the node's own.
    pub fn block_text(&self, lines: &[&str]) -> String {
        let body = lines
            .get(self.line..self.last_line().min(lines.len()))
            .unwrap_or_default();
        let indent = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        body.iter()
            .map(|l| l.get(indent..).unwrap_or("").trim_end())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Internal: where a node's own text ends (block scalars span several lines).
#[derive(Debug, Clone)]
struct Raw {
    line: usize,
    indent: usize,
    key: Option<String>,
    value: String,
    end: usize,
}

/// Splits `key: value` (a key is a plain or quoted scalar followed by `:` and a space or EOL).
fn split_key(text: &str) -> Option<(String, String)> {
    let bytes = text.as_bytes();
    let (key, rest) = if let Some(quote @ (b'"' | b'\'')) = bytes.first().copied() {
        let close = text[1..].find(quote as char)? + 1;
        (&text[1..close], &text[close + 1..])
    } else {
        let mut split = None;
        for (i, c) in text.char_indices() {
            if c == ':' && (i + 1 == text.len() || text[i + 1..].starts_with([' ', '\t'])) {
                split = Some(i);
                break;
            }
            if c == '#' || c == '{' || c == '[' {
                return None;
            }
        }
        let i = split?;
        (&text[..i], &text[i..])
    };
    let rest = rest.strip_prefix(':')?;
    if key.is_empty() || key.contains(' ') && !text.starts_with(['"', '\'']) {
        return None;
    }
    Some((key.to_owned(), strip_comment(rest.trim()).to_owned()))
}

fn strip_comment(value: &str) -> &str {
    // A `#` starts a comment only outside quotes and after whitespace.
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in value.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous == ' ' || i == 0 => return value[..i].trim_end(),
            _ => {}
        }
        previous = c;
    }
    value
}

/// How many of the `following` lines a flow collection that `value` opens and leaves open
/// needs to close; `None` when it is closed already or never closes (then it stays as it is).
fn flow_continuation(value: &str, following: &[&str]) -> Option<usize> {
    const LONGEST: usize = 200;
    if !value.starts_with(['{', '[']) || value.starts_with("{{") {
        return None;
    }
    let mut depth = open_brackets(value, 0);
    if depth <= 0 {
        return None;
    }
    for (n, line) in following.iter().take(LONGEST).enumerate() {
        depth = open_brackets(strip_comment(line.trim()), depth);
        if depth <= 0 {
            return Some(n + 1);
        }
    }
    None
}

/// `depth` after the brackets of `text`, outside quotes.
fn open_brackets(text: &str, mut depth: i32) -> i32 {
    // A quote opens a string only where a value starts (`don't` is a word).
    let mut quote = None;
    let mut previous = ' ';
    for c in text.chars() {
        match (quote, c) {
            (None, '"' | '\'') if matches!(previous, ' ' | '{' | '[' | ',' | ':') => {
                quote = Some(c);
            }
            (Some(q), c) if c == q => quote = None,
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth -= 1,
            _ => {}
        }
        previous = c;
    }
    depth
}

/// Parses `text` into its top-level nodes (for a document that is a list: its items).
pub fn parse(text: &str) -> Vec<Node> {
    let lines: Vec<&str> = text.lines().collect();
    let mut raws: Vec<Raw> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        i += 1;
        // A Jinja statement or comment line (`{% if … %}`, `{# … #}`) in a YAML template
        // shapes nothing of the YAML around it.
        let jinja = trimmed.starts_with("{%") || trimmed.starts_with("{#");
        if trimmed.is_empty()
            || trimmed.starts_with('#')
            || trimmed == "---"
            || trimmed == "..."
            || jinja
        {
            continue;
        }
        let mut push = |indent: usize, key: Option<String>, value: String| {
            raws.push(Raw {
                line: i,
                indent,
                key,
                value,
                end: i,
            });
        };
        if let Some(item) = trimmed
            .strip_prefix("- ")
            .or((trimmed == "-").then_some(""))
        {
            let item_indent = indent;
            let inner = item.trim_start();
            let inner_indent = indent + 2 + (item.len() - inner.len());
            match split_key(inner) {
                Some((key, value)) => {
                    push(item_indent, None, String::new());
                    push(inner_indent, Some(key), value);
                }
                None => push(item_indent, None, strip_comment(inner).to_owned()),
            }
        } else if let Some((key, value)) = split_key(trimmed) {
            push(indent, Some(key), value);
        } else {
            push(indent, None, strip_comment(trimmed).to_owned());
        }
        // A flow collection left open (`- { role: x,` … `}` over several lines) takes the
        // lines up to where it closes, joined into its one inline value.
        if let Some(last) = raws.last_mut()
            && let Some(taken) = flow_continuation(&last.value, &lines[i..])
        {
            for next in &lines[i..i + taken] {
                last.value.push(' ');
                last.value.push_str(strip_comment(next.trim()));
            }
            i += taken;
            last.end = i;
        }
        // A block scalar owns the more-indented lines after it.
        let value = raws.last().map(|r| r.value.clone()).unwrap_or_default();
        if value.starts_with('|') || value.starts_with('>') {
            let owner_indent = raws.last().map_or(0, |r| r.indent);
            while i < lines.len() {
                let next = lines[i];
                let next_trimmed = next.trim_start();
                if !next_trimmed.is_empty() && next.len() - next_trimmed.len() <= owner_indent {
                    break;
                }
                i += 1;
            }
            if let Some(last) = raws.last_mut() {
                last.end = i;
            }
        }
    }
    build(&raws, &mut 0, None)
}

/// Builds the tree: a node's children are the following lines indented deeper than it (an
/// item's first key sits on its own line, deeper by construction).
fn build(raws: &[Raw], at: &mut usize, parent_indent: Option<usize>) -> Vec<Node> {
    let mut nodes = Vec::new();
    while *at < raws.len() {
        let raw = &raws[*at];
        if parent_indent.is_some_and(|p| raw.indent <= p) {
            break;
        }
        *at += 1;
        let mut children = build(raws, at, Some(raw.indent));
        // `key:` followed by `- item` lines at the key's own column (a common style).
        if raw.key.is_some() && raw.value.is_empty() && children.is_empty() {
            while *at < raws.len() && raws[*at].key.is_none() && raws[*at].indent == raw.indent {
                let item = &raws[*at];
                *at += 1;
                let item_children = build(raws, at, Some(item.indent));
                children.push(Node {
                    line: item.line,
                    indent: item.indent,
                    key: None,
                    value: item.value.clone(),
                    children: item_children,
                    end: item.end,
                });
            }
        }
        nodes.push(Node {
            line: raw.line,
            indent: raw.indent,
            key: raw.key.clone(),
            value: raw.value.clone(),
            children,
            end: raw.end,
        });
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAY: &str = "---
# a comment
- name: Deploy things   # trailing
  hosts: web
  vars:
    motd: |
      hello: not a key
      - not an item
    db_password: \"s3cret\"
  tasks:
    - name: Say hi
      ansible.builtin.command: echo hi
      register: hi
    - ansible.builtin.reboot:
    - name: 'quoted: name'
      debug: { msg: x }
";

    #[test]
    fn list_items_at_their_key_column_belong_to_the_key() {
        let nodes = parse("tasks:\n- name: a\n  shell: x\n- name: b\nhandlers: []\n");
        let tasks = &nodes[0];
        assert_eq!(tasks.children.len(), 2);
        assert_eq!(tasks.children[1].get("name").unwrap().value, "b");
        assert_eq!(nodes[1].key.as_deref(), Some("handlers"));
    }

    #[test]
    fn keys_items_lines_and_block_scalars() {
        let nodes = parse(PLAY);
        assert_eq!(nodes.len(), 1);
        let play = &nodes[0];
        assert!(play.is_item());
        assert_eq!(play.line, 3);
        assert_eq!(play.get("name").unwrap().scalar(), "Deploy things");
        let vars = play.get("vars").unwrap();
        assert_eq!(vars.keys().collect::<Vec<_>>(), ["motd", "db_password"]);
        assert_eq!(vars.get("db_password").unwrap().scalar(), "s3cret");
        assert_eq!(vars.get("db_password").unwrap().line, 9);
        let tasks = &play.get("tasks").unwrap().children;
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[0].line, 11);
        assert_eq!(
            tasks[0].keys().collect::<Vec<_>>(),
            ["name", "ansible.builtin.command", "register"]
        );
        assert_eq!(
            tasks[0].get("ansible.builtin.command").unwrap().value,
            "echo hi"
        );
        assert_eq!(
            tasks[1].keys().collect::<Vec<_>>(),
            ["ansible.builtin.reboot"]
        );
        assert_eq!(tasks[2].get("name").unwrap().scalar(), "quoted: name");
        assert_eq!(tasks[2].get("debug").unwrap().value, "{ msg: x }");
        assert_eq!(tasks[0].last_line(), 13);
    }

    #[test]
    fn a_flow_mapping_over_several_lines_is_one_inline_value() {
        let text = "- hosts: web
  roles:
    - {
        role: roles_web/docker_pihole, tags: pihole,
        basedir: /srv/pihole, # port 82
        ports: [53,
          80]
      }
    - { role: roles_web/gatus, tags: gatus }
  tasks:
    - debug: { msg: \"don't {\" }
";
        let nodes = parse(text);
        let roles = &nodes[0].get("roles").unwrap().children;
        assert_eq!(roles.len(), 2);
        assert_eq!(
            roles[0].value,
            "{ role: roles_web/docker_pihole, tags: pihole, basedir: /srv/pihole, ports: [53, 80] }"
        );
        assert_eq!((roles[0].line, roles[0].last_line()), (3, 8));
        assert_eq!(roles[1].value, "{ role: roles_web/gatus, tags: gatus }");
        let tasks = &nodes[0].get("tasks").unwrap().children;
        assert_eq!(tasks[0].get("debug").unwrap().value, "{ msg: \"don't {\" }");
    }
}
