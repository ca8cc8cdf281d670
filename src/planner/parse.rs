//! Reading a request: its words and modifiers, clauses ("…, then …"), and per clause the
//! services (by name, alias or typo), the hosts and groups, an unknown place, and the verb.
//! Services are read before verbs and targets, so "status page" is Kuma, not a check.

use std::collections::BTreeSet;

use crate::catalogue::Catalogue;
use crate::model::Question;
use crate::planner::{capitalized, display_name};
use crate::text::edit_distance;

/// The verbs a person can pick when a request names a service but not what to do with it.
const PICKABLE_VERBS: &[&str] = &[
    "deploy",
    "configure",
    "upgrade",
    "restart",
    "remove",
    "check",
];

/// Names people use for services, mapped to the service name the catalogue derives from
/// playbook file names. Services not listed here still match by their own name.
pub(crate) const ALIASES: &[(&str, &str, &[&str])] = &[
    (
        "kuma",
        "Uptime Kuma",
        &[
            "uptime kuma",
            "kuma uptime",
            "uptime-kuma",
            "uptimekuma",
            "uptime monitor",
            "uptime monitoring",
            "status page",
            "uptime",
            "kuma",
        ],
    ),
    (
        "home-assistant",
        "Home Assistant",
        &[
            "home assistant",
            "homeassistant",
            "hass",
            "smart home",
            "home automation",
        ],
    ),
    (
        "pihole",
        "Pi-hole",
        &[
            "pi-hole",
            "pi hole",
            "pihole",
            "ad blocker",
            "adblocker",
            "ad-blocker",
            "dns sinkhole",
        ],
    ),
    ("jellyfin", "Jellyfin", &["jellyfin", "media server"]),
    (
        "portainer",
        "Portainer",
        &["portainer", "docker ui", "docker dashboard"],
    ),
    ("traefik", "Traefik", &["traefik", "reverse proxy"]),
    (
        "ollama",
        "Ollama",
        &["ollama", "local llm", "llm server", "language model", "llm"],
    ),
];

/// Verbs → actions, checked in this order so "add … to the config" is a configuration change
/// rather than a deployment, "update … to the latest version" an upgrade, and "verify the
/// deployment" a check. Nouns count too ("a fresh deployment of …").
pub(crate) const VERBS: &[(&str, &[&str])] = &[
    (
        "remove",
        &[
            "remove",
            "removal",
            "uninstall",
            "delete",
            "tear down",
            "decommission",
            "destroy",
            "purge",
            "get rid of",
        ],
    ),
    (
        "upgrade",
        &[
            "upgrade",
            "bump",
            "latest version",
            "new version",
            "newer version",
            "to the latest",
        ],
    ),
    ("restart", &["restart", "reboot", "bounce"]),
    (
        "check",
        &[
            "check",
            "status",
            "verify",
            "health",
            "healthy",
            "healthcheck",
            "is it running",
        ],
    ),
    (
        "configure",
        &[
            "configure",
            "config",
            "configuration",
            "reconfigure",
            "update",
            "change",
            "tweak",
            "add",
            "monitors",
        ],
    ),
    (
        "deploy",
        &[
            "deploy",
            "deployment",
            "redeploy",
            "re-deploy",
            "install",
            "installation",
            "reinstall",
            "set up",
            "setup",
            "bring up",
            "spin up",
            "launch",
            "roll out",
            "rollout",
            "provision",
            "put",
            "run",
        ],
    ),
];

/// Words that ask for a playbook template rather than a run.
pub(crate) const TEMPLATE_WORDS: &[&str] = &["template", "templates", "scaffold"];

/// Words that carry no service name: what is left of a clause after its verb, service and
/// targets, when it names a service the repository lacks ("install gitea on the nas").
pub(crate) const FILLER: &[&str] = &[
    "a",
    "an",
    "the",
    "my",
    "our",
    "your",
    "their",
    "to",
    "on",
    "onto",
    "in",
    "into",
    "of",
    "for",
    "from",
    "at",
    "with",
    "by",
    "please",
    "new",
    "fresh",
    "me",
    "us",
    "i",
    "id",
    "im",
    "we",
    "you",
    "want",
    "like",
    "would",
    "could",
    "can",
    "need",
    "let",
    "lets",
    "do",
    "just",
    "now",
    "only",
    "again",
    "first",
    "up",
    "this",
    "that",
    "these",
    "those",
    "some",
    "here",
    "there",
    "also",
    "too",
    "hub",
    "server",
    "servers",
    "service",
    "services",
    "app",
    "apps",
    "stack",
    "instance",
    "box",
    "machine",
    "host",
    "hosts",
    "network",
    "homelab",
    "lab",
    "it",
    "its",
    "them",
    "container",
    "containers",
    "is",
    "are",
    "be",
    "what",
    "whats",
    "how",
    "playbook",
    "playbooks",
    "write",
    "generate",
    "create",
    "make",
    "all",
    "every",
];

