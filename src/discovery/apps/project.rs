//! The compose project an app's file belongs to: named after the folder a task writes it
//! to (the `dest:` of the copy or template, per list entry when a loop picks it, or the name a
//! shared task file is given by the role importing it), else after its role or folder; and the
//! systemd unit the repository writes to bring the project up and down.

use super::{App, Index, Node, Reach, Repository, UnitKind, local_scope, parent, under, unquote};

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
    let name = ["/files/", "/templates/"]
        .iter()
        .find_map(|dir| file.split_once(dir).map(|(_, rel)| rel))
        .unwrap_or_else(|| file.rsplit('/').next().unwrap_or(file));
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
        if let Some(dest) = found
            && let Some(folder) = project_folder(&repository.expand_for(&dest, &hosts))
        {
            return folder;
        }
    }
    role.and_then(|role| bound_folder(index, role))
        .unwrap_or_else(fallback)
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
        find_dest(&node.children, name, found);
    }
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
