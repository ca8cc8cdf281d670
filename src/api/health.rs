//! `GET /health` and `GET /status`. These were `json!` maps, so their fields stay in
//! alphabetical order.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The server's health, component by component (HTTP 503 when `degraded`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Health {
    /// The commit the server was built from (`git rev-parse --short`), or `unknown`.
    #[serde(default)]
    pub commit: String,
    pub components: HealthComponents,
    /// `ok` or `degraded`.
    pub status: String,
    pub version: String,
}

/// Each part the server needs.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HealthComponents {
    pub agents: AgentsHealth,
    pub audit: AuditHealth,
    pub bus: BusHealth,
    pub playbooks: PlaybooksHealth,
    pub store: StoreHealth,
}

/// The database: `ok` with its `kind`, or `down` with the `error`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StoreHealth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub status: String,
}

/// The message bus between orchestrator and agents.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BusHealth {
    pub kind: String,
    /// `ok` or `down`.
    pub status: String,
}

/// The git audit trail and its durable queue: each status has its own fields.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum AuditHealth {
    /// The repository cannot be written; entries wait in the database.
    Degraded {
        detail: String,
        error: String,
        path: PathBuf,
        queued: i64,
        since: DateTime<Utc>,
        status: String,
    },
    Ok {
        head: String,
        path: PathBuf,
        queued: i64,
        status: String,
    },
    Down {
        error: String,
        status: String,
    },
}

/// How many agents are known and online (`none_online` when none is).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentsHealth {
    pub known: usize,
    pub online: usize,
    pub status: String,
}

/// The playbook repository the planner plans with.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlaybooksHealth {
    pub count: usize,
    pub path: PathBuf,
    pub status: String,
}

/// `GET /status`: counts for a dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatusCounts {
    pub agents: AgentCounts,
    /// Requests by status; statuses with none are left out.
    pub requests: BTreeMap<String, i64>,
    /// Tasks by status; statuses with none are left out.
    pub tasks: BTreeMap<String, i64>,
}

/// Agents online and ever seen since the server started.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentCounts {
    pub known: usize,
    pub online: usize,
}
