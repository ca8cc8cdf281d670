//! Where a run happens: the Ansible project a playbook belongs to, found the way its owner runs
//! it (`cd ansible && ansible-playbook playbooks/media.yml`). Homelab repositories often keep
//! their project in a subfolder with its own `ansible.cfg` (inventory, `roles_path`), or have no
//! `ansible.cfg` at all and an `inventory.yml` beside the playbooks; run from the repository's
//! top with neither, a play matches no host and does nothing. So a run starts in the project's
//! folder, with its configuration, and with `-i` when the configuration names no inventory and
//! the folder holds exactly one.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// Folders never searched for projects: tooling, dependencies, tests.
const SKIPPED: [&str; 7] = [
    "roles",
    "collections",
    "node_modules",
    "tests",
    "molecule",
    "galaxy_roles",
    "vendor",
];
/// How deep below the repository a project folder may be (`infra/ansible/` is two).
const MAX_DEPTH: usize = 3;
/// Files Ansible users name their inventory, at a project's top.
const INVENTORY_FILES: [&str; 8] = [
    "inventory",
    "inventory.yml",
    "inventory.yaml",
    "inventory.ini",
    "hosts",
    "hosts.yml",
    "hosts.yaml",
    "hosts.ini",
];

/// The folder a run happens in, its configuration and the inventory to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Where ansible-playbook starts (absolute).
    pub dir: PathBuf,
    /// Its `ansible.cfg` (`ANSIBLE_CONFIG`), when it has one.
    pub config: Option<PathBuf>,
    /// `-i`: only when the configuration names no inventory and the folder holds one.
    pub inventory: Option<PathBuf>,
}

impl Project {
    /// The project of `playbook` (relative to `repo`): the nearest folder above it with an
    /// `ansible.cfg`, else the nearest with an inventory, else the repository itself.
    pub fn of_playbook(repo: &Path, playbook: &str) -> anyhow::Result<Project> {
        let mut folders: Vec<PathBuf> = Vec::new();
        let mut at = repo.join(playbook);
        while at.pop() && at.starts_with(repo) {
            folders.push(at.clone());
        }
        let dir = folders
            .iter()
            .find(|f| crate::repo::is_regular_file(&f.join("ansible.cfg")))
            .or_else(|| folders.iter().find(|f| !inventories_in(f).is_empty()))
            .cloned()
            .unwrap_or_else(|| repo.to_owned());
        Self::at(dir)
    }

    /// The project of a built-in action aimed at `hosts` (an Ansible pattern: `lola`,
    /// `media:dev`): the first project whose inventory names every host and group in it; the
    /// repository itself when none does (its run then says no host matched).
    pub fn of_hosts(repo: &Path, hosts: &str) -> anyhow::Result<Project> {
        let names: Vec<&str> = hosts
            .split([':', ','])
            .map(|n| n.trim_start_matches(['!', '&']).trim())
            .filter(|n| !n.is_empty() && *n != "all")
            .collect();
        let mut candidates = vec![repo.to_owned()];
        project_folders(repo, 0, &mut candidates);
        for dir in candidates {
            let Ok(project) = Self::at(dir) else { continue };
            let text = project.inventory_text();
            if !text.is_empty() && names.iter().all(|n| names_word(&text, n)) {
                return Ok(project);
            }
        }
        Self::at(repo.to_owned())
    }

    /// `dir` as a project: its configuration, and the inventory to name when that names none.
    fn at(dir: PathBuf) -> anyhow::Result<Project> {
        let config = Some(dir.join("ansible.cfg")).filter(|c| crate::repo::is_regular_file(c));
        let configured = config
            .as_deref()
            .and_then(|c| std::fs::read_to_string(c).ok())
            .is_some_and(|text| names_inventory(&text));
        let inventory = if configured {
            None
        } else {
            let found = inventories_in(&dir);
            if found.len() > 1 {
                let names: Vec<String> = found
                    .iter()
                    .filter_map(|p| p.strip_prefix(&dir).ok())
                    .map(|p| p.display().to_string())
                    .collect();
                bail!(
                    "{} holds several inventories ({}) and no ansible.cfg there names one; add `inventory = <one of them>` under [defaults] in {}",
                    dir.display(),
                    names.join(", "),
                    dir.join("ansible.cfg").display()
                );
            }
            found.into_iter().next()
        };
        Ok(Project {
            dir,
            config,
            inventory,
        })
    }

