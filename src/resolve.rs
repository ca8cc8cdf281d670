//! A request, read against a discovered repository: the verb (deploy, remove, upgrade,
//! configure, restart, stop, start, status, logs), the service (a name that is a host or group
//! of the inventory is a target, never a service), the target, and what to run: the
//! repository's own entrypoint (playbook, tags, switch values, limit, with the pin or the
//! configuration file the plan proposes to change), Chiffon's built-in action for the unit, "none"
//! with the reason, or a question with the choices.
//!
//! Pure: takes a `Repository` already discovered; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::discovery::{App, Pin, Reach, Repository, Switch, UnitKind};
use crate::services::words;
use crate::text::normalize;

mod hinted;
pub mod verb;
pub use verb::{Verb, stated_verb, verb_of};

mod config;
use config::{app_writing_a_value, setting_words};

mod entry;
use entry::{
    entrypoint, is_teardown, pinned_tool, playbook_named_for, playbook_run_by_name,
    teardown_for_role,
};

mod names;
use names::{one_role_deploys, role_named_like, sharing_a_name_part};

mod mentions;
use mentions::{
    Mention, adds_to_an_app, behind_a_proxy, clause_ends, companion_described, described_from,
    mentions, order_clauses, part_it_uses, qualified_instance, qualified_part, stand_in_for,
};

mod by_setting;
mod by_tag;
mod targets;
mod updates;
use targets::{Place, names_a_machine, place, said_as_a_place};
use updates::{asks_for_package_updates, package_updates};

mod purpose;
use purpose::{by_purpose, described_in_order, front_end, order_words};

mod instances;
pub use instances::hosts_of;
use instances::{
    instance_ids, instance_question, listed_app, pick_app, placed_at, run_together, runs_on,
    separate_places,
};

#[cfg(test)]
mod tests;

/// What to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // made once per request; boxing buys nothing
pub enum Answer {
    /// The repository's own playbook.
    Entrypoint {
        playbook: String,
        /// Umbrella playbooks that import it (same tags, same result).
        alt_playbooks: Vec<String>,
        tags: Vec<String>,
        extra_vars: BTreeMap<String, serde_json::Value>,
        limit: Option<String>,
        /// Upgrade: where the version is pinned (the plan proposes the change as a diff).
        pin: Option<Pin>,
        /// Configure: the file that holds the setting.
        config: Option<String>,
        /// Where the on/off switch (or the list of enabled apps) is set.
        switch: Option<Switch>,
    },
    /// Chiffon's built-in action playbook (`assets/ansible/actions/<action>.yml`).
    Builtin {
        action: Verb,
        unit: UnitKind,
        name: String,
        hosts: Vec<String>,
    },
    /// The repository cannot do it: `absent` (no such app) or `unwired` (files exist, no play
    /// runs them); `catalogue` is the catalogue's idea of what was asked for.
    None {
        reason: String,
        catalogue: Option<String>,
    },
    /// Two or more fit; the person picks.
    Question {
        /// What is asked: `service` (choices are service ids) or `instance` (choices are
        /// places, `hosts:service`, or unit names); `Given` takes the answer back.
        about: String,
        prompt: String,
        choices: Vec<String>,
    },
}

/// A resolved request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolution {
    pub verb: Verb,
    pub service: Option<String>,
    pub target: Option<String>,
    pub answer: Answer,
    /// Why, in plain words, one line each.
    pub reasons: Vec<String>,
}

/// The text of a built-in action playbook, by the name a plan step gives it
/// (`chiffon:ansible/actions/restart.yml`); `None` for anything else. The agent writes it to
/// the run's private folder and runs it in the repository, so the repository's inventory and
/// `ansible.cfg` apply.
pub fn builtin_action_text(playbook: &str) -> Option<&'static str> {
    Some(match playbook.strip_prefix("chiffon:ansible/actions/")? {
        "restart.yml" => include_str!("../assets/ansible/actions/restart.yml"),
        "stop.yml" => include_str!("../assets/ansible/actions/stop.yml"),
        "start.yml" => include_str!("../assets/ansible/actions/start.yml"),
        "status.yml" => include_str!("../assets/ansible/actions/status.yml"),
        "logs.yml" => include_str!("../assets/ansible/actions/logs.yml"),
        "remove.yml" => include_str!("../assets/ansible/actions/remove.yml"),
        // Undo (docs/revert.md): planned by the orchestrator's revert, never by a verb.
        "revert_files.yml" => include_str!("../assets/ansible/actions/revert_files.yml"),
        "revert_containers.yml" => {
            include_str!("../assets/ansible/actions/revert_containers.yml")
        }
        _ => return None,
    })
}

/// Where the built-in action playbook for a verb lives (relative to the assets folder).
pub fn builtin_playbook(verb: Verb) -> String {
    format!("ansible/actions/{}.yml", verb.as_str())
}

