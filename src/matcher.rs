//! Which part of a homelab repository deploys what a person asked for. The repository is read
//! as deployable units, whatever its layout: playbooks (at the top, under `playbooks/`, or in a
//! subfolder with its own `ansible.cfg`), roles (also nested, `roles/media/jellyfin`, used by a
//! playbook or orphaned), per-service task files pulled in by `include_tasks`/`import_tasks`
//! under a `<app>_enabled` toggle and tags, and compose files (also Jinja templates). A request
//! is matched against their service names through a synonym table and typo tolerance, and the
//! answer is `match`, `ambiguous` (two services fit equally) or `none` (with the closest units
//! and "custom playbook needed").
//!
//! Invariant: reads only, and never opens a vault-encrypted file past its header.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::repo::outline::{self, Node};
use crate::repo::relative;
use crate::text::{edit_distance, normalize};

/// What a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    Playbook,
    Role,
    Tasks,
    Compose,
}

/// How to run a unit: the playbook, tags and extra variables that reach it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entrypoint {
    pub playbook: String,
    /// The play's `hosts:` pattern.
    #[serde(default)]
    pub hosts: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub extra_vars: BTreeMap<String, serde_json::Value>,
}

/// One deployable unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// File or folder, relative to the repository.
    pub path: String,
    pub kind: UnitKind,
    pub service: String,
    /// `None` for an orphan role or a compose file no playbook renders.
    pub entrypoint: Option<Entrypoint>,
    /// Container images it deploys (`image:` in its compose files or tasks).
    #[serde(default)]
    pub images: Vec<String>,
    /// Ports it publishes (`ports:` entries, as written).
    #[serde(default)]
    pub ports: Vec<String>,
    /// Its files, relative to the repository.
    #[serde(default)]
    pub files: Vec<String>,
    /// A role several playbooks use: a building block rather than a service of its own.
    #[serde(default)]
    pub shared: bool,
}

/// A ranked candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    #[serde(flatten)]
    pub unit: Unit,
    pub score: f64,
    pub why: String,
}

/// The answer to "what deploys this".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// `match`, `ambiguous` or `none`.
    pub verdict: String,
    pub candidates: Vec<Candidate>,
    /// For `none`: what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// Names people use for services; each group is one service (compared without `-`, `_`, spaces).
const SYNONYMS: &[&[&str]] = &[
    &[
        "uptimekuma",
        "kuma",
        "uptimemonitor",
        "statuspage",
        "uptime",
    ],
    &["homeassistant", "hass"],
    &["pihole", "adblocker"],
    &["adguardhome", "adguard"],
    &["jellyfin", "mediaserver"],
    &["plex", "mediaserver"],
    &["portainer", "dockerui"],
    &["traefik", "reverseproxy"],
    &["nextcloud", "owncloud", "filesync"],
    &["vaultwarden", "bitwarden", "passwordmanager"],
    &["grafana", "dashboards"],
    &["ollama", "localllm"],
    &["gitea", "gitserver"],
];

/// Below this, nothing counts as a match.
const MATCH_AT: f64 = 0.6;
/// Two different services this close are a tie.
const TIE: f64 = 0.05;

/// A file the scan could not read, with where and why; the scan goes on without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub file: String,
    pub line: u64,
    pub message: String,
}

/// The units, and what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scan {
    pub units: Vec<Unit>,
    /// Invalid YAML, with file and line.
    pub problems: Vec<Problem>,
    /// Vault-encrypted files: never decrypted, never an error.
    pub encrypted: Vec<String>,
}

