//! Which instance of a service a request means: the one wired app, the one on the target
//! named, or a question between hosts running separate instances; and where an app runs.

use std::collections::{BTreeMap, BTreeSet};

use super::{Answer, Resolution, Verb};
use crate::discovery::{App, Reach, Repository, UnitKind};
use crate::services::catalogue;
use crate::text::normalize;

/// The app instance meant: one wired app, or the one on the target; several hosts running
/// separate instances is a question.
pub(super) fn pick_app<'a>(
    wired: &[&'a App],
    target: Option<&str>,
    repository: &Repository,
) -> Result<&'a App, Vec<String>> {
    if wired.len() == 1 {
        return Ok(wired[0]);
    }
    if let Some(target) = target
        && let Some(app) = wired.iter().find(|a| runs_on(repository, a, target))
    {
        return Ok(app);
    }
    // One systemd unit installed by different roles (a gateway role's nginx beside the nginx
    // role applied to three hosts): the same unit on each machine; the places are the choice.
    if wired
        .iter()
        .all(|a| a.unit == UnitKind::Systemd && a.unit_name == wired[0].unit_name)
    {
        let mut places: BTreeSet<String> = BTreeSet::new();
        for app in wired {
            let separate = separate_places(repository, app);
            if separate.is_empty() {
                places.insert(hosts_of(repository, app).join(","));
            } else {
                places.extend(separate);
            }
        }
        if places.len() > 1 {
            return Err(places
                .into_iter()
                .map(|p| format!("{p}:{}", wired[0].service))
                .collect());
        }
        return Ok(wired[0]);
    }
    // Different roles on different hosts: separate instances.
    let places: BTreeSet<String> = wired
        .iter()
        .map(|a| hosts_of(repository, a).join(","))
        .collect();
    let units: BTreeSet<&str> = wired.iter().map(|a| a.unit_name.as_str()).collect();
    if kept_apart(wired, &places) {
        let mut choices: Vec<String> = instance_ids(repository, wired);
        // A role applied by separate plays to separate machines (traefik on `apps` and on
        // `media`) is one instance per machine (`apps:traefik`, which `placed_at` reads back).
        choices = wired
            .iter()
            .zip(choices)
            .flat_map(|(app, id)| {
                let separate = separate_places(repository, app);
                if separate.len() > 1 {
                    separate
                        .into_iter()
                        .map(|p| format!("{p}:{}", app.service))
                        .collect()
                } else {
                    vec![id]
                }
            })
            .collect();
        choices.sort();
        choices.sort();
        choices.dedup();
        return Err(choices);
    }
    // The same service in different files under different names (three postgres containers):
    // the person picks.
    let files: BTreeSet<&str> = wired.iter().map(|a| a.file.as_str()).collect();
    let roles_or_files = wired
        .iter()
        .map(|a| a.role.clone().unwrap_or_else(|| a.file.clone()))
        .collect::<BTreeSet<_>>();
    if units.len() > 1
        && files.len() > 1
        && wired.iter().all(|a| a.unit == UnitKind::Container)
        && roles_or_files.len() <= 1
    {
        return Err(units.into_iter().map(str::to_owned).collect());
    }
    // Each a part of a different app's project (a cache beside each of five apps): which
    // app's is the person's to say.
    let owners: BTreeSet<&str> = wired
        .iter()
        .filter_map(|a| part_of(repository, a))
        .collect();
    if owners.len() == wired.len() {
        let mut choices = instance_ids(repository, wired);
        choices.sort();
        choices.dedup();
        return Err(choices);
    }
    // Prefer the app whose unit is named like the service (not a sidecar), defined in a compose
    // file or a unit of its own.
    let best = wired
        .iter()
        .max_by_key(|a| {
            let named = a.names.first().is_some_and(|n| {
                *n == normalize(&a.service)
                    || catalogue().lookup(n).is_some_and(|s| s.id == a.service)
            });
            (
                named,
                a.unit == UnitKind::Systemd,
                a.unit == UnitKind::Compose,
                std::cmp::Reverse(a.file.len()),
                // Several containers of one app in one definition (`api`, `frontend`): the
                // first written is its main one.
                std::cmp::Reverse(a.line),
            )
        })
        .copied();
    best.ok_or_else(Vec::new)
}

