//! The deterministic planner: request text → intents → a validated, dependency-ordered plan.
//! It needs no model: intent rules, an alias table and the playbook catalogue are enough for
//! the requests a homelab sees, and when they are not, the plan carries an open question
//! instead of a guess.
//!
//! Invariant: pure functions of (text, catalogue, history); nothing here does I/O.

use std::collections::{BTreeMap, BTreeSet};

mod ask;
pub mod finder;
mod parse;
mod risk;
pub mod upgrade;

pub use parse::canonical_service;
use parse::{ALIASES, Intent, Modifiers, parse};
pub(crate) use risk::{assess_risk, critical_path_s, estimate};

use crate::catalogue::{Catalogue, Playbook};
use crate::model::{AgentType, Plan, Question, Resources, Step};

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

/// Estimated seconds per action when a playbook has no history yet: what a homelab playbook
/// of that kind takes on a local or LAN host (Ansible's start-up alone is ~2 s; the example's
/// deployment takes 3–6 s). Longer ones learn their own median after the first run; a first
/// guess of minutes for a few seconds' work made every new plan look slow.
pub(crate) const DEFAULT_DURATION_S: &[(&str, u64)] = &[
    ("deploy", 20),
    ("configure", 10),
    ("upgrade", 30),
    ("restart", 10),
    ("remove", 15),
    ("check", 10),
    ("backup", 120),
    ("run", 20),
];

/// More hosts than this in one plan is a bigger blast radius.
pub(crate) const MANY_HOSTS: usize = 5;

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

/// Makes version `version` of the plan for `text`.
pub fn plan(
    text: &str,
    catalogue: &Catalogue,
    history: &BTreeMap<String, PlaybookHistory>,
    version: u32,
) -> Plan {
    plan_answered(text, catalogue, history, version, &[])
}

/// Makes version `version` of the plan for `text`, with the answers the person gave to the
/// questions of earlier versions (`Question::answer` set): where the planner would ask one of
/// them again, it takes the choice instead. The answered questions stay on the plan.
pub fn plan_answered(
    text: &str,
    catalogue: &Catalogue,
    history: &BTreeMap<String, PlaybookHistory>,
    version: u32,
    answers: &[Question],
) -> Plan {
    // The owner's names first (`.chiffon/hints.toml`), then what the person answered.
    let rewritten = catalogue.repository.hints.rewrite(text);
    let text = &ask::clarified(&rewritten, answers);
    let mut questions = Vec::new();
    let (intents, modifiers) = parse(text, catalogue, &mut questions, answers);
    let mut plan = Draft {
        catalogue,
        history,
        answers,
        modifiers,
        steps: Vec::new(),
        questions,
        last_step_of_service: BTreeMap::new(),
        steps_of_clause: BTreeMap::new(),
        used_units: false,
        used_named: false,
    };
    for intent in &intents {
        plan.add(intent);
    }
    // The name-based reading plans the repositories that name playbooks `<service>-<action>.yml`
    // (and compound requests over them). Everything else is resolve's, which reads the
    // repository as its owner does: when that reading used no such playbook, or asked what it
    // could not read (a verb it lacks, a word it took for a place, a service it does not know),
    // resolve answers instead. An unclear verb that resolve cannot read either stays the
    // question.
    let stated = crate::resolve::stated_verb(text);
    let conventional = plan.used_named && !plan.used_units;
    let verb_unclear = plan
        .questions
        .iter()
        .any(|q| q.id.starts_with("verb:") && stated.is_none());
    let picked_app = ask::given(answers).service.is_some_and(|service| {
        catalogue
            .repository
            .apps
            .iter()
            .any(|a| a.service == service)
    });
    // A template asked for by name is the template flow's.
    let template = intents.iter().any(|i| i.action == "template");
    // No verb said, yet resolve reads one from the repository ("send gatus alerts to discord":
    // a setting of gatus): no need to ask.
    // A verb asked about something the repository does not run ("push the new login banner to
    // every linux box": "linux" is no app), while resolve finds the app meant: no need to ask.
    let about_phantoms = plan
        .questions
        .iter()
        .filter_map(|q| q.id.strip_prefix("verb:"))
        .all(|named| {
            let id = crate::services::catalogue()
                .lookup(named)
                .map(|s| s.id.clone());
            let key = crate::text::normalize(named);
            !catalogue.repository.apps.iter().any(|a| {
                a.service == named || Some(&a.service) == id.as_ref() || a.names.contains(&key)
            })
        });
    let verb_read = verb_unclear && !catalogue.repository.apps.is_empty() && {
        let resolution =
            crate::resolve::resolve_given(&catalogue.repository, text, None, &ask::given(answers));
        resolution.verb != crate::resolve::Verb::Deploy
            || about_phantoms
                && matches!(
                    resolution.answer,
                    crate::resolve::Answer::Entrypoint { .. }
                        | crate::resolve::Answer::Builtin { .. }
                )
    };
    if !catalogue.repository.apps.is_empty()
        && (picked_app || (!conventional && (!verb_unclear || verb_read) && !template))
    {
        // The name-based reading's verb only where the request starts with it (misspelt:
        // "upgarde pihole"); its guesses further in ("remote" for remove) are not taken.
        let verb = stated.or_else(|| {
            let first = text.split_whitespace().next()?.to_lowercase();
            let action = parse::clause_action(&[first.as_str()])?;
            crate::resolve::Verb::from_action(&action)
        });
        let asked = std::mem::take(&mut plan.questions);
        plan.steps.clear();
        plan.questions = asked
            .iter()
            .filter(|q| q.answer.is_some())
            .cloned()
            .collect();
        plan.resolved(text, verb);
        // Nothing in the repository to run, and a template would give it one: the offer stays.
        if plan.steps.is_empty() && asked.iter().any(|q| q.template.is_some()) {
            plan.questions = asked;
        }
    }
    plan.finish(version)
}

