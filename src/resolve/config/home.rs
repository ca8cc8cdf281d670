//! Where a setting's value is set. A template that reads `{{ ntp_server }}` holds no server to
//! change, and role defaults that a host's own vars override change nothing: the owner edits the
//! definition Ansible takes the value from, for the hosts the app runs on.

use std::collections::BTreeSet;

use crate::discovery::{App, Repository};
use crate::services::{stem, words};

use super::super::instances::hosts_of;
use super::staged;

/// The precedence of a host's own vars (`host_vars/<host>`).
const HOST: u8 = 5;

/// Parts of a variable's name that say how an app is deployed, not how it behaves.
const NOT_SETTINGS: &[&str] = &["image", "tag", "state", "enabled", "version"];

/// Words of a request that name no setting.
const PLAIN: &[&str] = &[
    "the",
    "and",
    "for",
    "our",
    "its",
    "their",
    "them",
    "this",
    "that",
    "with",
    "from",
    "into",
    "instead",
    "not",
    "now",
    "all",
    "every",
    "add",
    "set",
    "edit",
    "change",
    "make",
    "put",
    "move",
    "point",
    "use",
    "new",
    "different",
    "again",
    "please",
];

/// The request's words that may name a setting (`ntp` and `server` of "point the time sync
/// at a different ntp server"), stemmed: not the app's own names, not plain words.
fn setting_words(app: &App, text: &str) -> BTreeSet<String> {
    words(text)
        .filter(|w| {
            w.len() > 2
                && !PLAIN.contains(&w.as_str())
                && !app.names.contains(w)
                && !app.service.split('-').any(|part| part == w)
        })
        .map(|w| stem(&w))
        .collect()
}

/// The file that sets the value of the setting the request `text` names, when `file` (the best
/// candidate) only reads it or sets it where another definition wins: the variables `file`
/// sets (a vars file) or reads (a template or task file) whose names carry most of the
/// request's words, followed to the one definition
/// with the highest precedence for the app's hosts (or the place said). `None` when no variable
/// is named, when it is set nowhere, or when the variables named end in different files.
pub(super) fn value_home(
    repository: &Repository,
    app: &App,
    file: &str,
    text: &str,
    target: Option<&str>,
) -> Option<String> {
    let request = setting_words(app, text);
    // A vars file sets values (one it builds from another is still set there): only a
    // definition that wins over it moves the setting. A template or task file only reads them.
    let defined: BTreeSet<&str> = repository
        .vars
        .iter()
        .filter(|(_, defs)| defs.iter().any(|d| d.file == file))
        .map(|(var, _)| var.as_str())
        .collect();
    // A list it renders one entry at a time is its entries, no setting of it.
    let looped = repository.loops.get(file);
    let candidates: BTreeSet<&str> = if defined.is_empty() {
        repository
            .reads
            .get(file)
            .into_iter()
            .flatten()
            .filter(|var| looped.is_none_or(|l| !l.contains(var)))
            .map(String::as_str)
            .collect()
    } else {
        defined
    };
    let mut named: Vec<&str> = Vec::new();
    let mut most = 0;
    for var in candidates {
        let hits = var
            .split('_')
            .map(stem)
            .filter(|part| !NOT_SETTINGS.contains(&part.as_str()) && request.contains(part))
            .count();
        if hits > most {
            (most, named) = (hits, vec![var]);
        } else if hits == most && hits > 0 {
            named.push(var);
        }
    }
    if most == 0 {
        return None;
    }
    let hosts: BTreeSet<String> = match target {
        Some(target) => repository.inventory.resolve(target).into_iter().collect(),
        None => hosts_of(repository, app)
            .iter()
            .flat_map(|h| repository.inventory.resolve(h))
            .collect(),
    };
    let one_host = match target.map(|_| hosts.iter().collect::<Vec<_>>()).as_deref() {
        Some([host]) => Some(host.as_str()),
        _ => None,
    };
    let homes: BTreeSet<String> = named
        .iter()
        .map(|var| {
            one_host
                .and_then(|host| own_host_vars(repository, var, host))
                .or_else(|| home_of(repository, app, var, &hosts))
        })
        .collect::<Option<_>>()?;
    let [home] = homes.into_iter().collect::<Vec<_>>().try_into().ok()?;
    // Set only by the role's defaults, with a place said whose own inventory file already
    // sets the role's variables: the owner overrides it there, for that place, not for every
    // host the role runs on.
    let in_defaults = app
        .role
        .as_deref()
        .is_some_and(|role| home.starts_with(&format!("{role}/defaults/")));
    if in_defaults
        && let Some(target) = target
        && let Some(place) = app
            .place_config
            .iter()
            .find(|f| super::is_place_file(repository, f, target))
    {
        return Some(place.clone());
    }
    Some(home)
}

