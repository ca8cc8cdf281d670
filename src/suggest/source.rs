//! The repository as the rules see it: every YAML file and Jinja template read once (vault
//! files left closed), each outlined with its lines and classified (compose, playbook, task
//! list, variables, template), the variables each file defines, and the helpers that read a
//! task (its module and arguments).

use std::collections::HashMap;
use std::path::Path;

use crate::repo::outline::{self, Node};
use crate::repo::relative;

/// What a file is to Ansible (or Docker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Compose,
    Playbook,
    Tasks {
        handlers: bool,
    },
    /// Variables; `role` when a role's `defaults/` or `vars/` owns them.
    Vars {
        role: bool,
    },
    /// A Jinja template that is not a compose file (a config file).
    Template,
    Other,
}

/// One file.
#[derive(Debug)]
pub(crate) struct Source {
    pub file: String,
    pub text: String,
    pub nodes: Vec<Node>,
    pub kind: Kind,
}

/// Where a variable is set.
#[derive(Debug, Clone)]
pub(crate) struct VarDef {
    pub file: String,
    pub value: String,
}

/// Every file the rules read, all file paths, and the variables by name.
#[derive(Debug)]
pub(crate) struct View {
    pub sources: Vec<Source>,
    /// Every file the walker yields, relative, `/`-separated (for roles and stray files).
    pub files: Vec<String>,
    pub vars: HashMap<String, Vec<VarDef>>,
    /// Every word (letters, digits, `_`, `-`) outside comments: how often, and in which
    /// sources (indices into `sources`), so "is this name used anywhere" is a lookup.
    pub words: HashMap<String, (usize, Vec<usize>)>,
}

impl View {
    pub fn read(root: &Path) -> View {
        let files: Vec<String> = crate::repo::files(root, root, |_| true)
            .iter()
            .map(|p| relative(root, p))
            .collect();
        let mut sources = Vec::new();
        for file in files.iter().filter(|f| is_read(f)) {
            let Some(text) = crate::repo::read_text(&root.join(file)) else {
                continue;
            };
            if text.starts_with("$ANSIBLE_VAULT") {
                continue;
            }
            let nodes = outline::parse(&mask_jinja(&text));
            let kind = classify(file, &nodes);
            sources.push(Source {
                file: file.clone(),
                text,
                nodes,
                kind,
            });
        }
        let mut vars: HashMap<String, Vec<VarDef>> = HashMap::new();
        for source in &sources {
            for (key, value) in defined_vars(source) {
                vars.entry(key).or_default().push(VarDef {
                    file: source.file.clone(),
                    value,
                });
            }
        }
        let words = index_words(&sources);
        View {
            sources,
            files,
            vars,
            words,
        }
    }

    /// How often `word` appears outside comments, over the whole repository.
    pub fn count(&self, word: &str) -> usize {
        self.words.get(word).map_or(0, |(count, _)| *count)
    }

    /// The sources that mention `word` outside comments.
    pub fn mentioned_in(&self, word: &str) -> impl Iterator<Item = &Source> {
        self.words
            .get(word)
            .into_iter()
            .flat_map(|(_, at)| at.iter().map(|&i| &self.sources[i]))
    }

    /// The value of `{{ name }}` when the whole of `text` is one variable set once (or set
    /// to the same value everywhere), one level deep.
    pub fn resolve(&self, text: &str) -> Option<String> {
        let name = sole_variable(text)?;
        let defs = self.vars.get(name)?;
        let first = &defs.first()?.value;
        defs.iter()
            .all(|d| &d.value == first)
            .then(|| first.clone())
    }
}

fn index_words(sources: &[Source]) -> HashMap<String, (usize, Vec<usize>)> {
    let mut words: HashMap<String, (usize, Vec<usize>)> = HashMap::new();
    for (index, source) in sources.iter().enumerate() {
        for line in source.text.lines() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            let line = line.split(" #").next().unwrap_or(line);
            for word in line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .filter(|w| w.len() > 1)
            {
                let entry = words.entry(word.to_owned()).or_default();
                entry.0 += 1;
                if entry.1.last() != Some(&index) {
                    entry.1.push(index);
                }
            }
        }
    }
    words
}

/// YAML, templates of YAML and other Jinja templates; not samples of configuration.
fn is_read(file: &str) -> bool {
    let name = file.rsplit('/').next().unwrap_or(file);
    (crate::repo::is_yaml_name(name) || name.ends_with(".j2"))
        && !file.split('/').any(|part| part == "molecule")
}

/// The variable name when `text` is exactly `{{ name }}` (quotes allowed).
pub(crate) fn sole_variable(text: &str) -> Option<&str> {
    let inner = text
        .trim()
        .trim_matches(['"', '\''])
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .trim();
    inner
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(inner)
}

