//! The record of how a plan was made: which planner, why the providers were tried in that
//! order, each call's outcome, tokens, cost and latency. Stored with the plan version and shown
//! through the API; plain data, so the store can keep it without knowing the LLM client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The routing decision for one plan version: stored, shown on the plan and at
/// `GET /api/v1/llm/decisions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    pub request_id: String,
    pub plan_version: u32,
    pub at: DateTime<Utc>,
    /// Who made the plan in the end: `deterministic` or `llm:<provider>/<model>`.
    pub planner: String,
    /// Why the providers were tried in this order (see `route`).
    pub reason_code: String,
    pub reason: String,
    /// `llm` (a model's plan was used), `fallback` (providers were tried; the rules planned),
    /// or `rules` (no provider was tried).
    pub outcome: String,
    /// Why the rules' plan was used after trying, when it was.
    pub fallback_reason: Option<String>,
    pub high_value: bool,
    pub complexity: Complexity,
    pub quotas: Vec<Quota>,
    pub attempts: Vec<Attempt>,
    pub tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: u64,
}

/// One call to a provider, as stored (`llm_calls`) and shown with the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Attempt {
    pub provider: String,
    pub model: String,
    /// `ok`, or why not: `provider_down`, `rate_limited`, `overloaded`, `server_error`,
    /// `timeout`, `auth_failed`, `bad_status`, `invalid_response`, `truncated`,
    /// `invalid_plan`.
    pub outcome: String,
    /// `true` for the repair round.
    pub repair: bool,
    pub detail: Option<String>,
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub at: DateTime<Utc>,
}

/// What a provider has used in its current period, and what is left.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Quota {
    pub provider: String,
    pub period_start: Option<DateTime<Utc>>,
    pub tokens_used: u64,
    pub token_budget: Option<u64>,
    pub cost_used_usd: f64,
    pub cost_budget_usd: Option<f64>,
    /// The server's own rate-limit headroom from its last answer (0–1), when it reports one.
    pub rate_limit_left: Option<f64>,
    /// The smallest share left of any budget (1 when none is set).
    pub left: f64,
}

/// How complex a request reads, from features a person can check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Complexity {
    pub score: u32,
    /// Each feature that scored, e.g. "3 services (+2)".
    pub features: Vec<String>,
}
