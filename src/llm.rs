//! Optional LLM planning with a local-first routing policy and a logged fallback.
//!
//! Chiffon plans without a model (`planner`); configured providers can do better on requests
//! the rules do not cover. For each request, `route` picks the order to try providers in, with
//! a reason code (docs/planner.md, "LLM routing"): local first; the external model when the
//! request is high-value, scores as complex, or the local quota is below 20 %. `plan_with`
//! then asks each in turn (`wire`), validates the answer against the catalogue (`validate`),
//! gives one repair round, and falls back to the deterministic plan with the reason. Every call
//! and the decision are returned for the store; nothing a model wrote runs unvalidated.
//!
//! Invariant: a plan from a model reaches a person only through `validate::validate`, and its
//! risk is always Chiffon's own assessment.

pub mod validate;
pub mod wire;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::Catalogue;
use crate::model::Plan;
pub use crate::model::decision::{Attempt, Complexity, Decision, Quota};
use crate::planner::PlaybookHistory;

/// The HTTP client for every provider call: TLS through rustls with the system's roots (plus
/// `[llm] ca_file`), and redirects never followed, so an API key is only ever sent to the URL
/// the owner configured (a 3xx is a provider error, `redirected`).
pub fn http_client(config: &LlmConfig) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &config.extra_roots_pem {
        let roots = reqwest::Certificate::from_pem_bundle(pem)
            .context("[llm] ca_file holds no PEM certificate")?;
        builder = builder.tls_certs_merge(roots);
    }
    builder
        .build()
        .context("cannot set up the HTTP client for LLM providers")
}

/// Below this share of its budget left, the local model is passed over for the external one.
pub const LOCAL_QUOTA_FLOOR: f64 = 0.20;
/// Complexity score from which a request goes to the external model.
pub const DEFAULT_COMPLEXITY_THRESHOLD: u32 = 3;

/// `[llm]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmFileConfig {
    pub complexity_threshold: Option<u32>,
    /// A PEM file of extra root certificates trusted for `https://` providers, on top of the
    /// system's (a homelab's own CA in front of a local model server).
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub providers: Vec<ProviderFileConfig>,
}

/// `[[llm.providers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFileConfig {
    pub name: String,
    /// `openai` (any OpenAI-compatible server) or `anthropic`.
    pub kind: ProviderKind,
    /// Base URL: `http://127.0.0.1:11434/v1` for Ollama, `https://api.anthropic.com` for Claude
    /// (TLS with the system's roots plus `[llm] ca_file`).
    pub url: String,
    pub model: String,
    /// Runs on your own hardware (tried first).
    #[serde(default)]
    pub local: bool,
    pub api_key: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub timeout_s: Option<u64>,
    pub max_tokens: Option<u32>,
    /// Tokens (in + out) per period; unset: no token budget.
    pub token_budget: Option<u64>,
    /// USD per period; unset: no money budget.
    pub cost_budget_usd: Option<f64>,
    /// `day` or `month` (default).
    pub budget_period: Option<Period>,
    /// Prices for the cost when the server does not report it.
    pub usd_per_million_input_tokens: Option<f64>,
    pub usd_per_million_output_tokens: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    #[default]
    Month,
}

impl Period {
    /// When the period that holds `now` began.
    pub fn start(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let day = Utc
            .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
            .single()
            .unwrap_or(now);
        match self {
            Period::Day => day,
            Period::Month => Utc
                .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
                .single()
                .unwrap_or(day),
        }
    }
}

/// An API key; `Debug` hides it and it is never serialized.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A provider ready to call.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    pub url: String,
    pub model: String,
    pub local: bool,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    pub max_tokens: u32,
    pub token_budget: Option<u64>,
    pub cost_budget_usd: Option<f64>,
    pub period: Period,
    pub usd_per_million_in: f64,
    pub usd_per_million_out: f64,
}

/// The providers and the routing threshold, after checks.
#[derive(Debug, Clone, Default)]
pub struct LlmConfig {
    pub providers: Vec<Provider>,
    pub complexity_threshold: u32,
    /// Extra roots for `https://` providers (PEM), read at start-up from `[llm] ca_file`.
    pub extra_roots_pem: Option<Vec<u8>>,
}