/// Jinja statement and comment lines blanked, and a `{{ … }}:` key quoted, so a template of
/// YAML outlines like the YAML it renders to, with the same line numbers.
pub(crate) fn mask_jinja(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let statement = (trimmed.starts_with("{%") && trimmed.trim_end().ends_with("%}"))
            || (trimmed.starts_with("{#") && trimmed.trim_end().ends_with("#}"));
        if statement {
            // Blank: the line number stays.
        } else if let Some(end) = trimmed.find("}}:").filter(|_| trimmed.starts_with("{{")) {
            out.push_str(indent);
            out.push('"');
            out.push_str(&trimmed[..end + 2]);
            out.push('"');
            out.push_str(&trimmed[end + 2..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn classify(file: &str, nodes: &[Node]) -> Kind {
    let name = file.rsplit('/').next().unwrap_or(file);
    let in_dir = |dir: &str| file.split('/').any(|part| part == dir);
    let top = |key: &str| nodes.iter().any(|n| n.key.as_deref() == Some(key));
    if top("apiVersion") {
        return Kind::Other;
    }
    if name.contains("compose") || top("services") {
        return Kind::Compose;
    }
    if nodes
        .iter()
        .any(|n| n.is_item() && (n.get("hosts").is_some() || n.get("import_playbook").is_some()))
    {
        return Kind::Playbook;
    }
    if name.ends_with(".j2") && !crate::repo::is_yaml_name(name) || in_dir("templates") {
        return Kind::Template;
    }
    if in_dir("handlers") {
        return Kind::Tasks { handlers: true };
    }
    if in_dir("tasks") || nodes.iter().any(|n| n.is_item() && looks_like_task(n)) {
        return Kind::Tasks { handlers: false };
    }
    let role_owned = in_dir("roles") && (in_dir("defaults") || in_dir("vars"));
    if role_owned
        || ["defaults", "vars", "group_vars", "host_vars"]
            .iter()
            .any(|dir| in_dir(dir))
    {
        return Kind::Vars { role: role_owned };
    }
    Kind::Other
}

fn looks_like_task(node: &Node) -> bool {
    node.get("block").is_some()
        || module(node).is_some_and(|m| {
            let key = m.key.as_deref().unwrap_or_default();
            key.starts_with("ansible.")
                || key.starts_with("community.")
                || node.get("name").is_some()
        })
}

/// `key: value` pairs a file defines: top-level keys of variable files, play `vars:`.
fn defined_vars(source: &Source) -> Vec<(String, String)> {
    let pairs = |nodes: &[Node]| -> Vec<(String, String)> {
        nodes
            .iter()
            .filter_map(|n| Some((n.key.clone()?, n.scalar().to_owned())))
            .collect()
    };
    match source.kind {
        Kind::Vars { .. } => pairs(&source.nodes),
        Kind::Playbook => source
            .nodes
            .iter()
            .filter_map(|play| play.get("vars"))
            .flat_map(|vars| pairs(&vars.children))
            .collect(),
        _ => Vec::new(),
    }
}

/// Task keywords: every other key of a task is its module.
const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "become",
    "become_user",
    "become_method",
    "register",
    "tags",
    "notify",
    "listen",
    "loop",
    "loop_control",
    "with_items",
    "with_dict",
    "with_fileglob",
    "with_first_found",
    "vars",
    "args",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "delegate_to",
    "delegate_facts",
    "environment",
    "no_log",
    "until",
    "retries",
    "delay",
    "check_mode",
    "diff",
    "run_once",
    "block",
    "rescue",
    "always",
    "timeout",
    "throttle",
    "any_errors_fatal",
    "collections",
    "module_defaults",
    "debugger",
    "async",
    "poll",
    "connection",
    "local_action",
];

/// The module a task calls, with its node: the first key that is not a task keyword.
pub(crate) fn module(task: &Node) -> Option<&Node> {
    task.children.iter().find(|c| {
        c.key
            .as_deref()
            .is_some_and(|k| !TASK_KEYWORDS.contains(&k))
    })
}

/// `ansible.builtin.command` → `command`.
pub(crate) fn short(module: &str) -> &str {
    module.rsplit('.').next().unwrap_or(module)
}

/// An argument of a task's module: `module: {arg: …}` children, `args:`, or `arg=` free form.
pub(crate) fn arg(task: &Node, module: &Node, name: &str) -> Option<String> {
    if let Some(node) = module
        .get(name)
        .or_else(|| task.get("args").and_then(|a| a.get(name)))
    {
        return Some(node.scalar().to_owned());
    }
    module
        .value
        .split_whitespace()
        .find_map(|part| part.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

/// Every task of a task list, blocks flattened (a block's own keywords stay on the block).
pub(crate) fn each_task<'a>(tasks: &'a [Node], out: &mut Vec<&'a Node>) {
    for task in tasks.iter().filter(|t| t.is_item()) {
        let mut nested = false;
        for section in ["block", "rescue", "always"] {
            if let Some(block) = task.get(section) {
                each_task(&block.children, out);
                nested = true;
            }
        }
        if !nested {
            out.push(task);
        }
    }
}

/// The tasks of a source (a task file's items, a playbook's task sections) with whether they
/// are handlers.
pub(crate) fn tasks_of(source: &Source) -> Vec<(&Node, bool)> {
    let mut out = Vec::new();
    match source.kind {
        Kind::Tasks { handlers } => {
            let mut tasks = Vec::new();
            each_task(&source.nodes, &mut tasks);
            out.extend(tasks.into_iter().map(|t| (t, handlers)));
        }
        Kind::Playbook => {
            for play in &source.nodes {
                for section in ["pre_tasks", "tasks", "post_tasks", "handlers"] {
                    if let Some(list) = play.get(section) {
                        let mut tasks = Vec::new();
                        each_task(&list.children, &mut tasks);
                        out.extend(tasks.into_iter().map(|t| (t, section == "handlers")));
                    }
                }
            }
        }
        _ => {}
    }
    out
}