/// Whether apps of one service are separate instances: different roles, or each its own
/// role's on one machine, or set apart by hosts' lists, machines' vars files, playbooks or
/// plays.
fn kept_apart(wired: &[&App], places: &BTreeSet<String>) -> bool {
    let roles: BTreeSet<Option<&String>> = wired.iter().map(|a| a.role.as_ref()).collect();
    // Or each role's own on the same machine (a redis beside each of two apps).
    let units: BTreeSet<&str> = wired.iter().map(|a| a.unit_name.as_str()).collect();
    let own_units = roles.len() == wired.len() && units.len() == wired.len();
    // Or folders that separate hosts' lists pick (a caddy in the `reverse-proxy` project on
    // one machine, another in `pterodactyl` on the other).
    let listed_apart = places.len() == wired.len()
        && wired
            .iter()
            .all(|a| a.reach.iter().all(|r| r.list.is_some()));
    // Or written in each machine's own vars (`host_vars/<host>.yaml` listing containers).
    let vars_apart = places.len() == wired.len()
        && wired
            .iter()
            .all(|a| crate::discovery::is_inventory_vars(&a.file));
    // Or each its own file, deployed by its own playbook (one `server_<app>.yml` per site).
    let playbooks: Vec<BTreeSet<&str>> = wired
        .iter()
        .map(|a| a.reach.iter().map(|r| r.playbook.as_str()).collect())
        .collect();
    let playbooks_apart = places.len() == wired.len()
        && wired.iter().map(|a| &a.file).collect::<BTreeSet<_>>().len() == wired.len()
        && playbooks.iter().enumerate().all(|(i, mine)| {
            !mine.is_empty()
                && playbooks
                    .iter()
                    .skip(i + 1)
                    .all(|theirs| mine.is_disjoint(theirs))
        });
    // Or each written in its own play of one playbook (`hosts: podman02`, `hosts: podman03`).
    let plays: BTreeSet<Vec<(&str, usize)>> = wired
        .iter()
        .map(|a| {
            a.reach
                .iter()
                .map(|r| (r.playbook.as_str(), r.play))
                .collect()
        })
        .collect();
    let plays_apart = places.len() == wired.len()
        && plays.len() == wired.len()
        && plays.iter().all(|p| p.len() == 1)
        && wired
            .iter()
            .all(|a| a.reach.iter().all(|r| r.playbook == a.file));
    (roles.len() > 1 || listed_apart || vars_apart || playbooks_apart || plays_apart)
        && (places.len() > 1 || own_units)
}

/// Whether the instance a person picked (`apps:traefik`) is `app` run at that place.
pub(super) fn placed_at(repository: &Repository, app: &App, instance: &str) -> bool {
    instance
        .strip_suffix(&format!(":{}", app.service))
        .is_some_and(|place| separate_places(repository, app).iter().any(|p| p == place))
}

/// The places one app runs as separate instances: the hosts or groups of separate plays, or
/// of separate per-host lists that switch it on (`portainer_roles` in two host_vars files).
/// One play on a group of hosts is one place. Only where the plays reach the app itself (its
/// role, or its own file): an app found through a generic role's text (a `compose_stack` role
/// applied once per stack) is not known to run on each of that role's hosts.
pub(super) fn separate_places(repository: &Repository, app: &App) -> Vec<String> {
    if app.role.is_none() && !repository.reach.contains_key(&app.file) {
        return Vec::new();
    }
    if let Some(places) = conditioned_places(repository, app) {
        return places;
    }
    let mut places = BTreeSet::new();
    for reach in &app.reach {
        let place = match &reach.list {
            Some((_, file, _)) => {
                vars_file_place(repository, file).unwrap_or_else(|| reach.hosts.clone())
            }
            None => reach.hosts.clone(),
        };
        places.insert(place);
    }
    places.into_iter().collect()
}

/// The host or group a host_vars or group_vars file is for (`None` for `all` or elsewhere), as
/// the inventory spells it.
fn vars_file_place(repository: &Repository, file: &str) -> Option<String> {
    crate::discovery::inventory_vars_place(file)
        .filter(|name| *name != "all")
        .map(|name| repository.inventory.spelled(name))
}

/// Whether `app` runs on a host of `target` (a host or group).
pub(super) fn runs_on(repository: &Repository, app: &App, target: &str) -> bool {
    let hosts = repository.inventory.resolve(target);
    hosts_of(repository, app).iter().any(|h| {
        repository
            .inventory
            .resolve(h)
            .iter()
            .any(|x| hosts.contains(x))
    })
}

/// How a question between instances names one: `hosts:service`.
fn instance_id(repository: &Repository, app: &App) -> String {
    format!("{}:{}", hosts_of(repository, app).join(","), app.service)
}

