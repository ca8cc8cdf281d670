//! The tags written on single tasks (`tags: [nvme_apst]` on the task that applies a kernel
//! fix): a play run with such a tag does that task alone, so a request that names what the tag
//! names ("re-apply the nvme fix") runs it so.

use std::collections::{BTreeMap, BTreeSet};

use super::Source;
use super::plays::tags_of;
use crate::repo::outline::Node;

/// Tag → the files holding a task (not an include) tagged so, task files and playbooks alike.
pub(crate) fn task_tags(sources: &[Source]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in sources.iter().filter(|s| s.text.contains("tags")) {
        walk(&source.nodes, &source.rel, &mut out);
    }
    out
}

/// Keys that make an item something other than a single task: a play, an include, a block.
const NOT_A_TASK: &[&str] = &[
    "hosts",
    "import_playbook",
    "include_tasks",
    "import_tasks",
    "include_role",
    "import_role",
    "include",
    "block",
    "roles",
];

fn walk(nodes: &[Node], file: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    for node in nodes {
        let task = node.is_item()
            && node.get("name").is_some()
            && node
                .keys()
                .all(|k| !NOT_A_TASK.contains(&k.rsplit('.').next().unwrap_or(k)));
        if task {
            for tag in tags_of(node) {
                if tag != "always" && tag != "never" {
                    out.entry(tag).or_default().insert(file.to_owned());
                }
            }
        }
        walk(&node.children, file, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_of_single_tasks_are_kept_and_those_of_plays_and_includes_are_not() {
        let text = "- name: Fix nvme\n  ansible.builtin.lineinfile:\n    path: /etc/kernel/cmdline\n    line: x\n  tags: [nvme_apst, always]\n\
                    - name: Other tasks\n  ansible.builtin.include_tasks: other.yml\n  tags: other\n\
                    - name: Grouped\n  block:\n    - name: Inside\n      ansible.builtin.command: true\n      tags: inner\n  tags: outer\n";
        let source = Source {
            rel: "roles/proxmox/tasks/main.yml".to_owned(),
            text: text.to_owned(),
            nodes: crate::repo::outline::parse(text),
        };
        let tags = task_tags(&[source]);
        let names: Vec<&str> = tags.keys().map(String::as_str).collect();
        assert_eq!(names, ["inner", "nvme_apst"]);
    }
}