impl LlmConfig {
    /// Checks `[llm]` and reads key files; the keys are remembered for redaction.
    pub fn from_file(file: LlmFileConfig) -> anyhow::Result<Self> {
        let mut providers: Vec<Provider> = Vec::new();
        for p in file.providers {
            let name = p.name.trim().to_owned();
            anyhow::ensure!(
                !name.is_empty() && providers.iter().all(|q| q.name != name),
                "[[llm.providers]]: every provider needs a name of its own ({name:?})"
            );
            anyhow::ensure!(
                p.url.starts_with("https://") || p.url.starts_with("http://"),
                "[[llm.providers]] {name}: url must start with https:// (or http:// for a model server on your own network)"
            );
            anyhow::ensure!(
                !p.model.trim().is_empty(),
                "[[llm.providers]] {name}: model is required"
            );
            let key = match (p.api_key, p.api_key_file) {
                (Some(_), Some(_)) => {
                    anyhow::bail!(
                        "[[llm.providers]] {name}: give api_key or api_key_file, not both"
                    )
                }
                (Some(key), None) => Some(key),
                (None, Some(file)) => Some(
                    std::fs::read_to_string(&file)
                        .with_context(|| {
                            format!(
                                "[[llm.providers]] {name}: cannot read api_key_file {}",
                                file.display()
                            )
                        })?
                        .trim()
                        .to_owned(),
                ),
                (None, None) => None,
            };
            let api_key = key.filter(|k| !k.is_empty()).map(|k| {
                crate::redact::remember(&k);
                Secret(k)
            });
            providers.push(Provider {
                name,
                kind: p.kind,
                url: p.url,
                model: p.model,
                local: p.local,
                api_key,
                timeout: Duration::from_secs(p.timeout_s.unwrap_or(60).max(1)),
                max_tokens: p.max_tokens.unwrap_or(2048).max(256),
                token_budget: p.token_budget,
                cost_budget_usd: p.cost_budget_usd,
                period: p.budget_period.unwrap_or_default(),
                usd_per_million_in: p.usd_per_million_input_tokens.unwrap_or(0.0),
                usd_per_million_out: p.usd_per_million_output_tokens.unwrap_or(0.0),
            });
        }
        let extra_roots_pem = match &file.ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("[llm] ca_file: cannot read {}", path.display()))?;
                reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                    format!("[llm] ca_file: {} holds no PEM certificate", path.display())
                })?;
                Some(pem)
            }
            None => None,
        };
        Ok(Self {
            providers,
            extra_roots_pem,
            complexity_threshold: file
                .complexity_threshold
                .unwrap_or(DEFAULT_COMPLEXITY_THRESHOLD),
        })
    }
}

impl Quota {
    pub fn new(
        provider: &Provider,
        period_start: DateTime<Utc>,
        tokens_used: u64,
        cost_used_usd: f64,
        rate_limit_left: Option<f64>,
    ) -> Self {
        let mut left: f64 = 1.0;
        if let Some(budget) = provider.token_budget {
            left = left.min(1.0 - tokens_used as f64 / budget.max(1) as f64);
        }
        if let Some(budget) = provider.cost_budget_usd.filter(|b| *b > 0.0) {
            left = left.min(1.0 - cost_used_usd / budget);
        }
        if let Some(rate) = rate_limit_left {
            left = left.min(rate);
        }
        Self {
            provider: provider.name.clone(),
            period_start: Some(period_start),
            tokens_used,
            token_budget: provider.token_budget,
            cost_used_usd,
            cost_budget_usd: provider.cost_budget_usd,
            rate_limit_left,
            left: left.max(0.0),
        }
    }
}

/// Scores `text` with the deterministic plan made for it (docs/planner.md lists the features).
pub fn complexity(text: &str, deterministic: &Plan) -> Complexity {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .collect();
    let mut features = Vec::new();
    let mut score = 0;
    let mut add = |points: u32, feature: String| {
        score += points;
        features.push(format!("{feature} (+{points})"));
    };
    let services: std::collections::BTreeSet<&str> = deterministic
        .steps
        .iter()
        .filter_map(|s| s.service.as_deref())
        .collect();
    if services.len() > 1 {
        add(
            services.len() as u32 - 1,
            format!("{} services", services.len()),
        );
    }
    let ordering = ["first", "then", "after", "before", "once", "afterwards"];
    if let Some(word) = words.iter().find(|w| ordering.contains(w)) {
        add(1, format!("ordering word \"{word}\""));
    }
    let conditions = ["if", "unless", "only", "except", "when", "otherwise"];
    if let Some(word) = words.iter().find(|w| conditions.contains(w)) {
        add(2, format!("condition \"{word}\""));
    }
    if !deterministic.open_questions.is_empty() {
        add(2, "the rules left open questions".to_owned());
    }
    if words.len() > 25 {
        add(1, format!("{} words", words.len()));
    }
    Complexity { score, features }
}

