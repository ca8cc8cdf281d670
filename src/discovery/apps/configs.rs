//! Where an app's configuration lives: its role's templates and files, vars files named after
//! it, the inventory files setting what its role reads; and, read once per discovery, what
//! each of those files says, which task renders it under which tags, and what it loops over
//! and reads.

use std::collections::BTreeMap;

use super::{App, Candidate, Index, Repository, Source, parent, under};
use crate::discovery::plays::tags_of;
use crate::text::normalize;

/// Files holding an app's configuration: its role's templates and files (not the compose file
/// itself), vars files named after it, its role's defaults and vars, the defining file.
pub(super) fn config_files(
    repository: &Repository,
    index: &Index<'_>,
    file: &str,
    role: Option<&str>,
    names: &[String],
    service: &str,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // A folder a list picks whole (`services/reverse-proxy/`): the files beside the compose
    // file are the project's own configuration (its `Caddyfile`).
    if repository
        .picked_place(file)
        .is_some_and(|(holder, _)| holder != parent(file))
    {
        let folder = format!("{}/", parent(file));
        out.extend(
            under(index.by_path, &folder)
                .map(|(path, _)| *path)
                .filter(|path| *path != file && !path.ends_with("/Dockerfile"))
                .map(str::to_owned),
        );
    }
    // Computed once: a theme role's templates belong to the app only when named after it,
    // and then not by the role's own name (every file of `roles/oddish/` is under it) unless
    // the app's name or service and the role's hold one another (`nextcloud-app` in
    // `nextcloud`, `wg-quick` in `wireguard`); a
    // vars file named for the role (`group_vars/all/monitoring.yml`) still holds its apps'.
    let shared_role = role.is_some_and(|r| repository.apps_share_role_hint(r));
    let role_name = role.and_then(|r| r.rsplit('/').next()).map(normalize);
    let holds = |name: &str| {
        role_name
            .as_ref()
            .is_some_and(|role| name.contains(role.as_str()) || role.contains(name))
    };
    let by_role_name = !shared_role
        || names.first().is_some_and(|first| holds(first))
        || holds(&normalize(service));
    // What the app's own task file renders or copies (`src: app.ini.j2` in a `dev` role's
    // `tasks/gitea.yml`) is its configuration, whatever its name.
    // Its task file: the defining file, or the role's task file installing it (a unit file
    // under `files/` that `tasks/gitea.yml` copies).
    let file_name = file.rsplit('/').next().unwrap_or(file);
    let own_text = if file.contains("/tasks/") {
        index.get(file).map(|s| s.text.as_str())
    } else {
        role.and_then(|r| {
            under(index.by_path, &format!("{r}/tasks/"))
                .find(|(_, source)| source.text.contains(file_name))
                .map(|(_, source)| source.text.as_str())
        })
    }
    .unwrap_or_default();
    let rendered_by_it = |path: &str| {
        let name = path.rsplit('/').next().unwrap_or(path);
        !own_text.is_empty() && own_text.contains(name)
    };
    // Whether `n` may name a template or file of the app.
    let for_files = |n: &str| by_role_name || role_name.as_deref() != Some(n);
    let slashed: Vec<(&str, String)> = names
        .iter()
        .take(3)
        .filter(|n| n.len() >= 3)
        .map(|n| (n.as_str(), format!("/{n}/")))
        .collect();
    let named = |candidate: &Candidate<'_>, files: bool| {
        slashed.iter().any(|(n, slashed)| {
            (!files || for_files(n))
                && (candidate.base.contains(n) || candidate.path.contains(slashed.as_str()))
        })
    };
    let (templates, files) = role.map_or((String::new(), String::new()), |r| {
        (format!("{r}/templates/"), format!("{r}/files/"))
    });
    for candidate in &index.candidates {
        let path = candidate.path;
        let in_role = role.is_some() && (path.starts_with(&templates) || path.starts_with(&files));
        if path != file
            && (in_role && (!shared_role || named(candidate, true) || rendered_by_it(path))
                || (path.contains("templates/") || path.contains("files/"))
                    && named(candidate, true))
        {
            out.push(path.to_owned());
        }
    }
    let starts = |words: &[String], take: usize, files: bool| {
        words.iter().any(|word| {
            names
                .iter()
                .take(take)
                .filter(|n| !files || for_files(n))
                .any(|n| n.len() >= 4 && word.starts_with(n.as_str()))
        })
    };
    for candidate in &index.candidates {
        let path = candidate.path;
        if candidate.vars_file && (named(candidate, false) || starts(&candidate.keys, 2, false))
            || !candidate.vars_file
                && (path.ends_with(".j2") || path.contains("/files/"))
                && starts(&candidate.segments, 3, true)
                && !out.iter().any(|o| o == path)
                && path != file
        {
            out.push(path.to_owned());
        }
    }
    if let Some(role) = role {
        for sub in ["defaults", "vars"] {
            for ext in ["yml", "yaml"] {
                let path = format!("{role}/{sub}/main.{ext}");
                if index.get(&path).is_some() {
                    out.push(path);
                }
            }
        }
    }
    out.push(file.to_owned());
    out.dedup();
    out
}

