//! The deterministic planner: request text → intents → a validated, dependency-ordered plan.
//! It needs no model: intent rules, an alias table and the playbook catalogue are enough for
//! the requests a homelab sees, and when they are not, the plan carries an open question
//! instead of a guess.
//!
//! Invariant: pure functions of (text, catalogue, history); nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalogue::{Catalogue, Playbook};
use crate::model::{AgentType, Plan, Resources, Risk, RiskLevel, Step};

/// The planner's name in plans it makes.
pub const NAME: &str = "deterministic";

/// What the store knows about a playbook's past runs through Chiffon.
#[derive(Debug, Clone, Default)]
pub struct PlaybookHistory {
    /// Durations in seconds of recent successful runs.
    pub durations_s: Vec<f64>,
    /// Whether the most recent run failed.
    pub last_failed: bool,
    pub runs: u32,
}

/// Estimated seconds per action when a playbook has no history yet.
const DEFAULT_DURATION_S: &[(&str, u64)] = &[
    ("deploy", 120),
    ("configure", 60),
    ("upgrade", 180),
    ("restart", 30),
    ("remove", 60),
    ("check", 20),
    ("backup", 300),
    ("run", 60),
];

/// More hosts than this in one plan is a bigger blast radius.
const MANY_HOSTS: usize = 5;

/// Names people use for services, mapped to the service name the catalogue derives from
/// playbook file names. Services not listed here still match by their own name.
const ALIASES: &[(&str, &str, &[&str])] = &[
    (
        "kuma",
        "Uptime Kuma",
        &[
            "uptime kuma",
            "kuma uptime",
            "uptime-kuma",
            "uptimekuma",
            "uptime monitor",
            "status page",
            "kuma",
        ],
    ),
    (
        "home-assistant",
        "Home Assistant",
        &["home assistant", "homeassistant", "hass"],
    ),
    ("pihole", "Pi-hole", &["pi-hole", "pi hole", "pihole"]),
    ("jellyfin", "Jellyfin", &["jellyfin", "media server"]),
    ("portainer", "Portainer", &["portainer"]),
    ("traefik", "Traefik", &["traefik", "reverse proxy"]),
];

/// Verbs → actions, checked in this order so "add … to the config" is a configuration change
/// rather than a deployment.
const VERBS: &[(&str, &[&str])] = &[
    (
        "remove",
        &["remove", "uninstall", "delete", "tear down", "decommission"],
    ),
    ("upgrade", &["upgrade"]),
    ("restart", &["restart", "reboot", "bounce"]),
    ("check", &["check", "status", "verify", "health"]),
    (
        "configure",
        &[
            "configure",
            "config",
            "configuration",
            "reconfigure",
            "update",
            "add",
            "monitors",
        ],
    ),
    (
        "deploy",
        &[
            "deploy", "install", "set up", "setup", "bring up", "spin up", "launch", "run",
        ],
    ),
];

