//! The apps a repository runs: container definitions (compose services, also in Jinja
//! templates; `docker_container` / `podman_container` tasks; facts holding a service
//! definition), systemd unit templates and managed systemd services. Each app gets its service
//! (through the catalogue: image first, then its names), how it runs (compose project,
//! container, systemd unit), its image pin, its on/off switch, its configuration files, the
//! plays that reach it (none: unwired) and its own tags.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::discovery::index::{Candidate, Index, under};
use crate::discovery::pins::{env_pin, pin, repulls, version_var};
use crate::discovery::plays::tags_of;
use crate::discovery::{Reach, Repository, Source, parent, unquote, var_rank};
use crate::repo::outline::Node;
use crate::services::catalogue;
use crate::text::normalize;

mod anchored;
mod configs;
mod inline;
pub(crate) mod listed;
mod project;
mod reached;
mod roles;
mod settle;
pub(crate) use configs::settings;
use configs::{config_files, place_config_files};
use project::{lifecycle_unit, unit_of};
use reached::{as_src, local_scope};
use reached::{in_its_play, reach_of};
use roles::{galaxy_apps, handled_units, role_only_apps};
use settle::settle;

/// How an app runs on its host, which decides how Chiffon's built-in actions address it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A compose project of its own (addressed by its project directory).
    Compose,
    /// A container (several apps share one compose file, or no compose at all).
    Container,
    /// A systemd unit (native package or a container run by systemd).
    Systemd,
}

/// Where an app's version is pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pin {
    /// A variable (or a path inside a fact or compose file) in a file.
    Var {
        file: String,
        var: String,
        value: String,
    },
    /// Unpinned or `latest`: an upgrade is a re-pull.
    Latest,
}

/// An on/off switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    pub file: String,
    pub var: String,
    /// `bool` (`<app>_enabled`), `state` (`<app>_state`: present/absent) or `list` (the app is
    /// an entry of a list of enabled apps).
    pub kind: String,
}

/// One app.
#[derive(Debug, Clone, Serialize)]
pub struct App {
    /// Catalogue id, or the normalized name when the catalogue does not know it.
    pub service: String,
    pub known: bool,
    /// The names the repository gives it (container, compose key, task file, role), normalized.
    pub names: Vec<String>,
    pub unit: UnitKind,
    pub unit_name: String,
    /// The container name (also for a compose service).
    pub container: String,
    pub image: Option<String>,
    /// Where it is defined.
    pub file: String,
    pub line: usize,
    pub role: Option<String>,
    pub pin: Option<Pin>,
    pub switch: Option<Switch>,
    /// Files that hold its configuration (templates, vars), most specific first.
    pub config: Vec<String>,
    /// The inventory's files that set a variable its role reads (`host_vars/qnap.yml` setting
    /// the `mounts` a mergerfs role loops over): a place's own settings of it.
    pub place_config: Vec<String>,
    /// The plays that reach it; empty when no play runs it.
    pub reach: Vec<Reach>,
    /// Tags on its own tasks (inside the reached file), if every task carries them.
    pub own_tags: Vec<String>,
    /// The `{% if <var> == "<value>" %}` block its template renders it in: it runs only where
    /// the inventory sets that value.
    pub only_when: Option<(String, String)>,
    /// A systemd unit the repository writes to bring its compose project up and down
    /// (`docker-compose@mosquitto.service`): what starts, stops and restarts it.
    pub lifecycle_unit: Option<String>,
    /// The name compose gives its container when the compose file names none
    /// (`<project>-<service>-1`): how it is addressed container by container.
    pub compose_container: Option<String>,
    /// Where its image is written when its pin is `latest`: the place a version the request
    /// names goes ("pin n8n to 1.107.0" on an untagged image pulled on every run).
    pub image_at: Option<Pin>,
}

impl App {
    /// The name of its own container: compose's name for it when the compose file gives none.
    pub fn own_container(&self) -> String {
        self.compose_container
            .clone()
            .unwrap_or_else(|| self.container.clone())
    }

    pub fn wired(&self) -> bool {
        !self.reach.is_empty()
    }