/// Units plus every YAML file that does not parse (and the encrypted ones, skipped).
pub fn scan(root: &Path) -> Scan {
    let mut scan = Scan {
        units: units(root),
        ..Scan::default()
    };
    let files = crate::repo::files(root, root, |name| {
        name.ends_with(".yml") || name.ends_with(".yaml")
    });
    for path in files {
        let Some(text) = crate::repo::read_text(&path) else {
            continue;
        };
        let file = relative(root, &path);
        if text.starts_with("$ANSIBLE_VAULT") {
            scan.encrypted.push(file);
            continue;
        }
        // Every document of the file (inventories and vars files may hold several).
        if let Err(error) = serde_saphyr::from_multiple::<serde_json::Value>(&text) {
            scan.problems.push(Problem {
                line: error.location().map_or(1, |l| l.line()),
                message: error
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or("invalid YAML")
                    .to_owned(),
                file,
            });
        }
    }
    scan
}

/// Every deployable unit of the repository at `root`: its playbooks, the roles and task files
/// they reach (with how), and the services of its compose files.
pub fn units(root: &Path) -> Vec<Unit> {
    let mut reach = Reach::default();
    let mut units = playbook_units(root, &mut reach);
    units.extend(role_units(root, &reach));
    units.extend(task_units(root, reach.tasks));
    units.extend(compose_units(root));
    units.sort_by(|a, b| (&a.path, a.kind, &a.service).cmp(&(&b.path, b.kind, &b.service)));
    units.dedup();
    units
}

/// What the playbooks reach: roles (with the first entrypoint that runs each and every playbook
/// that uses it) and task files included per service.
#[derive(Default)]
struct Reach {
    roles: BTreeMap<String, Entrypoint>,
    role_users: BTreeMap<String, std::collections::BTreeSet<String>>,
    tasks: BTreeMap<String, (Entrypoint, String)>,
}

/// Where playbooks live: the top, `playbooks/`, and the same in any first-level folder that is
/// an Ansible project of its own (has an `ansible.cfg`).
fn playbook_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    let mut dirs = vec![root.to_owned(), root.join("playbooks")];
    let mut projects: Vec<_> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            crate::repo::is_real_dir(path)
                && crate::repo::is_regular_file(&path.join("ansible.cfg"))
        })
        .collect();
    projects.sort();
    for project in projects {
        dirs.push(project.clone());
        dirs.push(project.join("playbooks"));
    }
    dirs
}

/// One unit per playbook (a YAML file of plays), recording what each play reaches.
fn playbook_units(root: &Path, reach: &mut Reach) -> Vec<Unit> {
    let mut units = Vec::new();
    for dir in playbook_dirs(root) {
        for path in crate::repo::files_in(root, &dir, |name| {
            name.ends_with(".yml") || name.ends_with(".yaml")
        }) {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let Some(text) = read(&path) else { continue };
            let plays = outline::parse(&text);
            if !plays
                .iter()
                .any(|p| p.is_item() && p.get("hosts").is_some())
            {
                continue;
            }
            let relative = relative(root, &path);
            let stem = name.trim_end_matches(".yml").trim_end_matches(".yaml");
            let (images, ports) = images_and_ports(&plays);
            units.push(Unit {
                path: relative.clone(),
                kind: UnitKind::Playbook,
                service: service_of_playbook(stem),
                entrypoint: Some(Entrypoint {
                    playbook: relative.clone(),
                    hosts: plays
                        .iter()
                        .filter_map(|p| p.get("hosts").map(|h| h.scalar().to_owned()))
                        .collect::<Vec<_>>()
                        .join(":"),
                    ..Entrypoint::default()
                }),
                images,
                ports,
                files: vec![relative.clone()],
                shared: false,
            });
            for play in &plays {
                record_play(play, &relative, reach);
            }
        }
    }
    units
}

/// The roles and included task files one play of `playbook` reaches.
fn record_play(play: &Node, playbook: &str, reach: &mut Reach) {
    let hosts = play
        .get("hosts")
        .map(|h| h.scalar().to_owned())
        .unwrap_or_default();
    if let Some(roles) = play.get("roles") {
        for role in &roles.children {
            let name = role
                .get("role")
                .or_else(|| role.get("name"))
                .map_or_else(|| role.scalar().to_owned(), |n| n.scalar().to_owned());
            reach
                .role_users
                .entry(name.clone())
                .or_default()
                .insert(playbook.to_owned());
            reach.roles.entry(name).or_insert_with(|| Entrypoint {
                playbook: playbook.to_owned(),
                hosts: hosts.clone(),
                tags: tags(role),
                extra_vars: BTreeMap::new(),
            });
        }
    }
    for section in ["pre_tasks", "tasks", "post_tasks"] {
        if let Some(tasks) = play.get(section) {
            collect_includes(
                &tasks.children,
                (playbook, &hosts),
                &mut reach.tasks,
                &mut reach.roles,
            );
        }
    }
}