/// How a question between the instances `apps` of one service names each, in their order:
/// their containers' own names where those differ (`paperless-redis`, `tracearr-redis`), else
/// `hosts:service`, or, where two run on the same hosts (seven redis containers on three
/// machines), `<project>-<service>`, the project being the folder or role holding each (the
/// way a Compose project prefixes its containers' names).
pub(super) fn instance_ids(repository: &Repository, apps: &[&App]) -> Vec<String> {
    let containers: Vec<String> = apps.iter().map(|a| a.container.clone()).collect();
    let distinct = |ids: &[String]| ids.iter().collect::<BTreeSet<_>>().len() == ids.len();
    if apps.iter().all(|a| a.unit != UnitKind::Systemd)
        && distinct(&containers)
        && containers
            .iter()
            .all(|c| !c.is_empty() && !c.contains("{{"))
    {
        return containers;
    }
    let by_hosts: Vec<String> = apps.iter().map(|a| instance_id(repository, a)).collect();
    let by_project: Vec<String> = apps
        .iter()
        .map(|a| format!("{}-{}", project_of(a), a.service))
        .collect();
    if distinct(&by_hosts) || !distinct(&by_project) {
        by_hosts
    } else {
        by_project
    }
}

/// The project an app belongs to: the folder of its file below a role's `files`/`templates`
/// (`pve_docker/files/nextcloud/docker-compose.yml` is `nextcloud`), else its role's name.
fn project_of(app: &App) -> String {
    let folders: Vec<&str> = app.file.split('/').collect();
    let parent = folders.len().checked_sub(2).map(|i| folders[i]);
    let generic = |f: &str| {
        matches!(
            f,
            "files" | "templates" | "tasks" | "vars" | "defaults" | "handlers" | "meta"
        )
    };
    let name = match (parent, &app.role) {
        (Some(parent), Some(role)) if !generic(parent) && !role.ends_with(parent) => parent,
        (_, Some(role)) => role.rsplit('/').next().unwrap_or(role),
        (Some(parent), None) => parent,
        (None, None) => app.file.as_str(),
    };
    name.replace('_', "-")
}

/// Where an app runs: the hosts or groups whose list switched it on, or whose own vars switch
/// on what a default leaves off, else its plays' hosts.
pub fn hosts_of(repository: &Repository, app: &App) -> Vec<String> {
    let out: BTreeSet<String> = match switched_on_places(repository, app) {
        Some(places) => BTreeSet::from([places.join(",")]),
        None => app
            .reach
            .iter()
            .map(|reach| {
                let place = reach
                    .list
                    .as_ref()
                    .and_then(|(_, file, _)| vars_file_place(repository, file));
                place.unwrap_or_else(|| reach.hosts.clone())
            })
            .collect(),
    };
    // A pattern of several hosts (`box,lab`): the hosts, without test machines when others remain.
    let mut resolved = BTreeSet::new();
    for pattern in out {
        // A pattern of groups (`archlinux, ubuntu, nixos`) is those groups: each is run as one.
        let parts: Vec<&str> = pattern.split([',', ':']).map(str::trim).collect();
        if parts.len() > 1
            && parts.iter().all(|p| {
                repository
                    .inventory
                    .groups
                    .get(*p)
                    .is_some_and(|g| !g.is_empty())
            })
        {
            resolved.extend(parts.into_iter().map(str::to_owned));
            continue;
        }
        if pattern.contains(',') || pattern.contains(':') {
            let hosts = repository.inventory.resolve(&pattern);
            let test: BTreeSet<String> = ["test", "tests", "testing", "staging", "dev"]
                .iter()
                .flat_map(|g| {
                    repository
                        .inventory
                        .groups
                        .get(*g)
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            let production: Vec<String> = hosts
                .iter()
                .filter(|h| !test.contains(*h))
                .cloned()
                .collect();
            if production.is_empty() {
                resolved.insert(pattern);
            } else {
                resolved.extend(production);
            }
        } else {
            resolved.insert(pattern);
        }
    }
    resolved.into_iter().collect()
}

/// The app whose project holds `app` as a part named after it: `nextcloud` for the
/// `nextcloud-nginx` beside it in one compose file.
pub(super) fn part_of<'a>(repository: &'a Repository, app: &App) -> Option<&'a str> {
    let container = normalize(&app.container);
    repository
        .apps
        .iter()
        .find(|owner| {
            let name = normalize(&owner.service);
            owner.file == app.file
                && owner.service != app.service
                && name.len() >= 3
                && container.len() > name.len()
                && container.starts_with(&name)
        })
        .map(|owner| owner.service.as_str())
}

/// The hosts or groups whose own vars files turn on an app's on/off switch that a default
/// (role defaults, `group_vars/all`) leaves off (`zfs_zrepl_enabled: true` in
/// `host_vars/altair/`): where it runs, of all the hosts its play targets.
fn switched_on_places(repository: &Repository, app: &App) -> Option<Vec<String>> {
    conditioned_places(repository, app).or_else(|| bool_switched_places(repository, app))
}