/// The order to try providers in, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub order: Vec<String>,
    pub reason_code: &'static str,
    pub reason: String,
}

/// The routing policy: local first; external when high-value, complex, or the local quota is
/// below `LOCAL_QUOTA_FLOOR`; a provider with no budget left is skipped.
pub fn route(
    config: &LlmConfig,
    quotas: &BTreeMap<String, Quota>,
    complexity: &Complexity,
    high_value: bool,
) -> Route {
    let left = |p: &Provider| quotas.get(&p.name).map_or(1.0, |q| q.left);
    let usable = |p: &&Provider| left(p) > 0.0;
    let local: Vec<&Provider> = config
        .providers
        .iter()
        .filter(|p| p.local)
        .filter(usable)
        .collect();
    let external: Vec<&Provider> = config
        .providers
        .iter()
        .filter(|p| !p.local)
        .filter(usable)
        .collect();
    let names = |list: &[&Provider]| list.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    if config.providers.is_empty() {
        return Route {
            order: Vec::new(),
            reason_code: "no_llm_configured",
            reason: "no LLM provider is configured; the rules plan".to_owned(),
        };
    }
    if local.is_empty() && external.is_empty() {
        return Route {
            order: Vec::new(),
            reason_code: "budgets_exhausted",
            reason: "every provider has used its budget for the period; the rules plan".to_owned(),
        };
    }
    let external_first = |code: &'static str, reason: String| {
        let mut order = names(&external);
        order.extend(names(&local));
        Route {
            order,
            reason_code: code,
            reason,
        }
    };
    if !external.is_empty() {
        if high_value {
            return external_first("high_value", "the request is marked high-value".to_owned());
        }
        if complexity.score >= config.complexity_threshold {
            return external_first(
                "complex_request",
                format!(
                    "complexity {} ≥ {}: {}",
                    complexity.score,
                    config.complexity_threshold,
                    complexity.features.join(", ")
                ),
            );
        }
        if let Some(low) = local.iter().map(|p| left(p)).reduce(f64::max)
            && low < LOCAL_QUOTA_FLOOR
        {
            return external_first(
                "local_quota_low",
                format!(
                    "the local model has {:.0} % of its quota left (< {:.0} %)",
                    low * 100.0,
                    LOCAL_QUOTA_FLOOR * 100.0
                ),
            );
        }
    }
    if local.is_empty() {
        return Route {
            order: names(&external),
            reason_code: "no_local_provider",
            reason: "no local model is configured (or it has no budget left)".to_owned(),
        };
    }
    let mut order = names(&local);
    order.extend(names(&external));
    Route {
        order,
        reason_code: "local_first",
        reason: "local model first".to_owned(),
    }
}

/// What the planner is asked: the request, and for a modification the plan so far and the
/// change asked for.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub text: &'a str,
    pub current: Option<&'a Plan>,
    pub change: Option<&'a str>,
}

/// The system prompt: the job, the catalogue and the inventory.
fn system_prompt(catalogue: &Catalogue) -> String {
    let mut prompt = String::from(
        "You are the planner of Chiffon, a homelab orchestrator. Turn the person's request into \
         a plan of steps, each running exactly one playbook from the list below against the \
         inventory. Use only these playbooks and these hosts or groups. Order steps with \
         depends_on. When the request cannot be met with these playbooks, or it is unclear, \
         return no steps for that part and say why in open_questions. Answer only with the plan \
         object.\n\nPlaybooks (path: service, action, hosts, description):\n",
    );
    for p in &catalogue.playbooks {
        prompt.push_str(&format!(
            "- {}: {}, {}, hosts {}, {}\n",
            p.path,
            p.service,
            p.action,
            p.hosts.join(" "),
            p.description.as_deref().unwrap_or("-")
        ));
    }
    prompt.push_str("\nInventory groups (group: hosts):\n");
    for (group, hosts) in &catalogue.groups {
        prompt.push_str(&format!(
            "- {group}: {}\n",
            hosts.iter().cloned().collect::<Vec<_>>().join(" ")
        ));
    }
    prompt
}

