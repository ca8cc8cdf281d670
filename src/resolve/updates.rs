//! "Run the os package updates on mercury-dns": the repository's own upgrade of every package
//! (`discovery::upgrades`), run through the play that reaches it, with the switch that gates
//! it turned on. No app stands for it, so it is found by what it does, not by a name.

use std::collections::BTreeMap;

use super::Answer;
use super::entry::is_teardown;
use crate::discovery::{PackageUpgrade, Pin, Repository, Switch};

/// Words that say packages (or the system) are meant, and words that say updating them.
const WHAT: &[&str] = &[
    "os", "package", "packages", "security", "system", "apt", "distro", "dist",
];
const UPDATES: &[&str] = &["update", "updates", "upgrade", "upgrades", "patches"];

/// Whether the request asks for the machines' package updates ("the pending os package
/// updates", "run the package upgrades", "security patches"), not an app's.
pub(super) fn asks_for_package_updates(tokens: &[String]) -> bool {
    tokens
        .windows(2)
        .any(|w| WHAT.contains(&w[0].as_str()) && UPDATES.contains(&w[1].as_str()))
        || tokens.windows(3).any(|w| {
            matches!(w[0].as_str(), "update" | "upgrade")
                && (w[1] == "packages"
                    || matches!(w[1].as_str(), "all" | "the") && w[2] == "packages")
        })
}

/// One way the repository runs a package upgrade.
#[derive(Debug)]
struct Way {
    service: String,
    playbook: String,
    hosts: String,
    tags: Vec<String>,
    switch: Option<Switch>,
    /// Its playbook, role, file or switch is named for updating.
    dedicated: bool,
}

fn named_for_updating(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["update", "upgrade", "patch"]
        .iter()
        .any(|w| name.contains(w))
}

fn stem(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split('.').next().unwrap_or(file)
}

/// What a playbook that runs the upgrade is called: its name from the word that says
/// updating (`deploy_homelab_upgrade_packages.yml` is "upgrade-packages").
fn playbook_service(path: &str) -> String {
    let stem = stem(path);
    let mut offset = 0;
    for part in stem.split(['_', '-']) {
        if named_for_updating(part) {
            return stem[offset..].to_owned();
        }
        offset += part.len() + 1;
    }
    stem.to_owned()
}

/// The switch a task's `when:` tests that the repository leaves off by default.
fn switch_of(repository: &Repository, upgrade: &PackageUpgrade) -> Option<Switch> {
    upgrade.when.iter().find_map(|var| {
        let def = repository.var_def(var)?;
        matches!(
            def.value.to_ascii_lowercase().as_str(),
            "false" | "no" | "off"
        )
        .then(|| Switch {
            file: def.file.clone(),
            var: var.clone(),
            kind: "bool".to_owned(),
        })
    })
}

