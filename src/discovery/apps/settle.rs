//! What only shows once every app of a repository is known: which apps share a compose
//! project, which container is a part of another app, which sidecar is named only after its file.

use std::collections::{BTreeMap, BTreeSet};

use super::{App, UnitKind};
use crate::services::catalogue;
use crate::text::normalize;

/// What only shows once every app is known: a compose file shared by several apps is
/// addressed container by container, sidecars named after their file are told apart, and a
/// systemd unit outranks the container its role defines.
pub(super) fn settle(apps: &mut Vec<App>) {
    // A compose file holding several apps is addressed container by container.
    let mut per_file: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for app in apps
        .iter()
        .filter(|a| a.unit == UnitKind::Compose && is_main_app(&a.service))
    {
        per_file
            .entry(app.file.clone())
            .or_default()
            .insert(app.service.clone());
    }
    // Names every app of a file shares (the file's or role's name) tell none of them apart.
    let mut shared: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for app in apps.iter() {
        let names: BTreeSet<String> = app.names.iter().cloned().collect();
        shared
            .entry(app.file.clone())
            .and_modify(|s| s.retain(|n| names.contains(n)))
            .or_insert(names);
    }
    for app in apps.iter_mut() {
        let project = normalize(&app.unit_name);
        let common = shared.get(&app.file).cloned().unwrap_or_default();
        // Named after the app (`immich` for `immich-server`), not merely inside its name
        // (`arr` is in `sonarr`, but the `arr` project holds the whole stack).
        let own_project = project.len() >= 3
            && (normalize(&app.service).starts_with(&project)
                || app
                    .names
                    .iter()
                    .any(|n| n.starts_with(&project) && !common.contains(n)));
        if app.unit == UnitKind::Compose
            && !own_project
            && per_file.get(&app.file).is_some_and(|s| s.len() > 1)
        {
            app.unit = UnitKind::Container;
            app.unit_name = app.own_container();
        }
    }
    // In one file, a container the file is named after is the app; another one identified only
    // by the file's name is a sidecar (`barcodebuddy` in `grocy.yml`).
    let named: BTreeSet<(String, String)> = apps
        .iter()
        .filter(|a| {
            a.names
                .first()
                .is_some_and(|n| catalogue().lookup(n).is_some_and(|s| s.id == a.service))
        })
        .map(|a| (a.file.clone(), a.service.clone()))
        .collect();
    for app in apps.iter_mut() {
        let own = app.names.first().cloned().unwrap_or_default();
        let identified_by_own = catalogue()
            .lookup(&own)
            .is_some_and(|s| s.id == app.service)
            || app
                .image
                .as_deref()
                .and_then(|i| catalogue().by_image(i))
                .is_some_and(|s| s.id == app.service);
        if !identified_by_own && named.contains(&(app.file.clone(), app.service.clone())) {
            app.service = app.container.to_lowercase().replace('_', "-");
            app.known = false;
        }
    }
    address_parts(apps);
    // A systemd unit template outranks a container its role defines (the unit runs it).
    let systemd_roles: BTreeSet<(String, String)> = apps
        .iter()
        .filter(|a| a.unit == UnitKind::Systemd)
        .filter_map(|a| a.role.clone().map(|r| (r, a.service.clone())))
        .collect();
    apps.retain(|a| {
        a.unit == UnitKind::Systemd
            || a.role
                .as_ref()
                .is_none_or(|r| !systemd_roles.contains(&(r.clone(), a.service.clone())))
    });
}

/// In a compose project named for one of its containers (`vaultwarden`), a container named as a
/// part of it (`vaultwarden-backup`, `tracearr-db`, `immich-machine-learning`) is addressed by
/// itself: restarting the backup sidecar must not restart the vault. Where no container carries
/// the project's own name, the app its name stands for is the project's own.
fn address_parts(apps: &mut [App]) {
    let namesake = |a: &App, by_container: bool| {
        let project = normalize(&a.unit_name);
        if by_container {
            normalize(&a.container) == project
        } else {
            normalize(&a.service) == project
        }
    };
    let projects = |by_container: bool| -> BTreeSet<(String, String)> {
        apps.iter()
            .filter(|a| a.unit == UnitKind::Compose && namesake(a, by_container))
            .map(|a| (a.file.clone(), a.unit_name.clone()))
            .collect()
    };
    let (by_container, by_service) = (projects(true), projects(false));
    for app in apps.iter_mut().filter(|a| a.unit == UnitKind::Compose) {
        let key = (app.file.clone(), app.unit_name.clone());
        let project = normalize(&app.unit_name);
        let part =
            normalize(&app.container).starts_with(&project) && normalize(&app.container) != project;
        let own = if by_container.contains(&key) {
            namesake(app, true)
        } else {
            !by_service.contains(&key) || namesake(app, false)
        };
        if part && !own && project.len() >= 3 {
            app.unit = UnitKind::Container;
            app.unit_name = app.own_container();
        }
    }
}

/// An app of its own, not a database, cache, queue or search engine beside one.
fn is_main_app(service: &str) -> bool {
    catalogue().get(service).is_some_and(|s| {
        !s.companion
            && !s.categories.iter().any(|c| {
                matches!(
                    c.as_str(),
                    "database" | "message-queue" | "search" | "object-storage"
                )
            })
    })
}