/// Words never read as a service name even when a catalogue entry is spelled so.
const NOT_NAMES: &[&str] = &[
    "the",
    "a",
    "an",
    "it",
    "on",
    "to",
    "up",
    "in",
    "of",
    "for",
    "and",
    "is",
    "are",
    "me",
    "our",
    "my",
    "we",
    "i",
    "show",
    "logs",
    "log",
    "stop",
    "start",
    "restart",
    "deploy",
    "install",
    "set",
    "setup",
    "remove",
    "upgrade",
    "update",
    "status",
    "running",
    "box",
    "server",
    "host",
    "again",
    "back",
    "all",
    "everywhere",
    "new",
    "release",
    "app",
    "thing",
    "service",
    "stack",
    "change",
    "config",
    "down",
    "off",
    "bit",
    "while",
    "redeploy",
    "bump",
    "home",
    "media",
    "dns",
    "vpn",
    "wiki",
    "dashboard",
    "proxy",
    "files",
    "photos",
    "password",
    "passwords",
    "music",
    "books",
    "notes",
    "backup",
    "monitoring",
    "cloud",
    "git",
    "mail",
    "chat",
    "request",
    "requests",
    "container",
    "containers",
    "torrent",
    "torrents",
    "client",
    "broker",
    "manager",
    "bridge",
    "photo",
    // The first halves of contractions ("didn't", "isn't"): never a slip of a name.
    "didn",
    "doesn",
    "isn",
    "wasn",
    "won",
    "couldn",
    "wouldn",
    "shouldn",
    "hasn",
    "haven",
    "aren",
    "weren",
    "don",
];

impl Answer {
    /// A playbook run as it is: no tags, no switch, limited to the place said (not `all`).
    fn whole_playbook(playbook: String, target: Option<&str>) -> Answer {
        Answer::Entrypoint {
            playbook,
            alt_playbooks: Vec::new(),
            tags: Vec::new(),
            extra_vars: BTreeMap::new(),
            limit: target.map(str::to_owned).filter(|t| t != "all"),
            pin: None,
            config: None,
            switch: None,
        }
    }
}

/// Resolves a request against a repository.
pub fn resolve(repository: &Repository, text: &str) -> Resolution {
    resolve_as(repository, text, None)
}

/// What the person already answered to an earlier question: the service, and which of its
/// instances (a choice of `Answer::Question`).
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub service: Option<String>,
    pub instance: Option<String>,
}

/// Like [`resolve`], with the verb already read (the planner reads verbs with typos).
pub fn resolve_as(repository: &Repository, text: &str, verb: Option<Verb>) -> Resolution {
    resolve_given(repository, text, verb, &Given::default())
}

/// Like [`resolve_as`], with the person's earlier answers taken as said. The owner's hints
/// (`.chiffon/hints.toml`) come first: their names are replaced by what they mean, and a
/// service's hinted playbook, tags, hosts or configuration file replace the guess.
pub fn resolve_given(
    repository: &Repository,
    text: &str,
    verb: Option<Verb>,
    given: &Given,
) -> Resolution {
    let text = repository.hints.rewrite(text);
    let resolution = read(repository, &text, verb, given);
    crate::resolve::hinted::apply(repository, resolution)
}

