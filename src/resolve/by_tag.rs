//! "Re-apply the nvme power-saving fix on the proxmox nodes": no app is named, but a word of
//! the request is a word of a tag the repository writes on a task or an include (`nvme_apst`,
//! `firewall`). Running the play that reaches it with that tag does that part alone.

use std::collections::{BTreeMap, BTreeSet};

use super::Answer;
use super::entry::{is_teardown, the_own_playbook};
use super::verb::Verb;
use crate::discovery::{Reach, Repository};
use crate::text::{is_ordinary_word, normalize};

/// Tag words too general to say which part is meant.
const GENERAL: &[&str] = &[
    "docker",
    "common",
    "base",
    "setup",
    "config",
    "configure",
    "install",
    "update",
    "upgrade",
    "deploy",
    "system",
    "packages",
    "package",
    "users",
    "user",
    "services",
    "service",
    "tasks",
    "main",
    "role",
    "roles",
    "containers",
    "container",
    "server",
    "servers",
    "hosts",
    "network",
    "networking",
    "security",
    "monitoring",
    "media",
    "backup",
    "backups",
    "apps",
    "app",
    "tools",
    "files",
    "prepare",
    "init",
    "check",
    "test",
    "debug",
    "always",
    "never",
];

/// A tag one of `words` names, and the ways a play reaches it: `(tag, reach, file)`.
fn named_tags<'a>(
    repository: &'a Repository,
    words: &[&str],
) -> BTreeMap<String, Vec<(&'a Reach, &'a str)>> {
    let is_app_name = |tag: &str| {
        let key = normalize(tag);
        repository.names_an_app(&key)
            || repository
                .roles
                .iter()
                .any(|r| normalize(r.rsplit('/').next().unwrap_or(r)) == key)
    };
    // The cheap test first: most tags share no word with the request.
    let said = |tag: &str| {
        tag.split(['_', '-', '.']).any(|part| {
            part.len() >= 4
                && !GENERAL.contains(&part)
                && words
                    .iter()
                    .any(|w| *w == part || w.strip_suffix('s') == Some(part))
        }) && !is_app_name(tag)
    };
    // Each tag is judged once, however many plays carry it.
    let mut judged: BTreeMap<&str, bool> = BTreeMap::new();
    let mut said = |tag: &'a str| *judged.entry(tag).or_insert_with(|| said(tag));
    let mut out: BTreeMap<String, Vec<(&Reach, &str)>> = BTreeMap::new();
    if words.is_empty() {
        return out;
    }
    for (tag, files) in &repository.task_tags {
        if !said(tag) {
            continue;
        }
        for file in files {
            for reach in repository.reach.get(file).into_iter().flatten() {
                out.entry(tag.clone()).or_default().push((reach, file));
            }
        }
    }
    for (file, reaches) in &repository.reach {
        for reach in reaches {
            for tag in reach.tags.iter().flatten() {
                if said(tag) {
                    out.entry(tag.clone()).or_default().push((reach, file));
                }
            }
        }
    }
    out
}

/// The repository's tagged part the request names, run alone: the playbook that reaches it
/// (not an umbrella importing it), that tag, the limit when a target is said, and for a
/// setting the file the tag covers. `None` unless exactly one tag and one playbook fit.
pub(super) fn tagged_part(
    repository: &Repository,
    verb: Verb,
    tokens: &[String],
    target_positions: &BTreeSet<usize>,
    target: Option<&str>,
) -> Option<(String, Answer)> {
    if !matches!(verb, Verb::Deploy | Verb::Configure) {
        return None;
    }
    let words: Vec<&str> = tokens
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            !target_positions.contains(i)
                && t.len() >= 4
                && !is_ordinary_word(t)
                && !super::NOT_NAMES.contains(&t.as_str())
        })
        .map(|(_, t)| t.as_str())
        .collect();
    let tags = named_tags(repository, &words);
    let [(tag, ways)] = tags.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let inventory = &repository.inventory;
    let ways: Vec<&(&Reach, &str)> = ways
        .iter()
        .filter(|(reach, _)| !is_teardown(&reach.playbook))
        .filter(|(reach, _)| target.is_none_or(|t| inventory.covers(&reach.hosts, t)))
        .collect();
    let playbooks: BTreeSet<&str> = ways.iter().map(|(r, _)| r.playbook.as_str()).collect();
    let playbook = the_own_playbook(repository, &playbooks)?;
    let files: BTreeSet<&str> = ways
        .iter()
        .filter(|(r, _)| r.playbook == playbook)
        .map(|(_, f)| *f)
        .collect();
    let limit_safe = repository.limit_safe(playbook);
    let config = (verb == Verb::Configure && files.len() == 1)
        .then(|| files.iter().next().map(|f| (*f).to_owned()))
        .flatten();
    Some((
        tag.replace('_', "-"),
        Answer::Entrypoint {
            playbook: playbook.to_owned(),
            alt_playbooks: repository.importers(playbook),
            tags: vec![tag.clone()],
            extra_vars: BTreeMap::new(),
            limit: target
                .filter(|t| *t != "all" && limit_safe)
                .map(str::to_owned),
            pin: None,
            config,
            switch: None,
        },
    ))
}