    /// The text of the inventory this project uses (the configured one, or `-i`'s), for
    /// finding host and group names; empty when there is none to read.
    fn inventory_text(&self) -> String {
        let mut paths = Vec::new();
        if let Some(inventory) = &self.inventory {
            paths.push(inventory.clone());
        }
        if let Some(text) = self
            .config
            .as_deref()
            .and_then(|c| std::fs::read_to_string(c).ok())
        {
            for entry in configured_inventories(&text) {
                paths.push(self.dir.join(entry));
            }
        }
        let mut text = String::new();
        for path in paths {
            if crate::repo::is_real_dir(&path) {
                for file in crate::repo::files_in(&self.dir, &path, |_| true) {
                    text.push_str(&std::fs::read_to_string(&file).unwrap_or_default());
                    text.push('\n');
                }
                // Group and host variables name groups and hosts too.
                for sub in ["group_vars", "host_vars"] {
                    for entry in std::fs::read_dir(path.join(sub))
                        .into_iter()
                        .flatten()
                        .flatten()
                    {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        text.push_str(name.split('.').next().unwrap_or_default());
                        text.push('\n');
                    }
                }
            } else if let Ok(found) = std::fs::read_to_string(&path) {
                text.push_str(&found);
                text.push('\n');
            }
        }
        text
    }
}

/// Does this `ansible.cfg` name an inventory under `[defaults]`?
fn names_inventory(cfg: &str) -> bool {
    !configured_inventories(cfg).is_empty()
}

/// The inventories `[defaults] inventory =` names (comma-separated, relative to the project).
fn configured_inventories(cfg: &str) -> Vec<String> {
    let mut section = String::new();
    let mut found = Vec::new();
    for line in cfg.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            continue;
        }
        if section != "defaults" {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if matches!(key.trim(), "inventory" | "hostfile") {
            found.extend(
                value
                    .split(',')
                    .map(|v| v.trim().trim_start_matches("./").to_owned())
                    .filter(|v| !v.is_empty() && !v.starts_with('#') && !v.starts_with(';')),
            );
        }
    }
    found
}

/// The inventories at the top of `dir`: the usual file names, and an `inventory/` or
/// `inventories/` folder holding one (a folder of several environments, each with its own
/// hosts, counts once per environment).
fn inventories_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for name in INVENTORY_FILES {
        let path = dir.join(name);
        if crate::repo::is_regular_file(&path) {
            found.push(path);
        }
    }
    for name in ["inventory", "inventories"] {
        let folder = dir.join(name);
        if !crate::repo::is_real_dir(&folder) {
            continue;
        }
        let environments: Vec<PathBuf> = std::fs::read_dir(&folder)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                crate::repo::is_real_dir(p)
                    && !matches!(
                        p.file_name().and_then(|n| n.to_str()),
                        Some("group_vars" | "host_vars")
                    )
                    && INVENTORY_FILES
                        .iter()
                        .any(|f| crate::repo::is_regular_file(&p.join(f)))
            })
            .collect();
        if environments.is_empty() {
            found.push(folder);
        } else {
            let mut environments = environments;
            environments.sort();
            found.extend(environments);
        }
    }
    found
}

/// Folders below `dir` (to `MAX_DEPTH`) with an `ansible.cfg`, in name order.
fn project_folders(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth >= MAX_DEPTH {
        return;
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            crate::repo::is_real_dir(p) && !name.starts_with('.') && !SKIPPED.contains(&name)
        })
        .collect();
    children.sort();
    for child in children {
        if crate::repo::is_regular_file(&child.join("ansible.cfg")) {
            out.push(child.clone());
        }
        project_folders(&child, depth + 1, out);
    }
}