/// The reading itself, on text the hints already rewrote.
fn read(repository: &Repository, text: &str, verb: Option<Verb>, given: &Given) -> Resolution {
    let verb_said = verb.is_some();
    let verb = verb.unwrap_or_else(|| verb_of(text));
    let tokens: Vec<String> = words(text).collect();
    let mut reasons = Vec::new();

    let Place {
        target,
        positions: target_positions,
        everywhere,
    } = place(repository, text, &tokens, &mut reasons);

    let repo_services: BTreeSet<&str> =
        repository.apps.iter().map(|a| a.service.as_str()).collect();
    // "run the base setup on it": the playbook of that name, as it is.
    if verb == Verb::Deploy
        && given.service.is_none()
        && let Some(playbook) = playbook_run_by_name(repository, &tokens)
    {
        reasons.push(format!("the request runs {playbook} by its name"));
        // What it sets up goes by the playbook's name.
        let name = playbook
            .rsplit('/')
            .next()
            .and_then(|f| f.split('.').next())
            .map(str::to_owned);
        // A word of the playbook's name ("dev" of `dev-tooling.yml`) is no place.
        let stem = name.as_deref().map(normalize).unwrap_or_default();
        let in_the_name = !target_positions.is_empty()
            && target_positions
                .iter()
                .all(|p| stem.contains(&normalize(&tokens[*p])));
        let target = if in_the_name {
            reasons.retain(|r| !r.ends_with(": the target"));
            None
        } else {
            target
        };
        return Resolution {
            verb,
            service: name,
            answer: Answer::whole_playbook(playbook, target.as_deref()),
            target,
            reasons,
        };
    }
    if let Some(service) = given
        .service
        .as_ref()
        .filter(|s| repo_services.contains(s.as_str()))
    {
        reasons.push(format!("{service}: the answer given"));
        let place = (target, given.instance.as_deref());
        return finish(
            repository,
            verb,
            service.clone(),
            place,
            everywhere,
            text,
            reasons,
        );
    }
    let mentions = mentions(repository, &tokens, &target_positions);
    // "move ssh to port 2222 on the proxmox hosts": an app named as the machines something
    // runs on says where, when another app is named for what.
    let as_machines =
        |m: &Mention| said_as_a_place(&tokens, m.position) && names_a_machine(tokens.get(m.end));
    let mentions = if mentions.iter().any(|m| !as_machines(m)) {
        mentions.into_iter().filter(|m| !as_machines(m)).collect()
    } else {
        mentions
    };
    // "add the new garage camera to frigate": something added *to* one of the apps is a
    // setting of that app, not a new service.
    let verb = if !verb_said
        && verb == Verb::Deploy
        && adds_to_an_app(repository, &tokens, &mentions, &repo_services)
    {
        reasons.push("something is added to an app of the repository: configure it".to_owned());
        Verb::Configure
    } else {
        verb
    };
    // A themed role holding several apps, named as a stack ("the arr stack"), when no app of
    // the repository is named; the target's words are not the stack's.
    let names_an_app = mentions
        .iter()
        .any(|m| repo_services.contains(m.service.as_str()));
    // "run the os package updates on mercury-dns": the repository's own upgrade of every
    // package, found by what its task does.
    if !names_an_app
        && !matches!(verb, Verb::Status | Verb::Logs | Verb::Remove)
        && asks_for_package_updates(&tokens)
        && let Some((service, answer)) = package_updates(repository, target.as_deref())
    {
        reasons.push("the request asks for the machines' package updates: the repository's own task that upgrades every package".to_owned());
        return Resolution {
            verb: Verb::Upgrade,
            service: (!service.is_empty()).then_some(service),
            target,
            answer,
            reasons,
        };
    }
    // Upgrading a tool no app stands for, whose version a role pins.
    if verb == Verb::Upgrade
        && !names_an_app
        && let Some((tool, answer)) = pinned_tool(repository, &tokens, target.as_deref())
    {
        reasons.push(format!("no app is {tool}, but a role pins its version"));
        return Resolution {
            verb,
            service: Some(tool),
            target,
            answer,
            reasons,
        };
    }
    let free: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if target_positions.contains(&i) {
                String::new()
            } else {
                t.clone()
            }
        })
        .collect();
    // "add bazarr to the arr stack": a new service for the stack, not the stack itself.
    let names_a_new_one = matches!(verb, Verb::Deploy | Verb::Configure)
        && mentions
            .iter()
            .any(|m| !repo_services.contains(m.service.as_str()));
    if !names_an_app
        && !names_a_new_one
        && let Some(answer) = stack(repository, &free, verb, target.as_deref(), &mut reasons)
    {
        return answer;
    }
    // "put immich behind the reverse proxy": a change of the proxy.
    if let Some(proxy) = behind_a_proxy(repository, &tokens, &mentions, &repo_services) {
        reasons.push(format!(
            "the request puts an app behind {proxy}: configure {proxy}"
        ));
        let verb = if verb_said { verb } else { Verb::Configure };
        let place = (target, given.instance.as_deref());
        return finish(repository, verb, proxy, place, everywhere, text, reasons);
    }
    // "the backup transmission instance": the app whose name carries both words.
    let named: Vec<&Mention> = mentions
        .iter()
        .filter(|m| repo_services.contains(m.service.as_str()))
        .collect();
    if let Some((service, unit)) = qualified_part(repository, &tokens, &clause_ends(text), &named) {
        reasons.push(format!("the request names a part of an app: {unit}"));
        return finish(
            repository,
            verb,
            service,
            (target, Some(unit.as_str())),
            everywhere,
            text,
            reasons,
        );
    }
    let service = match pick_service(
        repository,
        verb,
        text,
        &tokens,
        &target_positions,
        target.as_deref(),
        &mentions,
        &repo_services,
        &mut reasons,
    ) {
        Ok(service) => service,
        Err(answer) => {
            return Resolution {
                verb,
                service: answer.1,
                target,
                answer: answer.0,
                reasons,
            };
        }
    };
    // One of several instances of it, said by a word of its name ("the lan-only proxy").
    let qualified = given
        .instance
        .clone()
        .or_else(|| qualified_instance(repository, &tokens, &service));
    finish(
        repository,
        verb,
        service,
        (target, qualified.as_deref()),
        everywhere,
        text,
        reasons,
    )
}

