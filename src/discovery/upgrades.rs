//! Tasks that upgrade every package a machine has (`apt: upgrade: dist`, `package: name: "*"
//! state: latest`, `pacman`/`apk` `upgrade: true`): what "run the os package updates" runs,
//! wherever the repository keeps it (a role of its own, a task of a base role behind a
//! switch, a playbook of its own).

use serde::Serialize;

use super::Source;
use crate::repo::outline::Node;

/// The package modules whose call can upgrade everything installed.
const PACKAGE_MODULES: &[&str] = &[
    "apt", "dnf", "yum", "package", "pacman", "apk", "zypper", "dnf5",
];

/// Words of a `when:` that are no variable of the repository's.
const NOT_VARIABLES: &[&str] = &[
    "and",
    "or",
    "not",
    "is",
    "in",
    "defined",
    "undefined",
    "bool",
    "true",
    "false",
    "none",
    "default",
    "length",
    "int",
    "string",
    "lower",
    "upper",
];

/// One task upgrading every package.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackageUpgrade {
    /// The file holding the task: a task file, or a playbook whose play runs it inline.
    pub file: String,
    /// The line of the module call.
    pub line: usize,
    /// The variables its `when:` tests (`system_update`), for a switch that gates it.
    pub when: Vec<String>,
}

/// Every such task of the repository, in file order.
pub(crate) fn find(sources: &[Source]) -> Vec<PackageUpgrade> {
    let mut found = Vec::new();
    for source in sources {
        if source.text.contains("upgrade") || source.text.contains("latest") {
            walk(&source.nodes, &source.rel, &mut found);
        }
    }
    found
}

fn walk(nodes: &[Node], file: &str, found: &mut Vec<PackageUpgrade>) {
    for node in nodes {
        if let Some(line) = upgrades_everything(node) {
            found.push(PackageUpgrade {
                file: file.to_owned(),
                line,
                when: when_variables(node),
            });
        }
        walk(&node.children, file, found);
    }
}

/// The line of the module call when `task` upgrades every installed package.
fn upgrades_everything(task: &Node) -> Option<usize> {
    task.children.iter().find_map(|call| {
        let module = call.key.as_deref()?.rsplit('.').next()?;
        if !PACKAGE_MODULES.contains(&module) {
            return None;
        }
        let upgrade = call.get("upgrade").is_some_and(|u| {
            !matches!(
                u.scalar().to_ascii_lowercase().as_str(),
                "" | "no" | "false"
            )
        });
        let everything = call.get("name").is_some_and(|n| n.scalar() == "*")
            && call
                .get("state")
                .is_some_and(|s| matches!(s.scalar(), "latest"));
        (upgrade || everything).then_some(call.line)
    })
}

/// The variable names a task's `when:` (one line or a list) tests, Ansible's facts left out.
fn when_variables(task: &Node) -> Vec<String> {
    let Some(when) = task.get("when") else {
        return Vec::new();
    };
    let mut text = when.scalar().to_owned();
    for item in &when.children {
        text.push(' ');
        text.push_str(item.scalar());
    }
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let fresh = !out.iter().any(|w| w == word);
        let variable = word.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && !word.starts_with("ansible_")
            && !NOT_VARIABLES.contains(&word);
        if variable && fresh {
            out.push(word.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(rel: &str, text: &str) -> Source {
        Source {
            rel: rel.to_owned(),
            text: text.to_owned(),
            nodes: crate::repo::outline::parse(text),
        }
    }

    #[test]
    fn an_upgrade_of_everything_is_found_and_a_single_package_is_not() {
        let tasks = source(
            "roles/system/tasks/packages.yml",
            "- name: Base packages\n  ansible.builtin.apt:\n    name: [vim, htop]\n    state: latest\n\
             - name: Update system\n  when: system_update and ansible_os_family == 'Debian'\n  ansible.builtin.apt:\n    update_cache: true\n    upgrade: full\n\
             - name: Update system - redhat\n  ansible.builtin.dnf:\n    name: \"*\"\n    state: latest\n\
             - name: No upgrade\n  ansible.builtin.apt:\n    upgrade: no\n",
        );
        let playbook = source(
            "update.yml",
            "- hosts: all\n  tasks:\n    - name: Upgrade all\n      block:\n        - name: Upgrade\n          community.general.pacman:\n            upgrade: true\n",
        );
        let found = find(&[tasks, playbook]);
        let at: Vec<(&str, usize, &[String])> = found
            .iter()
            .map(|u| (u.file.as_str(), u.line, u.when.as_slice()))
            .collect();
        assert_eq!(
            at,
            [
                (
                    "roles/system/tasks/packages.yml",
                    7,
                    &["system_update".to_owned()][..]
                ),
                ("roles/system/tasks/packages.yml", 11, &[][..]),
                ("update.yml", 6, &[][..]),
            ]
        );
    }
}