/// Words that mean "some service", never a name: a request made only of them needs a question.
pub(crate) const VAGUE: &[&str] = &[
    "something",
    "anything",
    "everything",
    "stuff",
    "thing",
    "things",
    "cool",
    "nice",
    "stuff",
];

/// Pronouns that point back at the service of the clause before ("… and add portals to its config").
pub(crate) const PRONOUNS: &[&str] = &["it", "its", "them", "their", "that", "this"];

/// One thing the person asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Intent {
    pub(crate) action: String,
    pub(crate) service: String,
    /// Inventory hosts/groups named in the request.
    pub(crate) targets: Vec<String>,
    /// The words of the clause, for a title that says what was asked.
    pub(crate) clause: String,
    /// Which clause of the request it came from (0, 1, …).
    pub(crate) clause_no: usize,
    /// "…, then Y": runs after the steps of the clause before.
    pub(crate) sequential: bool,
    /// "on mars": a place the inventory does not know.
    pub(crate) unknown_target: Option<String>,
}

/// What the request asks of the plan as a whole.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Modifiers {
    /// "dry run", "--dry-run", "check mode": the person wants to see what would change.
    pub(crate) dry_run: bool,
    /// "staging first": each step runs on its staging hosts, then on the rest.
    pub(crate) staging_first: bool,
}

/// The request's words, lowercased, with "kuma's" read as "kuma", apostrophes dropped and
/// punctuation as spaces; the modifiers it carries are read and their words taken out.
pub(crate) fn words_and_modifiers(text: &str) -> (Vec<String>, Modifiers) {
    let mut lowered = text.to_lowercase();
    let mut modifiers = Modifiers::default();
    for phrase in [
        "--dry-run",
        "dry-run",
        "dry run",
        "dryrun",
        "--check",
        "check mode",
        "check-mode",
    ] {
        if lowered.contains(phrase) {
            modifiers.dry_run = true;
            lowered = lowered.replace(phrase, " ");
        }
    }
    modifiers.staging_first = [
        "staging first",
        "first on staging",
        "first to staging",
        "first in staging",
        "staging before production",
    ]
    .iter()
    .any(|p| lowered.contains(p));
    let normalized: String = lowered
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '\'' || c == '_' {
                if c == '_' { ' ' } else { c }
            } else {
                ' '
            }
        })
        .collect();
    let words = normalized
        .split_whitespace()
        .map(|w| w.strip_suffix("'s").unwrap_or(w).replace('\'', ""))
        .map(|w| w.trim_matches('-').to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    (words, modifiers)
}

/// A clause of the request: the words between "and", "then", "also", "plus".
#[derive(Debug, Default)]
pub(crate) struct Clause {
    pub(crate) words: Vec<String>,
    /// Introduced by "then": it runs after the clause before.
    pub(crate) sequential: bool,
}

pub(crate) fn clauses(words: Vec<String>) -> Vec<Clause> {
    let mut clauses = vec![Clause::default()];
    for word in words {
        let Some(last) = clauses.last_mut() else {
            continue;
        };
        match word.as_str() {
            "and" | "also" | "plus" => {
                if !last.words.is_empty() {
                    clauses.push(Clause::default());
                }
            }
            "then" | "afterwards" => {
                if !last.words.is_empty() {
                    clauses.push(Clause::default());
                }
                if let Some(last) = clauses.last_mut() {
                    last.sequential = true;
                }
            }
            _ => last.words.push(word),
        }
    }
    clauses.retain(|c| !c.words.is_empty());
    clauses
}

/// Whether `word` is part of a verb phrase.
pub(crate) fn is_verb_word(word: &str) -> bool {
    VERBS
        .iter()
        .any(|(_, verbs)| verbs.iter().any(|v| v.split(' ').any(|w| w == word)))
}