fn user_prompt(ask: &Ask<'_>) -> String {
    match (ask.current, ask.change) {
        (Some(current), Some(change)) => format!(
            "The original request:\n{}\n\nThe current plan (version {}):\n{}\n\nThe person asks for this change:\n{change}\n\nReturn the whole new plan.",
            ask.text,
            current.version,
            serde_json::to_string_pretty(&current.steps).unwrap_or_default()
        ),
        _ => format!("The request:\n{}", ask.text),
    }
}

/// Plans `ask` with the providers in `route`'s order, falling back to `deterministic`.
#[allow(clippy::too_many_arguments)]
pub async fn plan_with(
    http: &reqwest::Client,
    config: &LlmConfig,
    route: &Route,
    ask: &Ask<'_>,
    catalogue: &Catalogue,
    history: &BTreeMap<String, PlaybookHistory>,
    deterministic: Plan,
    mut decision: Decision,
) -> (Plan, Decision) {
    let schema = validate::schema(catalogue);
    let system = system_prompt(catalogue);
    let mut fallback: Option<String> = None;
    for name in &route.order {
        let Some(provider) = config.providers.iter().find(|p| &p.name == name) else {
            continue;
        };
        let planner = format!("llm:{}/{}", provider.name, provider.model);
        let mut messages = vec![wire::Message {
            role: "user",
            content: user_prompt(ask),
        }];
        for repair in [false, true] {
            let reply = wire::call(http, provider, &system, &messages, &schema).await;
            let mut attempt = Attempt {
                provider: provider.name.clone(),
                model: provider.model.clone(),
                outcome: "ok".to_owned(),
                repair,
                detail: None,
                http_status: None,
                latency_ms: 0,
                tokens_in: 0,
                tokens_out: 0,
                cost_usd: 0.0,
                at: Utc::now(),
            };
            let reply = match reply {
                Err(error) => {
                    attempt.outcome = error.code.to_owned();
                    attempt.detail = Some(error.detail.clone());
                    attempt.http_status = error.http_status;
                    attempt.latency_ms = error.latency.as_millis() as u64;
                    decision.attempts.push(attempt);
                    fallback = Some(format!(
                        "{}: {} ({})",
                        provider.name, error.code, error.detail
                    ));
                    break; // this provider cannot answer now: try the next one
                }
                Ok(reply) => reply,
            };
            attempt.latency_ms = reply.latency.as_millis() as u64;
            attempt.tokens_in = reply.tokens_in;
            attempt.tokens_out = reply.tokens_out;
            attempt.cost_usd = reply.reported_cost_usd.unwrap_or(
                (reply.tokens_in as f64 * provider.usd_per_million_in
                    + reply.tokens_out as f64 * provider.usd_per_million_out)
                    / 1e6,
            );
            if let Some(rate) = reply.rate_limit_left
                && let Some(quota) = decision
                    .quotas
                    .iter_mut()
                    .find(|q| q.provider == provider.name)
            {
                quota.rate_limit_left = Some(rate);
            }
            if reply.truncated {
                attempt.outcome = "truncated".to_owned();
                attempt.detail = Some(format!(
                    "the answer stopped at max_tokens ({})",
                    provider.max_tokens
                ));
                decision.attempts.push(attempt);
                fallback = Some(format!("{}: truncated answer", provider.name));
                return finish(deterministic, decision, fallback);
            }
            match validate::validate(
                &reply.text,
                catalogue,
                history,
                deterministic.version,
                &planner,
            ) {
                Ok(plan) => {
                    decision.attempts.push(attempt);
                    decision.planner = planner;
                    decision.outcome = "llm".to_owned();
                    return finish(plan, decision, None);
                }
                Err(problems) => {
                    attempt.outcome = if problems
                        .first()
                        .is_some_and(|p| p.starts_with("the answer is not a plan object"))
                    {
                        "invalid_json".to_owned()
                    } else {
                        "invalid_plan".to_owned()
                    };
                    let listed = problems.join("; ");
                    attempt.detail = Some(crate::redact::text(&listed).chars().take(500).collect());
                    let outcome = attempt.outcome.clone();
                    decision.attempts.push(attempt);
                    if repair {
                        fallback = Some(format!(
                            "{}: {outcome} after one repair round ({listed})",
                            provider.name
                        ));
                        return finish(deterministic, decision, fallback);
                    }
                    messages.push(wire::Message {
                        role: "assistant",
                        content: reply.text.chars().take(8000).collect(),
                    });
                    messages.push(wire::Message {
                        role: "user",
                        content: format!(
                            "That plan cannot be used: {listed}. Return a corrected plan that uses only the listed playbooks, hosts and groups."
                        ),
                    });
                }
            }
        }
    }
    finish(deterministic, decision, fallback)
}

