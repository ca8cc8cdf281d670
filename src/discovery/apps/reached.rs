//! Which plays reach the file defining an app: the file itself, a task file including it, or
//! a task naming it in `src:`; and for a container written inline in a playbook of several
//! plays, only the play holding its task.

use super::{Index, Reach, Repository, under, unquote};

/// A container written inline in a playbook of several plays (`hosts: podman01`, then `hosts:
/// podman02`) runs only where the play holding its task does.
pub(super) fn in_its_play(
    repository: &Repository,
    file: &str,
    line: usize,
    reach: Vec<Reach>,
) -> Vec<Reach> {
    let Some(playbook) = repository.playbooks.iter().find(|p| p.path == file) else {
        return reach;
    };
    let Some(play) = playbook.plays.iter().rposition(|p| p.line <= line) else {
        return reach;
    };
    if playbook.plays.len() < 2 {
        return reach;
    }
    reach
        .into_iter()
        .filter(|r| r.playbook != file || r.play == play)
        .collect()
}

/// The plays that reach the file defining an app: the file itself, else the task files of its
/// role that render it, else the role.
pub(super) fn reach_of(
    repository: &Repository,
    index: &Index<'_>,
    file: &str,
    role: Option<&str>,
) -> Vec<Reach> {
    if let Some(reach) = repository.reach.get(file) {
        return reach.clone();
    }
    // As a task names it in `src:`: its path under `templates/` or `files/`
    // (`mosquitto/docker-compose.yml.j2` when every app's file is `docker-compose.yml.j2`).
    let name = as_src(file);
    let scope = role.map_or_else(|| local_scope(repository, file), str::to_owned);
    // Picked by name from a list that does not name it: the file, or its folder
    // (`services/plex/` beside the folders a host's `projects` list names). Unless a task of
    // its own renders it by its name (`src: docker-compose.yml.j2` beside a loop over the
    // config files).
    if repository.picked_place(file).is_some() && !rendered_by_name(index, &scope, name) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let in_tasks = role.is_some_and(|r| file.starts_with(&format!("{r}/tasks/")));
    if in_tasks {
        return out; // a task file no include reaches: unwired
    }
    let prefix = if scope.is_empty() {
        String::new()
    } else {
        format!("{scope}/")
    };
    for (path, reaches) in under(&repository.reach, &prefix) {
        if path == file {
            continue;
        }
        let Some(source) = index.get(path) else {
            continue;
        };
        if source.text.contains(name) {
            out.extend(reaches.iter().cloned());
        }
    }
    // Named only by a task file no play reaches (its import commented out): unwired.
    let named_unreached = || {
        under(index.by_path, &prefix).any(|(path, source)| {
            *path != file && path.contains("/tasks/") && source.text.contains(name)
        })
    };
    if out.is_empty()
        && let Some(role) = role
        && !named_unreached()
    {
        out.extend(repository.reach.get(role).into_iter().flatten().cloned());
    }
    out
}

/// Whether a task file under `scope` names `name` as its `src:`, with no variable in it.
fn rendered_by_name(index: &Index<'_>, scope: &str, name: &str) -> bool {
    let prefix = if scope.is_empty() {
        String::new()
    } else {
        format!("{scope}/")
    };
    under(index.by_path, &prefix).any(|(path, source)| {
        path.contains("tasks/")
            && source.text.lines().any(|line| {
                line.trim_start()
                    .trim_start_matches("- ")
                    .strip_prefix("src:")
                    .is_some_and(|value| unquote(value.trim()) == name)
            })
    })
}

/// A file as a task names it in `src:`: its path under `templates/` or `files/`, also at the
/// top of the repository (`templates/gotify/docker-compose.yml.j2` is `gotify/…`), else its
/// name.
pub(super) fn as_src(file: &str) -> &str {
    ["/templates/", "/files/"]
        .iter()
        .find_map(|dir| {
            file.split_once(dir)
                .map(|(_, rel)| rel)
                .or_else(|| file.strip_prefix(&dir[1..]))
        })
        .unwrap_or_else(|| file.rsplit('/').next().unwrap_or(file))
}

/// Where the tasks rendering a file outside any role live: the folder above its `templates/`
/// or `files/` folder (`playbooks/<app>/templates/x` → `playbooks/<app>`), else the project.
pub(super) fn local_scope(repository: &Repository, file: &str) -> String {
    for marker in ["/templates/", "/files/"] {
        if let Some(at) = file.find(marker) {
            return file[..at].to_owned();
        }
    }
    repository.project_of(file).to_owned()
}
