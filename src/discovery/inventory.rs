//! Inventories, INI and YAML, from every environment the repository has (`inventory/production`,
//! `inventories/staging/hosts.yml`, a top-level `hosts`): hosts, groups and their children.
//! `group_vars/<g>` and `host_vars/<h>` name groups and hosts too, even with no inventory file.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::discovery::{Source, parent};
use crate::repo::outline::Node;

/// Hosts and groups.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inventory {
    pub hosts: BTreeSet<String>,
    /// Group → its direct hosts.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// Group → its child groups.
    pub children: BTreeMap<String, BTreeSet<String>>,
    /// The inventory files read.
    pub files: Vec<String>,
    /// Hosts named only by a `host_vars/<h>` folder or file beside inventory files that do not
    /// list them: Ansible applies those vars to no machine, so a play on one runs nowhere.
    #[serde(skip)]
    pub vars_only: BTreeSet<String>,
}

impl Inventory {
    /// A host or group of this name (compared as written, then case-insensitively).
    pub fn knows(&self, name: &str) -> bool {
        self.hosts.contains(name) || self.groups.contains_key(name) || {
            let lower = name.to_lowercase();
            self.hosts
                .iter()
                .chain(self.groups.keys())
                .any(|n| n.to_lowercase() == lower)
        }
    }

    /// The exact spelling of a host or group name, case-insensitively.
    pub fn spelling(&self, name: &str) -> Option<&str> {
        let lower = name.to_lowercase();
        self.hosts
            .iter()
            .chain(self.groups.keys())
            .find(|n| n.to_lowercase() == lower)
            .map(String::as_str)
    }

    /// The one group (or host) a word names without the suffix that says it is a set of
    /// machines: "the vps" for `vps_hosts`, "the bastion" for `bastion-servers`. None when no
    /// name, or more than one, reads so.
    pub fn spelling_without_suffix(&self, word: &str) -> Option<&str> {
        const SUFFIXES: &[&str] = &[
            "hosts", "host", "servers", "server", "nodes", "node", "machines", "boxes", "vms",
            "group",
        ];
        let lower = word.to_lowercase();
        if lower.len() < 3 {
            return None;
        }
        let mut found = self.groups.keys().chain(self.hosts.iter()).filter(|n| {
            let n = n.to_lowercase();
            n.strip_prefix(lower.as_str()).is_some_and(|rest| {
                rest.strip_prefix(['_', '-'])
                    .is_some_and(|suffix| SUFFIXES.contains(&suffix))
            })
        });
        let first = found.next()?;
        found.next().is_none().then_some(first.as_str())
    }

    /// The one host whose own name (before any domain) has `word` as a part, the digits after
    /// it aside: "the sber vps" for `vps-sber1.devmem.ru`. None when no host, or several, do.
    pub fn host_by_part(&self, word: &str) -> Option<&str> {
        let lower = word.to_lowercase();
        if lower.len() < 4 || lower.chars().any(|c| !c.is_ascii_alphabetic()) {
            return None;
        }
        let mut found = self.hosts.iter().filter(|host| {
            let host = host.to_lowercase();
            let own = host.split('.').next().unwrap_or(&host);
            own.split(['-', '_']).count() > 1
                && own
                    .split(['-', '_'])
                    .any(|part| part.trim_end_matches(|c: char| c.is_ascii_digit()) == lower)
        });
        let first = found.next()?;
        found.next().is_none().then_some(first.as_str())
    }

