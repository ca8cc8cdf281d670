//! What a role's files read: the variables its tasks and templates use, and the lists a file
//! renders one entry at a time. Plain text scans of Jinja, no evaluation.

use std::collections::{BTreeMap, BTreeSet};

use super::index::{Index, under};
use super::plays::Reach;
use super::{Repository, Source};

/// The variables a role's tasks and templates read: `{{ name`, and `{% for x in name %}`.
pub(super) fn role_reads<'a>(index: &Index<'a>, role: &str) -> BTreeSet<&'a str> {
    let mut out = BTreeSet::new();
    for (path, source) in under(index.by_path, &format!("{role}/")) {
        if path.contains("/tasks/") || path.contains("/templates/") {
            out.extend(file_reads(&source.text));
        }
    }
    out
}

/// The variables one file's Jinja reads: `{{ name`, and `{% for x in name %}`.
pub(super) fn file_reads(text: &str) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    for (at, said) in text.match_indices("{{").chain(text.match_indices(" in ")) {
        let rest = text[at + said.len()..].trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if name.len() >= 3 && name.contains(|c: char| c.is_ascii_alphabetic()) {
            out.insert(name);
        }
    }
    out
}

/// The list variables a file renders one entry at a time: `{% for d in wolweb_devices %}`,
/// `loop: "{{ mounts }}"`, `with_items: "{{ users }}"`.
pub(super) fn looped_lists(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let ident = |rest: &str| -> String {
        rest.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("{%") {
        let rest = text[at + 2..].trim_start_matches(['-', ' ']);
        if let Some(after_for) = rest.strip_prefix("for ")
            && let Some(in_at) = after_for.find(" in ")
            && !after_for[..in_at].contains("%}")
        {
            let name = ident(&after_for[in_at + 4..]);
            if name.len() >= 3 && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    for key in ["loop:", "with_items:", "with_list:"] {
        for (at, _) in text.match_indices(key) {
            let rest = text[at + key.len()..]
                .trim_start()
                .trim_start_matches(['"', '\'']);
            if let Some(inner) = rest.strip_prefix("{{") {
                let name = ident(inner);
                if name.len() >= 3 && !out.contains(&name) {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// Per variable, the files a play reaches that read it: task files, and a role's reached task
/// files for what its templates read (`extra_packages` in `roles/common/tasks/essential.yml`).
pub(super) fn readers(
    reach: &BTreeMap<String, Vec<Reach>>,
    roles: &[String],
    by_path: &BTreeMap<&str, &Source>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in reach.keys() {
        if let Some(source) = by_path.get(file.as_str()) {
            for var in file_reads(&source.text) {
                out.entry(var.to_owned()).or_default().insert(file.clone());
            }
        }
    }
    for role in roles {
        let tasks: Vec<&String> = under(reach, &format!("{role}/tasks/"))
            .map(|(file, _)| file)
            .collect();
        if tasks.is_empty() {
            continue;
        }
        for (_, source) in under(by_path, &format!("{role}/templates/")) {
            for var in file_reads(&source.text) {
                out.entry(var.to_owned())
                    .or_default()
                    .extend(tasks.iter().map(|f| (*f).clone()));
            }
        }
    }
    out
}

/// Whether a file removes what a list no longer names: a `state: absent` task picking its
/// items by what the list lacks (`not in`, `difference`) or by the entry's own state
/// (`when: item.state == "absent"`), not any removal (a `lineinfile` line taken out).
fn prunes(text: &str) -> bool {
    let by_entry_state = [".state == \"absent\"", ".state == 'absent'"]
        .iter()
        .any(|p| text.contains(p));
    text.contains("absent")
        && (text.contains(" not in ") || text.contains("difference(") || by_entry_state)
}

/// The list variables (set somewhere with items) read by a reached file that [`prunes`]:
/// `containers` lists whose update play removes every container the list no longer names.
pub(super) fn pruned_lists(
    repository: &Repository,
    by_path: &BTreeMap<&str, &Source>,
) -> BTreeSet<String> {
    repository
        .readers
        .iter()
        .filter(|(var, _)| {
            repository
                .vars
                .get(*var)
                .is_some_and(|defs| defs.iter().any(|d| !d.items.is_empty()))
        })
        .filter(|(_, files)| {
            files
                .iter()
                .any(|f| by_path.get(f.as_str()).is_some_and(|s| prunes(&s.text)))
        })
        .map(|(var, _)| var.clone())
        .collect()
}
