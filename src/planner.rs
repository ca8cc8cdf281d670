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
const VERBS: &[(&str, &[&str])] = &[
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
const TEMPLATE_WORDS: &[&str] = &["template", "templates", "scaffold"];

/// Words that carry no service name: what is left of a clause after its verb, service and
/// targets, when it names a service the repository lacks ("install gitea on the nas").
const FILLER: &[&str] = &[
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
const VAGUE: &[&str] = &[
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
const PRONOUNS: &[&str] = &["it", "its", "them", "their", "that", "this"];

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
    /// Which clause of the request it came from (0, 1, …).
    clause_no: usize,
    /// "…, then Y": runs after the steps of the clause before.
    sequential: bool,
    /// "on mars": a place the inventory does not know.
    unknown_target: Option<String>,
}

/// What the request asks of the plan as a whole.
#[derive(Debug, Default, Clone, Copy)]
struct Modifiers {
    /// "dry run", "--dry-run", "check mode": the person wants to see what would change.
    dry_run: bool,
    /// "staging first": each step runs on its staging hosts, then on the rest.
    staging_first: bool,
}

/// Makes version `version` of the plan for `text`.
pub fn plan(
    text: &str,
    catalogue: &Catalogue,
    history: &BTreeMap<String, PlaybookHistory>,
    version: u32,
) -> Plan {
    let mut questions = Vec::new();
    let (intents, modifiers) = parse(text, catalogue, &mut questions);
    let mut plan = Draft {
        catalogue,
        history,
        modifiers,
        steps: Vec::new(),
        questions,
        last_step_of_service: BTreeMap::new(),
        steps_of_clause: BTreeMap::new(),
    };
    for intent in &intents {
        plan.add(intent);
    }
    plan.finish(version)
}

/// A plan being made: the steps so far and what later steps depend on.
struct Draft<'a> {
    catalogue: &'a Catalogue,
    history: &'a BTreeMap<String, PlaybookHistory>,
    modifiers: Modifiers,
    steps: Vec<Step>,
    questions: Vec<String>,
    /// A service's later steps run after its earlier ones.
    last_step_of_service: BTreeMap<String, String>,
    /// "…, then Y": a clause's steps run after the previous clause's.
    steps_of_clause: BTreeMap<usize, Vec<String>>,
}

impl Draft<'_> {
    /// The steps (or the question) for one intent.
    fn add(&mut self, intent: &Intent) {
        let catalogue = self.catalogue;
        if intent.action == "template" {
            self.questions.push(template_question(intent, catalogue));
            return;
        }
        if let Some(place) = &intent.unknown_target {
            let mut known: Vec<&str> = catalogue.groups.keys().map(String::as_str).collect();
            known.retain(|g| *g != "all");
            self.questions.push(format!(
                "{place} is not a host or group in the inventory (it has: {}) — where should {} go?",
                known.join(", "),
                display_name(&intent.service)
            ));
            return;
        }
        let depends_on = self.dependencies(intent);
        let limit = (!intent.targets.is_empty()).then(|| intent.targets.join(":"));
        if let Some(playbook) = catalogue.find(&intent.service, &intent.action) {
            self.playbook_steps(intent, playbook, limit, depends_on);
        } else if let Some((unit, entry)) = (intent.action == "deploy")
            .then(|| catalogue.unit_for(&intent.service))
            .flatten()
            .and_then(|u| Some((u, u.entrypoint.as_ref()?)))
        {
            self.unit_step(intent, unit, entry, limit, depends_on);
        } else {
            self.questions
                .push(missing_playbook_question(intent, catalogue));
        }
    }

    /// The steps `intent` waits for: the service's previous step, and after "then" the steps
    /// of the clause before.
    fn dependencies(&self, intent: &Intent) -> Vec<String> {
        let mut depends_on: Vec<String> = self
            .last_step_of_service
            .get(&intent.service)
            .cloned()
            .into_iter()
            .collect();
        if intent.sequential
            && let Some((_, before)) = self.steps_of_clause.range(..intent.clause_no).next_back()
        {
            depends_on.extend(before.iter().cloned());
        }
        depends_on.dedup();
        depends_on
    }

    /// Runs `playbook` for `intent`: one step, or a staging pass and the rest; a question
    /// instead when the playbook does not reach the named targets or any staging host.
    fn playbook_steps(
        &mut self,
        intent: &Intent,
        playbook: &Playbook,
        limit: Option<String>,
        mut depends_on: Vec<String>,
    ) {
        let catalogue = self.catalogue;
        let reach: BTreeSet<String> = playbook
            .hosts
            .iter()
            .flat_map(|pattern| catalogue.resolve_hosts(pattern))
            .collect();
        let runs_on = format!("it runs on {}", runs_on(playbook, &reach));
        let reach: BTreeSet<String> = match &limit {
            Some(limit) => {
                let limited = catalogue.resolve_hosts(limit);
                let reached: BTreeSet<String> = reach.intersection(&limited).cloned().collect();
                if reached.is_empty() {
                    self.questions.push(format!(
                        "{} does not reach {} ({runs_on}) — run it on its own hosts, or name another?",
                        playbook.path,
                        intent.targets.join(", ")
                    ));
                    return;
                }
                reached
            }
            None => reach,
        };
        // Staging first: the same playbook on the staging hosts it reaches, then on the rest.
        let mut passes: Vec<(Option<String>, &str)> = vec![(limit, "")];
        if self.modifiers.staging_first {
            let staging = catalogue.groups.get("staging").cloned().unwrap_or_default();
            let (early, late): (Vec<String>, Vec<String>) =
                reach.iter().cloned().partition(|h| staging.contains(h));
            if early.is_empty() {
                self.questions.push(format!(
                    "{} reaches no staging host ({runs_on}) — skip the staging pass, or add a staging host to its group?",
                    playbook.path
                ));
                return;
            }
            passes = vec![(Some(early.join(":")), " (staging first)")];
            if !late.is_empty() {
                passes.push((Some(late.join(":")), " (after staging)"));
            }
        }
        for (pass_limit, note) in passes {
            let id = format!("s{}", self.steps.len() + 1);
            let mut targeted = intent.clone();
            if let Some(l) = &pass_limit {
                targeted.targets = l.split(':').map(str::to_owned).collect();
            }
            self.push(
                intent,
                Step {
                    id: id.clone(),
                    title: format!("{}{note}", title(&targeted, playbook)),
                    action: intent.action.clone(),
                    agent_type: playbook.agent_type,
                    playbook: Some(playbook.path.clone()),
                    service: Some(intent.service.clone()),
                    limit: pass_limit,
                    depends_on: depends_on.clone(),
                    estimated_duration_s: estimate(playbook, self.history),
                    resources: playbook.resources.clone(),
                    tags: Vec::new(),
                    extra_vars: serde_json::Map::new(),
                    status: "pending".to_owned(),
                },
            );
            depends_on = vec![id];
        }
    }

    /// No playbook is named after the service, but a role or task file deploys it through a
    /// shared playbook: run that playbook with the unit's tags and switch.
    fn unit_step(
        &mut self,
        intent: &Intent,
        unit: &crate::matcher::Unit,
        entry: &crate::matcher::Entrypoint,
        limit: Option<String>,
        depends_on: Vec<String>,
    ) {
        let kind = match unit.kind {
            crate::matcher::UnitKind::Role => "role",
            _ => "tasks",
        };
        let step = Step {
            id: format!("s{}", self.steps.len() + 1),
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
        };
        self.push(intent, step);
    }

    /// Adds `step`, made for `intent`, and remembers it for the steps after it.
    fn push(&mut self, intent: &Intent, step: Step) {
        self.steps_of_clause
            .entry(intent.clause_no)
            .or_default()
            .push(step.id.clone());
        self.last_step_of_service
            .insert(intent.service.clone(), step.id.clone());
        self.steps.push(step);
    }

    /// The plan: risk, estimate, and a question when nothing at all was understood.
    fn finish(mut self, version: u32) -> Plan {
        let catalogue = self.catalogue;
        if self.steps.is_empty() && self.questions.is_empty() {
            let services: Vec<String> = catalogue
                .services()
                .iter()
                .map(|s| display_name(s))
                .collect();
            self.questions.push(format!(
                "Which service do you mean? The playbook repository knows: {}.",
                services.join(", ")
            ));
        }
        let mut risk = assess_risk(&self.steps, catalogue, self.history);
        if self.modifiers.dry_run && !self.steps.is_empty() {
            risk.reasons.push(
                "a dry run was asked for: preview this plan in check mode (`chiffon preview`), which changes nothing; approving it changes the hosts"
                    .to_owned(),
            );
        }
        let estimated_duration_s = critical_path_s(&self.steps);
        Plan {
            version,
            planner: NAME.to_owned(),
            steps: self.steps,
            risk,
            approval_required: true,
            estimated_duration_s,
            open_questions: self.questions,
        }
    }
}

