//! Apps a role stands for without a container or unit file of their own: a role named for a
//! service the catalogue knows, a role from Galaxy or a collection that plays apply, and the
//! systemd units only one role's handlers restart.

use std::collections::{BTreeMap, BTreeSet};

use super::{App, Definition, UnitKind, build};
use crate::discovery::Repository;
use crate::discovery::index::{Index, under};
use crate::services::{Service, catalogue};
use crate::text::{normalize, without_doing_prefix};

/// A role named for a service (`roles/filebrowser`, `roles/nginx`) that runs no container and
/// templates no unit Chiffon recognises is still that service, installed by its role: an app
/// whose entrypoint is the role's plays; built-in actions assume a systemd unit of its name.
pub(super) fn role_only_apps(repository: &Repository, index: &Index<'_>, apps: &mut Vec<App>) {
    for role in &repository.roles {
        let name = role.rsplit('/').next().unwrap_or(role);
        let Some((service, bare)) = named_service(name) else {
            continue;
        };
        // Known already from its own role, or from a role named for it; one found only in
        // another role's file (a gateway's nginx config) does not stand for this role's plays.
        // A unit only a handler restarts (its coredns beside the adguardhome role's own
        // service) does not stand for the role's app.
        if apps.iter().any(|a| {
            a.role.as_deref() == Some(role.as_str()) && !a.from_handler()
                || a.service == service.id
                    && a.role.as_deref().is_none_or(|r| {
                        let other = r.rsplit('/').next().unwrap_or(r);
                        catalogue()
                            .lookup(without_doing_prefix(other))
                            .is_some_and(|s| s.id == service.id)
                    })
        }) {
            continue;
        }
        let Some(file) = ["yml", "yaml"]
            .iter()
            .map(|ext| format!("{role}/tasks/main.{ext}"))
            .find(|path| index.get(path).is_some())
        else {
            continue;
        };
        let unit = installed_package(index, &file, bare).unwrap_or_else(|| bare.to_owned());
        let definition = unit_named(file, &unit);
        if let Some(app) = build(repository, index, definition, Some(role.clone())) {
            apps.push(app);
        }
    }
}

/// The package a role's tasks install that is named for its service, with more after the
/// name (`mssql-server` for the `mssql` role): the systemd unit it ships is named so.
fn installed_package(index: &Index<'_>, file: &str, bare: &str) -> Option<String> {
    let source = index.get(file)?;
    let wanted = normalize(bare);
    source
        .nodes
        .iter()
        .filter(|task| task.is_item())
        .flat_map(|task| &task.children)
        .filter(|module| {
            module.key.as_deref().is_some_and(|k| {
                let k = k.rsplit('.').next().unwrap_or(k);
                matches!(k, "apt" | "package" | "dnf" | "yum")
            })
        })
        .filter_map(|module| module.get("name"))
        .map(|name| crate::discovery::unquote(name.scalar()).to_owned())
        .find(|package| {
            let normal = normalize(package);
            normal != wanted
                && normal.starts_with(&wanted)
                && package.contains('-')
                && !package.contains("{{")
        })
}

/// A role from outside the repository (`prometheus.prometheus.node_exporter`,
/// `geerlingguy.docker`) that a play applies, named for a service the catalogue knows: that
/// service, deployed by those plays; built-in actions assume a systemd unit of the role's name.
pub(super) fn galaxy_apps(repository: &Repository, index: &Index<'_>, apps: &mut Vec<App>) {
    let keys: Vec<&String> = repository
        .reach
        .keys()
        .filter(|k| k.starts_with(crate::discovery::plays::GALAXY))
        .collect();
    for key in keys {
        let name = key.rsplit('.').next().unwrap_or(key);
        // `pyratlabs-ansible-role-gitea`: the app after the author's prefix.
        let name = name
            .rsplit_once("ansible-role-")
            .map_or(name, |(_, app)| app);
        // `checkmk.general.server`: the server of the product the collection is named for.
        let name = match key
            .trim_start_matches(crate::discovery::plays::GALAXY)
            .split('.')
            .collect::<Vec<_>>()[..]
        {
            [namespace, _, "server"] => namespace,
            _ => name,
        };
        let Some((service, bare)) = named_service(name) else {
            continue;
        };
        // The repository's own definition of it says more.
        if apps.iter().any(|a| a.service == service.id && a.wired()) {
            continue;
        }
        let definition = unit_named(key.clone(), bare);
        if let Some(mut app) = build(repository, index, definition, None) {
            // The key is no file: neither a name of the app nor its configuration.
            app.names.retain(|n| !n.starts_with("galaxy"));
            app.config
                .retain(|c| !c.starts_with(crate::discovery::plays::GALAXY));
            apps.push(app);
        }
    }
}

/// The catalogue service a role's name stands for, and the name without a doing-prefix
/// (`setup_mergerfs`, `install-docker`, `ansible-role-motd`: the service is the rest).
fn named_service(name: &str) -> Option<(&'static Service, &str)> {
    let bare = without_doing_prefix(name);
    let service = catalogue()
        .lookup(name)
        .or_else(|| catalogue().lookup(bare))?;
    Some((service, bare))
}

/// A role's app defined at `file`, run as a systemd unit named `name`.
fn unit_named(file: String, name: &str) -> Definition {
    Definition {
        pulls: false,
        file,
        line: 1,
        name: name.to_owned(),
        key: None,
        image: None,
        compose: false,
        fact: None,
        unit: UnitKind::Systemd,
        inline: None,
    }
}

/// The systemd units only handlers restart, each in the handlers of one role alone (a
/// `restart nginx` handler in five roles says nothing about which manages nginx).
pub(super) fn handled_units(
    repository: &Repository,
    defined: &[Definition],
    handled: Vec<Definition>,
) -> Vec<Definition> {
    let known: BTreeSet<&str> = defined.iter().map(|d| d.name.as_str()).collect();
    let mut roles: BTreeMap<String, BTreeSet<Option<&str>>> = BTreeMap::new();
    for definition in &handled {
        roles
            .entry(definition.name.clone())
            .or_default()
            .insert(repository.role_of(&definition.file));
    }
    let single: BTreeSet<String> = roles
        .into_iter()
        .filter(|(_, roles)| roles.len() == 1 && roles.iter().all(Option::is_some))
        .map(|(name, _)| name)
        .collect();
    let mut seen = BTreeSet::new();
    handled
        .into_iter()
        .filter(|d| d.unit == UnitKind::Systemd && !known.contains(d.name.as_str()))
        .filter(|d| single.contains(&d.name) && seen.insert(d.name.clone()))
        .map(|mut d| {
            if let Some(file) = own_task_file(repository, &d) {
                (d.file, d.line) = (file, 1);
            }
            d
        })
        .collect()
}

/// The task file of the handler's role named for its unit (`tasks/tailscale.yml` installing
/// what `tailscaled.service` runs), which a play reaches: the app is there, under that file's
/// own tags, rather than in the handlers every task file shares.
fn own_task_file(repository: &Repository, handler: &Definition) -> Option<String> {
    let role = repository.role_of(&handler.file)?;
    let stem = normalize(handler.name.split(['@', '.']).next()?);
    let tasks = format!("{role}/tasks/");
    under(&repository.reach, &tasks)
        .map(|(path, _)| path)
        .find(|path| {
            let name = path[tasks.len()..]
                .trim_end_matches(".yml")
                .trim_end_matches(".yaml");
            let name = normalize(name);
            name.len() >= 4 && name != "main" && stem.starts_with(&name)
        })
        .cloned()
}
