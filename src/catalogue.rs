//! Playbook discovery: what the homelab repository can do. Finds the playbooks at the top of
//! the repository (and under `playbooks/`), reads each one's plays and host patterns, and
//! reads the YAML inventory so plans can name the hosts they touch.
//!
//! Invariant: discovery only reads files; a file it cannot parse is skipped with a warning,
//! never fatal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{AgentType, Resources};

/// Larger files are not playbooks anyone wrote by hand; skipping them bounds parse cost.
const MAX_PLAYBOOK_BYTES: u64 = 1024 * 1024;

/// Words in a playbook's file name that say what it does rather than what it is for.
const ACTION_WORDS: &[(&str, &str)] = &[
    ("deployment", "deploy"),
    ("deploy", "deploy"),
    ("install", "deploy"),
    ("setup", "deploy"),
    ("config", "configure"),
    ("configure", "configure"),
    ("update", "configure"),
    ("upgrade", "upgrade"),
    ("restart", "restart"),
    ("remove", "remove"),
    ("uninstall", "remove"),
    ("backup", "backup"),
    ("check", "check"),
];

/// One playbook the repository offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playbook {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// The service it is about, from its file name: `kuma-deployment.yml` → `kuma`.
    pub service: String,
    /// What it does to the service: `deploy`, `configure`, `upgrade`, …, or `run`.
    pub action: String,
    /// The first play's `name:`, the best human description the author gave.
    pub description: Option<String>,
    /// Every play's `hosts:` pattern.
    pub hosts: Vec<String>,
    /// What a run needs, from the first play's `vars: chiffon_resources:` (`gpu_vram_gb`,
    /// `cpu_cores`); nothing declared means no placement by capacity.
    pub resources: Resources,
    /// Which agents run it: `chiffon_resources.agent`, else `desktop` when it needs a GPU,
    /// else `infra`.
    pub agent_type: AgentType,
}

/// `vars: chiffon_resources:` in a play.
#[derive(Deserialize, Default)]
#[serde(default)]
struct DeclaredResources {
    agent: Option<String>,
    gpu_vram_gb: f64,
    cpu_cores: f64,
}

/// The repository's playbooks and inventory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalogue {
    pub root: PathBuf,
    pub playbooks: Vec<Playbook>,
    /// Group name → the hosts in it, children included.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// The repository read as deployable units (roles, toggled task files, …), for services
    /// no playbook is named after.
    #[serde(skip)]
    pub units: Vec<crate::matcher::Unit>,
    /// The repository as `discovery` reads it (any layout), for what no playbook is named
    /// after: the planner resolves such a request through `resolve`.
    #[serde(skip)]
    pub repository: crate::discovery::Repository,
}

#[derive(Deserialize)]
struct PlayHead {
    name: Option<String>,
    hosts: Option<serde_json::Value>,
    vars: Option<serde_json::Value>,
}

impl Catalogue {
    /// Reads the repository at `root`.
    pub fn discover(root: &Path) -> anyhow::Result<Self> {
        let mut playbooks = Vec::new();
        for dir in [root.to_path_buf(), root.join("playbooks")] {
            let yaml = |name: &str| name.ends_with(".yml") || name.ends_with(".yaml");
            for path in crate::repo::files_in(root, &dir, yaml) {
                match read_playbook(root, &path) {
                    Ok(Some(playbook)) => playbooks.push(playbook),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(path = %path.display(), "skipping playbook: {error:#}");
                    }
                }
            }
        }
        if playbooks.is_empty() && !root.is_dir() {
            anyhow::bail!("the playbook repository {} does not exist", root.display());
        }
        playbooks.sort_by(|a, b| a.path.cmp(&b.path));
        let repository = crate::discovery::Repository::discover(root);
        let groups = groups_of(&repository.inventory);
        Ok(Self {
            root: root.to_owned(),
            playbooks,
            groups,
            units: crate::matcher::units(root),
            repository,
        })
    }

    /// Every known service name, sorted.
    pub fn services(&self) -> BTreeSet<&str> {
        self.playbooks.iter().map(|p| p.service.as_str()).collect()
    }

    /// A role or task file for `service` that a playbook reaches (with its tags and switches),
    /// when no playbook is named after the service.
    pub fn unit_for(&self, service: &str) -> Option<&crate::matcher::Unit> {
        self.units.iter().find(|u| {
            u.service == service
                && u.entrypoint.is_some()
                && !u.shared
                && matches!(
                    u.kind,
                    crate::matcher::UnitKind::Role | crate::matcher::UnitKind::Tasks
                )
        })
    }

    /// The playbook doing `action` to `service`, if the repository has one.
    pub fn find(&self, service: &str, action: &str) -> Option<&Playbook> {
        self.playbooks
            .iter()
            .find(|p| p.service == service && p.action == action)
    }

    /// The hosts a pattern (`all`, a group, a host, `a:b` unions) names in the inventory.
    pub fn resolve_hosts(&self, pattern: &str) -> BTreeSet<String> {
        let mut hosts = BTreeSet::new();
        for part in pattern
            .split([':', ','])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if part == "all" || part == "*" {
                self.groups
                    .values()
                    .for_each(|g| hosts.extend(g.iter().cloned()));
            } else if let Some(group) = self.groups.get(part) {
                hosts.extend(group.iter().cloned());
            } else if self.groups.values().any(|g| g.contains(part)) {
                hosts.insert(part.to_owned());
            }
        }
        hosts
    }

    /// Whether `name` is a host or group in the inventory.
    pub fn knows_target(&self, name: &str) -> bool {
        self.groups.contains_key(name) || self.groups.values().any(|g| g.contains(name))
    }
}