/// The inventory's files that set what a role reads (`mounts` in `host_vars/qnap.yml` for a
/// mergerfs role looping over `{{ mounts }}`): where one place's setting of the app lives.
pub(super) fn place_config_files(
    repository: &Repository,
    index: &Index<'_>,
    role: &str,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for var in crate::discovery::reads::role_reads(index, role) {
        for def in repository.vars.get(var).into_iter().flatten() {
            if (def.file.contains("host_vars/") || def.file.contains("group_vars/"))
                && !out.contains(&def.file)
            {
                out.push(def.file.clone());
            }
        }
    }
    out
}

impl Repository {
    /// A role whose tasks folder holds several per-app task files (a theme role).
    fn apps_share_role_hint(&self, role: &str) -> bool {
        under(&self.reach, &format!("{role}/tasks/")).count() > 3
    }
}

/// What discovery reads in each app's configuration files.
#[derive(Default)]
pub(crate) struct Settings {
    /// The text as lowercase words joined by single spaces (see `Repository::settings`).
    pub text: BTreeMap<String, String>,
    /// The tags of the role task that renders the file (`src:` naming it).
    pub tags: BTreeMap<String, Vec<String>>,
    /// The role's task file holding that task.
    pub rendered_by: BTreeMap<String, String>,
    /// The list variables it renders one entry at a time.
    pub loops: BTreeMap<String, Vec<String>>,
    /// The variables its Jinja reads.
    pub reads: BTreeMap<String, Vec<String>>,
}

/// What each configuration file of the apps says, renders and reads.
pub(crate) fn settings(apps: &[App], by_path: &BTreeMap<&str, &Source>) -> Settings {
    let Settings {
        mut text,
        mut tags,
        mut rendered_by,
        mut loops,
        mut reads,
    } = Settings::default();
    for app in apps {
        for path in &app.config {
            if text.contains_key(path) {
                continue;
            }
            if let Some(source) = by_path.get(path.as_str()) {
                let said: Vec<String> = crate::services::words(&source.text).collect();
                text.insert(path.clone(), said.join(" "));
                let looped = crate::discovery::reads::looped_lists(&source.text);
                if !looped.is_empty() {
                    loops.insert(path.clone(), looped);
                }
                let read = crate::discovery::reads::file_reads(&source.text);
                if !read.is_empty() {
                    reads.insert(path.clone(), read.into_iter().map(str::to_owned).collect());
                }
            }
            if let Some((task_file, found)) = app
                .role
                .as_deref()
                .and_then(|r| rendering_task(by_path, r, path))
            {
                rendered_by.insert(path.clone(), task_file.to_owned());
                if !found.is_empty() {
                    tags.insert(path.clone(), found);
                }
            }
        }
    }
    Settings {
        text,
        tags,
        rendered_by,
        loops,
        reads,
    }
}

/// The task file of `role` holding the task whose `src:` names the file `path`, and that
/// task's own tags.
fn rendering_task<'p>(
    by_path: &BTreeMap<&'p str, &Source>,
    role: &str,
    path: &str,
) -> Option<(&'p str, Vec<String>)> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let tasks = format!("{role}/tasks/");
    by_path
        .iter()
        .filter(|(p, s)| p.starts_with(&tasks) && s.text.contains(name))
        .flat_map(|(p, s)| s.nodes.iter().filter(|n| n.is_item()).map(|n| (*p, n)))
        .find(|(_, task)| {
            task.children.iter().any(|module| {
                module.get("src").is_some_and(|src| {
                    let src = src.scalar();
                    src == name || src.ends_with(&format!("/{name}"))
                })
            })
        })
        .map(|(p, task)| (p, tags_of(task)))
}
