//! The one-line edit an upgrade makes to a pin (`discovery::Pin::Var`), on the file's text:
//! a variable `<var>: <value>` set in a vars file (the whole value replaced, a full image
//! reference included), or the tag of an image written in place — a compose file or template
//! (`services.<svc>.image`), a fact's dictionary (`<fact>.image`) or a container task
//! (`image`). Everything but the value's characters stays byte-identical: quotes, comments,
//! spacing, the other lines and the line endings.
//!
//! Invariant: pure (text in, text out); an edit that cannot be found exactly as discovery read
//! it — the variable set to something else, written twice, or through a template — is refused,
//! never guessed at.

use crate::planner::upgrade::{is_image_pin, is_untagged, tag_span};
use crate::repo::outline::{self, Node};

/// Why the pin could not be changed; nothing was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditRefused {
    #[error("{var} is not set to {value:?} as written in {file}; change it by hand")]
    NotFound {
        file: String,
        var: String,
        value: String,
    },
    #[error(
        "{var} = {value:?} is written {count} times in {file}; change the one you mean by hand"
    )]
    Ambiguous {
        file: String,
        var: String,
        value: String,
        count: usize,
    },
    #[error("{0:?} is not a version Chiffon writes into a file (letters, digits, `.`, `_`, `-`)")]
    BadVersion(String),
}

/// The pin to change in one file: `var` as discovery names it, its `from` value as discovery
/// read it (a whole variable value, or an image's tag for the image forms) and the `to` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinEdit<'a> {
    pub file: &'a str,
    pub var: &'a str,
    pub from: &'a str,
    pub to: &'a str,
}

impl PinEdit<'_> {
    /// Whether the pin is an image written in place (its tag changes), not a variable.
    fn is_image(&self) -> bool {
        is_image_pin(self.var)
    }
}

/// `text` with the pin changed, or why it cannot be.
pub fn apply(text: &str, edit: &PinEdit<'_>) -> Result<String, EditRefused> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    let value_ok = if edit.is_image() {
        !edit.to.is_empty() && edit.to.chars().all(allowed)
    } else {
        !edit.to.is_empty() && edit.to.chars().all(|c| allowed(c) || "/:@".contains(c))
    };
    if !value_ok {
        return Err(EditRefused::BadVersion(edit.to.to_owned()));
    }
    let nodes = outline::parse(text);
    // A compose file written inline (`docker_compose_content: |`) holds its pins in the
    // block scalar; read as YAML there, at the lines of the file.
    let blocks = block_nodes(text, &nodes);
    let mut found = search(&nodes, edit);
    if found.is_empty() {
        found = search(&blocks, edit);
    }
    let from = edit.from;
    let untagged = |scalar: &str| from.is_empty() && is_untagged(scalar);
    if found.is_empty()
        && let Some(edited) = by_line(text, edit)?
    {
        return Ok(edited);
    }
    let not_found = || EditRefused::NotFound {
        file: edit.file.to_owned(),
        var: edit.var.to_owned(),
        value: edit.from.to_owned(),
    };
    let node = match found.as_slice() {
        [] => return Err(not_found()),
        [one] => *one,
        many => {
            return Err(EditRefused::Ambiguous {
                file: edit.file.to_owned(),
                var: edit.var.to_owned(),
                value: edit.from.to_owned(),
                count: many.len(),
            });
        }
    };
    let key = node.key.as_deref().unwrap_or_default();
    let scalar = node.scalar();
    // The value's bytes on its line: after `key:`, where the scalar is written.
    let (line_start, line) = nth_line(text, node.line).ok_or_else(not_found)?;
    let after_key = line
        .find(&format!("{key}:"))
        .map(|i| i + key.len() + 1)
        .ok_or_else(not_found)?;
    let value_at = line[after_key..]
        .find(scalar)
        .map(|i| after_key + i)
        .ok_or_else(not_found)?;
    if edit.is_image() && untagged(scalar) {
        let end = line_start + value_at + scalar.len();
        return Ok(format!("{}:{}{}", &text[..end], edit.to, &text[end..]));
    }
    let (from_at, to_end) = if edit.is_image() {
        let (tag_at, _) = tag_span(scalar).ok_or_else(not_found)?;
        (value_at + tag_at, value_at + scalar.len())
    } else {
        (value_at, value_at + scalar.len())
    };
    let start = line_start + from_at;
    let end = line_start + to_end;
    Ok(format!("{}{}{}", &text[..start], edit.to, &text[end..]))
}