/// The inventory target a phrase names: "nas", "gpu desktop" → `gpu_desktops`, "docker hosts".
pub(crate) fn target_named(phrase: &str, catalogue: &Catalogue) -> Option<String> {
    let singular = phrase.strip_suffix('s').unwrap_or(phrase);
    [phrase.to_owned(), format!("{phrase}s"), singular.to_owned()]
        .into_iter()
        .find(|c| !c.is_empty() && catalogue.knows_target(c))
}

/// A typo of `name`: the same first letter (people rarely get that wrong, and it keeps
/// "container" from reading as "portainer"), and one slip, or two in a long name.
pub(crate) fn is_typo_of(word: &str, name: &str) -> bool {
    let allowed = if name.len() >= 7 { 2 } else { 1 };
    word.len() >= 4
        && name.len() >= 4
        && word.chars().next() == name.chars().next()
        && edit_distance(word, name) <= allowed
}

/// Splits the request into clauses and reads an intent out of each. Services are found
/// first (by name, alias, then typo), then inventory targets, and the verb is read from what
/// is left, so "status page" is a service, not a status check. A clause without a verb or a
/// service borrows it from the clause before ("deploy kuma and add the portals to its
/// config"); words left over after a verb name a service the repository lacks ("deploy
/// nextcloud").
pub(crate) fn parse(
    text: &str,
    catalogue: &Catalogue,
    questions: &mut Vec<Question>,
    answers: &[Question],
) -> (Vec<Intent>, Modifiers) {
    let (words, modifiers) = words_and_modifiers(text);
    let known = known_services(catalogue);
    let everywhere = catalogue.resolve_hosts("all");
    let mut intents: Vec<Intent> = Vec::new();
    let mut previous_action: Option<String> = None;
    let mut previous_services: Vec<String> = Vec::new();
    let mut previous_targets: Vec<String> = Vec::new();
    for (clause_no, clause) in clauses(words).iter().enumerate() {
        let words = &clause.words;
        let mut used = vec![false; words.len()];
        // Services first, then places, then typos of services among the words left.
        let mut found = named_services(words, &mut used, &known);
        let mut targets = targets_in(words, &mut used, catalogue, &everywhere, modifiers);
        let unknown_target = unknown_place(words, &mut used);
        if found.is_empty() {
            found = typo_services(words, &mut used, &known);
        }
        found.sort_by_key(|(position, _)| *position);
        let rest: Vec<&str> = (0..words.len())
            .filter(|&i| !used[i])
            .map(|i| words[i].as_str())
            .collect();
        let own_action = clause_action(&rest);
        let leftover = Leftover::of(&rest);
        let mut services: Vec<String> = found.into_iter().map(|(_, s)| s).collect();
        if services.is_empty() && !leftover.vague {
            let borrow = || previous_services.clone();
            services = match (&own_action, leftover.unknown_name) {
                (Some(action), _) if action == "configure" || leftover.points_back => borrow(),
                (Some(_), Some(name)) => vec![name],
                (Some(_), None) => borrow(),
                (None, Some(name)) if previous_action.is_some() => vec![name],
                (None, _) => Vec::new(),
            };
        }
        if targets.is_empty() && unknown_target.is_none() {
            // "deploy kuma on lola and add the portals to its config": the change is on lola too.
            targets.clone_from(&previous_targets);
        }
        let about = services.first().map(|s| format!("verb:{s}"));
        let answered = answers
            .iter()
            .find(|q| Some(&q.id) == about.as_ref())
            .and_then(|q| q.answer.clone());
        let Some(action) = own_action.or_else(|| previous_action.clone()).or(answered) else {
            if let Some(about) = about {
                let names: Vec<String> = services.iter().map(|s| display_name(s)).collect();
                questions.push(Question::with_choices(
                    about,
                    format!(
                        "What should happen to {}? ({})",
                        names.join(", "),
                        PICKABLE_VERBS.join(", ")
                    ),
                    PICKABLE_VERBS
                        .iter()
                        .map(|v| ((*v).to_owned(), capitalized(v))),
                ));
            }
            continue;
        };
        for service in &services {
            let intent = Intent {
                action: action.clone(),
                service: service.clone(),
                targets: targets.clone(),
                clause: words.join(" "),
                clause_no,
                sequential: clause.sequential,
                unknown_target: unknown_target.clone(),
            };
            if !intents
                .iter()
                .any(|i| i.action == intent.action && i.service == intent.service)
            {
                intents.push(intent);
            }
        }
        previous_action = Some(action);
        previous_targets = targets;
        if !services.is_empty() {
            previous_services = services;
        }
    }
    (intents, modifiers)
}