/// Roles: any folder with `tasks/main.yml` under `roles/`, however deep.
fn role_units(root: &Path, reach: &Reach) -> Vec<Unit> {
    let roles_dir = root.join("roles");
    let mut units = Vec::new();
    for role_dir in crate::repo::dirs_with(&roles_dir, "tasks/main.yml") {
        let name = relative(&roles_dir, &role_dir);
        let leaf = name.rsplit('/').next().unwrap_or(&name).to_owned();
        let entrypoint = reach
            .roles
            .get(&name)
            .or_else(|| reach.roles.get(&leaf))
            .cloned();
        let files = files_under(root, &role_dir);
        let (images, ports) = images_and_ports(
            &files
                .iter()
                .filter_map(|f| read(&root.join(f)))
                .flat_map(|text| outline::parse(&text))
                .collect::<Vec<_>>(),
        );
        let users = reach
            .role_users
            .get(&name)
            .or_else(|| reach.role_users.get(&leaf))
            .map_or(0, std::collections::BTreeSet::len);
        units.push(Unit {
            path: relative(root, &role_dir),
            kind: UnitKind::Role,
            service: leaf,
            entrypoint,
            images,
            ports,
            files,
            shared: users > 1,
        });
    }
    units
}

/// Per-service task files reached by include/import.
fn task_units(root: &Path, tasks: BTreeMap<String, (Entrypoint, String)>) -> Vec<Unit> {
    let mut units = Vec::new();
    for (path, (entrypoint, service)) in tasks {
        if crate::repo::is_regular_file(&root.join(&path)) {
            let nodes = read(&root.join(&path))
                .map(|t| outline::parse(&t))
                .unwrap_or_default();
            let (images, ports) = images_and_ports(&nodes);
            units.push(Unit {
                files: vec![path.clone()],
                path,
                kind: UnitKind::Tasks,
                service,
                entrypoint: Some(entrypoint),
                images,
                ports,
                shared: false,
            });
        }
    }
    units
}

/// Compose files, one unit per service in them.
fn compose_units(root: &Path) -> Vec<Unit> {
    let mut units = Vec::new();
    for file in compose_files(root) {
        let Some(text) = read(&file) else { continue };
        let nodes = outline::parse(&text);
        let Some(services) = nodes.iter().find(|n| n.key.as_deref() == Some("services")) else {
            continue;
        };
        let path = relative(root, &file);
        for service in services.children.iter().filter(|s| s.key.is_some()) {
            let (images, ports) = images_and_ports(std::slice::from_ref(service));
            units.push(Unit {
                path: path.clone(),
                kind: UnitKind::Compose,
                service: service.key.clone().unwrap_or_default(),
                entrypoint: None,
                images,
                ports,
                files: vec![path.clone()],
                shared: false,
            });
        }
    }
    units
}

/// `image:` values and `ports:` entries anywhere under `nodes`.
fn images_and_ports(nodes: &[Node]) -> (Vec<String>, Vec<String>) {
    fn walk(node: &Node, images: &mut Vec<String>, ports: &mut Vec<String>) {
        match node.key.as_deref() {
            Some("image") if !node.scalar().is_empty() => images.push(node.scalar().to_owned()),
            Some("ports") => {
                ports.extend(node.children.iter().map(|p| p.scalar().to_owned()));
            }
            _ => {}
        }
        for child in &node.children {
            walk(child, images, ports);
        }
    }
    let (mut images, mut ports) = (Vec::new(), Vec::new());
    for node in nodes {
        walk(node, &mut images, &mut ports);
    }
    images.sort();
    images.dedup();
    ports.sort();
    ports.dedup();
    (images, ports)
}