/// The nodes holding the pin as discovery read it.
fn search<'a>(nodes: &'a [Node], edit: &PinEdit<'_>) -> Vec<&'a Node> {
    let mut found: Vec<&Node> = Vec::new();
    if edit.is_image() && edit.var != "image" {
        let path: Vec<&str> = edit.var.split('.').collect();
        by_path(nodes, &path, &mut found);
    } else {
        by_key(nodes, edit.var, &mut found);
    }
    found.retain(|node| holds(edit, node.scalar()));
    found
}

/// Whether `value`, as written, holds the pin as discovery read it: an image whose tag is
/// `from` (or, for `from` empty, an image written without a tag, which gets one), else the
/// value itself.
fn holds(edit: &PinEdit<'_>, value: &str) -> bool {
    if edit.is_image() {
        tag_span(value).is_some_and(|(at, _)| value[at..].eq_ignore_ascii_case(edit.from))
            || edit.from.is_empty() && is_untagged(value)
    } else {
        value == edit.from
    }
}

/// The YAML written in the block scalars of a file (`content: |`), outlined at the file's own
/// line numbers.
fn block_nodes(text: &str, nodes: &[Node]) -> Vec<Node> {
    fn shift(nodes: &mut [Node], by: usize) {
        for node in nodes {
            node.line += by;
            shift(&mut node.children, by);
        }
    }
    fn visit(text_lines: &[&str], nodes: &[Node], out: &mut Vec<Node>) {
        for node in nodes {
            if node.is_block_scalar() {
                let mut parsed = outline::parse(&node.block_text(text_lines));
                shift(&mut parsed, node.line);
                out.extend(parsed);
            }
            visit(text_lines, &node.children, out);
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    visit(&lines, nodes, &mut out);
    out
}

/// A pin written as a `KEY=value` line (an environment file, also one written inline; a
/// Quadlet unit's `Image=`): the edited text, `None` when no such line holds it.
fn by_line(text: &str, edit: &PinEdit<'_>) -> Result<Option<String>, EditRefused> {
    let prefix = format!("{}=", edit.var);
    let mut found = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n').trim_end_matches('\r');
        let lead = body.len() - body.trim_start().len();
        if let Some(value) = body.trim_start().strip_prefix(&prefix) {
            let value_at = start + lead + prefix.len();
            let value = value.trim_end();
            if holds(edit, value) {
                found.push((value_at, value));
            }
        }
        start += line.len();
    }
    let (at, value) = match found.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        many => {
            return Err(EditRefused::Ambiguous {
                file: edit.file.to_owned(),
                var: edit.var.to_owned(),
                value: edit.from.to_owned(),
                count: many.len(),
            });
        }
    };
    let end = at + value.len();
    let (from, to) = if !edit.is_image() {
        (at, edit.to.to_owned())
    } else if let Some((tag_at, _)) = tag_span(value) {
        (at + tag_at, edit.to.to_owned())
    } else {
        (end, format!(":{}", edit.to))
    };
    Ok(Some(format!("{}{to}{}", &text[..from], &text[end..])))
}

/// Every node with key `key`, at any depth.
fn by_key<'a>(nodes: &'a [Node], key: &str, found: &mut Vec<&'a Node>) {
    for node in nodes {
        if node.key.as_deref() == Some(key) {
            found.push(node);
        }
        by_key(&node.children, key, found);
    }
}

/// The nodes at `path` (`services.jellyfin.image`): its first key at any depth, the rest
/// as direct children (through list items, for a fact set in a task).
fn by_path<'a>(nodes: &'a [Node], path: &[&str], found: &mut Vec<&'a Node>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let mut starts = Vec::new();
    by_key(nodes, first, &mut starts);
    for start in starts {
        descend(start, rest, found);
    }
}

fn descend<'a>(node: &'a Node, path: &[&str], found: &mut Vec<&'a Node>) {
    let Some((next, rest)) = path.split_first() else {
        found.push(node);
        return;
    };
    for child in &node.children {
        if child.key.as_deref() == Some(*next) {
            descend(child, rest, found);
        } else if child.is_item() {
            descend(child, path, found);
        }
    }
}