/// A plan being made: the steps so far and what later steps depend on.
struct Draft<'a> {
    catalogue: &'a Catalogue,
    history: &'a BTreeMap<String, PlaybookHistory>,
    /// The person's answers to earlier versions' questions.
    answers: &'a [Question],
    modifiers: Modifiers,
    steps: Vec<Step>,
    questions: Vec<Question>,
    /// A service's later steps run after its earlier ones.
    last_step_of_service: BTreeMap<String, String>,
    /// "…, then Y": a clause's steps run after the previous clause's.
    steps_of_clause: BTreeMap<usize, Vec<String>>,
    /// A step came from the older unit matcher, not a playbook named for its service and verb.
    used_units: bool,
    /// A service and verb of the request has a playbook named for them (`<service>-<verb>.yml`).
    used_named: bool,
}

impl Draft<'_> {
    /// The steps (or the question) for one intent.
    fn add(&mut self, intent: &Intent) {
        let catalogue = self.catalogue;
        let mut intent = intent.clone();
        if catalogue.find(&intent.service, &intent.action).is_some() {
            self.used_named = true;
        }
        let template_id = format!("template:{}", intent.service);
        if intent.action == "template" {
            if ask::answer_to(self.answers, &template_id).is_none() {
                self.questions.push(ask::template(&intent, catalogue));
                return;
            }
            // The template was written: what is left is deploying it.
            intent.action = "deploy".to_owned();
        }
        if let Some(place) = intent.unknown_target.clone() {
            let id = format!("target:{}", place.to_lowercase());
            let Some(group) = ask::answer_to(self.answers, &id) else {
                self.questions
                    .push(ask::unknown_target(&place, &intent, catalogue));
                return;
            };
            intent.targets = vec![group.to_owned()];
            intent.unknown_target = None;
        }
        let intent = &intent;
        let depends_on = self.dependencies(intent);
        let limit = (!intent.targets.is_empty()).then(|| intent.targets.join(":"));
        if let Some(playbook) = catalogue.find(&intent.service, &intent.action) {
            self.playbook_steps(intent, playbook, limit, depends_on);
        } else if let Some((unit, entry)) = (intent.action == "deploy")
            .then(|| catalogue.unit_for(&intent.service))
            .flatten()
            .and_then(|u| Some((u, u.entrypoint.as_ref()?)))
        {
            self.used_units = true;
            self.unit_step(intent, unit, entry, limit, depends_on);
        } else {
            self.questions
                .push(ask::missing_playbook(intent, catalogue));
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
        let mut limit = limit;
        let reach: BTreeSet<String> = match &limit {
            Some(named) => {
                let limited = catalogue.resolve_hosts(named);
                let reached: BTreeSet<String> = reach.intersection(&limited).cloned().collect();
                if reached.is_empty() {
                    let id = format!("reach:{}", playbook.path);
                    match ask::answer_to(self.answers, &id) {
                        None => {
                            self.questions.push(ask::reach(playbook, intent, &runs_on));
                            return;
                        }
                        Some(ask::OWN_HOSTS) => limit = None,
                        Some(pattern) => limit = Some(pattern.to_owned()),
                    }
                    let limited = limit.as_deref().map(|l| catalogue.resolve_hosts(l));
                    reach
                        .into_iter()
                        .filter(|h| limited.as_ref().is_none_or(|l| l.contains(h)))
                        .collect()
                } else {
                    reached
                }
            }
            None => reach,
        };
        // Staging first: the same playbook on the staging hosts it reaches, then on the rest.
        let mut passes: Vec<(Option<String>, &str)> = vec![(limit, "")];
        let skip_staging = ask::answer_to(self.answers, &format!("staging:{}", playbook.path))
            == Some(ask::SKIP_STAGING);
        if self.modifiers.staging_first && !skip_staging {
            let staging = catalogue.groups.get("staging").cloned().unwrap_or_default();
            let (early, late): (Vec<String>, Vec<String>) =
                reach.iter().cloned().partition(|h| staging.contains(h));
            if early.is_empty() {
                self.questions.push(ask::staging(playbook, &runs_on));
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
                    warnings: Vec::new(),
                    details: Vec::new(),
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
            warnings: Vec::new(),
            details: Vec::new(),
        };
        self.push(intent, step);
    }

    /// Nothing is named after the service or the action: read the request against the
    /// repository as `discovery` understands it. A resolved entrypoint or built-in action
    /// replaces the questions the name-based reading asked; `resolve`'s own question or "none"
    /// is kept with them.
    fn resolved(&mut self, text: &str, verb: Option<crate::resolve::Verb>) {
        let resolution = crate::resolve::resolve_given(
            &self.catalogue.repository,
            text,
            verb,
            &ask::given(self.answers),
        );
        let service = resolution.service.clone().unwrap_or_default();
        let action = resolution.verb.as_str().to_owned();
        let default_s = DEFAULT_DURATION_S
            .iter()
            .find(|(a, _)| *a == action)
            .map_or(60, |(_, s)| *s);
        let step = |title: String,
                    playbook: String,
                    tags: Vec<String>,
                    extra_vars: serde_json::Map<String, serde_json::Value>,
                    limit: Option<String>| Step {
            id: "s1".to_owned(),
            title,
            action: action.clone(),
            agent_type: AgentType::Infra,
            playbook: Some(playbook),
            service: Some(service.clone()),
            limit,
            depends_on: Vec::new(),
            estimated_duration_s: default_s,
            resources: Resources::default(),
            tags,
            extra_vars,
            status: "pending".to_owned(),
            warnings: Vec::new(),
            details: Vec::new(),
        };
        match resolution.answer {
            crate::resolve::Answer::Entrypoint {
                playbook,
                tags,
                extra_vars,
                limit,
                pin,
                config,
                ..
            } => {
                // Where the repository deploys it, when that is not the playbook itself.
                let found_in = self
                    .catalogue
                    .repository
                    .apps
                    .iter()
                    .find(|a| a.service == service && a.file != playbook)
                    .map_or_else(String::new, |a| format!("{} via ", a.file));
                let mut title = format!(
                    "{} {} ({found_in}{playbook})",
                    capitalized(&action),
                    display_name(&service)
                );
                if !tags.is_empty() {
                    title.push_str(&format!(" (tags {})", tags.join(", ")));
                }
                let pinned = (action == "upgrade")
                    .then(|| upgrade::plan_pin(&service, pin.as_ref(), text, self.answers))
                    .flatten();
                let mut first = None;
                match pinned {
                    Some(upgrade::PinPlan::Ask(question)) => {
                        self.questions.clear();
                        self.questions.push(question);
                        return;
                    }
                    Some(upgrade::PinPlan::Change(change, words)) => {
                        title.push_str(&words);
                        first = Some(*change);
                    }
                    Some(upgrade::PinPlan::Rerun(words)) => title.push_str(&words),
                    None => {
                        if let Some(crate::discovery::Pin::Var { file, var, .. }) = &pin {
                            title.push_str(&format!("; the version is pinned by {var} in {file}"));
                        }
                    }
                }
                if let Some(config) = &config {
                    title.push_str(&format!("; the setting lives in {config}"));
                }
                self.questions.clear();
                let mut run = step(
                    title,
                    playbook,
                    tags,
                    extra_vars.into_iter().collect(),
                    limit,
                );
                if let Some(first) = first {
                    run.id = "s2".to_owned();
                    run.depends_on = vec![first.id.clone()];
                    self.steps.push(first);
                }
                self.steps.push(run);
            }
            crate::resolve::Answer::Builtin {
                action: verb,
                unit,
                name,
                hosts,
            } => {
                let kind = match unit {
                    crate::discovery::UnitKind::Compose => "compose",
                    crate::discovery::UnitKind::Container => "container",
                    crate::discovery::UnitKind::Systemd => "systemd",
                };
                let mut vars = serde_json::Map::new();
                vars.insert("chiffon_hosts".to_owned(), hosts.join(":").into());
                vars.insert("chiffon_unit_kind".to_owned(), kind.into());
                vars.insert("chiffon_unit_name".to_owned(), name.clone().into());
                let title = format!(
                    "{} {} ({kind} {name} on {}) with Chiffon's built-in action",
                    capitalized(verb.as_str()),
                    display_name(&service),
                    hosts.join(", ")
                );
                self.questions.clear();
                self.steps.push(step(
                    title,
                    format!("chiffon:{}", crate::resolve::builtin_playbook(verb)),
                    Vec::new(),
                    vars,
                    None,
                ));
            }
            crate::resolve::Answer::Question {
                about,
                prompt,
                choices,
            } => {
                self.questions.push(ask::from_resolve(
                    &about,
                    &prompt,
                    &choices,
                    resolution.service.as_deref(),
                ));
            }
            crate::resolve::Answer::None { reason, catalogue } => {
                // Nothing to run: say why, for the service the request was about.
                if let Some(about) = resolution.service.clone().or(catalogue) {
                    self.questions
                        .push(ask::nothing_to_run(&about, &reason, &action));
                }
            }
        }
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
            self.questions.push(ask::which_service(catalogue));
        }
        let mut risk = assess_risk(&self.steps, catalogue, self.history);
        risk.reasons.extend(upgrade::risk_reasons(&self.steps));
        if let Some(error) = &catalogue.repository.hints_error {
            risk.reasons
                .push(format!("the owner's hints are not used: {error}"));
        }
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
            open_questions: self.questions.iter().map(|q| q.text.clone()).collect(),
            questions: self
                .questions
                .into_iter()
                .chain(self.answers.iter().cloned())
                .collect(),
        }
    }
}