/// Is `name` in `text` as a whole inventory name (not part of a longer one)?
fn names_word(text: &str, name: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::scratch as repo;

    #[test]
    fn a_playbook_runs_in_the_subfolder_project_that_configures_it() {
        let dir = repo(&[
            ("README.md", "docs"),
            (
                "ansible/ansible.cfg",
                "[defaults]\ninventory = ./hosts\nroles_path = roles\n",
            ),
            ("ansible/hosts", "[media]\nmedia-01\n"),
            ("ansible/playbooks/media.yml", "- hosts: media\n"),
        ]);
        let project = Project::of_playbook(dir.path(), "ansible/playbooks/media.yml").unwrap();
        assert_eq!(project.dir, dir.path().join("ansible"));
        assert_eq!(project.config, Some(dir.path().join("ansible/ansible.cfg")));
        // The configuration names the inventory: no -i.
        assert_eq!(project.inventory, None);
    }

    #[test]
    fn without_a_configuration_the_only_inventory_beside_the_playbooks_is_named() {
        let dir = repo(&[
            ("ansible/inventory.yaml", "all:\n  hosts:\n    nas:\n"),
            ("ansible/deploy_plex.yaml", "- hosts: nas\n"),
        ]);
        let project = Project::of_playbook(dir.path(), "ansible/deploy_plex.yaml").unwrap();
        assert_eq!(project.dir, dir.path().join("ansible"));
        assert_eq!(project.config, None);
        assert_eq!(
            project.inventory,
            Some(dir.path().join("ansible/inventory.yaml"))
        );
        // A repository whose playbooks sit at the top with its configuration keeps today's run.
        let top = repo(&[
            (
                "ansible.cfg",
                "[defaults]\ninventory = inventory/hosts.yml\n",
            ),
            ("inventory/hosts.yml", "all: {}\n"),
            ("site.yml", "- hosts: all\n"),
        ]);
        let project = Project::of_playbook(top.path(), "site.yml").unwrap();
        assert_eq!(project.dir, top.path());
        assert_eq!(project.inventory, None);
    }

    #[test]
    fn several_environments_and_no_configured_inventory_is_an_error_that_says_what_to_set() {
        let dir = repo(&[
            (
                "ansible.cfg",
                "[defaults]\nroles_path = roles\n# inventory = nothing\n",
            ),
            ("inventory/production/inventory.yml", "all: {}\n"),
            ("inventory/staging/inventory.yml", "all: {}\n"),
            ("site.yml", "- hosts: all\n"),
        ]);
        let error = Project::of_playbook(dir.path(), "site.yml")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("inventory/production") && error.contains("inventory/staging"),
            "{error}"
        );
        assert!(error.contains("inventory = "), "{error}");
        // One folder of inventory files (no environments) is one inventory.
        let one = repo(&[
            ("inventory/hosts.ini", "[nas]\nnas\n"),
            ("inventory/group_vars/all.yml", "x: 1\n"),
            ("site.yml", "- hosts: all\n"),
        ]);
        let project = Project::of_playbook(one.path(), "site.yml").unwrap();
        assert_eq!(project.inventory, Some(one.path().join("inventory")));
    }

    #[test]
    fn a_built_in_action_runs_in_the_project_whose_inventory_names_its_hosts() {
        let dir = repo(&[
            ("ansible/ansible.cfg", "[defaults]\ninventory = inventory\n"),
            (
                "ansible/inventory/hosts.yml",
                "all:\n  children:\n    media:\n      hosts:\n        media-01:\n",
            ),
            ("ansible/inventory/group_vars/dev.yml", "x: 1\n"),
            ("terraform/main.tf", "resource {}\n"),
        ]);
        let project = Project::of_hosts(dir.path(), "media").unwrap();
        assert_eq!(project.dir, dir.path().join("ansible"));
        // A group known only by its group_vars file still counts.
        assert_eq!(
            Project::of_hosts(dir.path(), "dev").unwrap().dir,
            dir.path().join("ansible")
        );
        // `media-01x` is not `media-01`, and nothing names `gpu`: the repository itself.
        assert_eq!(
            Project::of_hosts(dir.path(), "gpu").unwrap().dir,
            dir.path()
        );
        assert!(!names_word("media-01x", "media-01"));
        assert!(names_word("[media]\nmedia-01 ansible_host=1", "media-01"));
    }
}