/// Files under `dir`, relative to `root`, sorted (at most 200).
fn files_under(root: &Path, dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = crate::repo::files(root, dir, |_| true)
        .iter()
        .map(|path| relative(root, path))
        .collect();
    out.truncate(200);
    out
}

/// `kuma-deployment` → `kuma`; `site` stays `site`.
fn service_of_playbook(stem: &str) -> String {
    const ACTIONS: &[&str] = &[
        "-deployment",
        "-deploy",
        "-install",
        "-config-update",
        "-config",
        "-configure",
        "-upgrade",
        "-update",
        "-restart",
        "-remove",
        "-uninstall",
        "-check",
        "-setup",
    ];
    let lower = stem.to_ascii_lowercase();
    for action in ACTIONS {
        if let Some(service) = lower.strip_suffix(action) {
            return service.to_owned();
        }
    }
    lower
}

fn tags(node: &Node) -> Vec<String> {
    let Some(tags) = node.get("tags") else {
        return Vec::new();
    };
    if tags.children.is_empty() {
        tags.scalar()
            .trim_matches(['[', ']'])
            .split(',')
            .map(|t| t.trim().trim_matches(['"', '\'']).to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    } else {
        tags.children
            .iter()
            .map(|t| t.scalar().to_owned())
            .collect()
    }
}

/// `include_tasks`/`import_tasks` (also looped, and in blocks) and `include_role`/`import_role`.
fn collect_includes(
    tasks: &[Node],
    (playbook, hosts): (&str, &str),
    reached_tasks: &mut BTreeMap<String, (Entrypoint, String)>,
    reached_roles: &mut BTreeMap<String, Entrypoint>,
) {
    for task in tasks.iter().filter(|t| t.is_item()) {
        for nested in ["block", "rescue", "always"] {
            if let Some(block) = task.get(nested) {
                collect_includes(
                    &block.children,
                    (playbook, hosts),
                    reached_tasks,
                    reached_roles,
                );
            }
        }
        let toggle_vars = |task: &Node| -> BTreeMap<String, serde_json::Value> {
            let mut vars = BTreeMap::new();
            if let Some(when) = task.get("when") {
                let conditions: Vec<String> = if when.children.is_empty() {
                    vec![when.scalar().to_owned()]
                } else {
                    when.children
                        .iter()
                        .map(|c| c.scalar().to_owned())
                        .collect()
                };
                for condition in conditions {
                    let variable = condition.split_whitespace().next().unwrap_or_default();
                    if variable.ends_with("_enabled") {
                        vars.insert(variable.to_owned(), serde_json::Value::Bool(true));
                    }
                }
            }
            vars
        };
        for (key, child) in task
            .children
            .iter()
            .filter_map(|c| Some((c.key.as_deref()?, c)))
        {
            let short = key.rsplit('.').next().unwrap_or(key);
            let entrypoint = || Entrypoint {
                playbook: playbook.to_owned(),
                hosts: hosts.to_owned(),
                tags: tags(task),
                extra_vars: toggle_vars(task),
            };
            match short {
                "include_tasks" | "import_tasks" => {
                    let file = child
                        .get("file")
                        .map_or_else(|| child.scalar().to_owned(), |f| f.scalar().to_owned());
                    // A dynamic include hands its tags to the included tasks only through
                    // `apply`; without it, `--tags` would run the include and skip its tasks,
                    // so the whole playbook runs (with the switch on) instead.
                    let tags_reach = short == "import_tasks"
                        || child.get("apply").and_then(|a| a.get("tags")).is_some();
                    let entrypoint = || {
                        let mut entry = entrypoint();
                        if !tags_reach {
                            entry.tags.clear();
                        }
                        entry
                    };
                    if file.contains("{{") {
                        // Looped includes: `tasks/{{ item }}.yml` over a list of names.
                        for item in loop_items(task) {
                            let path = file.replace("{{ item }}", &item);
                            reached_tasks.insert(join(playbook, &path), (entrypoint(), item));
                        }
                    } else {
                        let stem = file.rsplit('/').next().unwrap_or(&file);
                        let service = stem
                            .trim_end_matches(".yml")
                            .trim_end_matches(".yaml")
                            .to_owned();
                        reached_tasks.insert(join(playbook, &file), (entrypoint(), service));
                    }
                }
                "include_role" | "import_role" => {
                    if let Some(name) = child.get("name") {
                        reached_roles.insert(name.scalar().to_owned(), entrypoint());
                    }
                }
                _ => {}
            }
        }
    }
}

fn loop_items(task: &Node) -> Vec<String> {
    let Some(items) = task.get("loop").or_else(|| task.get("with_items")) else {
        return Vec::new();
    };
    if items.children.is_empty() {
        items
            .scalar()
            .trim_matches(['[', ']'])
            .split(',')
            .map(|i| i.trim().trim_matches(['"', '\'']).to_owned())
            .filter(|i| !i.is_empty() && !i.contains("{{"))
            .collect()
    } else {
        items
            .children
            .iter()
            .map(|i| i.scalar().to_owned())
            .collect()
    }
}

/// A path relative to the playbook's folder, made relative to the repository.
fn join(playbook: &str, file: &str) -> String {
    let dir = playbook.rsplit_once('/').map_or("", |(d, _)| d);
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in file.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            part => parts.push(part),
        }
    }
    parts.join("/")
}