    /// Found only as a unit a role's handler restarts (`restart zfs-zed`): a side unit of the
    /// role, below the apps its tasks define.
    pub fn from_handler(&self) -> bool {
        self.file.contains("/handlers/")
    }
}

const CONTAINER_MODULES: &[&str] = &[
    "docker_container",
    "community.docker.docker_container",
    "podman_container",
    "containers.podman.podman_container",
];
const SYSTEMD_MODULES: &[&str] = &[
    "systemd",
    "service",
    "ansible.builtin.systemd",
    "ansible.builtin.service",
    "ansible.builtin.systemd_service",
    "systemd_service",
];

pub(super) struct Definition {
    pub(super) file: String,
    pub(super) line: usize,
    pub(super) name: String,
    pub(super) key: Option<String>,
    pub(super) image: Option<String>,
    /// Under the top-level `services:` of a compose file.
    pub(super) compose: bool,
    pub(super) fact: Option<String>,
    pub(super) unit: UnitKind,
    /// An entry of a list says its image is pulled again (`pull: yes`).
    pub(super) pulls: bool,
    /// Written inline in a playbook or task file (`inline`): what is known beside it.
    pub(super) inline: Option<inline::Inline>,
}

/// Finds the apps.
pub(crate) fn find(
    repository: &Repository,
    sources: &[Source],
    by_path: &BTreeMap<&str, &Source>,
) -> Vec<App> {
    let mut definitions = Vec::new();
    let mut handled = Vec::new();
    for source in sources {
        let lower = source.rel.to_ascii_lowercase();
        // A role's handler restarting a service its tasks configure (`notify: restart
        // coredns`): the role manages that unit, kept below when nothing else defines it.
        if lower.contains("/handlers/") {
            walk(
                &source.nodes,
                &source.rel,
                &mut Vec::new(),
                false,
                &mut handled,
            );
            continue;
        }
        if lower.contains("group_vars/")
            || lower.contains("host_vars/")
            || lower.contains("/defaults/")
            || lower.contains("/vars/")
            || lower.contains("/tests/")
            || lower.contains("/molecule/")
        {
            continue;
        }
        if lower.ends_with(".service.j2") || lower.ends_with(".service") || is_quadlet_file(&lower)
        {
            let name = source
                .rel
                .rsplit('/')
                .next()
                .unwrap_or("")
                .trim_end_matches(".j2")
                .to_owned();
            let name = name.replace(".container", ".service");
            // A container run by the unit: its image reference, for the pin; a Quadlet
            // unit's `Image=` line, even written out (`Image=ghcr.io/org/app:7.4.4`).
            let image = source
                .text
                .split("{{")
                .skip(1)
                .filter_map(|part| part.split("}}").next())
                .map(str::trim)
                .find(|var| {
                    var.ends_with("_image")
                        || var.ends_with("_image_version")
                        || var.ends_with("_version")
                })
                .map(|var| format!("{{{{ {var} }}}}"))
                .or_else(|| quadlet_image(&lower, &source.text));
            definitions.push(Definition {
                pulls: false,
                file: source.rel.clone(),
                line: 1,
                name,
                key: None,
                image,
                compose: false,
                fact: None,
                unit: UnitKind::Systemd,
                inline: None,
            });
            continue;
        }
        let top_services = source
            .nodes
            .iter()
            .any(|n| n.key.as_deref() == Some("services"));
        // A template that is not a compose file is an app's own configuration (a Jenkins
        // configuration-as-code file names agent images): what it lists are not containers
        // the repository runs.
        let template = lower.ends_with(".j2") || lower.contains("/templates/");
        if template && !top_services {
            continue;
        }
        definitions.extend(inline::definitions(source));
        if top_services {
            definitions.extend(anchored::merged_services(source));
        }
        walk(
            &source.nodes,
            &source.rel,
            &mut Vec::new(),
            top_services,
            &mut definitions,
        );
    }
    definitions.extend(handled_units(repository, &definitions, handled));
    let definitions = acted_on_elsewhere(definitions);
    let mut definitions = listed::expand_looped(repository, by_path, definitions);
    definitions.extend(listed::rendered_from_vars(repository, sources));
    let index = Index::new(repository, by_path);
    let mut apps: Vec<App> = Vec::new();
    for definition in definitions {
        let role = repository.role_of(&definition.file).map(str::to_owned);
        let Some(mut app) = build(repository, &index, definition, role) else {
            continue;
        };
        app.lifecycle_unit = lifecycle_unit(repository, &index, &app);
        // The same unit seen twice in one role (a unit template and the task starting it):
        // one app, keeping what either knows.
        // Two services of one compose file are two containers, even of one image
        // (`transmission` and its second instance `transmission-bkup`).
        if let Some(same) = apps.iter_mut().find(|a| {
            a.service == app.service
                && a.unit_name == app.unit_name
                && (a.file == app.file || a.role.is_some() && a.role == app.role)
                && (a.unit != UnitKind::Compose || a.container == app.container)
        }) {
            if same.pin.is_none() {
                same.pin = app.pin;
                same.image = same.image.take().or(app.image);
            }
            if same.own_tags.is_empty() {
                same.own_tags = app.own_tags;
            }
            for reach in app.reach {
                if !same.reach.contains(&reach) {
                    same.reach.push(reach);
                }
            }
            continue;
        }
        apps.push(app);
    }
    role_only_apps(repository, &index, &mut apps);
    galaxy_apps(repository, &index, &mut apps);
    settle(&mut apps);
    // Read once per role, however many apps it holds.
    let mut by_role: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for app in &mut apps {
        if let Some(role) = &app.role {
            app.place_config = by_role
                .entry(role.clone())
                .or_insert_with(|| place_config_files(repository, &index, role))
                .clone();
        }
    }
    apps
}