/// The byte offset where 1-based line `n` starts, and its text (without the line ending).
fn nth_line(text: &str, n: usize) -> Option<(usize, &str)> {
    let mut start = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == n {
            let body = line.trim_end_matches('\n').trim_end_matches('\r');
            return Some((start, body));
        }
        start += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::upgrade::{current_tag, moved_value};

    fn edit<'a>(file: &'a str, var: &'a str, from: &'a str, to: &'a str) -> PinEdit<'a> {
        PinEdit {
            file,
            var,
            from,
            to,
        }
    }

    /// The lines that differ between two texts.
    fn changed_lines(a: &str, b: &str) -> Vec<(String, String)> {
        assert_eq!(a.lines().count(), b.lines().count());
        a.lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .map(|(x, y)| (x.to_owned(), y.to_owned()))
            .collect()
    }

    #[test]
    fn a_variable_in_a_vars_file_changes_its_value_and_keeps_quotes_and_comments() {
        let text = "---\n# versions of everything\njellyfin_version: \"10.9.11\"  # LTS\njellyfin_port: 8096\nother_version: 10.9.11\n";
        let after = apply(
            text,
            &edit(
                "roles/jellyfin/defaults/main.yml",
                "jellyfin_version",
                "10.9.11",
                "10.9.2",
            ),
        )
        .unwrap();
        assert_eq!(
            after,
            "---\n# versions of everything\njellyfin_version: \"10.9.2\"  # LTS\njellyfin_port: 8096\nother_version: 10.9.11\n"
        );
    }

    #[test]
    fn a_variable_holding_a_whole_image_reference_changes_only_its_tag() {
        let text = "sonarr_image: docker.io/linuxserver/sonarr:4.0.15\nadguard_image: docker.io/adguard/adguardhome:v0.107.52\n";
        let to = moved_value("docker.io/linuxserver/sonarr:4.0.15", "4.0.16");
        assert_eq!(to, "docker.io/linuxserver/sonarr:4.0.16");
        let after = apply(
            text,
            &edit(
                "group_vars/all/versions.yml",
                "sonarr_image",
                "docker.io/linuxserver/sonarr:4.0.15",
                &to,
            ),
        )
        .unwrap();
        assert_eq!(
            changed_lines(text, &after),
            [(
                "sonarr_image: docker.io/linuxserver/sonarr:4.0.15".to_owned(),
                "sonarr_image: docker.io/linuxserver/sonarr:4.0.16".to_owned()
            )]
        );
        assert!(after.ends_with("adguard_image: docker.io/adguard/adguardhome:v0.107.52\n"));
        assert_eq!(
            current_tag("docker.io/adguard/adguardhome:v0.107.52"),
            "v0.107.52"
        );
        assert_eq!(current_tag("10.9.11"), "10.9.11");
        // A whole reference written without a tag gets one.
        assert_eq!(
            moved_value("grafana/grafana", "11.3.0"),
            "grafana/grafana:11.3.0"
        );
        assert_eq!(moved_value("10.9.11", "10.9.2"), "10.9.2");
        assert_eq!(
            moved_value("registry:5000/app:1.0", "1.1"),
            "registry:5000/app:1.1"
        );
    }

    #[test]
    fn an_image_in_a_compose_file_changes_its_tag_in_that_service_only() {
        let text = "services:\n  vaultwarden:\n    image: 'vaultwarden/server:1.32.0'   # pinned\n    restart: unless-stopped\n  other:\n    image: vaultwarden/server:1.32.0\n";
        let after = apply(
            text,
            &edit(
                "files/docker-compose.yml",
                "services.vaultwarden.image",
                "1.32.0",
                "1.32.5",
            ),
        )
        .unwrap();
        assert_eq!(
            changed_lines(text, &after),
            [(
                "    image: 'vaultwarden/server:1.32.0'   # pinned".to_owned(),
                "    image: 'vaultwarden/server:1.32.5'   # pinned".to_owned()
            )]
        );
    }

    #[test]
    fn an_image_written_without_a_tag_gets_one() {
        let text = "services:\n{% if monitoring_role == 'master' %}\n  grafana:\n    image: grafana/grafana # no tag\n{% endif %}\n";
        let after = apply(
            text,
            &edit(
                "roles/monitoring/templates/docker-compose.yml.j2",
                "services.grafana.image",
                "",
                "11.3.0",
            ),
        )
        .unwrap();
        assert_eq!(
            changed_lines(text, &after),
            [(
                "    image: grafana/grafana # no tag".to_owned(),
                "    image: grafana/grafana:11.3.0 # no tag".to_owned()
            )]
        );
    }

    #[test]
    fn a_facts_image_and_a_container_tasks_image_change_their_tag() {
        let fact = "- name: Describe jellyfin\n  ansible.builtin.set_fact:\n    jellyfin_app:\n      image: lscr.io/linuxserver/jellyfin:10.8.13\n      port: 8096\n";
        let after = apply(
            fact,
            &edit("tasks/main.yml", "jellyfin_app.image", "10.8.13", "10.9.0"),
        )
        .unwrap();
        assert!(
            after.contains("      image: lscr.io/linuxserver/jellyfin:10.9.0\n"),
            "{after}"
        );
        assert_eq!(changed_lines(fact, &after).len(), 1);

        let task = "- name: Run pihole\n  community.docker.docker_container:\n    name: pihole\n    image: \"pihole/pihole:2024.06.0\"\r\n    restart_policy: unless-stopped\r\n";
        let after = apply(
            task,
            &edit("tasks/main.yml", "image", "2024.06.0", "2024.07.0"),
        )
        .unwrap();
        assert_eq!(
            after,
            task.replace("pihole/pihole:2024.06.0", "pihole/pihole:2024.07.0"),
            "CRLF endings and quotes kept"
        );
    }

    #[test]
    fn a_pin_not_written_as_discovery_read_it_is_refused() {
        // The variable is set through another one: the value discovery expanded is not in
        // the file, so there is nothing to change in place.
        let text = "jellyfin_version: \"{{ media_version }}\"\nmedia_version: 10.9.11\n";
        let refused = apply(
            text,
            &edit("vars/main.yml", "jellyfin_version", "10.9.11", "10.9.2"),
        );
        assert!(
            matches!(refused, Err(EditRefused::NotFound { .. })),
            "{refused:?}"
        );
        let message = refused.unwrap_err().to_string();
        assert!(
            message.contains("jellyfin_version") && message.contains("vars/main.yml"),
            "{message}"
        );

        // Changed since it was read.
        let moved = "jellyfin_version: 10.9.12\n";
        assert!(
            apply(
                moved,
                &edit("f.yml", "jellyfin_version", "10.9.11", "10.9.2")
            )
            .is_err()
        );

        // Written twice: which one is meant is not guessed.
        let twice = "- hosts: a\n  vars:\n    app_version: 1.0\n- hosts: b\n  vars:\n    app_version: 1.0\n";
        assert!(matches!(
            apply(twice, &edit("site.yml", "app_version", "1.0", "1.1")),
            Err(EditRefused::Ambiguous { count: 2, .. })
        ));

        // A version that would smuggle YAML or templating into the file.
        for bad in ["1.0 # x", "{{ lookup('pipe','id') }}", "1.0\nx: y", ""] {
            assert!(matches!(
                apply("v: 1\n", &edit("f.yml", "v", "1", bad)),
                Err(EditRefused::BadVersion(_))
            ));
        }
    }

    #[test]
    fn pins_written_inline_change_where_they_are_written() {
        // A compose file passed inline to a role, its environment beside it.
        let playbook = "- hosts: authentik\n  roles:\n    - role: docker\n      vars:\n        docker_compose_content: |\n          services:\n            redis:\n              image: docker.io/library/redis:7.2\n            server:\n              image: ghcr.io/goauthentik/server:${AUTHENTIK_TAG:-2024.8.0}\n        docker_compose_env: |\n          PG_USER=authentik\n          AUTHENTIK_TAG=2024.8.3\n";
        let after = apply(
            playbook,
            &edit("authentik.yml", "services.redis.image", "7.2", "7.4"),
        )
        .unwrap();
        assert_eq!(
            changed_lines(playbook, &after),
            [(
                "              image: docker.io/library/redis:7.2".to_owned(),
                "              image: docker.io/library/redis:7.4".to_owned()
            )]
        );
        let after = apply(
            playbook,
            &edit("authentik.yml", "AUTHENTIK_TAG", "2024.8.3", "2024.10.4"),
        )
        .unwrap();
        assert_eq!(
            changed_lines(playbook, &after),
            [(
                "          AUTHENTIK_TAG=2024.8.3".to_owned(),
                "          AUTHENTIK_TAG=2024.10.4".to_owned()
            )]
        );
        // A Quadlet unit copied inline, its image without a tag: the tag is added.
        let unit = "- hosts: all\n  tasks:\n    - ansible.builtin.copy:\n        dest: /etc/containers/systemd/n8n.container\n        content: |\n          [Container]\n          Image=docker.n8n.io/n8nio/n8n\n          Pull=always\n";
        let after = apply(unit, &edit("n8n.yml", "Image", "", "1.107.0")).unwrap();
        assert_eq!(
            changed_lines(unit, &after),
            [(
                "          Image=docker.n8n.io/n8nio/n8n".to_owned(),
                "          Image=docker.n8n.io/n8nio/n8n:1.107.0".to_owned()
            )]
        );
        // Not written as read: refused, nothing changed.
        assert!(matches!(
            apply(unit, &edit("n8n.yml", "Image", "1.0", "1.107.0")),
            Err(EditRefused::NotFound { .. })
        ));
    }
}