fn read(path: &Path) -> Option<String> {
    let text = crate::repo::read_text(path)?;
    (!text.starts_with("$ANSIBLE_VAULT")).then_some(text)
}

/// Compose files and their Jinja templates (test scenarios under `molecule/` are not stacks).
fn compose_files(root: &Path) -> Vec<std::path::PathBuf> {
    crate::repo::files(root, root, |name| {
        (name.contains("compose") || name.contains("docker-compose"))
            && crate::repo::is_yaml_name(name)
    })
    .into_iter()
    .filter(|path| {
        !relative(root, path)
            .split('/')
            .any(|part| part == "molecule")
    })
    .collect()
}

/// How well `unit` answers `text`, with the reason; 0 when not at all.
fn score(words: &[String], joined: &str, unit: &Unit) -> (f64, String) {
    let name = normalize(&unit.service);
    if name.is_empty() {
        return (0.0, String::new());
    }
    let group = SYNONYMS.iter().find(|g| {
        g.contains(&name.as_str()) || g.iter().any(|s| name.starts_with(s) && s.len() >= 5)
    });
    let mut best = (0.0, String::new());
    let mut consider = |score: f64, why: String| {
        if score > best.0 {
            best = (score, why);
        }
    };
    // Whole words and adjacent pairs ("home assistant" → "homeassistant").
    let mut phrases: Vec<String> = words.to_vec();
    phrases.extend(words.windows(2).map(|w| format!("{}{}", w[0], w[1])));
    phrases.extend(
        words
            .windows(3)
            .map(|w| format!("{}{}{}", w[0], w[1], w[2])),
    );
    for phrase in &phrases {
        if *phrase == name {
            consider(1.0, format!("names {:?}", unit.service));
        } else if let Some(group) = group
            && group.contains(&phrase.as_str())
        {
            consider(
                0.9,
                format!("{phrase:?} is another name for {:?}", unit.service),
            );
        } else if phrase.len() >= 4 && name.len() >= 4 {
            let distance = edit_distance(phrase, &name);
            let allowed = if name.len() >= 7 { 2 } else { 1 };
            if distance <= allowed {
                consider(
                    0.85 - 0.05 * distance as f64,
                    format!("{phrase:?} is close to {:?} (typo)", unit.service),
                );
            }
        }
    }
    let nothing_yet = best.0 == 0.0;
    if nothing_yet && name.len() >= 5 && joined.contains(&name) {
        return (0.8, format!("mentions {:?}", unit.service));
    }
    best
}