pub(crate) fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
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

/// "monitoring: lola" — a playbook's host pattern and the hosts it names.
fn runs_on(playbook: &Playbook, hosts: &BTreeSet<String>) -> String {
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    format!("{}: {}", playbook.hosts.join(", "), hosts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RiskLevel;
    use crate::planner::parse::is_typo_of;
    use crate::text::edit_distance as typo_distance;
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
            repository: Default::default(),
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
        // Never run: the defaults for a deployment then a configuration, 20 s + 10 s.
        assert_eq!(plan.estimated_duration_s, 30);
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

    /// A request with no verb the name-based reading knows ("push … to every linux box"),
    /// over a repository whose own role does what is asked: the plan runs that role and asks
    /// nothing.
    #[test]
    fn a_verb_question_about_a_phantom_gives_way_to_the_app_the_repository_has() {
        let dir = crate::repo::scratch(&[
            ("hosts.ini", "[servers]\nbox1\nbox2\n"),
            (
                "playbooks/linux.yml",
                "- name: Configure Linux systems.\n  hosts: all\n  tags: linux\n  roles:\n    - role: motd\n      tags: motd\n",
            ),
            (
                "playbooks/roles/motd/tasks/main.yml",
                "- name: Banner\n  ansible.builtin.template:\n    src: motd.j2\n    dest: /etc/motd\n",
            ),
            (
                "roles/motd/templates/motd.j2",
                "Welcome to {{ inventory_hostname }}\n",
            ),
        ]);
        let catalogue = Catalogue::discover(dir.path()).unwrap();
        let plan = plan(
            "push the new login banner to every linux box",
            &catalogue,
            &BTreeMap::new(),
            1,
        );
        assert!(plan.open_questions.is_empty(), "{:?}", plan.open_questions);
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(
            plan.steps[0].playbook.as_deref(),
            Some("playbooks/linux.yml")
        );
        assert_eq!(plan.steps[0].tags, ["motd"]);
    }
}