/// The definition of `var` Ansible uses for `hosts`, by its precedence: the app's role vars,
/// then other vars files (a play's `vars_files`), a host's own vars, a group's,
/// `group_vars/all`, the app's role defaults. `None` when
/// it is set nowhere that applies, or in several files at the winning level (two hosts each
/// setting their own value).
fn home_of(
    repository: &Repository,
    app: &App,
    var: &str,
    hosts: &BTreeSet<String>,
) -> Option<String> {
    let defs = repository.vars.get(var)?;
    let role = app.role.as_deref().map(|r| format!("{r}/"));
    let rank = |file: &str| -> Option<u8> {
        if let Some(role) = &role
            && let Some(rest) = file.strip_prefix(role.as_str())
        {
            return match rest.split('/').next() {
                Some("vars") => Some(7),
                Some("defaults") => Some(1),
                _ => None,
            };
        }
        if let Some((_, rest)) = file.split_once("host_vars/") {
            let host = place_name(rest);
            return hosts.contains(host).then_some(HOST);
        }
        if let Some((_, rest)) = file.split_once("group_vars/") {
            let group = place_name(rest);
            if group == "all" {
                return Some(3);
            }
            let members = repository.inventory.resolve(group);
            return members.iter().any(|h| hosts.contains(h)).then_some(4);
        }
        // Another role's defaults or vars set it for that role.
        if file.split('/').any(|s| s == "roles") {
            return None;
        }
        Some(6)
    };
    let ranked: Vec<(u8, bool, &str)> = defs
        .iter()
        .filter_map(|d| rank(&d.file).map(|r| (r, !staged(&d.file), d.file.as_str())))
        .collect();
    let best = ranked.iter().map(|(r, real, _)| (*r, *real)).max()?;
    // One host's own value, for an app on several hosts none of which was said: which one is
    // meant is not known.
    if best.0 == HOST && hosts.len() > 1 {
        return None;
    }
    let files: BTreeSet<&str> = ranked
        .iter()
        .filter(|(r, real, _)| (*r, *real) == best)
        .map(|(_, _, f)| *f)
        .collect();
    match files.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    }
}

/// Where one host's own value of `var` goes when the repository already sets it per host
/// (`host_vars/pug.yml` overrides the UPS threshold): that host's file of the same shape
/// (`host_vars/lab.yml`), whether it sets the variable yet or not. `None` when no other host
/// sets it in its own vars: a default shared by every host is then where it is changed.
fn own_host_vars(repository: &Repository, var: &str, host: &str) -> Option<String> {
    let defs = repository.vars.get(var)?;
    let mut shaped: BTreeSet<String> = BTreeSet::new();
    // A staging copy of the inventory follows the real one's shape.
    for def in defs.iter().filter(|d| !staged(&d.file)) {
        let Some((before, rest)) = def.file.split_once("host_vars/") else {
            continue;
        };
        let place = place_name(rest);
        if place == host {
            return Some(def.file.clone());
        }
        let tail = &rest[place.len()..];
        shaped.insert(format!("{before}host_vars/{host}{tail}"));
    }
    match shaped.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

/// The host or group an inventory vars path is for: `altair` of `altair/zfs.yml` or
/// `altair.yml`.
fn place_name(rest: &str) -> &str {
    let first = rest.split('/').next().unwrap_or(rest);
    first
        .strip_suffix(".yml")
        .or_else(|| first.strip_suffix(".yaml"))
        .unwrap_or(first)
}