/// Ranks the repository's units for `text`.
pub fn find(units: &[Unit], text: &str) -> Match {
    let lowered = text.to_lowercase();
    let words: Vec<String> = lowered
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(normalize)
        .collect();
    let joined = normalize(&lowered);
    // A configuration change prefers a playbook that configures; anything else one that deploys.
    let configure = [
        "config",
        "configure",
        "reconfigure",
        "update",
        "add",
        "change",
    ]
    .iter()
    .any(|w| words.iter().any(|x| x == w));
    let mut candidates: Vec<Candidate> = units
        .iter()
        .filter_map(|unit| {
            let (score, why) = score(&words, &joined, unit);
            let path = unit.path.to_ascii_lowercase();
            let fits_action = if configure {
                path.contains("config")
            } else {
                ["deploy", "install", "setup"]
                    .iter()
                    .any(|w| path.contains(w))
            };
            (score > 0.0).then(|| Candidate {
                unit: unit.clone(),
                // Prefer what can be run as is: playbook, then role, tasks, compose.
                score: score
                    - 0.01 * unit.kind as u8 as f64
                    - if unit.entrypoint.is_none() { 0.02 } else { 0.0 }
                    - if fits_action { 0.0 } else { 0.005 },
                why,
            })
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.unit.path.cmp(&b.unit.path))
    });
    let strong: Vec<&Candidate> = candidates.iter().filter(|c| c.score >= MATCH_AT).collect();
    match strong.first() {
        None => {
            let mut closest: Vec<Candidate> = units
                .iter()
                .map(|unit| {
                    let name = normalize(&unit.service);
                    let nearest = words
                        .iter()
                        .map(|w| edit_distance(w, &name))
                        .min()
                        .unwrap_or(usize::MAX);
                    let similarity = 1.0 - nearest as f64 / name.len().max(1) as f64;
                    Candidate {
                        unit: unit.clone(),
                        score: (similarity.clamp(0.0, 0.59) * 100.0).round() / 100.0,
                        why: "closest name in the repository, not a match".to_owned(),
                    }
                })
                .collect();
            closest.sort_by(|a, b| b.score.total_cmp(&a.score));
            closest.truncate(3);
            Match {
                verdict: "none".to_owned(),
                candidates: closest,
                advice: Some("custom playbook needed: nothing in this repository deploys it (`chiffon playbooks template` writes a starting point)".to_owned()),
            }
        }
        Some(top) => {
            let rival = strong.iter().find(|c| {
                normalize(&c.unit.service) != normalize(&top.unit.service)
                    && top.score - c.score < TIE
                    && !same_group(&c.unit.service, &top.unit.service)
            });
            Match {
                verdict: if rival.is_some() {
                    "ambiguous"
                } else {
                    "match"
                }
                .to_owned(),
                candidates: candidates.into_iter().take(5).collect(),
                advice: None,
            }
        }
    }
}

fn same_group(a: &str, b: &str) -> bool {
    let (a, b) = (normalize(a), normalize(b));
    a.starts_with(&b)
        || b.starts_with(&a)
        || SYNONYMS
            .iter()
            .any(|g| g.contains(&a.as_str()) && g.contains(&b.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looped_and_relative_includes_resolve() {
        assert_eq!(join("playbooks/site.yml", "../tasks/a.yml"), "tasks/a.yml");
        assert_eq!(join("site.yml", "tasks/a.yml"), "tasks/a.yml");
        let nodes = outline::parse(
            "- name: each\n  include_tasks: \"tasks/{{ item }}.yml\"\n  loop: [gitea, drone]\n",
        );
        let mut tasks = BTreeMap::new();
        let mut roles = BTreeMap::new();
        collect_includes(&nodes, ("site.yml", "all"), &mut tasks, &mut roles);
        assert_eq!(
            tasks.keys().collect::<Vec<_>>(),
            ["tasks/drone.yml", "tasks/gitea.yml"]
        );
    }
}