/// A Quadlet container unit (`<name>.container`) or its template (`<name>.container.j2`).
pub(crate) fn is_quadlet_file(path: &str) -> bool {
    path.trim_end_matches(".j2").ends_with(".container")
}

/// The image a Quadlet container unit (`.container`, or its template) runs: its `Image=`.
fn quadlet_image(lower: &str, text: &str) -> Option<String> {
    if !is_quadlet_file(lower) {
        return None;
    }
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Image="))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A container task without an image (a handler's `state: started, restart: yes`) acts on a
/// container that another task of the file creates with its image: not a second app. Nor is a
/// `systemd` task acting on a unit that a container's unit runs, wherever that is written (a
/// per-app playbook's handler restarting the `caddy.service` that `caddy.yml` writes).
fn acted_on_elsewhere(definitions: Vec<Definition>) -> Vec<Definition> {
    let created: BTreeSet<(String, String)> = definitions
        .iter()
        .filter(|d| d.image.is_some() && !d.compose)
        .map(|d| (d.file.clone(), d.name.clone()))
        .collect();
    let units: BTreeSet<&str> = definitions
        .iter()
        .filter(|d| d.unit == UnitKind::Systemd && d.image.is_some())
        .map(|d| d.name.as_str())
        .collect();
    let run_elsewhere: BTreeSet<(String, String)> = definitions
        .iter()
        .filter(|d| d.unit == UnitKind::Systemd && d.image.is_none())
        .filter(|d| units.contains(d.name.as_str()))
        .filter(|d| !created.contains(&(d.file.clone(), d.name.clone())))
        .map(|d| (d.file.clone(), d.name.clone()))
        .collect();
    definitions
        .into_iter()
        .filter(|d| {
            let action = d.unit == UnitKind::Container && d.image.is_none() && !d.compose;
            let acted = action
                && created.iter().any(|(file, name)| {
                    *file == d.file
                        && (*name == d.name || name.ends_with(&format!("-{}.service", d.name)))
                });
            let unit_action =
                d.image.is_none() && run_elsewhere.contains(&(d.file.clone(), d.name.clone()));
            !acted && !unit_action
        })
        .collect()
}

/// The container a `docker_container` / `podman_container` task creates, by its name.
fn container_definition(module: &Node, file: &str) -> Option<Definition> {
    let name = module.get("name")?;
    let image = module.get("image").map(|i| unquote(i.scalar()).to_owned());
    let name = unquote(name.scalar()).to_owned();
    // `state: quadlet` writes a Quadlet file: systemd runs the container as
    // `<name>.service`, which is what starts, stops and restarts it.
    let quadlet = module
        .get("state")
        .is_some_and(|s| unquote(s.scalar()) == "quadlet");
    // `generate_systemd:` writes a unit that systemd runs the container as,
    // `container-<name>.service` unless its prefix or separator say otherwise.
    let generated = module
        .get("generate_systemd")
        .filter(|g| !g.children.is_empty())
        .map(|g| {
            let option = |key: &str, default: &str| {
                g.get(key)
                    .map_or(default.to_owned(), |v| unquote(v.scalar()).to_owned())
            };
            format!(
                "{}{}{name}.service",
                option("container_prefix", "container"),
                option("separator", "-")
            )
        });
    let systemd = quadlet || generated.is_some();
    Some(Definition {
        pulls: false,
        file: file.to_owned(),
        line: module.line,
        name: if let Some(unit) = generated {
            unit
        } else if quadlet {
            format!("{name}.service")
        } else {
            name
        },
        key: None,
        image,
        compose: false,
        fact: None,
        unit: if systemd {
            UnitKind::Systemd
        } else {
            UnitKind::Container
        },

        inline: None,
    })
}

fn walk(
    nodes: &[Node],
    file: &str,
    path: &mut Vec<String>,
    top_services: bool,
    out: &mut Vec<Definition>,
) {
    for node in nodes {
        // An extension field of a compose file is a template the services merge, not one.
        if top_services && path.is_empty() && anchored::is_extension(node.key.as_deref()) {
            continue;
        }
        // A task using a container or systemd module.
        if node.is_item() {
            if let Some(module) = CONTAINER_MODULES.iter().find_map(|m| node.get(m)) {
                out.extend(container_definition(module, file));
                continue;
            }
            // `service:` and `unit:` are aliases of `name:` (`systemd_service: { service:
            // n8n.service }`).
            // A unit a role's task file stops and disables (`state: stopped, enabled: false`)
            // is being retired (a native install a container replaces), not run; in a
            // playbook of its own, that is how the app is removed.
            let said = |module: &Node, key: &str, values: &[&str]| {
                module
                    .get(key)
                    .is_some_and(|v| values.contains(&unquote(v.scalar())))
            };
            if let Some(module) = SYSTEMD_MODULES.iter().find_map(|m| node.get(m))
                && !(file.contains("/tasks/")
                    && said(module, "state", &["stopped"])
                    && said(module, "enabled", &["false", "no", "False"]))
                && let Some(name) = ["name", "service", "unit"]
                    .iter()
                    .find_map(|key| module.get(key))
            {
                {
                    let name = unquote(name.scalar());
                    if !name.is_empty() {
                        let unit = if name.contains('.') {
                            name.to_owned()
                        } else {
                            format!("{name}.service")
                        };
                        out.push(Definition {
                            pulls: false,
                            file: file.to_owned(),
                            line: module.line,
                            name: unit,
                            key: None,
                            image: None,
                            compose: false,
                            fact: None,
                            unit: UnitKind::Systemd,
                            inline: None,
                        });
                    }
                }
            }
        }
        // A compose service built from source (`build:` and no image) is an app too.
        if top_services
            && path.len() == 1
            && path[0] == "services"
            && node.get("image").is_none()
            && node.get("build").is_some()
            && let Some(key) = node.key.clone()
        {
            let name = node
                .get("container_name")
                .map(|c| unquote(c.scalar()).to_owned())
                .unwrap_or_else(|| key.clone());
            out.push(Definition {
                pulls: false,
                file: file.to_owned(),
                line: node.line,
                name,
                key: Some(key),
                image: None,
                compose: true,
                fact: None,
                unit: UnitKind::Compose,
                inline: None,
            });
        }
        if let Some(image) = node.get("image").filter(|i| !i.scalar().is_empty()) {
            let parent_key = node.key.clone();
            let grandparent = path.last().cloned();
            if parent_key.as_deref() != Some("vars") {
                let in_services = grandparent.as_deref() == Some("services");
                let compose = in_services && top_services && path.len() == 1;
                let name = node
                    .get("container_name")
                    .map(|c| unquote(c.scalar()).to_owned())
                    .or_else(|| in_services.then(|| parent_key.clone()).flatten())
                    .or_else(|| node.get("name").map(|c| unquote(c.scalar()).to_owned()))
                    .or_else(|| parent_key.clone());
                if let Some(name) = name {
                    let fact = (!in_services).then(|| parent_key.clone()).flatten();
                    out.push(Definition {
                        pulls: false,
                        file: file.to_owned(),
                        line: image.line,
                        name,
                        key: if in_services {
                            parent_key.clone()
                        } else {
                            None
                        },
                        image: Some(unquote(image.scalar()).to_owned()),
                        compose,
                        fact,
                        unit: if compose {
                            UnitKind::Compose
                        } else {
                            UnitKind::Container
                        },
                        inline: None,
                    });
                }
            }
        }
        path.push(node.key.clone().unwrap_or_default());
        walk(&node.children, file, path, top_services, out);
        path.pop();
    }
}

/// Which catalogue service a set of names and an image stand for.
fn identify(image: Option<&str>, names: &[String]) -> (String, bool) {
    let catalogue = catalogue();
    if let Some(image) = image.filter(|i| !i.starts_with("{{"))
        && let Some(service) = catalogue.by_image(image)
    {
        return (service.id.clone(), true);
    }
    for name in names {
        if let Some(service) = catalogue.lookup(name) {
            return (service.id.clone(), true);
        }
    }
    for name in names {
        if let Some((service, _)) = catalogue.lookup_typo(name) {
            return (service.id.clone(), true);
        }
    }
    (String::new(), false)
}

fn build(
    repository: &Repository,
    index: &Index<'_>,
    definition: Definition,
    role: Option<String>,
) -> Option<App> {
    let expand = |text: &str| expand_own(repository, role.as_deref(), text);
    let name = expand_registered(index.by_path, &definition.file, &expand(&definition.name));
    let image = definition.image.as_deref().map(expand);
    let stem = file_stem(&definition.file);
    let role_name = role
        .as_deref()
        .and_then(|r| r.rsplit('/').next())
        .map(str::to_owned);
    let mut names: Vec<String> = Vec::new();
    let unit_stem = name.split(['@', '.']).next().unwrap_or(&name).to_owned();
    let own_role = in_own_role(&definition, role_name.as_deref(), &unit_stem);
    let own_stem = normalize(&unit_stem);
    let generic = |n: &str| GENERIC.contains(&n) && !(own_role && n == own_stem);
    // A unit podman generated for a container (`container-authelia`) is named for it.
    let container_stem = unit_stem
        .strip_prefix("container-")
        .filter(|_| definition.unit == UnitKind::Systemd && image.is_some())
        .unwrap_or(&unit_stem)
        .to_owned();
    for n in [
        Some(container_stem),
        definition.key.clone(),
        Some(stem),
        role_name.clone(),
    ]
    .into_iter()
    .flatten()
    {
        let n = normalize(&n.replace("{{", "").replace("}}", ""));
        if n.len() >= 2 && !names.contains(&n) && !generic(&n) {
            names.push(n);
        }
    }
    if definition.unit == UnitKind::Systemd && name.contains("{{") {
        return None;
    }
    if definition.unit == UnitKind::Systemd
        && image.is_none()
        && (generic(&normalize(&unit_stem))
            || !is_own_unit(
                index,
                &definition.file,
                role.as_deref(),
                role_name.as_deref(),
                &unit_stem,
            ))
    {
        return None;
    }
    if name.contains("{{") && definition.unit != UnitKind::Systemd && names.is_empty() {
        return None;
    }
    let (service, known) = identified(index, &definition, image.as_deref(), &names);
    // Unknown to the catalogue: the name as the repository spells it (`baby_buddy` → `baby-buddy`).
    let service = if service.is_empty() {
        let spelled = [Some(unit_stem), definition.key.clone(), role_name]
            .into_iter()
            .flatten()
            .find(|n| !n.contains("{{") && !generic(&normalize(n)) && normalize(n).len() >= 2)
            .unwrap_or_default();
        spelled
            .to_lowercase()
            .replace('_', "-")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect()
    } else {
        service
    };
    if service.is_empty() {
        return None;
    }
    let reach = in_its_play(
        repository,
        &definition.file,
        definition.line,
        reach_of(repository, index, &definition.file, role.as_deref()),
    );
    let (unit, unit_name, compose_container) = unit_of(
        repository,
        index,
        &definition,
        role.as_deref(),
        &names,
        &name,
        &reach,
    );
    let own_tags = own_tags(index, &definition.file, role.as_deref());
    let (pin, image_at) = pin_of(
        repository,
        index,
        &definition,
        role.as_deref(),
        &reach,
        &names,
    );
    let switch = switch(index, &names, &definition.file);
    let config = config_files(
        repository,
        index,
        &definition.file,
        role.as_deref(),
        &names,
        &service,
    );
    let only_when = index
        .by_path
        .get(definition.file.as_str())
        .and_then(|source| super::conditioned::only_when(&source.text, definition.line));
    Some(App {
        service,
        known,
        names,
        unit,
        unit_name,
        container: name,
        image,
        file: definition.file,
        line: definition.line,
        role,
        pin,
        switch,
        config,
        place_config: Vec::new(),
        reach,
        own_tags,
        only_when,
        lifecycle_unit: None,
        compose_container,
        image_at,
    })
}

/// Where an app's version is pinned, and, when that is `latest`, where its image is written
/// (the place a version the request names goes).
fn pin_of(
    repository: &Repository,
    index: &Index<'_>,
    definition: &Definition,
    role: Option<&str>,
    reach: &[Reach],
    names: &[String],
) -> (Option<Pin>, Option<Pin>) {
    let repulled = definition.pulls || repulls(index, &definition.file, role, reach);
    let found = env_pin(repository, index, definition, role)
        .or_else(|| pin(repository, definition, repulled))
        .or_else(|| version_var(repository, names));
    let image_at = matches!(found, Some(Pin::Latest))
        .then(|| pin(repository, definition, false))
        .flatten();
    (found, image_at)
}

/// `text` with its variables written in, a role's own defaults and vars first (every role may
/// name a `container_name`).
fn expand_own(repository: &Repository, role: Option<&str>, text: &str) -> String {
    let own_vars: Vec<String> = role
        .iter()
        .flat_map(|r| {
            [
                "defaults/main.yml",
                "defaults/main.yaml",
                "vars/main.yml",
                "vars/main.yaml",
            ]
            .map(|f| format!("{r}/{f}"))
        })
        .collect();
    let own = text.split("{{").skip(1).any(|rest| {
        let var = rest
            .split(['}', '|', ' '])
            .find(|w| !w.is_empty())
            .unwrap_or("");
        repository
            .vars
            .get(var)
            .is_some_and(|defs| defs.iter().any(|d| own_vars.contains(&d.file)))
    });
    if own {
        repository.expand_for(text, &own_vars)
    } else {
        repository.expand(text)
    }
}

/// A file's name up to its first dot (`docker-compose` of `docker-compose.yml.j2`).
fn file_stem(file: &str) -> String {
    let name = file.rsplit('/').next().unwrap_or("");
    name.split('.').next().unwrap_or("").to_owned()
}

/// Which catalogue service a definition is. A unit file's image says little of what the unit
/// is; a Quadlet container task's image does (`pangolin-traefik` runs traefik). A compose
/// service built from source is what its Dockerfile's last stage starts from (a `proxy` built
/// `FROM caddy` is Caddy).
fn identified(
    index: &Index<'_>,
    definition: &Definition,
    image: Option<&str>,
    names: &[String],
) -> (String, bool) {
    let quadlet = definition.file.ends_with(".yml") || definition.file.ends_with(".yaml");
    let built_from = (definition.compose && image.is_none())
        .then(|| index.built_from(&definition.file))
        .flatten();
    identify(
        image
            .or(built_from.as_deref())
            .filter(|_| definition.unit != UnitKind::Systemd || quadlet),
        names,
    )
}

/// Names too generic to identify an app by.
const GENERIC: &[&str] = &[
    "main",
    "docker",
    "compose",
    "dockercompose",
    "app",
    "service",
    "services",
    "container",
    "containers",
    "tasks",
    "setup",
    "install",
    "deploy",
    "config",
    "default",
    "ssh",
    "sshd",
    "systemdresolved",
    "cron",
    "networking",
    "network",
    "apt",
    "ufw",
    "unattendedupgrades",
    "server",
    "web",
    "api",
    "frontend",
    "backend",
    "worker",
    "db",
    "database",
    "backup",
    // What a task file does, not what it runs (`tasks/apply.yml`, `tasks/upgrade.yml`).
    "apply",
    "configure",
    "update",
    "upgrade",
    "uninstall",
    "remove",
    "restart",
    "prepare",
];

/// A unit as common as `ssh` is an app only in a role named for it (`roles/ssh`), not where
/// some other role restarts it.
fn in_own_role(definition: &Definition, role_name: Option<&str>, unit_stem: &str) -> bool {
    definition.unit == UnitKind::Systemd
        && role_name.is_some_and(|r| normalize(r) == normalize(unit_stem))
        && catalogue().lookup(unit_stem).is_some()
}

/// Whether a systemd unit with no image is an app: a service the catalogue knows, named like
/// its role, or whose unit file its role ships (`webcam` renders `v4l2rtspserver.service.j2`:
/// its own daemon) — not in a role named for a service the catalogue knows, where it is a
/// helper — or, outside a role, whose unit file the same tasks write (`dest:
/// /etc/systemd/system/natpmpc-updater.service`).
fn is_own_unit(
    index: &Index<'_>,
    file: &str,
    role: Option<&str>,
    role_name: Option<&str>,
    unit_stem: &str,
) -> bool {
    let role_known = role_name.is_some_and(|r| catalogue().lookup(r).is_some());
    let ships_unit = !role_known
        && role.is_some_and(|r| {
            ["templates", "files"].iter().any(|folder| {
                ["", ".j2"].iter().any(|ext| {
                    index
                        .get(&format!("{r}/{folder}/{unit_stem}.service{ext}"))
                        .is_some()
                })
            })
        });
    let writes_unit = role.is_none()
        && index.get(file).is_some_and(|source| {
            source
                .text
                .contains(&format!("/etc/systemd/system/{unit_stem}."))
        });
    // A unit named for its role, or, in a role the catalogue does not know, for a part of it
    // (`mailrelay-worker` in `mailrelay`; in `adguard`, `adguard_reboot_guard` is a helper).
    let role_named = role_name.is_some_and(|r| {
        let (r, unit) = (normalize(r), normalize(unit_stem));
        r == unit
            || !role_known && r.len() >= 4 && unit.starts_with(&r) && unit_stem.contains(['-', '_'])
    });
    catalogue().lookup(unit_stem).is_some() || ships_unit || writes_unit || role_named
}

/// Tags every task of the defining task file carries (adrienko-style `tags: [sonarr]` on each
/// task), else the tags of the task that renders a template.
fn own_tags(index: &Index<'_>, file: &str, role: Option<&str>) -> Vec<String> {
    // Tags on more than half of the file's tasks (a stray untagged assert does not count).
    let common = |nodes: &[Node]| -> Vec<String> {
        let tasks: Vec<&Node> = nodes.iter().filter(|n| n.is_item()).collect();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for task in &tasks {
            for tag in tags_of(task) {
                *counts.entry(tag).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .filter(|(tag, n)| tag != "always" && tag != "never" && *n * 2 > tasks.len())
            .map(|(tag, _)| tag)
            .collect()
    };
    let Some(role) = role else { return Vec::new() };
    let tasks = format!("{role}/tasks/");
    if let Some(source) = index.get(file)
        && file.starts_with(&tasks)
    {
        return common(&source.nodes);
    }
    let name = file.rsplit('/').next().unwrap_or(file);
    for (_, source) in under(index.by_path, &tasks) {
        if source.text.contains(name) {
            for task in source.nodes.iter().filter(|n| n.is_item()) {
                if task.children.iter().any(|c| {
                    c.children
                        .iter()
                        .any(|g| g.key.as_deref() == Some("src") && g.scalar().contains(name))
                }) {
                    let tags = tags_of(task);
                    if !tags.is_empty() {
                        return tags;
                    }
                }
            }
            let tags = common(&source.nodes);
            if !tags.is_empty() {
                return tags;
            }
        }
    }
    for ext in ["yml", "yaml"] {
        if let Some(source) = index.get(&format!("{role}/tasks/main.{ext}")) {
            return common(&source.nodes);
        }
    }
    Vec::new()
}

/// `<app>_enabled`, `enable_<app>`, `<app>_state` set in a vars file, or tested in the
/// template defining the app (`{% if arr_stack_jellyfin_enabled %}`).
fn switch(index: &Index<'_>, names: &[String], file: &str) -> Option<Switch> {
    let mut best: Option<(Switch, (u8, u8, usize))> = None;
    for candidate in &index.switches {
        let (var, kind, core) = (candidate.var, candidate.kind, &candidate.core);
        let matches = names
            .iter()
            .take(3)
            .any(|n| n.len() >= 3 && (core == n || core.ends_with(n.as_str())));
        if !matches {
            continue;
        }
        for definition in candidate.definitions {
            let rank = var_rank(&definition.file);
            if best.as_ref().is_none_or(|(_, r)| rank < *r) {
                best = Some((
                    Switch {
                        file: definition.file.clone(),
                        var: var.to_owned(),
                        kind: kind.to_owned(),
                    },
                    rank,
                ));
            }
        }
    }
    if best.is_none()
        && let Some(source) = index.get(file)
    {
        for line in source.text.lines() {
            if let Some(condition) = line
                .trim()
                .strip_prefix("{% if ")
                .and_then(|l| l.split("%}").next())
            {
                let var = condition
                    .trim()
                    .trim_start_matches("not ")
                    .split([' ', '|'])
                    .next()
                    .unwrap_or("");
                if var.ends_with("_enabled")
                    && names
                        .iter()
                        .take(2)
                        .any(|n| normalize(var).contains(n.as_str()))
                {
                    return Some(Switch {
                        file: file.to_owned(),
                        var: var.to_owned(),
                        kind: "bool".to_owned(),
                    });
                }
            }
        }
    }
    best.map(|(s, _)| s)
}

/// `{{ x.name }}` where `x` is registered by a task of the same file that sets `name:`
/// (`user: {name: qbittorrent}` + `register: qbittorrent_user` makes the unit
/// `qbittorrent-nox@{{ qbittorrent_user.name }}` the unit `qbittorrent-nox@qbittorrent`).
fn expand_registered(by_path: &BTreeMap<&str, &Source>, file: &str, text: &str) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    let Some(source) = by_path.get(file) else {
        return text.to_owned();
    };
    let mut out = text.to_owned();
    for task in source.nodes.iter().filter(|n| n.is_item()) {
        let Some(register) = task.get("register").map(|r| r.scalar().trim().to_owned()) else {
            continue;
        };
        for module in &task.children {
            let Some(value) = module.get("name").map(|n| n.scalar().trim().to_owned()) else {
                continue;
            };
            if value.is_empty() || value.contains("{{") {
                continue;
            }
            for spacing in [" ", ""] {
                let pattern = format!("{{{{{spacing}{register}.name{spacing}}}}}");
                out = out.replace(&pattern, &value);
            }
        }
    }
    out
}

/// A systemd unit as `systemctl` names it: `name: docker` in a `service` task is `docker.service`.
fn full_unit_name(name: &str) -> String {
    let typed = [
        ".service", ".timer", ".socket", ".target", ".mount", ".path",
    ]
    .iter()
    .any(|suffix| name.ends_with(suffix));
    if typed || name.is_empty() {
        name.to_owned()
    } else {
        format!("{name}.service")
    }
}
