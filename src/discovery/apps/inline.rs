//! Files written inline rather than kept beside the tasks: a block scalar holding a compose
//! file (a role parameter such as `docker_compose_content: |` that the role copies to the
//! project folder, or a `copy:` task's `content:`), or a Quadlet container unit (`[Container]`
//! with `Image=`) that a `copy:` task writes to `/etc/containers/systemd/<name>.container`.
//! Each compose service, and each such unit, is an app defined at its own line of the file
//! holding it, so the play holding it is what reaches it.

use super::{Definition, UnitKind, walk};
use crate::discovery::{Source, unquote};
use crate::repo::outline::{Node, parse};

/// What is known of a file written inline, beyond its definitions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inline {
    /// The folder a compose file is written to, which names its compose project (a sibling
    /// `dest:` or path parameter: `/root/sonarr` → `sonarr`).
    pub(crate) project: Option<String>,
    /// `KEY=value` lines written beside it as its environment file (`docker_compose_env: |`).
    pub(crate) env: Vec<(String, String)>,
    /// The compose service names its container (`container_name:`).
    pub(crate) named: bool,
}

/// The apps defined in files written inline in `source`.
pub(super) fn definitions(source: &Source) -> Vec<Definition> {
    let mut out = Vec::new();
    if !source.text.contains(": |") && !source.text.contains(": >") {
        return out;
    }
    let lines: Vec<&str> = source.text.lines().collect();
    visit(&source.nodes, &source.rel, &lines, &mut out);
    out
}

fn visit(nodes: &[Node], file: &str, lines: &[&str], out: &mut Vec<Definition>) {
    for node in nodes {
        if !node.children.is_empty() {
            written_in(node, file, lines, out);
            visit(&node.children, file, lines, out);
        }
    }
}

/// The definitions in the block scalars among `holder`'s children.
fn written_in(holder: &Node, file: &str, lines: &[&str], out: &mut Vec<Definition>) {
    let blocks: Vec<(&Node, String)> = holder
        .children
        .iter()
        .filter(|c| c.key.is_some() && c.is_block_scalar())
        .map(|c| (c, c.block_text(lines)))
        .collect();
    if blocks.is_empty() {
        return;
    }
    let scalar = |key: &str| holder.get(key).map(|n| unquote(n.scalar()).to_owned());
    let dest = scalar("dest");
    for (block, text) in &blocks {
        if let Some(unit) = dest.as_deref().and_then(quadlet_name) {
            out.extend(quadlet(block, text, file, unit));
            continue;
        }
        let nodes = parse(text);
        let Some(services) = nodes.iter().find(|n| n.key.as_deref() == Some("services")) else {
            continue;
        };
        if services.children.is_empty() {
            continue;
        }
        let env = blocks
            .iter()
            .filter(|(other, _)| other.line != block.line)
            .flat_map(|(_, text)| env_lines(text))
            .collect::<Vec<_>>();
        let project = dest
            .as_deref()
            .map(folder_of_file)
            .or_else(|| sibling_path(holder))
            .filter(|p| !p.is_empty() && !p.contains("{{"));
        let mut found = Vec::new();
        walk(&nodes, file, &mut Vec::new(), true, &mut found);
        for mut definition in found.into_iter().filter(|d| d.compose) {
            let named = definition.key.as_deref().is_some_and(|key| {
                services
                    .get(key)
                    .is_some_and(|s| s.get("container_name").is_some())
            });
            definition.line += block.line;
            definition.inline = Some(Inline {
                project: project.clone(),
                env: env.clone(),
                named,
            });
            out.push(definition);
        }
    }
}

/// `<name>` of a Quadlet container file a task writes (`/etc/containers/systemd/n8n.container`).
fn quadlet_name(dest: &str) -> Option<&str> {
    dest.rsplit('/')
        .next()?
        .strip_suffix(".container")
        .filter(|n| !n.is_empty() && !n.contains("{{"))
}

