//! The compose project an app's file belongs to: named after the folder a task writes it
//! to (the `dest:` of the copy or template, per list entry when a loop picks it, or the name a
//! shared task file is given by the role importing it), else after its role or folder; the
//! systemd unit the repository writes to bring the project up and down; and, from these, the
//! unit an app is addressed by (project, container or systemd unit).

use super::{
    App, Definition, Index, Node, Reach, Repository, UnitKind, local_scope, normalize, parent,
    under, unquote,
};

/// A compose project is named after the folder its file is written to.
pub(super) fn compose_project(
    repository: &Repository,
    index: &Index<'_>,
    file: &str,
    role: Option<&str>,
    reach: &[Reach],
) -> String {
    let hosts: Vec<String> = reach
        .iter()
        .flat_map(|r| [r.hosts.clone(), r.playbook.clone()])
        .collect();
    // The file as a task names it in `src:`: its path under the role's `files/` or
    // `templates/` (`librespeed/docker-compose.yml` when each app has a folder there).
    let name = super::as_src(file);
    let fallback = || {
        role.and_then(|r| r.rsplit('/').next()).map_or_else(
            || parent(file).rsplit('/').next().unwrap_or("").to_owned(),
            str::to_owned,
        )
    };
    let local = local_scope(repository, file);
    let scope = role.unwrap_or(local.as_str());
    let prefix = if scope.is_empty() {
        String::new()
    } else {
        format!("{scope}/")
    };
    // Copied per list entry (`dest: /opt/services/{{ item }}`): the entry names the folder.
    if let Some(entry) = reach
        .iter()
        .find_map(|r| r.list.as_ref().map(|(_, _, e)| e))
    {
        for (_, source) in under(index.by_path, &prefix) {
            let mut found = None;
            find_looped_dest(&source.nodes, &mut found);
            let Some(dest) = found else { continue };
            if let Some(folder) =
                project_folder(&crate::discovery::plays::substitute(&dest, "item", entry))
            {
                return folder;
            }
        }
    }
    for (path, source) in under(index.by_path, &prefix) {
        if !source.text.contains(name) || *path == file {
            continue;
        }
        let mut found = None;
        find_dest(&source.nodes, name, &mut found);
        let found = found.map(|dest| match role {
            Some(role) => with_role_params(repository, index, role, &dest),
            None => dest,
        });
        if let Some(dest) = found
            && let Some(folder) = project_folder(&repository.expand_for(&dest, &hosts))
        {
            return folder;
        }
    }
    role.and_then(|role| bound_folder(index, role))
        .unwrap_or_else(fallback)
}

/// `text` with the variables that every play applying `role` passes it as a parameter, with
/// one value, written in (`- { role: docker_pihole, basedir: /srv/pihole }` makes `{{ basedir
/// }}` `/srv/pihole`). A role applied with different values keeps the variable.
fn with_role_params(repository: &Repository, index: &Index<'_>, role: &str, text: &str) -> String {
    let mut out = text.to_owned();
    let names: Vec<&str> = text
        .split("{{")
        .skip(1)
        .filter_map(|rest| Some(rest.split_once("}}")?.0.trim()))
        .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    for name in names {
        if let Some(value) = role_param(repository, index, role, name) {
            out = crate::discovery::plays::substitute(&out, name, &value);
        }
    }
    out
}

/// The value every play applying `role` gives its parameter `var`; `None` when one gives none
/// or they differ.
fn role_param(repository: &Repository, index: &Index<'_>, role: &str, var: &str) -> Option<String> {
    use crate::discovery::plays::flow_field;
    let mut values: Vec<Option<String>> = Vec::new();
    for playbook in &repository.playbooks {
        let Some(source) = index.by_path.get(playbook.path.as_str()) else {
            continue;
        };
        let entries = source
            .nodes
            .iter()
            .filter_map(|play| play.get("roles"))
            .flat_map(|roles| &roles.children);
        for entry in entries {
            let (name, value) = if let Some(flow) = entry.scalar().strip_prefix('{') {
                let name = flow_field(flow, "role").or_else(|| flow_field(flow, "name"));
                (name, flow_field(flow, var))
            } else {
                let field = |key: &str| entry.get(key).map(|n| unquote(n.scalar()).to_owned());
                let value = field(var).or_else(|| {
                    let node = entry.get("vars")?.get(var)?;
                    Some(unquote(node.scalar()).to_owned())
                });
                (field("role").or_else(|| field("name")), value)
            };
            if name.is_some_and(|n| repository.find_role(&n, &playbook.path) == Some(role)) {
                values.push(value.filter(|v| !v.is_empty() && !v.contains("{{")));
            }
        }
    }
    values.dedup();
    match values.as_slice() {
        [Some(value)] => Some(value.clone()),
        _ => None,
    }
}