    /// Whether a play's `hosts:` pattern reaches no machine of this inventory: a group with no
    /// hosts, or only names the inventory does not know (`mat2_web` with no such host). Never
    /// for an empty inventory, a templated pattern, `all` or the control machine.
    pub fn targets_nothing(&self, pattern: &str) -> bool {
        let pattern = pattern.trim();
        // A sample committed in place of the ignored real file shows the shape, not every
        // machine.
        let sampled = !self.files.is_empty() && self.files.iter().all(|f| sample_of(f).is_some());
        // Machines named only by `host_vars/` and no inventory file: the inventory is made
        // elsewhere (a Proxmox plugin's, not committed), and so are its groups.
        if self.hosts.is_empty()
            || self.files.is_empty()
            || sampled
            || pattern.is_empty()
            || pattern.contains("{{")
            || pattern.contains('*')
            || ["all", "localhost", "127.0.0.1"].contains(&pattern)
        {
            return false;
        }
        if pattern.contains(['!', '&']) {
            return false;
        }
        !pattern
            .split([',', ':'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .any(|name| self.reaches_a_machine(name, &mut BTreeSet::new()))
    }

    /// Whether a host or group name stands for at least one machine: a host, a group with
    /// hosts or with a child that does, or a name listed under a group's children and defined
    /// nowhere else (`webcam_hosts: children: webcampi.local:` — written as a machine).
    fn reaches_a_machine(&self, name: &str, seen: &mut BTreeSet<String>) -> bool {
        if !seen.insert(name.to_owned()) {
            return false;
        }
        let listed = |h: &String| h.eq_ignore_ascii_case(name) && !self.vars_only.contains(h);
        if self.hosts.iter().any(listed) {
            return true;
        }
        let hosts = self.groups.get(name).is_some_and(|h| !h.is_empty());
        let children = self.children.get(name).cloned().unwrap_or_default();
        if hosts || children.iter().any(|c| self.reaches_a_machine(c, seen)) {
            return true;
        }
        children.is_empty() && self.children.values().any(|c| c.contains(name))
    }

    /// Whether a play on `pattern` runs on every machine `target` names (and it names one).
    pub fn covers(&self, pattern: &str, target: &str) -> bool {
        let wanted = self.resolve(target);
        !wanted.is_empty() && wanted.is_subset(&self.resolve(pattern))
    }

    /// `name` as the inventory spells its host or group: a `group_vars/master.yaml` is for group
    /// `Master` when no `master` exists (the owner wrote it on a file system that ignores case).
    pub fn spelled(&self, name: &str) -> String {
        // A group that only its vars file names has no machines of its own.
        let holds = |n: &str| {
            self.hosts.contains(n)
                || self.groups.get(n).is_some_and(|g| !g.is_empty())
                || self.children.get(n).is_some_and(|c| !c.is_empty())
        };
        if holds(name) {
            return name.to_owned();
        }
        let mut alike = self
            .hosts
            .iter()
            .chain(self.groups.keys())
            .chain(self.children.keys())
            .filter(|n| n.eq_ignore_ascii_case(name) && holds(n));
        match (alike.next(), alike.next()) {
            (Some(one), None) => one.clone(),
            _ => name.to_owned(),
        }
    }

    /// The hosts a pattern reaches (`a,b`, `a:b`, `g:!x`, `all`); a name the inventory does
    /// not know stands for itself, so two answers naming it compare equal.
    pub fn resolve(&self, pattern: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut excluded = BTreeSet::new();
        for part in pattern
            .split([',', ':'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            if let Some(name) = part.strip_prefix('!') {
                excluded.extend(self.members(name));
            } else if let Some(name) = part.strip_prefix('&') {
                let keep = self.members(name);
                out.retain(|h| keep.contains(h));
            } else {
                out.extend(self.members(part));
            }
        }
        out.retain(|h| !excluded.contains(h));
        out
    }

    fn members(&self, name: &str) -> BTreeSet<String> {
        if name == "all" && !self.hosts.is_empty() {
            return self.hosts.clone();
        }
        let mut out = BTreeSet::new();
        let mut stack = vec![name.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(group) = stack.pop() {
            if !seen.insert(group.clone()) {
                continue;
            }
            match (self.groups.get(&group), self.children.get(&group)) {
                (None, None) => {
                    out.insert(group);
                }
                (hosts, children) => {
                    out.extend(hosts.into_iter().flatten().cloned());
                    stack.extend(children.into_iter().flatten().cloned());
                }
            }
        }
        out
    }
}

/// Is this file an inventory?
fn is_inventory(rel: &str, configured: &BTreeSet<String>) -> bool {
    if configured.contains(rel)
        || configured
            .iter()
            .any(|dir| rel.starts_with(&format!("{dir}/")))
    {
        return !rel.contains("_vars/");
    }
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let lower = name.to_ascii_lowercase();
    // A role's test inventory or a molecule scenario is not the homelab.
    let scratch = ["tests/", "test/", "molecule/"]
        .iter()
        .any(|d| rel.starts_with(d))
        || ["/tests/", "/molecule/", "/test/", "vagrant"]
            .iter()
            .any(|d| rel.contains(d));
    // What a role templates or copies is a file for the machines (an Icinga `hosts.conf`),
    // never the homelab's own inventory.
    let shipped = ["templates/", "files/"]
        .iter()
        .any(|d| rel.starts_with(d) || rel.contains(&format!("/{d}")));
    if scratch
        || shipped
        || rel.contains("group_vars/")
        || rel.contains("host_vars/")
        || lower.ends_with(".j2")
    {
        return false;
    }
    let real = sample_of(&lower).unwrap_or(lower.clone());
    let real = real.rsplit('/').next().unwrap_or(&real);
    let (stem, extension) = real.split_once('.').unwrap_or((real, ""));
    let inventory_format = matches!(extension, "" | "yml" | "yaml" | "ini" | "cfg" | "txt");
    matches!(stem, "hosts" | "inventory") && inventory_format
        || (rel.starts_with("inventory/")
            || rel.contains("/inventory/")
            || rel.starts_with("inventories/")
            || rel.contains("/inventories/"))
            && (lower.ends_with(".yml")
                || lower.ends_with(".yaml")
                || lower.ends_with(".ini")
                || !lower.contains('.'))
}

/// Reads every inventory of the repository.
pub(crate) fn read(sources: &[Source], projects: &[String]) -> Inventory {
    let mut configured = BTreeSet::new();
    for source in sources.iter().filter(|s| s.rel.ends_with("ansible.cfg")) {
        for line in source.text.lines() {
            let line = line.trim();
            if let Some(value) = line
                .strip_prefix("inventory")
                .map(str::trim_start)
                .and_then(|v| v.strip_prefix('='))
            {
                for entry in value.split(',') {
                    configured.insert(crate::discovery::join(parent(&source.rel), entry.trim()));
                }
            }
        }
    }
    let _ = projects;
    let mut inventory = Inventory::default();
    for source in sources {
        if !is_inventory(&source.rel, &configured) {
            continue;
        }
        // A sample committed in place of the real, ignored file (`inventory.yml.example`)
        // stands for it.
        let rel = is_sample(&source.rel).unwrap_or(&source.rel);
        let is_yaml = rel.ends_with(".yml") || rel.ends_with(".yaml");
        let before = inventory.hosts.len() + inventory.groups.len();
        if is_yaml && rel == source.rel {
            for node in &source.nodes {
                if let Some(group) = &node.key {
                    yaml_group(&mut inventory, group, node);
                }
            }
        } else if is_yaml || !rel.contains('.') && written_in_yaml(&source.text) {
            // `inventory` or `hosts` without an extension is YAML when it reads as YAML.
            for node in &crate::repo::outline::parse(&source.text) {
                if let Some(group) = &node.key {
                    yaml_group(&mut inventory, group, node);
                }
            }
        } else {
            ini(&mut inventory, &source.text);
        }
        // INI written in a file named `.yml` (`[homeserver]` lines): what Ansible's INI
        // plugin reads when the YAML one finds nothing.
        let ini_written = |text: &str| {
            text.lines()
                .map(str::trim)
                .any(|l| l.starts_with('[') && l.ends_with(']') && !l.contains(','))
        };
        if is_yaml
            && inventory.hosts.len() + inventory.groups.len() == before
            && ini_written(&source.text)
        {
            ini(&mut inventory, &source.text);
        }
        if inventory.hosts.len() + inventory.groups.len() > before {
            inventory.files.push(source.rel.clone());
        }
    }
    // group_vars/<g> and host_vars/<h> name groups and hosts; a sample (`host.yml.example`)
    // shows how to write one and names no machine.
    for source in sources.iter().filter(|s| is_sample(&s.rel).is_none()) {
        for (marker, is_host) in [("group_vars/", false), ("host_vars/", true)] {
            let Some(at) = source.rel.find(marker) else {
                continue;
            };
            let rest = &source.rel[at + marker.len()..];
            let name = rest.split('/').next().unwrap_or("");
            let name = name.trim_end_matches(".yml").trim_end_matches(".yaml");
            if name.is_empty() || name == "all" {
                continue;
            }
            if is_host {
                if !inventory.files.is_empty() && !inventory.hosts.contains(name) {
                    inventory.vars_only.insert(name.to_owned());
                }
                inventory.hosts.insert(name.to_owned());
            } else {
                inventory.groups.entry(name.to_owned()).or_default();
            }
        }
    }
    inventory
}

/// The real file's name when `rel` is a sample of it (`inventory.yml.example`).
pub(crate) fn is_sample(rel: &str) -> Option<&str> {
    ["example", "sample", "dist", "template"]
        .iter()
        .find_map(|suffix| rel.strip_suffix(&format!(".{suffix}")))
}

/// The real file's path when `rel` is a sample of it, with the sample word after the
/// extension (`vars.yml.example`) or before it (`vars_template.yml`, `vars.example.yml`,
/// `vars-sample.yml`).
pub(crate) fn sample_of(rel: &str) -> Option<String> {
    if let Some(real) = is_sample(rel) {
        return Some(real.to_owned());
    }
    let (stem, extension) = rel.rsplit_once('.')?;
    ["example", "sample", "dist", "template"]
        .iter()
        .find_map(|word| {
            [".", "_", "-"]
                .iter()
                .find_map(|sep| stem.strip_suffix(&format!("{sep}{word}")))
        })
        .filter(|real| !real.is_empty() && !real.ends_with('/'))
        .map(|real| format!("{real}.{extension}"))
}

/// Does an inventory file without an extension read as YAML (a document start or a top-level
/// `group:` key before any `[section]` or host line)?
fn written_in_yaml(text: &str) -> bool {
    let first = text
        .lines()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with(['#', ';']));
    first.is_some_and(|line| {
        line == "---"
            || line.strip_suffix(':').is_some_and(|key| {
                !key.is_empty() && !key.starts_with(' ') && !key.contains([' ', '[', '='])
            })
    })
}

fn yaml_group(inventory: &mut Inventory, group: &str, node: &Node) {
    if group != "all" {
        inventory.groups.entry(group.to_owned()).or_default();
    }
    for child in &node.children {
        match child.key.as_deref() {
            Some("hosts") => {
                for host in child.children.iter().filter_map(|h| h.key.clone()) {
                    inventory.hosts.insert(host.clone());
                    if group != "all" {
                        inventory
                            .groups
                            .entry(group.to_owned())
                            .or_default()
                            .insert(host);
                    }
                }
            }
            Some("children") => {
                for sub in &child.children {
                    if let Some(name) = &sub.key {
                        if group != "all" {
                            inventory
                                .children
                                .entry(group.to_owned())
                                .or_default()
                                .insert(name.clone());
                        }
                        yaml_group(inventory, name, sub);
                    }
                }
            }
            _ => {}
        }
    }
}

fn ini(inventory: &mut Inventory, text: &str) {
    let mut section: Option<(String, &str)> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let (group, kind) = name.split_once(':').unwrap_or((name, ""));
            section = Some((
                group.to_owned(),
                if kind == "children" {
                    "children"
                } else if kind.is_empty() {
                    "hosts"
                } else {
                    "vars"
                },
            ));
            if group != "all" {
                inventory.groups.entry(group.to_owned()).or_default();
            }
            continue;
        }
        let name = line.split_whitespace().next().unwrap_or("");
        if name.contains('=') {
            continue;
        }
        match &section {
            Some((group, "children")) => {
                inventory
                    .children
                    .entry(group.clone())
                    .or_default()
                    .insert(name.to_owned());
            }
            Some((_, "vars")) => {}
            Some((group, _)) => {
                inventory.hosts.insert(name.to_owned());
                if group != "all" {
                    inventory
                        .groups
                        .entry(group.clone())
                        .or_default()
                        .insert(name.to_owned());
                }
            }
            None => {
                inventory.hosts.insert(name.to_owned());
            }
        }
    }
}
