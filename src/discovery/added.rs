//! Groups a playbook fills at run time: an earlier play adds hosts with `add_host` looked up in a
//! registry of apps (`(apps | selectattr('name', 'equalto', app_name) | first).host`), and a
//! later play targets that group. The group's hosts are the registry entry's; an app with no
//! entry has no host, so no play runs it.

use std::collections::BTreeMap;

use crate::discovery::{Repository, Source, unquote};
use crate::repo::outline::Node;

const ADD_HOST: &[&str] = &["add_host", "ansible.builtin.add_host"];

/// `(playbook, group)` → the hosts its `add_host` resolves to (empty: the registry lacks it).
pub(crate) fn added_hosts(
    repository: &Repository,
    sources: &[Source],
    by_path: &BTreeMap<&str, &Source>,
) -> BTreeMap<(String, String), Vec<String>> {
    let mut out = BTreeMap::new();
    for playbook in &repository.playbooks {
        let Some(source) = by_path.get(playbook.path.as_str()) else {
            continue;
        };
        for play in source.nodes.iter().filter(|n| n.is_item()) {
            let vars: BTreeMap<String, String> = play
                .get("vars")
                .map(|v| {
                    v.children
                        .iter()
                        .filter_map(|c| Some((c.key.clone()?, unquote(c.scalar()).to_owned())))
                        .collect()
                })
                .unwrap_or_default();
            let mut tasks: Vec<&Node> = ["pre_tasks", "tasks"]
                .iter()
                .filter_map(|k| play.get(k))
                .flat_map(|t| t.children.iter().filter(|n| n.is_item()))
                .collect();
            for role in play.get("roles").into_iter().flat_map(|r| &r.children) {
                let name = role.get("role").map_or(role.scalar(), Node::scalar);
                let Some(folder) = repository.find_role(unquote(name), &playbook.path) else {
                    continue;
                };
                for ext in ["yml", "yaml"] {
                    if let Some(main) = by_path.get(format!("{folder}/tasks/main.{ext}").as_str()) {
                        tasks.extend(main.nodes.iter().filter(|n| n.is_item()));
                    }
                }
            }
            for task in tasks {
                let Some(module) = task
                    .children
                    .iter()
                    .find(|c| c.key.as_deref().is_some_and(|k| ADD_HOST.contains(&k)))
                else {
                    continue;
                };
                let group = module
                    .get("groups")
                    .or_else(|| module.get("group"))
                    .map(|g| {
                        g.children
                            .iter()
                            .find(|c| c.is_item())
                            .map_or(g.scalar(), Node::scalar)
                    })
                    .map(|g| unquote(g).to_owned());
                let name = module.get("name").map(|n| n.scalar().to_owned());
                let (Some(group), Some(name)) = (group, name) else {
                    continue;
                };
                if let Some(hosts) = registry_hosts(sources, &name, &vars) {
                    out.insert((playbook.path.clone(), group), hosts);
                }
            }
        }
    }
    out
}

/// The hosts an expression like `{{ (apps | selectattr('name', 'equalto', app_name) | first).host }}`
/// names, with the play's variables put in; `None` when it is not such a lookup.
fn registry_hosts(
    sources: &[Source],
    expression: &str,
    vars: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    let mut expression = expression.to_owned();
    for (var, value) in vars {
        if value.contains("selectattr") && expression.contains(var.as_str()) {
            let inner = value.trim().trim_start_matches("{{").trim_end_matches("}}");
            expression = expression.replace(var.as_str(), &format!("({})", inner.trim()));
        }
    }
    let at = expression.find("selectattr(")?;
    let list = expression[..at]
        .trim_end()
        .trim_end_matches('|')
        .trim_end()
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()?
        .to_owned();
    let args_end = expression[at..].find(')')? + at;
    let args: Vec<&str> = expression[at + "selectattr(".len()..args_end]
        .split(',')
        .map(str::trim)
        .collect();
    let [key, test, wanted] = args.as_slice() else {
        return None;
    };
    if !matches!(unquote(test), "equalto" | "eq" | "==") {
        return None;
    }
    let key = unquote(key);
    let wanted = if wanted.starts_with(['\'', '"']) {
        unquote(wanted).to_owned()
    } else {
        vars.get(*wanted)?.clone()
    };
    let after = &expression[args_end..];
    let attribute = after
        .rsplit('.')
        .next()
        .filter(|_| after.contains('.'))?
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()?
        .to_owned();
    if list.is_empty() || attribute.is_empty() {
        return None;
    }
    let mut registry = None;
    for source in sources {
        if let Some(node) = find_key(&source.nodes, &list) {
            registry = Some(node);
            break;
        }
    }
    let registry = registry?;
    Some(
        registry
            .children
            .iter()
            .filter(|item| item.is_item())
            .filter(|item| item.get(key).is_some_and(|n| unquote(n.scalar()) == wanted))
            .filter_map(|item| item.get(&attribute).map(|h| unquote(h.scalar()).to_owned()))
            .collect(),
    )
}

/// The first node keyed `key` whose children are list items, anywhere in the outline.
fn find_key<'a>(nodes: &'a [Node], key: &str) -> Option<&'a Node> {
    for node in nodes {
        if node.key.as_deref() == Some(key) && node.children.iter().any(Node::is_item) {
            return Some(node);
        }
        if let Some(found) = find_key(&node.children, key) {
            return Some(found);
        }
    }
    None
}

/// Reaches through a group filled at run time get the registry's hosts; with none, the reach
/// is dropped (no host runs it).
pub(crate) fn apply(repository: &mut Repository, added: &BTreeMap<(String, String), Vec<String>>) {
    if added.is_empty() {
        return;
    }
    for app in &mut repository.apps {
        app.reach.retain_mut(|reach| {
            match added.get(&(reach.playbook.clone(), reach.hosts.clone())) {
                Some(hosts) if hosts.is_empty() => false,
                Some(hosts) => {
                    reach.hosts = hosts.join(",");
                    true
                }
                None => true,
            }
        });
    }
}
