//! Containers written as the entries of a list: a container task looped over a list of
//! definitions (`name: "{{ item.name }}"`, `image: "{{ item.image }}"` over `uptimekuma:` in the
//! role's vars) is one app per entry the list keeps (an entry with `state: absent` runs nowhere).

use std::collections::BTreeMap;

use super::{Definition, UnitKind};
use crate::discovery::{Repository, Source, unquote};
use crate::repo::outline::Node;

/// Each container definition whose name a loop item writes, as one definition per entry of
/// the list it loops over; the others as they are.
pub(super) fn expand_looped(
    repository: &Repository,
    by_path: &BTreeMap<&str, &Source>,
    definitions: Vec<Definition>,
) -> Vec<Definition> {
    let mut out = Vec::new();
    for definition in definitions {
        if definition.unit != UnitKind::Container || !definition.name.contains("{{") {
            out.push(definition);
            continue;
        }
        match entries(repository, by_path, &definition) {
            Some(entries) if !entries.is_empty() => out.extend(entries),
            _ => out.push(definition),
        }
    }
    out
}

/// The task whose module is written at `line`.
fn task_at(nodes: &[Node], line: usize) -> Option<&Node> {
    nodes.iter().find_map(|node| {
        if node.is_item() && node.children.iter().any(|c| c.line == line) {
            Some(node)
        } else {
            task_at(&node.children, line)
        }
    })
}

fn entries(
    repository: &Repository,
    by_path: &BTreeMap<&str, &Source>,
    definition: &Definition,
) -> Option<Vec<Definition>> {
    let task = task_at(
        &by_path.get(definition.file.as_str())?.nodes,
        definition.line,
    )?;
    let loop_var = task
        .get("loop_control")
        .and_then(|c| c.get("loop_var"))
        .map_or("item", |v| unquote(v.scalar()));
    let list = task
        .get("loop")
        .or_else(|| task.get("with_items"))
        .or_else(|| task.get("with_list"))?;
    let list = unquote(list.scalar())
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .split('|')
        .next()?
        .trim();
    // `{{ item.name }}` (or `{{ item['name'] }}`): the entry's field it reads.
    let field_of = |expression: &str| -> Option<String> {
        let inner = unquote(expression)
            .trim()
            .strip_prefix("{{")?
            .strip_suffix("}}")?
            .trim();
        let field = inner.strip_prefix(loop_var)?;
        let field = field
            .strip_prefix('.')
            .or_else(|| field.strip_prefix("['")?.strip_suffix("']"))?;
        (!field.is_empty()).then(|| field.to_owned())
    };
    let name_field = field_of(&definition.name)?;
    let image_field = definition.image.as_deref().and_then(field_of);
    let mut out = Vec::new();
    for var in repository.vars.get(list)? {
        let Some(node) = by_path
            .get(var.file.as_str())
            .and_then(|s| s.nodes.iter().find(|n| n.key.as_deref() == Some(list)))
        else {
            continue;
        };
        for entry in node.children.iter().filter(|c| c.is_item()) {
            let field = |key: &str| entry.get(key).map(|v| unquote(v.scalar()).to_owned());
            let Some(name) = field(&name_field).filter(|n| !n.is_empty()) else {
                continue;
            };
            if field("state").as_deref() == Some("absent") {
                continue;
            }
            let image = match &image_field {
                Some(image) => field(image),
                None => definition.image.clone(),
            };
            let pulls = field("pull").is_some_and(|p| {
                matches!(
                    p.to_lowercase().as_str(),
                    "yes" | "true" | "always" | "newer"
                )
            });
            out.push(Definition {
                file: definition.file.clone(),
                line: definition.line,
                name,
                key: None,
                image,
                compose: false,
                fact: None,
                unit: UnitKind::Container,
                pulls,
            });
        }
    }
    Some(out)
}