/// Services by name or alias, longest names first ("uptime kuma" before "kuma"), with the
/// position of each; marks the words used.
pub(crate) fn named_services(
    words: &[String],
    used: &mut [bool],
    known: &[(String, String)],
) -> Vec<(usize, String)> {
    let n = words.len();
    let mut found: Vec<(usize, String)> = Vec::new();
    for (name, service) in known {
        let name_words: Vec<&str> = name.split(' ').collect();
        let len = name_words.len();
        for start in 0..(n + 1).saturating_sub(len) {
            if (0..len).all(|k| !used[start + k] && words[start + k] == name_words[k]) {
                (start..start + len).for_each(|k| used[k] = true);
                found.push((start, service.clone()));
            }
        }
    }
    found
}

/// Targets: hosts and groups, also as plain words ("gpu desktop", "docker hosts"). A target
/// that is the whole inventory, or the staging split of "staging first", narrows nothing.
pub(crate) fn targets_in(
    words: &[String],
    used: &mut [bool],
    catalogue: &Catalogue,
    everywhere: &BTreeSet<String>,
    modifiers: Modifiers,
) -> Vec<String> {
    let n = words.len();
    let mut targets: Vec<String> = Vec::new();
    let mut i = 0;
    while i < n {
        if used[i] {
            i += 1;
            continue;
        }
        let pair = (i + 1 < n && !used[i + 1])
            .then(|| target_named(&format!("{}_{}", words[i], words[i + 1]), catalogue))
            .flatten();
        let (target, width) = match pair {
            Some(t) => (Some(t), 2),
            None => (target_named(&words[i], catalogue), 1),
        };
        if let Some(target) = target {
            (i..i + width).for_each(|k| used[k] = true);
            let whole = catalogue.resolve_hosts(&target) == *everywhere;
            let staged =
                modifiers.staging_first && matches!(target.as_str(), "staging" | "production");
            if !whole && !staged && !targets.contains(&target) {
                targets.push(target);
            }
        }
        i += width;
    }
    targets
}

/// "on mars": a place the inventory does not know is a question, not a silent default.
pub(crate) fn unknown_place(words: &[String], used: &mut [bool]) -> Option<String> {
    let n = words.len();
    let mut unknown_target = None;
    for (i, word) in words.iter().enumerate() {
        if !matches!(word.as_str(), "on" | "onto") {
            continue;
        }
        let next = (i + 1..n).find(|&j| {
            !matches!(
                words[j].as_str(),
                "the" | "my" | "our" | "a" | "an" | "all" | "every" | "each"
            )
        });
        if let Some(j) = next
            && !used[j]
            && !FILLER.contains(&words[j].as_str())
            && !is_verb_word(&words[j])
        {
            used[j] = true;
            unknown_target = Some(words[j].clone());
        }
    }
    unknown_target
}

/// Typos of service names, in one word or two run together ("home asistant").
pub(crate) fn typo_services(
    words: &[String],
    used: &mut [bool],
    known: &[(String, String)],
) -> Vec<(usize, String)> {
    let n = words.len();
    let skip =
        |w: &str| w.len() < 2 || is_verb_word(w) || FILLER.contains(&w) || VAGUE.contains(&w);
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < n {
        if used[i] || skip(&words[i]) {
            i += 1;
            continue;
        }
        let mut phrases = Vec::new();
        if i + 1 < n && !used[i + 1] && !skip(&words[i + 1]) {
            phrases.push((format!("{}{}", words[i], words[i + 1]), 2));
        }
        phrases.push((words[i].clone(), 1));
        let hit = phrases.iter().find_map(|(phrase, width)| {
            known
                .iter()
                .find(|(name, _)| is_typo_of(phrase, &name.replace([' ', '-'], "")))
                .map(|(_, service)| (service.clone(), *width))
        });
        match hit {
            Some((service, width)) => {
                (i..i + width).for_each(|k| used[k] = true);
                if !found.iter().any(|(_, s)| *s == service) {
                    found.push((i, service));
                }
                i += width;
            }
            None => i += 1,
        }
    }
    found
}