/// "No playbook to <action> <service>", with what the repository has for the service.
fn missing_playbook_question(intent: &Intent, catalogue: &Catalogue) -> String {
    let have: Vec<String> = catalogue
        .playbooks
        .iter()
        .filter(|p| p.service == intent.service)
        .map(|p| p.path.clone())
        .collect();
    if have.is_empty() {
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

/// "monitoring: lola" — a playbook's host pattern and the hosts it names.
fn runs_on(playbook: &Playbook, hosts: &BTreeSet<String>) -> String {
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    format!("{}: {}", playbook.hosts.join(", "), hosts.join(", "))
}

/// Template generation writes files for review rather than running anything, so a plan
/// cannot do it: the answer is the command that does, or the playbook that already exists.
fn template_question(intent: &Intent, catalogue: &Catalogue) -> String {
    let name = display_name(&intent.service);
    let command = format!(
        "`chiffon playbooks template {} --image <image:tag> --port <port>`",
        intent.service
    );
    let have: Vec<&str> = catalogue
        .playbooks
        .iter()
        .filter(|p| p.service == intent.service)
        .map(|p| p.path.as_str())
        .collect();
    if have.is_empty() {
        format!(
            "No playbook deploys {name} yet — generate a template? {command} writes one to review; a plan never runs it unseen."
        )
    } else {
        format!(
            "{name} already has a playbook ({}) — generate a template anyway? {command}",
            have.join(", ")
        )
    }
}

/// The request's words, lowercased, with "kuma's" read as "kuma", apostrophes dropped and
/// punctuation as spaces; the modifiers it carries are read and their words taken out.
fn words_and_modifiers(text: &str) -> (Vec<String>, Modifiers) {
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
struct Clause {
    words: Vec<String>,
    /// Introduced by "then": it runs after the clause before.
    sequential: bool,
}

fn clauses(words: Vec<String>) -> Vec<Clause> {
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
fn is_verb_word(word: &str) -> bool {
    VERBS
        .iter()
        .any(|(_, verbs)| verbs.iter().any(|v| v.split(' ').any(|w| w == word)))
}

/// The inventory target a phrase names: "nas", "gpu desktop" → `gpu_desktops`, "docker hosts".
fn target_named(phrase: &str, catalogue: &Catalogue) -> Option<String> {
    let singular = phrase.strip_suffix('s').unwrap_or(phrase);
    [phrase.to_owned(), format!("{phrase}s"), singular.to_owned()]
        .into_iter()
        .find(|c| !c.is_empty() && catalogue.knows_target(c))
}

/// Levenshtein distance with adjacent transpositions counted once ("restrat", "upgarde").
fn typo_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// A typo of `name`: the same first letter (people rarely get that wrong, and it keeps
/// "container" from reading as "portainer"), and one slip, or two in a long name.
fn is_typo_of(word: &str, name: &str) -> bool {
    let allowed = if name.len() >= 7 { 2 } else { 1 };
    word.len() >= 4
        && name.len() >= 4
        && word.chars().next() == name.chars().next()
        && typo_distance(word, name) <= allowed
}

/// Splits the request into clauses and reads an intent out of each. Services are found
/// first (by name, alias, then typo), then inventory targets, and the verb is read from what
/// is left, so "status page" is a service, not a status check. A clause without a verb or a
/// service borrows it from the clause before ("deploy kuma and add the portals to its
/// config"); words left over after a verb name a service the repository lacks ("deploy
/// nextcloud").
fn parse(
    text: &str,
    catalogue: &Catalogue,
    questions: &mut Vec<String>,
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
        let Some(action) = own_action.or_else(|| previous_action.clone()) else {
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
fn named_services(
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
fn targets_in(
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
fn unknown_place(words: &[String], used: &mut [bool]) -> Option<String> {
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
fn typo_services(
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
fn clause_action(rest: &[&str]) -> Option<String> {
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
struct Leftover {
    /// "something", "stuff": the person did not name a service.
    vague: bool,
    /// "it", "its": the clause points back at the previous one's services.
    points_back: bool,
    /// A name the repository does not know.
    unknown_name: Option<String>,
}

impl Leftover {
    fn of(rest: &[&str]) -> Self {
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
    fn typos_keep_their_first_letter_and_transpositions_count_once() {
        assert_eq!(typo_distance("restrat", "restart"), 1);
        assert_eq!(typo_distance("upgarde", "upgrade"), 1);
        assert!(is_typo_of("portaner", "portainer"));
        assert!(!is_typo_of("container", "portainer"));
        let plan = plan(
            "restart the containers on lola",
            &catalogue(),
            &BTreeMap::new(),
            1,
        );
        assert!(plan.steps.is_empty());
        assert!(plan.open_questions[0].contains("Which service"));
    }

    #[test]
    fn then_orders_clauses_and_a_target_outside_the_playbook_is_asked_about() {
        let ordered = plan(
            "deploy jellyfin, then add the portals to kuma's config",
            &catalogue(),
            &BTreeMap::new(),
            1,
        );
        assert_eq!(ordered.steps[1].depends_on, ["s1"]);
        let outside = plan("deploy jellyfin on lola", &catalogue(), &BTreeMap::new(), 1);
        assert!(outside.steps.is_empty());
        assert!(
            outside.open_questions[0].contains("does not reach lola"),
            "{:?}",
            outside.open_questions
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