/// The folder a role's app is written to when the role imports a shared task file with the
/// app's name bound (`import_tasks: tasks/compose_up.yml` with `vars: { t_app_name: readeck
/// }`) and that file writes to `…/{{ t_app_name }}`.
fn bound_folder(index: &Index<'_>, role: &str) -> Option<String> {
    let mut bound: Vec<(String, String)> = Vec::new();
    for (_, source) in under(index.by_path, &format!("{role}/tasks/")) {
        for task in &source.nodes {
            let includes = task.children.iter().any(|c| {
                c.key
                    .as_deref()
                    .is_some_and(|k| k.ends_with("include_tasks") || k.ends_with("import_tasks"))
            });
            let Some(vars) = task.get("vars").filter(|_| includes) else {
                continue;
            };
            bound.extend(vars.children.iter().filter_map(|v| {
                let value = unquote(v.scalar());
                let plain = !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                plain.then(|| (v.key.clone().unwrap_or_default(), value.to_owned()))
            }));
        }
    }
    bound.into_iter().find_map(|(var, value)| {
        let written = [format!("/{{{{ {var} }}}}"), format!("/{{{{{var}}}}}")];
        index
            .by_path
            .values()
            .any(|s| written.iter().any(|w| s.text.contains(w.as_str())))
            .then_some(value)
    })
}

/// The folder a compose file is written to, by the `dest:` that writes it (a file's `dest`
/// names its folder: `…/unifi/compose-unifi.yml` is `unifi`); `None` while still templated.
fn project_folder(dest: &str) -> Option<String> {
    let dest = dest.trim_end_matches('/');
    let dir = if dest.ends_with(".yml") || dest.ends_with(".yaml") {
        parent(dest)
    } else {
        dest
    };
    let last = dir.rsplit('/').next().unwrap_or("");
    (!last.is_empty() && !last.contains("{{") && !last.contains('}')).then(|| last.to_owned())
}

/// The `dest:` of a task copying a folder named by its loop item (`src: services/{{ item }}/`).
fn find_looped_dest(nodes: &[Node], found: &mut Option<String>) {
    for node in nodes {
        if found.is_some() {
            return;
        }
        let looped = |key: &str| {
            node.get(key)
                .is_some_and(|s| s.scalar().contains("{{") && s.scalar().contains("item"))
        };
        if looped("src")
            && looped("dest")
            && let Some(dest) = node.get("dest")
        {
            *found = Some(unquote(dest.scalar()).to_owned());
            return;
        }
        find_looped_dest(&node.children, found);
    }
}

fn find_dest(nodes: &[Node], name: &str, found: &mut Option<String>) {
    for node in nodes {
        if found.is_some() {
            return;
        }
        if node
            .get("src")
            .is_some_and(|s| s.scalar().ends_with(name) || s.scalar().contains(&format!("/{name}")))
            && let Some(dest) = node.get("dest")
        {
            *found = Some(unquote(dest.scalar()).to_owned());
            return;
        }
        // `src: "{{ item }}"`, `dest: "{{ basedir }}/{{ item }}"` over `with_items: [docker-compose.yml, …]`.
        if let Some(dest) = looped_dest(node, name) {
            *found = Some(dest);
            return;
        }
        find_dest(&node.children, name, found);
    }
}

