//! Compose services written through YAML anchors: an extension field (`x-runner-template:
//! &runner`, any top-level key starting `x-`) is a template, not a container, and a service
//! that merges it (`<<: *runner`) runs the template's image unless it sets its own.

use super::{Definition, UnitKind};
use crate::discovery::{Source, unquote};
use crate::repo::outline::Node;

/// Whether a top-level key of a compose file is an extension field (`x-common`).
pub(super) fn is_extension(key: Option<&str>) -> bool {
    key.is_some_and(|k| k.starts_with("x-"))
}

/// The services of a compose file that take their image from an anchor they merge.
pub(super) fn merged_services(source: &Source) -> Vec<Definition> {
    let Some(services) = source
        .nodes
        .iter()
        .find(|n| n.key.as_deref() == Some("services"))
    else {
        return Vec::new();
    };
    services
        .children
        .iter()
        .filter(|service| service.get("image").is_none())
        .filter_map(|service| {
            let anchor = service.get("<<")?.scalar().strip_prefix('*')?.trim();
            let image = anchored(&source.nodes, anchor)?.get("image")?;
            let key = service.key.clone()?;
            let name = service
                .get("container_name")
                .map_or_else(|| key.clone(), |c| unquote(c.scalar()).to_owned());
            Some(Definition {
                pulls: false,
                file: source.rel.clone(),
                line: service.line,
                name,
                key: Some(key),
                image: Some(unquote(image.scalar()).to_owned()),
                compose: true,
                fact: None,
                unit: UnitKind::Compose,
                inline: None,
            })
        })
        .collect()
}

/// The node that defines anchor `name` (`key: &name`), at any depth.
fn anchored<'a>(nodes: &'a [Node], name: &str) -> Option<&'a Node> {
    nodes.iter().find_map(|node| {
        let defines = node
            .value
            .trim()
            .strip_prefix('&')
            .is_some_and(|a| a.split_whitespace().next() == Some(name));
        if defines {
            Some(node)
        } else {
            anchored(&node.children, name)
        }
    })
}
