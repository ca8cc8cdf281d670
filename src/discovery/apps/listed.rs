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
                inline: None,
            });
        }
    }
    Some(out)
}

/// A container written as data in an inventory vars file: an entry of a top-level list whose
/// entries each name an image and a container (`containers: - service_name: gitea, image:
/// gitea/gitea:1.21`), for a role from outside the repository to render (a compose
/// generator). `(line, container name, entry name, image)`; entries switched off (`active:
/// false`, `state: absent`) are left out.
pub(crate) fn data_containers(source: &Source) -> Vec<(usize, String, String, Option<String>)> {
    let mut out = Vec::new();
    for list in &source.nodes {
        let entries: Vec<&Node> = list.children.iter().filter(|c| c.is_item()).collect();
        let field =
            |entry: &Node, key: &str| entry.get(key).map(|v| unquote(v.scalar()).to_owned());
        let named = |entry: &&Node| {
            field(entry, "image").is_some()
                && ["service_name", "container_name", "name"]
                    .iter()
                    .any(|k| field(entry, k).is_some())
        };
        // Most entries, not all: one may take its image from a YAML anchor (`<<: *netbox`).
        let with_image = entries.iter().filter(|e| named(e)).count();
        if with_image < 2 || with_image * 4 < entries.len() * 3 {
            continue;
        }
        for entry in entries {
            let off = field(entry, "active").is_some_and(|a| a.eq_ignore_ascii_case("false"))
                || field(entry, "state").as_deref() == Some("absent");
            let Some(name) = ["service_name", "name", "container_name"]
                .iter()
                .find_map(|k| field(entry, k))
            else {
                continue;
            };
            if off || name.contains("{{") {
                continue;
            }
            let container = field(entry, "container_name").unwrap_or_else(|| name.clone());
            out.push((entry.line, container, name, field(entry, "image")));
        }
    }
    out
}

/// The definitions of the containers inventory vars files list as data, for the files a
/// play's external role renders (those the walk reached).
pub(super) fn rendered_from_vars(repository: &Repository, sources: &[Source]) -> Vec<Definition> {
    sources
        .iter()
        .filter(|s| {
            repository.reach.contains_key(&s.rel) && super::super::is_inventory_vars(&s.rel)
        })
        .flat_map(|source| {
            data_containers(source)
                .into_iter()
                .map(|(line, container, name, image)| Definition {
                    file: source.rel.clone(),
                    line,
                    name: container,
                    key: Some(name),
                    image,
                    compose: false,
                    fact: None,
                    unit: UnitKind::Container,
                    pulls: false,
                    inline: None,
                })
        })
        .collect()
}