/// Words after an app's name that say how it behaves, not what to do with it.
const STATE_VERBS: &[&str] = &[
    "keeps", "is", "isn", "isnt", "has", "hasn", "hasnt", "was", "won", "wont", "can", "cant",
    "doesn", "doesnt", "stopped", "went", "seems", "looks", "throws", "crashed", "died", "broke",
    "fails", "failed", "will", "never",
];

/// The service meant: the last one named that the repository has; a named one it lacks is
/// "none"; else what the request says it is for; else the apps on the named target.
#[allow(clippy::too_many_arguments, clippy::result_large_err)]
fn pick_service(
    repository: &Repository,
    verb: Verb,
    text: &str,
    tokens: &[String],
    target_positions: &BTreeSet<usize>,
    target: Option<&str>,
    mentions: &[Mention],
    repo_services: &BTreeSet<&str>,
    reasons: &mut Vec<String>,
) -> Result<String, (Answer, Option<String>)> {
    // Names inside a description ("the thing that syncs watched status between plex and
    // jellyfin") say what the service works with, not which it is.
    let described = described_from(tokens);
    // "open it over tailscale": what the person reaches it through, not what to act on.
    // "deploy nextcloud next to filestash": where it goes, said by what is there already.
    let medium = |m: &&Mention| {
        let before = |k: usize| m.position.checked_sub(k).map_or("", |i| tokens[i].as_str());
        matches!(
            before(1),
            "over" | "via" | "through" | "alongside" | "beside"
        ) || before(2) == "next" && before(1) == "to"
    };
    let mentions: Vec<&Mention> = mentions
        .iter()
        .filter(|m| described.is_none_or(|from| m.position < from))
        .filter(|m| !medium(m))
        .collect();
    let in_repo: Vec<&Mention> = mentions
        .iter()
        .copied()
        .filter(|m| repo_services.contains(m.service.as_str()))
        .collect();
    // The first clause that names one of the repository's apps is the order; a later one
    // ("remove maintainerr, i'll clean up plex by hand") is an aside. Within it, the last.
    let clause_ends = clause_ends(text);
    let clause = |m: &&Mention| clause_ends.iter().filter(|end| **end <= m.position).count();
    // A service the repository lacks, named in an earlier clause than any app it has, is the
    // order ("get rid of diun, wud does the update pings now"; "stop grafana for a bit, the
    // dashboards hammer influx").
    let lacking_first = mentions.first().is_some_and(|first| {
        !repo_services.contains(first.service.as_str())
            && in_repo.iter().all(|m| clause(m) > clause(first))
    });
    let in_repo = if lacking_first { Vec::new() } else { in_repo };
    // A clause that opens with an app and says how it misbehaves ("authelia keeps logging
    // everyone out, show me the redis logs") tells why; the order is in another clause that
    // names an app, when there is one.
    let complaint = |m: &&Mention| {
        let start = clause_ends
            .iter()
            .filter(|end| **end <= m.position)
            .max()
            .copied()
            .unwrap_or(0);
        m.position == start
            && tokens
                .get(m.end)
                .is_some_and(|next| STATE_VERBS.contains(&next.as_str()))
    };
    let ordering: Vec<&Mention> = in_repo.iter().copied().filter(|m| !complaint(m)).collect();
    let in_repo = if ordering.is_empty() {
        in_repo
    } else {
        ordering
    };
    // Apps named in a clause that gives the order, before those named only to say why.
    let orders = order_clauses(tokens, &clause_ends);
    let ordered: Vec<&Mention> = in_repo
        .iter()
        .copied()
        .filter(|m| orders.contains(&clause(m)))
        .collect();
    // No app is named where the order is given ("start the indexer manager again, sonarr
    // can't search anything"): what the order's own words describe, when that is one app of
    // the repository and not one named only to say why.
    if ordered.is_empty()
        && !in_repo.is_empty()
        && !orders.is_empty()
        && orders.len() <= clause_ends.len()
        && let Some(described) = described_in_order(
            repository,
            tokens,
            target_positions,
            &clause_ends,
            &orders,
            &in_repo,
        )
    {
        reasons.push(format!(
            "the order describes {described}; the apps named elsewhere only say why"
        ));
        return Ok(described);
    }
    let in_repo = if ordered.is_empty() || orders.len() == clause_ends.len() + 1 {
        in_repo
    } else {
        ordered
    };
    let first_clause = in_repo.iter().map(clause).min();
    if let Some(mention) = in_repo
        .iter()
        .filter(|m| Some(clause(m)) == first_clause)
        .max_by_key(|m| (m.exact, m.position))
    {
        let clause_end = clause_ends
            .iter()
            .copied()
            .find(|end| *end > mention.position)
            .unwrap_or(tokens.len());
        if let Some(companion) = companion_described(repository, tokens, mention, clause_end) {
            reasons.push(format!(
                "the words after {} describe {companion}, made for it",
                mention.service
            ));
            return Ok(companion);
        }
        if let Some(part) = part_it_uses(repository, tokens, mention) {
            reasons.push(format!(
                "the request describes a part {} uses: {part}",
                mention.service
            ));
            return Ok(part);
        }
        reasons.push(format!("the request names {}", mention.service));
        return Ok(mention.service.clone());
    }
    let sharing = sharing_a_name_part(repository, tokens, target_positions, NOT_NAMES);
    if let [one] = sharing.as_slice() {
        reasons.push(format!(
            "the request names a part the names of several apps share, and one part only {one} has"
        ));
        return Ok(one.clone());
    }
    if let Some(one) = one_role_deploys(repository, verb, &sharing, tokens, reasons) {
        return Ok(one);
    }
    if sharing.len() >= 2 {
        reasons.push("the request names a part the names of several apps share".to_owned());
        return Err((
            Answer::Question {
                about: "service".to_owned(),
                prompt: which_one(verb, "one"),
                choices: sharing,
            },
            None,
        ));
    }
    if let Some(mention) = mentions.first() {
        // Working on what is there ("bitwarden logs"), a named service the repository lacks
        // is the one app it runs in its stead (Vaultwarden); deploying it is a new service.
        if verb != Verb::Deploy
            && let Some(stand_in) = stand_in_for(repository, &mention.service)
        {
            reasons.push(format!(
                "{} is not in this repository; {stand_in} stands in for it",
                mention.service
            ));
            return Ok(stand_in);
        }
        if let Some(app) = role_named_like(repository, &tokens[mention.position], &mention.service)
        {
            reasons.push(format!(
                "{} is not in this repository, but {} ({}) is the same kind and named so",
                mention.service,
                app.service,
                app.role.as_deref().unwrap_or(&app.file)
            ));
            return Ok(app.service.clone());
        }
        // No app of it, but a playbook named for it (`docker.yml` installing the engine):
        // that playbook, as it is.
        if !verb.is_builtin()
            && verb != Verb::Remove
            && let Some(playbook) = playbook_named_for(repository, &mention.service)
        {
            reasons.push(format!("{playbook} is named for {}", mention.service));
            return Err((
                Answer::whole_playbook(playbook, target),
                Some(mention.service.clone()),
            ));
        }
        if let Some(front) = front_end(repository, verb, tokens, mention, target_positions, target)
        {
            reasons.push(format!(
                "{} is not in this repository; {front} is the front end the request describes",
                mention.service
            ));
            return Ok(front);
        }
        reasons.push(format!("{} is not in this repository", mention.service));
        return Err((
            Answer::None {
                reason: "absent".to_owned(),
                catalogue: Some(mention.service.clone()),
            },
            Some(mention.service.clone()),
        ));
    }
    // A value only one app's configuration writes ("change the default access from deny-all
    // to read-only"): that app's setting.
    if verb == Verb::Configure
        && let Some(app) = app_writing_a_value(repository, text)
    {
        reasons.push(format!(
            "{app}'s configuration writes a value the request gives"
        ));
        return Ok(app);
    }
    // "add htop to the extra packages": a variable of the repository said by its words.
    if let Some((setting, answer)) =
        by_setting::named_setting(repository, verb, tokens, target_positions, target)
    {
        reasons.push(format!(
            "no app is named, but the request names the setting {setting}: the play that reads it"
        ));
        return Err((answer, Some(setting)));
    }
    // "re-apply the nvme power-saving fix": a part of a play the repository tags so.
    if let Some((service, answer)) =
        by_tag::tagged_part(repository, verb, tokens, target_positions, target)
    {
        reasons.push(format!(
            "no app is named, but the request names the tag {service}: that part alone"
        ));
        return Err((answer, Some(service)));
    }
    // Only some clauses give the order: their words say what it is about.
    let order = (!orders.is_empty() && orders.len() <= clause_ends.len())
        .then(|| order_words(tokens, target_positions, &clause_ends, &orders));
    by_purpose(
        repository,
        verb,
        tokens,
        target_positions,
        target,
        order.as_deref(),
        reasons,
    )
}