/// A Quadlet container unit written inline: systemd runs it as `<name>.service`.
fn quadlet(block: &Node, text: &str, file: &str, name: &str) -> Option<Definition> {
    if !text.lines().any(|l| l.trim() == "[Container]") {
        return None;
    }
    let (offset, image) = text.lines().enumerate().find_map(|(i, l)| {
        let value = l.trim().strip_prefix("Image=")?;
        Some((i, value.trim().to_owned()))
    })?;
    Some(Definition {
        pulls: false,
        file: file.to_owned(),
        line: block.line + 1 + offset,
        name: format!("{name}.service"),
        key: None,
        image: Some(image),
        compose: false,
        fact: None,
        unit: UnitKind::Systemd,
        inline: Some(Inline::default()),
    })
}

/// The `KEY=value` lines of an environment file's text; none when it is not one.
fn env_lines(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let pairs: Vec<(String, String)> = lines
        .iter()
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            let key = key.trim();
            let upper = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            upper.then(|| (key.to_owned(), value.trim().to_owned()))
        })
        .collect();
    if pairs.len() == lines.len() {
        pairs
    } else {
        Vec::new()
    }
}

/// The folder a file is written to (`/root/sonarr/docker-compose.yml` → `sonarr`), or the
/// folder itself when `dest` names one.
fn folder_of_file(dest: &str) -> String {
    let dest = dest.trim_end_matches('/');
    let (dir, name) = dest.rsplit_once('/').unwrap_or(("", dest));
    let folder = if name.contains('.') { dir } else { dest };
    folder.rsplit('/').next().unwrap_or("").to_owned()
}

/// The last folder of a sibling parameter naming a path (`docker_compose_file_path:
/// "/root/sonarr"`, `project_dir: /opt/immich`): where the role writes the file.
fn sibling_path(holder: &Node) -> Option<String> {
    holder
        .children
        .iter()
        .filter(|c| {
            c.key
                .as_deref()
                .is_some_and(|k| k.contains("path") || k.contains("dir") || k.contains("dest"))
        })
        .map(|c| unquote(c.scalar()))
        .find(|v| v.starts_with('/') && !v.contains(' '))
        .map(folder_of_file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(rel: &str, text: &str) -> Source {
        Source {
            rel: rel.to_owned(),
            text: text.to_owned(),
            nodes: parse(text),
        }
    }

    #[test]
    fn a_compose_file_passed_inline_to_a_role_names_its_project_after_the_path_beside_it() {
        let text = "- hosts: servarr\n  roles:\n    - role: docker\n      vars:\n        docker_compose_file_path: \"/root/sonarr\"\n        docker_compose_content: |\n          services:\n            sonarr:\n              image: lscr.io/linuxserver/sonarr:4.0.1\n              container_name: sonarr\n            helper:\n              image: redis:7\n        docker_compose_env: |\n          SONARR_TAG=4.0.1\n";
        let found = definitions(&source("servarr.yml", text));
        let names: Vec<(&str, usize, Option<&str>)> = found
            .iter()
            .map(|d| (d.name.as_str(), d.line, d.image.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("sonarr", 9, Some("lscr.io/linuxserver/sonarr:4.0.1")),
                ("helper", 12, Some("redis:7"))
            ]
        );
        let inline = found[0].inline.as_ref().unwrap();
        assert_eq!(inline.project.as_deref(), Some("sonarr"));
        assert_eq!(inline.env, [("SONARR_TAG".to_owned(), "4.0.1".to_owned())]);
        assert!(inline.named);
        assert!(!found[1].inline.as_ref().unwrap().named);
    }

    #[test]
    fn a_quadlet_copied_inline_is_its_service_unit_and_other_inline_text_is_nothing() {
        let text = "- hosts: all\n  tasks:\n    - name: unit\n      ansible.builtin.copy:\n        dest: /etc/containers/systemd/n8n.container\n        content: |\n          [Container]\n          Image=docker.n8n.io/n8nio/n8n\n          Pull=always\n    - name: volume\n      ansible.builtin.copy:\n        dest: /etc/containers/systemd/n8n-data.volume\n        content: |\n          [Volume]\n    - name: config\n      ansible.builtin.copy:\n        dest: /etc/caddy/sites/n8n\n        content: |\n          services:\n            not: yaml {\n";
        let found = definitions(&source("n8n.yml", text));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "n8n.service");
        assert_eq!(found[0].line, 8);
        assert_eq!(found[0].unit, UnitKind::Systemd);
        assert_eq!(found[0].image.as_deref(), Some("docker.n8n.io/n8nio/n8n"));
    }
}