/// The service's name for people.
pub fn display_name(service: &str) -> String {
    ALIASES
        .iter()
        .find(|(name, _, _)| *name == service)
        .map(|(_, display, _)| (*display).to_owned())
        .unwrap_or_else(|| {
            service
                .split('-')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
}

/// One thing the person asked for.
#[derive(Debug, Clone, PartialEq)]
struct Intent {
    action: String,
    service: String,
    /// Inventory hosts/groups named in the request.
    targets: Vec<String>,
    /// The words of the clause, for a title that says what was asked.
    clause: String,
}

/// Makes version `version` of the plan for `text`.
pub fn plan(
    text: &str,
    catalogue: &Catalogue,
    history: &BTreeMap<String, PlaybookHistory>,
    version: u32,
) -> Plan {
    let mut questions = Vec::new();
    let intents = parse(text, catalogue, &mut questions);
    let mut steps: Vec<Step> = Vec::new();
    let mut last_step_of_service: BTreeMap<String, String> = BTreeMap::new();
    for intent in &intents {
        let id = format!("s{}", steps.len() + 1);
        let depends_on: Vec<String> = last_step_of_service
            .get(&intent.service)
            .cloned()
            .into_iter()
            .collect();
        let limit = (!intent.targets.is_empty()).then(|| intent.targets.join(":"));
        if let Some(playbook) = catalogue.find(&intent.service, &intent.action) {
            steps.push(Step {
                id: id.clone(),
                title: title(intent, playbook),
                action: intent.action.clone(),
                agent_type: playbook.agent_type,
                playbook: Some(playbook.path.clone()),
                service: Some(intent.service.clone()),
                limit,
                depends_on,
                estimated_duration_s: estimate(playbook, history),
                resources: playbook.resources.clone(),
                tags: Vec::new(),
                extra_vars: serde_json::Map::new(),
                status: "pending".to_owned(),
            });
        } else if let Some((unit, entry)) = (intent.action == "deploy")
            .then(|| catalogue.unit_for(&intent.service))
            .flatten()
            .and_then(|u| Some((u, u.entrypoint.as_ref()?)))
        {
            // No playbook is named after the service, but a role or task file deploys it
            // through a shared playbook: run that playbook with the unit's tags and switch.
            let kind = match unit.kind {
                crate::matcher::UnitKind::Role => "role",
                _ => "tasks",
            };
            steps.push(Step {
                id: id.clone(),
                title: format!(
                    "Deploy {} ({kind} {} via {})",
                    display_name(&intent.service.replace('_', "-")),
                    unit.path,
                    entry.playbook
                ),
                action: intent.action.clone(),
                agent_type: AgentType::Infra,
                playbook: Some(entry.playbook.clone()),
                service: Some(intent.service.clone()),
                limit,
                depends_on,
                estimated_duration_s: DEFAULT_DURATION_S
                    .iter()
                    .find(|(a, _)| *a == intent.action)
                    .map_or(60, |(_, s)| *s),
                resources: Resources::default(),
                tags: entry.tags.clone(),
                extra_vars: entry.extra_vars.clone().into_iter().collect(),
                status: "pending".to_owned(),
            });
        } else {
            let have: Vec<String> = catalogue
                .playbooks
                .iter()
                .filter(|p| p.service == intent.service)
                .map(|p| p.path.clone())
                .collect();
            questions.push(if have.is_empty() {
                format!(
                    "No playbook to {} {} — generate a template?",
                    intent.action,
                    display_name(&intent.service)
                )
            } else {
                format!(
                    "No playbook to {} {} (the repository has: {}) — generate a template?",
                    intent.action,
                    display_name(&intent.service),
                    have.join(", ")
                )
            });
            continue;
        }
        last_step_of_service.insert(intent.service.clone(), id);
    }
    if steps.is_empty() && questions.is_empty() {
        let services: Vec<String> = catalogue
            .services()
            .iter()
            .map(|s| display_name(s))
            .collect();
        questions.push(format!(
            "Which service do you mean? The playbook repository knows: {}.",
            services.join(", ")
        ));
    }
    let risk = assess_risk(&steps, catalogue, history);
    let estimated_duration_s = critical_path_s(&steps);
    Plan {
        version,
        planner: NAME.to_owned(),
        steps,
        risk,
        approval_required: true,
        estimated_duration_s,
        open_questions: questions,
    }
}

fn title(intent: &Intent, playbook: &Playbook) -> String {
    let name = display_name(&intent.service);
    let hosts = if intent.targets.is_empty() {
        String::new()
    } else {
        format!(" on {}", intent.targets.join(", "))
    };
    match intent.action.as_str() {
        "deploy" => format!("Deploy {name}{hosts}"),
        "configure" => {
            // Keep what the person said the change is, e.g. "add our existing portals to the config".
            let detail = intent.clause.trim();
            if detail.split_whitespace().count() > 2 {
                format!("Update {name}'s configuration{hosts}: {detail}")
            } else {
                format!("Update {name}'s configuration{hosts}")
            }
        }
        "upgrade" => format!("Upgrade {name}{hosts}"),
        "restart" => format!("Restart {name}{hosts}"),
        "remove" => format!("Remove {name}{hosts}"),
        "check" => format!("Check {name}{hosts}"),
        _ => playbook
            .description
            .clone()
            .unwrap_or_else(|| format!("Run {}", playbook.path)),
    }
}

pub(crate) fn estimate(playbook: &Playbook, history: &BTreeMap<String, PlaybookHistory>) -> u64 {
    let past = history
        .get(&playbook.path)
        .map(|h| h.durations_s.as_slice())
        .unwrap_or_default();
    if past.is_empty() {
        return DEFAULT_DURATION_S
            .iter()
            .find(|(a, _)| *a == playbook.action)
            .map_or(60, |(_, s)| *s);
    }
    let mut sorted = past.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    median.ceil().max(1.0) as u64
}

/// The longest chain of estimates through the DAG.
pub(crate) fn critical_path_s(steps: &[Step]) -> u64 {
    let mut finish: BTreeMap<&str, u64> = BTreeMap::new();
    for _ in 0..steps.len() {
        for step in steps {
            let start = step
                .depends_on
                .iter()
                .filter_map(|d| finish.get(d.as_str()))
                .max()
                .copied()
                .unwrap_or(0);
            finish.insert(&step.id, start + step.estimated_duration_s);
        }
    }
    finish.values().max().copied().unwrap_or(0)
}

/// Applies the documented risk rules (docs/planner.md); every rule that fires adds its reason.
pub(crate) fn assess_risk(
    steps: &[Step],
    catalogue: &Catalogue,
    history: &BTreeMap<String, PlaybookHistory>,
) -> Risk {
    let mut level = RiskLevel::Low;
    let mut reasons = Vec::new();
    let mut raise = |to: RiskLevel, reason: String, level: &mut RiskLevel| {
        if (to as u8) > (*level as u8) {
            *level = to;
        }
        reasons.push(reason);
    };
    let production = catalogue
        .groups
        .get("production")
        .cloned()
        .unwrap_or_default();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for step in steps {
        let Some(path) = &step.playbook else { continue };
        let Some(playbook) = catalogue.playbooks.iter().find(|p| &p.path == path) else {
            continue;
        };
        let mut hosts: BTreeSet<String> = playbook
            .hosts
            .iter()
            .flat_map(|pattern| catalogue.resolve_hosts(pattern))
            .collect();
        if let Some(limit) = &step.limit {
            let limited = catalogue.resolve_hosts(limit);
            hosts.retain(|h| limited.contains(h));
        }
        touched.extend(hosts.iter().cloned());
        if step.action == "remove" {
            raise(
                RiskLevel::High,
                format!("{}: removing a service can lose its data", step.title),
                &mut level,
            );
        }
        match history.get(path) {
            None => raise(
                RiskLevel::Medium,
                format!("{path} has never run through Chiffon"),
                &mut level,
            ),
            Some(h) if h.runs == 0 => raise(
                RiskLevel::Medium,
                format!("{path} has never run through Chiffon"),
                &mut level,
            ),
            Some(h) if h.last_failed => raise(
                RiskLevel::Medium,
                format!("{path} failed the last time it ran"),
                &mut level,
            ),
            Some(_) => {}
        }
    }
    let in_production: Vec<&String> = touched.iter().filter(|h| production.contains(*h)).collect();
    if !in_production.is_empty() {
        let names: Vec<&str> = in_production.iter().map(|h| h.as_str()).collect();
        raise(
            RiskLevel::Medium,
            format!(
                "changes hosts in the production group: {}",
                names.join(", ")
            ),
            &mut level,
        );
    }
    if touched.len() > MANY_HOSTS {
        raise(
            RiskLevel::Medium,
            format!("touches {} hosts", touched.len()),
            &mut level,
        );
    }
    if reasons.is_empty() && !steps.is_empty() {
        reasons.push(
            "every playbook has run successfully before and no production host is touched"
                .to_owned(),
        );
    }
    Risk { level, reasons }
}

/// Splits the request into clauses and reads an intent out of each; a clause without a verb
/// or a service borrows it from the clause before ("deploy kuma and add the portals to its config").
fn parse(text: &str, catalogue: &Catalogue, questions: &mut Vec<String>) -> Vec<Intent> {
    let normalized: String = text
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = normalized.split_whitespace().collect();
    let mut clauses: Vec<Vec<&str>> = vec![Vec::new()];
    for word in &words {
        if matches!(*word, "and" | "then" | "also" | "plus") {
            clauses.push(Vec::new());
        } else if let Some(last) = clauses.last_mut() {
            last.push(word);
        }
    }
    let known = known_services(catalogue);
    let mut intents: Vec<Intent> = Vec::new();
    let mut previous_action: Option<String> = None;
    let mut previous_services: Vec<String> = Vec::new();
    let mut previous_targets: Vec<String> = Vec::new();
    for clause in clauses.iter().filter(|c| !c.is_empty()) {
        let joined = format!(" {} ", clause.join(" "));
        let action = VERBS
            .iter()
            .find(|(_, verbs)| verbs.iter().any(|v| joined.contains(&format!(" {v} "))))
            .map(|(action, _)| (*action).to_owned());
        let mut services = find_services(&joined, clause, &known);
        let mut targets: Vec<String> = clause
            .iter()
            .filter(|w| catalogue.knows_target(w) && !services.iter().any(|s| s == *w))
            .map(|w| (*w).to_owned())
            .collect();
        if services.is_empty() {
            services.clone_from(&previous_services);
        }
        // "deploy kuma on lola and add the portals to its config": the config change is on lola too.
        if targets.is_empty() {
            targets.clone_from(&previous_targets);
        }
        let Some(action) = action.or_else(|| previous_action.clone()) else {
            if !services.is_empty() {
                questions.push(format!(
                    "What should happen to {}? (deploy, configure, upgrade, restart, remove, check)",
                    services.iter().map(|s| display_name(s)).collect::<Vec<_>>().join(", ")
                ));
            }
            continue;
        };
        for service in &services {
            let intent = Intent {
                action: action.clone(),
                service: service.clone(),
                targets: targets.clone(),
                clause: clause.join(" "),
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
    intents
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
fn known_services(catalogue: &Catalogue) -> Vec<(String, String)> {
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
    for service in services {
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
            names.push((service.replace(['-', '_'], " "), unit.service.clone()));
        }
    }
    // longest names first, so "uptime kuma" wins over "kuma"
    names.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    names
}

fn find_services(joined: &str, clause: &[&str], known: &[(String, String)]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for (name, service) in known {
        if joined.contains(&format!(" {name} ")) && !found.contains(service) {
            found.push(service.clone());
        }
    }
    if found.is_empty() {
        // tolerate typos in one-word names: "jelyfin", "portaner"
        for word in clause.iter().filter(|w| w.len() >= 4) {
            for (name, service) in known.iter().filter(|(n, _)| !n.contains(' ')) {
                let allowed = if name.len() >= 7 { 2 } else { 1 };
                if edit_distance(word, name) <= allowed && !found.contains(service) {
                    found.push(service.clone());
                }
            }
        }
    }
    found
}

/// Levenshtein distance, for typo tolerance (also used by `matcher`).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn catalogue() -> Catalogue {
        let playbook = |path: &str, service: &str, action: &str, hosts: &str| Playbook {
            path: path.into(),
            service: service.into(),
            action: action.into(),
            description: None,
            hosts: vec![hosts.into()],
            resources: Resources::default(),
            agent_type: AgentType::Infra,
        };
        let mut groups = BTreeMap::new();
        groups.insert("production".to_owned(), BTreeSet::from(["lola".to_owned()]));
        groups.insert("monitoring".to_owned(), BTreeSet::from(["lola".to_owned()]));
        groups.insert("storage".to_owned(), BTreeSet::from(["nas".to_owned()]));
        groups.insert(
            "homelab".to_owned(),
            BTreeSet::from(["lola".to_owned(), "nas".to_owned()]),
        );
        Catalogue {
            root: "/repo".into(),
            playbooks: vec![
                playbook("kuma-deployment.yml", "kuma", "deploy", "monitoring"),
                playbook("kuma-config-update.yml", "kuma", "configure", "monitoring"),
                playbook("jellyfin-deployment.yml", "jellyfin", "deploy", "storage"),
            ],
            groups,
            units: Vec::new(),
        }
    }

    #[test]
    fn the_kuma_request_becomes_deploy_then_configure() {
        let plan = plan(
            "Deploy Kuma Uptime to homelab and add our existing portals to the config",
            &catalogue(),
            &BTreeMap::new(),
            1,
        );
        assert!(plan.open_questions.is_empty(), "{:?}", plan.open_questions);
        let steps: Vec<_> = plan
            .steps
            .iter()
            .map(|s| {
                (
                    s.id.as_str(),
                    s.playbook.as_deref().unwrap(),
                    s.depends_on.clone(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                ("s1", "kuma-deployment.yml", vec![]),
                ("s2", "kuma-config-update.yml", vec!["s1".to_owned()]),
            ]
        );
        assert!(
            plan.steps[1].title.contains("existing portals"),
            "{}",
            plan.steps[1].title
        );
        assert_eq!(plan.risk.level, RiskLevel::Medium);
        assert!(
            plan.risk
                .reasons
                .iter()
                .any(|r| r.contains("production group: lola"))
        );
        assert!(plan.approval_required);
        assert_eq!(plan.estimated_duration_s, 180);
    }

    #[test]
    fn history_sets_estimates_and_clears_first_run_risk() {
        let mut history = BTreeMap::new();
        history.insert(
            "jellyfin-deployment.yml".to_owned(),
            PlaybookHistory {
                durations_s: vec![3.2, 2.1, 9.0],
                last_failed: false,
                runs: 3,
            },
        );
        let plan = plan("install jellyfin on the nas", &catalogue(), &history, 1);
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].estimated_duration_s, 4);
        assert_eq!(plan.steps[0].limit.as_deref(), Some("nas"));
        assert_eq!(plan.risk.level, RiskLevel::Low, "{:?}", plan.risk);
    }

    #[test]
    fn typos_are_tolerated() {
        let plan = plan("deploy jelyfin", &catalogue(), &BTreeMap::new(), 1);
        assert_eq!(
            plan.steps[0].playbook.as_deref(),
            Some("jellyfin-deployment.yml")
        );
    }

    #[test]
    fn unknown_services_and_missing_playbooks_become_questions() {
        let unknown = plan("make me a sandwich", &catalogue(), &BTreeMap::new(), 1);
        assert!(unknown.steps.is_empty());
        assert!(
            unknown.open_questions[0].contains("Which service"),
            "{:?}",
            unknown.open_questions
        );
        let missing = plan("remove jellyfin", &catalogue(), &BTreeMap::new(), 1);
        assert!(missing.steps.is_empty());
        assert!(missing.open_questions[0].contains("generate a template"));
    }
}