/// The answer for a service: its app (or a question between instances), then what to run.
/// `place` is the target named and the instance the person picked, if any.
fn finish(
    repository: &Repository,
    verb: Verb,
    service: String,
    place: (Option<String>, Option<&str>),
    everywhere: bool,
    text: &str,
    mut reasons: Vec<String>,
) -> Resolution {
    let apps: Vec<&App> = repository
        .apps
        .iter()
        .filter(|a| a.service == service)
        .collect();
    let (target, instance) = place;
    let mut wired: Vec<&App> = apps.iter().copied().filter(|a| a.wired()).collect();
    // One container of a compose project shared with others is addressed as that container.
    let as_container: Vec<App>;
    if let Some(instance) = instance {
        let ids = instance_ids(repository, &wired);
        let picked: Vec<&App> = wired
            .iter()
            .zip(&ids)
            .filter(|(a, id)| {
                *id == instance || a.unit_name == instance || placed_at(repository, a, instance)
            })
            .map(|(a, _)| *a)
            .collect();
        let by_container: Vec<&App> = wired
            .iter()
            .copied()
            .filter(|a| a.container == instance && a.unit_name != instance)
            .collect();
        if !picked.is_empty() && by_container.is_empty() {
            reasons.push(format!("{instance}: the instance picked"));
            wired = picked;
        } else if !by_container.is_empty() {
            reasons.push(format!("{instance}: the container picked"));
            as_container = by_container
                .iter()
                .map(|a| App {
                    unit: UnitKind::Container,
                    unit_name: a.own_container(),
                    ..(*a).clone()
                })
                .collect();
            wired = as_container.iter().collect();
        }
    }
    // Deploying an app beside those a list picks, that no list names: add it to the list.
    let listed = (wired.is_empty() && verb == Verb::Deploy)
        .then(|| apps.first())
        .flatten()
        .and_then(|app| listed_app(repository, app, target.as_deref(), &mut reasons));
    if let Some(app) = &listed {
        wired = vec![app];
    }
    if wired.is_empty() {
        reasons.push(format!(
            "{service} is in the repository ({}) but no play runs it",
            apps.first().map_or("", |a| a.file.as_str())
        ));
        return Resolution {
            verb,
            service: Some(service.clone()),
            target,
            answer: Answer::None {
                reason: "unwired".to_owned(),
                catalogue: Some(service),
            },
            reasons,
        };
    }
    let app = pick_app(&wired, target.as_deref(), repository);
    let app = match app {
        Ok(app) => app,
        // Deploying or upgrading instances that one run of one playbook sets up together from
        // one pin (a server and its worker node on two machines): no need to pick.
        Err(_) if matches!(verb, Verb::Deploy | Verb::Upgrade) && run_together(&wired) => wired[0],
        Err(choices) => return instance_question(verb, service, target, choices, reasons),
    };
    // A built-in action on one app that runs as separate instances (the same role in separate
    // plays, or switched on by separate hosts' lists), with no place said: which one. The
    // answer (`host:service`) is the place.
    let mut places = separate_places(repository, app);
    // Changing the state of a service the repository runs on machines it names one by one
    // (`hosts: lab,pug`), none said: which one ("restart the fan controller"). A group is one
    // place: its hosts are run together.
    if places.len() <= 1 && matches!(verb, Verb::Restart | Verb::Stop | Verb::Start) {
        let hosts = hosts_of(repository, app);
        let one_by_one = hosts
            .iter()
            .all(|h| !repository.inventory.groups.contains_key(h));
        if hosts.len() > 1 && one_by_one {
            places = hosts;
        }
    }
    let target = match instance.and_then(|i| i.strip_suffix(&format!(":{service}"))) {
        Some(place) if target.is_none() && places.iter().any(|p| p == place) => {
            Some(place.to_owned())
        }
        _ => target,
    };
    if verb.is_builtin() && target.is_none() && !everywhere && places.len() > 1 {
        reasons.push(format!(
            "{service} runs as separate instances on {}",
            places.join(", ")
        ));
        let choices: Vec<String> = places.iter().map(|p| format!("{p}:{service}")).collect();
        return instance_question(verb, service, target, choices, reasons);
    }
    // No verb said ("send gatus alerts to discord too", "z2m logging up to debug"), and the
    // request's own words are a setting of the app: it is about that setting.
    let verb = if verb == Verb::Deploy
        && stated_verb(text).is_none()
        && !says_deploy(text)
        && setting_words(repository, app, text) > 0
    {
        reasons
            .push("no verb said, and the request names a setting of the app: configure".to_owned());
        Verb::Configure
    } else {
        verb
    };
    let answer = answer_for(
        repository,
        app,
        verb,
        target.as_deref(),
        everywhere,
        text,
        &mut reasons,
    );
    Resolution {
        verb,
        service: Some(service),
        target,
        answer,
        reasons,
    }
}