/// The clause's own verb among the words left ("template" for a playbook-writing request),
/// allowing a slip in the verb ("instal", "restrat", "upgarde").
pub(crate) fn clause_action(rest: &[&str]) -> Option<String> {
    let joined = format!(" {} ", rest.join(" "));
    let template = rest.iter().any(|w| TEMPLATE_WORDS.contains(w))
        || (rest.iter().any(|w| matches!(*w, "playbook" | "playbooks"))
            && rest
                .iter()
                .any(|w| matches!(*w, "write" | "generate" | "create")));
    if template {
        return Some("template".to_owned());
    }
    VERBS
        .iter()
        .find(|(_, verbs)| verbs.iter().any(|v| joined.contains(&format!(" {v} "))))
        .or_else(|| {
            VERBS.iter().find(|(_, verbs)| {
                verbs
                    .iter()
                    .filter(|v| v.len() >= 5 && !v.contains(' '))
                    .any(|v| {
                        rest.iter()
                            .any(|w| w.len() >= 5 && !is_verb_word(w) && is_typo_of(w, v))
                    })
            })
        })
        .map(|(action, _)| (*action).to_owned())
}

/// What is left of a clause after services, places, verbs and filler.
pub(crate) struct Leftover {
    /// "something", "stuff": the person did not name a service.
    pub(crate) vague: bool,
    /// "it", "its": the clause points back at the previous one's services.
    pub(crate) points_back: bool,
    /// A name the repository does not know.
    pub(crate) unknown_name: Option<String>,
}

impl Leftover {
    pub(crate) fn of(rest: &[&str]) -> Self {
        let content: Vec<&str> = rest
            .iter()
            .copied()
            .filter(|w| {
                !is_verb_word(w)
                    && !FILLER.contains(w)
                    && !TEMPLATE_WORDS.contains(w)
                    && !PRONOUNS.contains(w)
                    && !w.chars().all(|c| c.is_ascii_digit())
            })
            .collect();
        let vague = content.iter().any(|w| VAGUE.contains(w));
        Self {
            vague,
            points_back: rest.iter().any(|w| PRONOUNS.contains(w)),
            unknown_name: (!vague && !content.is_empty()).then(|| {
                content
                    .iter()
                    .take(2)
                    .copied()
                    .collect::<Vec<_>>()
                    .join("-")
            }),
        }
    }
}

/// The catalogue service a name stands for ("kuma", "status page" → `uptime-kuma`), by the
/// alias table and the services' own names; no typo guessing (used to filter history).
pub fn canonical_service(name: &str, catalogue: &Catalogue) -> Option<String> {
    let wanted = name.trim().to_ascii_lowercase();
    known_services(catalogue)
        .into_iter()
        .find(|(known, _)| *known == wanted)
        .map(|(_, service)| service)
}

/// Every name that points at a catalogue service: the alias table, then the service's own name.
pub(crate) fn known_services(catalogue: &Catalogue) -> Vec<(String, String)> {
    let services = catalogue.services();
    let mut names: Vec<(String, String)> = Vec::new();
    for (service, _, aliases) in ALIASES {
        if services.contains(service) {
            names.extend(
                aliases
                    .iter()
                    .map(|a| ((*a).to_owned(), (*service).to_owned())),
            );
        }
    }
    // A playbook named for a verb (`deploy.yml`, `update.yml`) is an entrypoint, not a service.
    for service in services.into_iter().filter(|s| !is_verb_word(s)) {
        names.push((service.to_owned(), service.to_owned()));
        names.push((service.replace('-', " "), service.to_owned()));
    }
    // Services only a role or a toggled task file deploys (no playbook named after them).
    for unit in &catalogue.units {
        if unit.entrypoint.is_some()
            && !unit.shared
            && matches!(
                unit.kind,
                crate::matcher::UnitKind::Role | crate::matcher::UnitKind::Tasks
            )
            && !names.iter().any(|(_, s)| *s == unit.service)
        {
            let service = unit.service.to_ascii_lowercase();
            names.push((service.clone(), unit.service.clone()));
            let spaced = service.replace(['-', '_'], " ");
            // A role named for what it does to an app (`deploy_readeck`): "deploy readeck" is
            // the verb and the app, so the app's own word names the role.
            match spaced.split_once(' ') {
                Some((verb, app)) if is_verb_word(verb) && !app.is_empty() => {
                    names.push((app.to_owned(), unit.service.clone()));
                }
                _ => names.push((spaced, unit.service.clone())),
            }
        }
    }
    // longest names first, so "uptime kuma" wins over "kuma"
    names.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    names
}
