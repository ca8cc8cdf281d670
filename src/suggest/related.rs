//! Which files a playbook run used — the playbook, the task files and roles its plays reach
//! (with each role's defaults, vars, templates and handlers), and the compose files and
//! configuration of the apps it deploys — so that a run's summary shows the findings about
//! what just ran rather than the whole repository's.

use std::collections::BTreeSet;
use std::path::Path;

use crate::discovery::Repository;
use crate::suggest::Suggestion;

/// The files of `repository` that a run of `playbook` reads: exact paths, and role folders
/// whose every file counts.
#[derive(Debug, Default, PartialEq)]
pub struct Used {
    pub files: BTreeSet<String>,
    pub roles: BTreeSet<String>,
}

impl Used {
    pub fn contains(&self, file: &str) -> bool {
        self.files.contains(file)
            || self
                .roles
                .iter()
                .any(|role| file.starts_with(role.as_str()) && file[role.len()..].starts_with('/'))
    }
}

/// What a run of each of `playbooks` (paths relative to `root`, the repository) reads.
pub fn used_by(repository: &Repository, root: &Path, playbooks: &[&str]) -> Used {
    let mut used = Used::default();
    let mut pending: Vec<String> = playbooks.iter().map(|p| (*p).to_owned()).collect();
    // Imported playbooks run as part of the playbook that imports them.
    while let Some(playbook) = pending.pop() {
        if !used.files.insert(playbook.clone()) {
            continue;
        }
        if let Some(found) = repository.playbooks.iter().find(|p| p.path == playbook) {
            pending.extend(found.imports.iter().cloned());
        }
    }
    let runs = |playbook: &str| used.files.contains(playbook);
    let mut files = BTreeSet::new();
    let mut roles = BTreeSet::new();
    for (file, reaches) in &repository.reach {
        for reach in reaches.iter().filter(|r| runs(&r.playbook)) {
            files.insert(file.clone());
            if let Some(role) = &reach.role {
                roles.insert(role.clone());
            }
        }
    }
    // An app whose role only these playbooks run is theirs; one deployed through a role that
    // other playbooks share (a generic `compose_stack`) is theirs when they name it.
    let texts: Vec<String> = used
        .files
        .iter()
        .filter_map(|p| crate::repo::read_text(&root.join(p)))
        .map(|t| t.to_ascii_lowercase())
        .collect();
    let named = |app: &crate::discovery::App| {
        std::iter::once(&app.service)
            .chain(&app.names)
            .chain(std::iter::once(&app.container))
            .filter(|n| n.len() >= 3)
            .any(|n| texts.iter().any(|t| t.contains(&n.to_ascii_lowercase())))
    };
    for app in &repository.apps {
        let reached = app.reach.iter().any(|r| runs(&r.playbook));
        let only_these = app.reach.iter().all(|r| runs(&r.playbook));
        if reached && (only_these || named(app)) {
            files.insert(app.file.clone());
            files.extend(app.config.iter().cloned());
        }
    }
    used.files.extend(files);
    used.roles = roles;
    used
}

/// The findings among `found` (ranked) that are about files a run of `playbooks` used.
pub fn findings_for<'a>(
    repository: &Repository,
    root: &Path,
    playbooks: &[&str],
    found: impl Iterator<Item = &'a Suggestion>,
) -> Vec<Suggestion> {
    let used = used_by(repository, root, playbooks);
    found.filter(|s| used.contains(&s.file)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::scratch as repo;

    #[test]
    fn in_the_example_a_kuma_run_uses_the_kuma_stack_and_not_the_other_stacks() {
        let example =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra");
        let repository = Repository::discover(&example);
        let used = used_by(&repository, &example, &["kuma-deployment.yml"]);
        for file in [
            "kuma-deployment.yml",
            "templates/uptime-kuma/compose.yml.j2",
            "roles/compose_stack/tasks/main.yml",
        ] {
            assert!(used.contains(file), "{file}: {used:?}");
        }
        for file in ["stacks/jellyfin/compose.yml", "jellyfin-deployment.yml"] {
            assert!(!used.contains(file), "{file}: {used:?}");
        }
        let used = used_by(&repository, &example, &["jellyfin-deployment.yml"]);
        assert!(used.contains("stacks/jellyfin/compose.yml"), "{used:?}");
    }

    #[test]
    fn a_run_uses_its_playbook_roles_and_their_files_but_not_other_playbooks() {
        let dir = repo(&[
            ("site.yml", "- import_playbook: media.yml\n"),
            (
                "media.yml",
                "- name: Media\n  hosts: media\n  roles:\n    - jellyfin\n",
            ),
            (
                "dns.yml",
                "- name: DNS\n  hosts: dns\n  roles:\n    - pihole\n",
            ),
            (
                "roles/jellyfin/tasks/main.yml",
                "- name: Extra\n  ansible.builtin.include_tasks: extra.yml\n",
            ),
            (
                "roles/jellyfin/tasks/extra.yml",
                "- name: Hi\n  ansible.builtin.debug:\n",
            ),
            ("roles/jellyfin/defaults/main.yml", "jellyfin_port: 8096\n"),
            (
                "roles/pihole/tasks/main.yml",
                "- name: Hi\n  ansible.builtin.debug:\n",
            ),
        ]);
        let repository = Repository::discover(dir.path());
        let used = used_by(&repository, dir.path(), &["site.yml"]);
        for file in [
            "site.yml",
            "media.yml",
            "roles/jellyfin/tasks/main.yml",
            "roles/jellyfin/tasks/extra.yml",
            "roles/jellyfin/defaults/main.yml",
        ] {
            assert!(used.contains(file), "{file}: {used:?}");
        }
        for file in [
            "dns.yml",
            "roles/pihole/tasks/main.yml",
            "roles/jellyfin-old/x.yml",
        ] {
            assert!(!used.contains(file), "{file}: {used:?}");
        }
    }
}