/// "Which service should I restart?", in words that fit every verb.
fn which_one(verb: Verb, what: &str) -> String {
    match verb {
        Verb::Status => format!("Which {what} should I check?"),
        Verb::Logs => format!("Which {what}'s logs should I show?"),
        other => format!("Which {what} should I {}?", other.as_str()),
    }
}

/// Whether the request says to deploy (or set up) rather than leaving the verb unsaid.
fn says_deploy(text: &str) -> bool {
    let lower = format!(" {} ", text.to_lowercase());
    let tokens: Vec<String> = words(&lower).collect();
    let has = |w: &str| tokens.iter().any(|t| t == w);
    [
        "deploy",
        "redeploy",
        "install",
        "reinstall",
        "setup",
        "provision",
        "launch",
        "create",
        "host",
        "add",
        "get",
        "want",
        "need",
    ]
    .iter()
    .any(|w| has(w))
        || [
            " set up ",
            " spin up ",
            " bring up ",
            " roll out ",
            " stand up ",
        ]
        .iter()
        .any(|p| lower.contains(p))
        // "put tailscale on bunk": placed on a machine; not "put it back on its default port".
        || has("put")
            && tokens.windows(2).any(|w| {
                matches!(w[0].as_str(), "on" | "onto")
                    && !matches!(w[1].as_str(), "its" | "their" | "port")
            })
}