/// The hosts or groups whose own vars files set the value an app's template block asks for
/// (`monitoring_role: "master"` in `group_vars/bastion-servers.yml`).
fn conditioned_places(repository: &Repository, app: &App) -> Option<Vec<String>> {
    let (var, value) = app.only_when.as_ref()?;
    let places: BTreeSet<String> = repository
        .vars
        .get(var)?
        .iter()
        .filter(|d| d.value == *value)
        .filter_map(|d| vars_file_place(repository, &d.file))
        .collect();
    (!places.is_empty()).then(|| places.into_iter().collect())
}

fn bool_switched_places(repository: &Repository, app: &App) -> Option<Vec<String>> {
    let switch = app.switch.as_ref().filter(|s| s.kind == "bool")?;
    let definitions = repository.vars.get(&switch.var)?;
    let truthy = |v: &str| matches!(v.to_lowercase().as_str(), "true" | "yes" | "on");
    let falsy = |v: &str| matches!(v.to_lowercase().as_str(), "false" | "no" | "off");
    let off_by_default = definitions
        .iter()
        .any(|d| falsy(&d.value) && vars_file_place(repository, &d.file).is_none());
    let on: BTreeSet<String> = definitions
        .iter()
        .filter(|d| truthy(&d.value))
        .filter_map(|d| vars_file_place(repository, &d.file))
        .collect();
    (off_by_default && !on.is_empty()).then(|| on.into_iter().collect())
}

/// An app whose file or folder sits among those a list picks (`services/uptime-kuma/` beside
/// the folders in a host's `projects` list) but that no list names: deploying it is adding it
/// to a list. The plays of its listed siblings, each with the entry this app would be, in the
/// list of the target named, else in the longest list (the machine that runs most of them).
/// `app` as it runs once added to a list ([`unlisted_reaches`]), with the reason.
pub(super) fn listed_app(
    repository: &Repository,
    app: &App,
    target: Option<&str>,
    reasons: &mut Vec<String>,
) -> Option<App> {
    let reach = unlisted_reaches(repository, app, target)?;
    let (var, file, _) = reach[0].list.clone().unwrap_or_default();
    reasons.push(format!(
        "{} is not in {var} ({file}): adding it deploys it",
        app.service
    ));
    Some(App {
        reach,
        ..app.clone()
    })
}

fn unlisted_reaches(
    repository: &Repository,
    app: &App,
    target: Option<&str>,
) -> Option<Vec<Reach>> {
    let (holder, entry) = repository.picked_place(&app.file)?;
    let siblings: Vec<&Reach> = repository
        .apps
        .iter()
        .filter(|a| a.file.starts_with(&format!("{holder}/")))
        .flat_map(|a| &a.reach)
        .filter(|r| r.list.is_some())
        .collect();
    // Each list file with how many entries it has.
    let mut lists: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for reach in &siblings {
        if let Some((_, file, item)) = &reach.list {
            lists
                .entry(file.as_str())
                .or_default()
                .insert(item.as_str());
        }
    }
    let wanted = target.map(|t| repository.inventory.resolve(t));
    let said = |file: &str| {
        vars_file_place(repository, file).is_some_and(|place| {
            wanted
                .as_ref()
                .is_some_and(|w| !w.is_empty() && repository.inventory.resolve(&place).is_subset(w))
        })
    };
    let file = lists
        .iter()
        .max_by_key(|(file, items)| (said(file), items.len(), std::cmp::Reverse(*file)))
        .map(|(file, _)| (*file).to_owned())?;
    let mut out: Vec<Reach> = Vec::new();
    for reach in siblings {
        let Some((var, from, _)) = &reach.list else {
            continue;
        };
        if *from != file {
            continue;
        }
        let mut reach = reach.clone();
        reach.list = Some((var.clone(), from.clone(), entry.to_owned()));
        if !out.contains(&reach) {
            out.push(reach);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// "kuma runs in several places (a, b); which one?", with the places (or units) to pick from.
pub(super) fn instance_question(
    verb: Verb,
    service: String,
    target: Option<String>,
    choices: Vec<String>,
    reasons: Vec<String>,
) -> Resolution {
    Resolution {
        verb,
        answer: Answer::Question {
            about: "instance".to_owned(),
            prompt: format!(
                "{service} runs in several places ({}); which one?",
                choices.join(", ")
            ),
            choices,
        },
        service: Some(service),
        target,
        reasons,
    }
}

/// Whether the apps are set up by the same playbooks with the same tags and pinned by the same
/// variable: one run deploys or upgrades them all.
pub(super) fn run_together(apps: &[&App]) -> bool {
    let run = |app: &App| -> BTreeSet<(String, Vec<String>)> {
        app.reach
            .iter()
            .map(|r| (r.playbook.clone(), r.tags.concat()))
            .collect()
    };
    apps.split_first().is_some_and(|(first, rest)| {
        !first.reach.is_empty()
            && rest
                .iter()
                .all(|app| run(app) == run(first) && app.pin == first.pin)
    })
}