/// The destination of `name` when `task` copies or templates each file its loop lists.
fn looped_dest(task: &Node, name: &str) -> Option<String> {
    let items = task.get("with_items").or_else(|| task.get("loop"))?;
    let item = items
        .children
        .iter()
        .map(|i| unquote(i.scalar()))
        .find(|i| *i == name || i.ends_with(&format!("/{name}")))?;
    task.children.iter().find_map(|module| {
        let src = unquote(module.get("src")?.scalar());
        let dest = unquote(module.get("dest")?.scalar());
        let looped = |t: &str| t.contains("{{ item }}") || t.contains("{{item}}");
        (looped(src) && looped(dest))
            .then(|| crate::discovery::plays::substitute(dest, "item", item))
    })
}

/// The systemd unit written for an app's compose project beside the tasks that deploy it: a
/// unit file's destination or a `systemd` task naming `<template>@<project>.service`.
pub(super) fn lifecycle_unit(
    repository: &Repository,
    index: &Index<'_>,
    app: &App,
) -> Option<String> {
    if app.unit != UnitKind::Compose {
        return None;
    }
    let project = &app.unit_name;
    let scope = app
        .role
        .clone()
        .unwrap_or_else(|| local_scope(repository, &app.file));
    let wanted = format!("@{project}.service");
    let prefix = if scope.is_empty() {
        String::new()
    } else {
        format!("{scope}/")
    };
    under(index.by_path, &prefix)
        .filter(|(path, _)| path.contains("/tasks/") || path.contains("/handlers/"))
        .find_map(|(_, source)| {
            let at = source.text.find(&wanted)?;
            let start = source.text[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .map_or(0, |i| i + 1);
            let unit = &source.text[start..at + wanted.len()];
            (start < at).then(|| unit.to_owned())
        })
}

/// How an app runs and what addresses it: its unit kind, the unit's name (compose project,
/// container or systemd unit) and, for a compose service its file names no container for, the
/// name compose gives that container.
pub(super) fn unit_of(
    repository: &Repository,
    index: &Index<'_>,
    definition: &Definition,
    role: Option<&str>,
    names: &[String],
    name: &str,
    reach: &[Reach],
) -> (UnitKind, String, Option<String>) {
    let role_name = role.and_then(|r| r.rsplit('/').next());
    let mut unit = definition.unit;
    let unit_name = match definition.unit {
        UnitKind::Compose => match definition.inline.as_ref().and_then(|i| i.project.clone()) {
            Some(project) => project,
            None => compose_project(repository, index, &definition.file, role, reach),
        },
        UnitKind::Systemd => super::full_unit_name(name),
        _ => name.to_owned(),
    };
    let compose_container = (unit == UnitKind::Compose)
        .then(|| compose_named(index, definition, &unit_name))
        .flatten();
    let own_container = compose_container.clone().unwrap_or_else(|| name.to_owned());
    // A project written across several compose files: addressed container by container.
    let unit_name = if unit == UnitKind::Compose && index.one_project_of_many(&definition.file) {
        unit = UnitKind::Container;
        own_container
    } else {
        unit_name
    };
    // A compose file picked by name from a list, in a role named for none of its apps
    // (`setup_hosted_services/templates/paperless.j2`): its project folder is not known, its
    // container name is.
    let unit_name = if unit == UnitKind::Compose
        && repository.picked.contains(parent(&definition.file))
        && role_name.is_some_and(|r| {
            normalize(r) == normalize(&unit_name) && names.first() != Some(&normalize(r))
        }) {
        unit = UnitKind::Container;
        name.to_owned()
    } else {
        unit_name
    };
    (unit, unit_name, compose_container)
}

/// The name compose gives the container of a compose service its file names none for
/// (`<project>-<service>-1`).
fn compose_named(index: &Index<'_>, definition: &Definition, project: &str) -> Option<String> {
    let key = definition.key.as_deref()?;
    if let Some(inline) = &definition.inline {
        return (!inline.named).then(|| format!("{project}-{key}-1"));
    }
    index
        .by_path
        .get(definition.file.as_str())
        .and_then(|source| {
            source
                .nodes
                .iter()
                .find(|n| n.key.as_deref() == Some("services"))
        })
        .and_then(|services| services.get(key))
        .filter(|service| service.get("container_name").is_none())
        .map(|_| format!("{project}-{key}-1"))
}