/// The ways each package upgrade task is run: by the play of the playbook it sits in, or by
/// every play that reaches its task file.
fn ways(repository: &Repository) -> Vec<Way> {
    let mut out = Vec::new();
    for upgrade in &repository.package_upgrades {
        let switch = switch_of(repository, upgrade);
        let role = repository
            .role_of(&upgrade.file)
            .map(|r| r.rsplit('/').next().unwrap_or(r).to_owned());
        let own_name = switch
            .as_ref()
            .map(|s| s.var.trim_end_matches("_enabled").to_owned())
            .or_else(|| role.clone());
        let mut names: Vec<&str> = vec![stem(&upgrade.file)];
        names.extend(role.as_deref());
        names.extend(switch.as_ref().map(|s| s.var.as_str()));
        if let Some(playbook) = repository.playbooks.iter().find(|p| p.path == upgrade.file) {
            let Some(play) = playbook.plays.iter().rfind(|p| p.line <= upgrade.line) else {
                continue;
            };
            out.push(Way {
                service: own_name.unwrap_or_else(|| playbook_service(&playbook.path)),
                playbook: playbook.path.clone(),
                hosts: play.hosts.clone(),
                tags: Vec::new(),
                switch: switch.clone(),
                dedicated: names.iter().any(|n| named_for_updating(n)),
            });
            continue;
        }
        for reach in repository.reach.get(&upgrade.file).into_iter().flatten() {
            if is_teardown(&reach.playbook) {
                continue;
            }
            // The innermost tags on the way select it: the role's, else the play's.
            let tags = reach
                .tags
                .iter()
                .rev()
                .map(|level| {
                    level
                        .iter()
                        .filter(|t| *t != "always")
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .find(|level| !level.is_empty())
                .map(|level| {
                    let own: Vec<String> = level
                        .iter()
                        .filter(|t| named_for_updating(t))
                        .cloned()
                        .collect();
                    if own.is_empty() {
                        level.into_iter().take(1).collect()
                    } else {
                        own
                    }
                })
                .unwrap_or_default();
            out.push(Way {
                service: own_name
                    .clone()
                    .unwrap_or_else(|| playbook_service(&reach.playbook)),
                playbook: reach.playbook.clone(),
                hosts: reach.hosts.clone(),
                tags,
                switch: switch.clone(),
                dedicated: names
                    .iter()
                    .chain([&stem(&reach.playbook)])
                    .any(|n| named_for_updating(n)),
            });
        }
    }
    for way in &mut out {
        way.service = way.service.to_ascii_lowercase().replace('_', "-");
    }
    out
}

/// The repository's way to upgrade every package, on `target` when one is said: a playbook
/// (not an umbrella importing it), its tags, the switch turned on, pin `latest`. A question
/// when two different ways remain. `None` when the repository has no way that reaches there.
pub(super) fn package_updates(
    repository: &Repository,
    target: Option<&str>,
) -> Option<(String, Answer)> {
    let inventory = &repository.inventory;
    let mut ways = ways(repository);
    if let Some(target) = target.filter(|t| *t != "all") {
        ways.retain(|w| inventory.covers(&w.hosts, target));
    }
    if ways.iter().any(|w| w.dedicated) {
        ways.retain(|w| w.dedicated);
    }
    // An umbrella that imports the playbook of another way runs the same thing.
    let umbrellas: Vec<String> = ways
        .iter()
        .filter(|w| {
            ways.iter()
                .any(|o| repository.imports(&w.playbook, &o.playbook))
        })
        .map(|w| w.playbook.clone())
        .collect();
    ways.retain(|w| !umbrellas.contains(&w.playbook));
    let mut distinct: Vec<&Way> = Vec::new();
    for way in &ways {
        if !distinct
            .iter()
            .any(|d| d.playbook == way.playbook && d.tags == way.tags)
        {
            distinct.push(way);
        }
    }
    match distinct.as_slice() {
        [] => None,
        [way] => {
            let extra_vars: BTreeMap<String, serde_json::Value> = way
                .switch
                .iter()
                .map(|s| (s.var.clone(), serde_json::Value::Bool(true)))
                .collect();
            let alt_playbooks = repository.importers(&way.playbook);
            let limit_safe = repository.limit_safe(&way.playbook);
            Some((
                way.service.clone(),
                Answer::Entrypoint {
                    playbook: way.playbook.clone(),
                    alt_playbooks,
                    tags: way.tags.clone(),
                    extra_vars,
                    limit: target
                        .filter(|t| *t != "all" && limit_safe)
                        .map(str::to_owned),
                    pin: Some(Pin::Latest),
                    config: None,
                    switch: way.switch.clone(),
                },
            ))
        }
        several => {
            let mut choices: Vec<String> = several.iter().map(|w| w.service.clone()).collect();
            choices.sort();
            choices.dedup();
            (choices.len() > 1).then(|| {
                (
                    String::new(),
                    Answer::Question {
                        about: "service".to_owned(),
                        prompt: "Several plays upgrade the packages; which one should I run?"
                            .to_owned(),
                        choices,
                    },
                )
            })
        }
    }
}
