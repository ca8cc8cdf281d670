//! "Add htop and ncdu to the extra packages every server gets": no app is named, but the
//! request says one of the repository's variables by the words of its name (`extra_packages`).
//! The change is made where the variable is set, and takes effect by running the play that
//! reaches the file reading it, with the tag that selects that file.

use std::collections::{BTreeMap, BTreeSet};

use super::Answer;
use super::entry::{is_teardown, the_own_playbook};
use super::verb::Verb;
use crate::discovery::{Reach, Repository};
use crate::text::normalize;

/// Words that name no setting on their own: a one-word variable called so is not said by them.
const TOO_GENERAL: &[&str] = &[
    "config",
    "configs",
    "settings",
    "setup",
    "state",
    "enabled",
    "version",
    "image",
    "server",
    "servers",
    "service",
    "services",
    "container",
    "containers",
    "docker",
    "network",
    "domain",
    "hosts",
    "host",
    "path",
    "paths",
    "port",
    "ports",
    "user",
    "group",
    "items",
    "list",
    "data",
];

/// The variable the request names by its words, the play that applies it and the file that
/// sets it. `None` unless exactly one variable is said that fully, and one playbook (not an
/// umbrella importing it) reaches a file reading it.
pub(super) fn named_setting(
    repository: &Repository,
    verb: Verb,
    tokens: &[String],
    target_positions: &BTreeSet<usize>,
    target: Option<&str>,
) -> Option<(String, Answer)> {
    if !matches!(verb, Verb::Configure | Verb::Deploy) {
        return None;
    }
    let said_at = |parts: &[&str]| -> Option<usize> {
        (0..tokens.len().saturating_sub(parts.len() - 1)).find(|&start| {
            parts.iter().enumerate().all(|(k, part)| {
                let at = start + k;
                let token = tokens[at].as_str();
                !target_positions.contains(&at)
                    && (token == *part
                        || token.strip_suffix('s') == Some(part)
                        || part.strip_suffix('s') == Some(token))
            })
        })
    };
    // Deploying says a setting only as where something goes: "add htop *to* the extra packages".
    let placed = |at: usize| {
        verb == Verb::Configure
            || tokens[at.saturating_sub(3)..at]
                .iter()
                .any(|t| matches!(t.as_str(), "to" | "into" | "in" | "from" | "onto"))
    };
    let mut best: Vec<(usize, &String)> = Vec::new();
    for var in repository.readers.keys() {
        if !repository.vars.contains_key(var) {
            continue;
        }
        let parts: Vec<&str> = var.split('_').filter(|p| !p.is_empty()).collect();
        let fits = match parts.as_slice() {
            [] => false,
            [one] => one.len() >= 5 && !TOO_GENERAL.contains(one),
            several => several.len() <= 3 && several.iter().all(|p| p.len() >= 3),
        };
        if !fits {
            continue;
        }
        let Some(at) = said_at(&parts) else {
            continue;
        };
        // The dearer test last: a variable named like an app is that app's, not a setting.
        if !placed(at) || repository.names_an_app(&normalize(var)) {
            continue;
        }
        match best.first() {
            Some((n, _)) if *n > parts.len() => {}
            Some((n, _)) if *n == parts.len() => best.push((parts.len(), var)),
            _ => best = vec![(parts.len(), var)],
        }
    }
    let [(_, var)] = best[..] else {
        return None;
    };
    let inventory = &repository.inventory;
    let ways: Vec<&Reach> = repository.readers[var]
        .iter()
        .flat_map(|file| repository.reach.get(file).into_iter().flatten())
        .filter(|reach| !is_teardown(&reach.playbook))
        .filter(|reach| target.is_none_or(|t| inventory.covers(&reach.hosts, t)))
        .collect();
    let playbooks: BTreeSet<&str> = ways.iter().map(|r| r.playbook.as_str()).collect();
    let playbook = the_own_playbook(repository, &playbooks)?;
    let tags = tags_of(ways.iter().filter(|r| r.playbook == playbook).copied(), var);
    let limit_safe = repository.limit_safe(playbook);
    Some((
        var.replace('_', "-"),
        Answer::Entrypoint {
            playbook: playbook.to_owned(),
            alt_playbooks: repository.importers(playbook),
            tags,
            extra_vars: BTreeMap::new(),
            limit: target
                .filter(|t| *t != "all" && limit_safe)
                .map(str::to_owned),
            pin: None,
            config: setting_file(repository, var, target),
            switch: None,
        },
    ))
}

/// The tag that selects the reading file alone: the innermost level of tags on the way to it
/// (`always` is no choice), one naming the variable when there is one. No tag when the ways
/// disagree.
fn tags_of<'a>(ways: impl Iterator<Item = &'a Reach>, var: &str) -> Vec<String> {
    let mut chosen: BTreeSet<Vec<String>> = BTreeSet::new();
    for reach in ways {
        let level: Vec<&String> = reach
            .tags
            .iter()
            .rev()
            .map(|level| level.iter().filter(|t| *t != "always").collect::<Vec<_>>())
            .find(|level| !level.is_empty())
            .unwrap_or_default();
        let tag = level
            .iter()
            .find(|t| var.split('_').any(|part| normalize(t) == normalize(part)))
            .or(level.first());
        chosen.insert(tag.map(|t| vec![(*t).clone()]).unwrap_or_default());
    }
    match chosen.len() {
        1 => chosen.pop_first().unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Where to change the variable: the named place's own vars file, else the inventory's file
/// for every host, else any inventory file setting it, else where the role or play sets it.
fn setting_file(repository: &Repository, var: &str, target: Option<&str>) -> Option<String> {
    let defs = repository.vars.get(var)?;
    let in_inventory = |file: &str| file.contains("group_vars/") || file.contains("host_vars/");
    let place = |file: &str| {
        target.is_some_and(|t| {
            ["group_vars/", "host_vars/"].iter().any(|folder| {
                file.split_once(folder)
                    .is_some_and(|(_, rest)| rest.split(['/', '.']).next() == Some(t))
            })
        })
    };
    let for_all = |file: &str| file.contains("group_vars/all");
    defs.iter()
        .map(|d| d.file.as_str())
        .max_by_key(|file| (place(file), for_all(file), in_inventory(file)))
        .map(str::to_owned)
}