/// "Redeploy the arr stack": a role holding two or more apps, named by its name (or its name
/// without `stack`/`suite`, followed by one of those words).
fn stack(
    repository: &Repository,
    tokens: &[String],
    verb: Verb,
    target: Option<&str>,
    reasons: &mut Vec<String>,
) -> Option<Resolution> {
    if !matches!(verb, Verb::Deploy | Verb::Upgrade | Verb::Configure) {
        return None;
    }
    let mut per_role: BTreeMap<&str, usize> = BTreeMap::new();
    for app in repository.apps.iter().filter(|a| a.wired()) {
        if let Some(role) = &app.role {
            *per_role.entry(role.as_str()).or_default() += 1;
        }
    }
    for (role, count) in per_role {
        if count < 2 {
            continue;
        }
        let last = role.rsplit('/').next().unwrap_or(role);
        let full = normalize(last);
        let short = full
            .trim_end_matches("stack")
            .trim_end_matches("suite")
            .to_owned();
        let said = tokens.windows(2).any(|w| {
            let pair = format!("{}{}", w[0], w[1]);
            pair == full || w[0] == short && matches!(w[1].as_str(), "stack" | "suite" | "apps")
        }) || tokens.iter().any(|t| *t == full && full != short);
        if !said {
            continue;
        }
        let reach = repository.reach.get(role)?.first()?.clone();
        let playbook = repository
            .playbooks
            .iter()
            .find(|p| p.path == reach.playbook);
        let tags = reach
            .tags
            .iter()
            .rev()
            .find(|l| !l.is_empty())
            .cloned()
            .unwrap_or_default();
        let tags = if tags.len() > 1 {
            tags.into_iter().filter(|t| normalize(t) == full).collect()
        } else {
            tags
        };
        reasons.push(format!("{role} holds {count} apps; its play runs them all"));
        let service = last.to_lowercase().replace('_', "-");
        // A setting of the stack: the file of its apps that holds it.
        let config = (verb == Verb::Configure)
            .then(|| {
                let apps: Vec<&App> = repository
                    .apps
                    .iter()
                    .filter(|a| a.wired() && a.role.as_deref() == Some(role))
                    .collect();
                config::best_config_among(repository, &apps, &tokens.join(" "), target)
            })
            .flatten();
        return Some(Resolution {
            verb,
            service: Some(service),
            target: target.map(str::to_owned),
            answer: Answer::Entrypoint {
                playbook: reach.playbook.clone(),
                alt_playbooks: repository
                    .playbooks
                    .iter()
                    .filter(|p| p.imports.contains(&reach.playbook))
                    .map(|p| p.path.clone())
                    .collect(),
                tags,
                extra_vars: BTreeMap::new(),
                limit: target
                    .filter(|_| playbook.is_none_or(|p| p.limit_safe))
                    .map(str::to_owned),
                pin: None,
                config,
                switch: None,
            },
            reasons: reasons.clone(),
        });
    }
    None
}