fn read_playbook(root: &Path, path: &Path) -> anyhow::Result<Option<Playbook>> {
    if std::fs::metadata(path)?.len() > MAX_PLAYBOOK_BYTES {
        anyhow::bail!("larger than {MAX_PLAYBOOK_BYTES} bytes");
    }
    let text = crate::repo::read_text(path)
        .ok_or_else(|| anyhow::anyhow!("not a readable text file of at most 1 MiB"))?;
    // A playbook is a YAML list of plays; anything else (vars files, compose files) is not one.
    let Ok(plays) = serde_saphyr::from_str::<Vec<PlayHead>>(&text) else {
        return Ok(None);
    };
    let hosts: Vec<String> = plays
        .iter()
        .filter_map(|p| match &p.hosts {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            _ => None,
        })
        .collect();
    if hosts.is_empty() {
        return Ok(None);
    }
    let relative = path
        .strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/");
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (service, action) = split_name(&stem);
    let declared = plays
        .iter()
        .find_map(|p| p.vars.as_ref()?.get("chiffon_resources").cloned())
        .map(serde_json::from_value::<DeclaredResources>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("chiffon_resources: {e}"))?
        .unwrap_or_default();
    let valid = |n: f64| n.is_finite() && n >= 0.0;
    if !valid(declared.gpu_vram_gb) || !valid(declared.cpu_cores) {
        anyhow::bail!("chiffon_resources: gpu_vram_gb and cpu_cores must be numbers of 0 or more");
    }
    let agent_type = match declared.agent.as_deref() {
        Some(agent) => AgentType::parse(agent).ok_or_else(|| {
            anyhow::anyhow!("chiffon_resources.agent must be infra or desktop, not {agent:?}")
        })?,
        None if declared.gpu_vram_gb > 0.0 => AgentType::Desktop,
        None => AgentType::Infra,
    };
    Ok(Some(Playbook {
        path: relative,
        service,
        action,
        description: plays.iter().find_map(|p| p.name.clone()),
        hosts,
        resources: Resources {
            gpu_vram_gb: declared.gpu_vram_gb,
            cpu_cores: declared.cpu_cores,
        },
        agent_type,
    }))
}

/// `kuma-config-update` → (`kuma`, `configure`); `site` → (`site`, `run`).
fn split_name(stem: &str) -> (String, String) {
    let mut service = Vec::new();
    let mut action = None;
    for word in stem.split(['-', '_', '.']).filter(|w| !w.is_empty()) {
        match ACTION_WORDS.iter().find(|(w, _)| *w == word) {
            Some((_, verb)) => {
                action.get_or_insert(*verb);
            }
            None => service.push(word),
        }
    }
    let service = if service.is_empty() {
        stem.to_owned()
    } else {
        service.join("-")
    };
    (service, action.unwrap_or("run").to_owned())
}

/// Each inventory group with every host in it (its children's too), and `all`, as discovery
/// read the inventories (INI or YAML, wherever `ansible.cfg` or the layout puts them).
fn groups_of(inventory: &crate::discovery::Inventory) -> BTreeMap<String, BTreeSet<String>> {
    let mut groups: BTreeMap<String, BTreeSet<String>> = inventory
        .groups
        .keys()
        .chain(inventory.children.keys())
        .map(|name| (name.clone(), inventory.resolve(name)))
        .collect();
    groups.insert("all".to_owned(), inventory.hosts.clone());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_into_service_and_action() {
        assert_eq!(
            split_name("kuma-deployment"),
            ("kuma".into(), "deploy".into())
        );
        assert_eq!(
            split_name("kuma-config-update"),
            ("kuma".into(), "configure".into())
        );
        assert_eq!(
            split_name("home-assistant-deployment"),
            ("home-assistant".into(), "deploy".into())
        );
        assert_eq!(split_name("site"), ("site".into(), "run".into()));
    }

    #[test]
    fn discovers_playbooks_and_inventory_groups() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ansible.cfg"),
            "[defaults]\ninventory = inv.yml\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("inv.yml"),
            "homelab:\n  children:\n    production:\n      hosts:\n        lola:\n    dns:\n      hosts:\n        pi:\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("kuma-deployment.yml"),
            "- name: Deploy Uptime Kuma\n  hosts: production\n  tasks: []\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("vars.yml"), "a: 1\n").unwrap();
        std::fs::write(dir.path().join("broken.yml"), "- [unclosed\n").unwrap();
        let cat = Catalogue::discover(dir.path()).unwrap();
        assert_eq!(cat.playbooks.len(), 1);
        let kuma = cat.find("kuma", "deploy").unwrap();
        assert_eq!(kuma.description.as_deref(), Some("Deploy Uptime Kuma"));
        assert_eq!(
            cat.resolve_hosts("production"),
            BTreeSet::from(["lola".to_owned()])
        );
        assert_eq!(cat.resolve_hosts("homelab").len(), 2);
        assert!(cat.knows_target("pi") && !cat.knows_target("nowhere"));
    }
}