/// Totals the decision and returns the plan to use.
fn finish(plan: Plan, mut decision: Decision, fallback: Option<String>) -> (Plan, Decision) {
    if decision.outcome != "llm" {
        decision.planner = plan.planner.clone();
        decision.outcome = if decision.attempts.is_empty() {
            "rules"
        } else {
            "fallback"
        }
        .to_owned();
        decision.fallback_reason = fallback;
    }
    decision.tokens = decision
        .attempts
        .iter()
        .map(|a| a.tokens_in + a.tokens_out)
        .sum();
    decision.cost_usd = decision.attempts.iter().map(|a| a.cost_usd).sum();
    decision.latency_ms = decision.attempts.iter().map(|a| a.latency_ms).sum();
    (plan, decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(name: &str, local: bool) -> Provider {
        Provider {
            name: name.to_owned(),
            kind: ProviderKind::Openai,
            url: "http://127.0.0.1:1".to_owned(),
            model: "m".to_owned(),
            local,
            api_key: None,
            timeout: Duration::from_secs(1),
            max_tokens: 512,
            token_budget: Some(1000),
            cost_budget_usd: None,
            period: Period::Month,
            usd_per_million_in: 0.0,
            usd_per_million_out: 0.0,
        }
    }

    fn config() -> LlmConfig {
        LlmConfig {
            providers: vec![provider("cloud", false), provider("ollama", true)],
            complexity_threshold: 3,
            extra_roots_pem: None,
        }
    }

    #[test]
    fn routing_is_local_first_unless_a_rule_says_otherwise() {
        let simple = Complexity::default();
        let quotas = BTreeMap::new();
        let r = route(&config(), &quotas, &simple, false);
        assert_eq!(
            (r.reason_code, r.order.clone()),
            ("local_first", vec!["ollama".to_owned(), "cloud".to_owned()])
        );
        let r = route(&config(), &quotas, &simple, true);
        assert_eq!(
            (r.reason_code, r.order[0].as_str()),
            ("high_value", "cloud")
        );
        let complex = Complexity {
            score: 4,
            features: vec!["3 services (+2)".into(), "condition \"if\" (+2)".into()],
        };
        let r = route(&config(), &quotas, &complex, false);
        assert_eq!(r.reason_code, "complex_request");
        assert!(r.reason.contains("condition"), "{}", r.reason);
        let now = Utc::now();
        let low = Quota::new(&provider("ollama", true), now, 850, 0.0, None);
        assert!((low.left - 0.15).abs() < 1e-9);
        let quotas = BTreeMap::from([("ollama".to_owned(), low)]);
        let r = route(&config(), &quotas, &simple, false);
        assert_eq!(
            (r.reason_code, r.order[0].as_str()),
            ("local_quota_low", "cloud")
        );
        assert!(r.reason.contains("15 %"), "{}", r.reason);
        let spent = BTreeMap::from([
            (
                "ollama".to_owned(),
                Quota::new(&provider("ollama", true), now, 1000, 0.0, None),
            ),
            (
                "cloud".to_owned(),
                Quota::new(&provider("cloud", false), now, 5000, 0.0, None),
            ),
        ]);
        assert_eq!(
            route(&config(), &spent, &simple, false).reason_code,
            "budgets_exhausted"
        );
        assert_eq!(
            route(&LlmConfig::default(), &BTreeMap::new(), &simple, true).reason_code,
            "no_llm_configured"
        );
    }

    #[test]
    fn periods_start_at_midnight_and_on_the_first() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 15, 4, 5).unwrap();
        assert_eq!(
            Period::Day.start(at),
            Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap()
        );
        assert_eq!(
            Period::Month.start(at),
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn api_keys_never_print() {
        let mut p = provider("cloud", false);
        p.api_key = Some(Secret("sk-live-should-not-print".into()));
        assert!(!format!("{p:?}").contains("sk-live"));
    }
}