fn answer_for(
    repository: &Repository,
    app: &App,
    verb: Verb,
    target: Option<&str>,
    everywhere: bool,
    text: &str,
    reasons: &mut Vec<String>,
) -> Answer {
    let builtin = |action: Verb, reasons: &mut Vec<String>| {
        let own = hosts_of(repository, app);
        // A machine named where the app does not run ("portainer logs, the ui says the dell
        // environment is unreachable") is part of the story, not the place to act.
        // Where its hosts are not known, the machine named is taken as said.
        let unknown = own
            .iter()
            .all(|h| repository.inventory.resolve(h).is_empty());
        let runs_there = |t: &str| unknown || runs_on(repository, app, t);
        let hosts = match target {
            Some(t) if !everywhere && runs_there(t) => vec![t.to_owned()],
            Some(t) if !everywhere => {
                reasons.push(format!("{} does not run on {t}", app.service));
                own
            }
            _ => own,
        };
        reasons.push(format!(
            "{} runs as {:?} {} on {}",
            app.service,
            app.unit,
            app.unit_name,
            hosts.join(", ")
        ));
        // A timer's own journal says when it fired; what the job wrote is its service's.
        let name = match app.unit_name.strip_suffix(".timer") {
            Some(stem) if action == Verb::Logs => format!("{stem}.service"),
            _ => app.unit_name.clone(),
        };
        // Up and down through the unit the repository wrote for its project, as its handlers do.
        let (unit, name) = match &app.lifecycle_unit {
            Some(own) if matches!(action, Verb::Restart | Verb::Stop | Verb::Start) => {
                reasons.push(format!("the repository brings it up and down with {own}"));
                (UnitKind::Systemd, own.clone())
            }
            _ => (app.unit, name),
        };
        Answer::Builtin {
            action,
            unit,
            name,
            hosts,
        }
    };
    if verb.is_builtin() {
        return builtin(verb, reasons);
    }
    // The repository's own way to remove: a switch, a teardown playbook.
    let mut extra_vars = BTreeMap::new();
    let switch = app.switch.clone().or_else(|| {
        app.reach
            .iter()
            .find_map(|r| r.list.as_ref())
            .map(|(var, file, _)| Switch {
                file: file.clone(),
                var: var.clone(),
                kind: "list".to_owned(),
            })
    });
    let mut reach_filter: Box<dyn Fn(&Reach) -> bool> =
        Box::new(|r: &Reach| !is_teardown(&r.playbook));
    let kept = switch.as_ref().filter(|s| s.kind == "list").map(|s| &s.var);
    if verb == Verb::Remove
        && let Some(var) = kept.filter(|v| !repository.pruned_lists.contains(*v))
    {
        reasons.push(format!(
            "taking it out of {var} would leave it running (nothing removes what the list no \
             longer names); Chiffon's own action removes the unit"
        ));
        return builtin(Verb::Remove, reasons);
    }
    if verb == Verb::Remove {
        match switch.as_ref().map(|s| s.kind.as_str()) {
            Some("state") => {
                let var = switch.as_ref().map(|s| s.var.clone()).unwrap_or_default();
                extra_vars.insert(var, serde_json::Value::from("absent"));
            }
            Some("bool") => {
                let var = switch.as_ref().map(|s| s.var.clone()).unwrap_or_default();
                extra_vars.insert(var, serde_json::Value::Bool(false));
            }
            Some(_) => {}
            None => {
                let teardown = app.reach.iter().any(|r| is_teardown(&r.playbook));
                let by_role = teardown_for_role(repository, app);
                if !teardown && by_role.is_none() {
                    reasons.push("the repository has no way to remove it; Chiffon's own action removes the unit".to_owned());
                    return builtin(Verb::Remove, reasons);
                }
                if let Some(reach) = by_role {
                    return entrypoint(
                        repository,
                        app,
                        &[reach],
                        verb,
                        target,
                        extra_vars,
                        None,
                        text,
                        reasons,
                    );
                }
                reach_filter = Box::new(|r: &Reach| is_teardown(&r.playbook));
            }
        }
    } else if verb == Verb::Deploy || verb == Verb::Upgrade {
        match switch.as_ref().map(|s| s.kind.as_str()) {
            Some("state") => {
                let var = switch.as_ref().map(|s| s.var.clone()).unwrap_or_default();
                extra_vars.insert(var, serde_json::Value::from("present"));
            }
            Some("bool") if verb == Verb::Deploy => {
                let var = switch.as_ref().map(|s| s.var.clone()).unwrap_or_default();
                extra_vars.insert(var, serde_json::Value::Bool(true));
            }
            _ => {}
        }
        if verb == Verb::Upgrade {
            extra_vars.retain(|_, _| false);
        }
    }
    let reaches: Vec<Reach> = app
        .reach
        .iter()
        .filter(|r| reach_filter(r))
        .cloned()
        .collect();
    let reaches = if reaches.is_empty() {
        app.reach.clone()
    } else {
        reaches
    };
    // A place said: the plays that run there ("put tailscale on bunk": `bunk.yml`, not the
    // site playbook whose plays never target bunk).
    let wanted = target.map(|t| repository.inventory.resolve(t));
    let runs_there = |r: &&Reach| {
        wanted.as_ref().is_some_and(|want| {
            !want.is_empty() && want.is_subset(&repository.inventory.resolve(&r.hosts))
        })
    };
    let mut there: Vec<Reach> = reaches.iter().filter(runs_there).cloned().collect();
    // None does: another task file of its role that a play runs there ("Configure Tailscale"
    // in `bunk.yml` imports the role with `tasks_from: dsm`).
    if there.is_empty() && verb == Verb::Deploy {
        there = app
            .role
            .iter()
            .flat_map(|role| repository.role_reaches(role))
            .filter(|r| !is_teardown(&r.playbook))
            .filter(runs_there)
            .cloned()
            .collect();
    }
    let reaches = if there.is_empty() { reaches } else { there };
    entrypoint(
        repository, app, &reaches, verb, target, extra_vars, switch, text, reasons,
    )
}
