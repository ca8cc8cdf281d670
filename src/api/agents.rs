//! Agents as the orchestrator's registry sees them, the fleet's totals and the dispatch queue.
//! Objects that were `json!` maps keep their fields in alphabetical order, as those maps did.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{AgentState, AgentType};
use crate::protocol::Capacity;

/// `GET /agents`: every filter optional, all must hold.
#[derive(Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentQuery {
    /// Only agents that are (true) or are not (false) online.
    pub online: Option<bool>,
    #[serde(rename = "type")]
    pub agent_type: Option<String>,
    /// At least this much free GPU memory on one GPU, in GB (1 GB = 1024 MiB).
    pub min_free_vram_gb: Option<f64>,
    pub min_free_cores: Option<f64>,
}

/// One agent: who it is, its status and why, its last capacity report and what is booked on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentView {
    pub id: String,
    #[serde(rename = "type")]
    pub agent_type: AgentType,
    pub status: AgentState,
    /// Why it has this status, in words.
    pub status_reason: String,
    pub status_since: DateTime<Utc>,
    pub host: String,
    pub version: String,
    /// Changes when the agent process restarts.
    pub boot_id: String,
    /// When its last heartbeat arrived (orchestrator clock).
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// The last report, or null when there is none younger than 60 s (unknown, not free).
    pub capacity: Option<Capacity>,
    pub capacity_reported_at: Option<DateTime<Utc>>,
    /// What Chiffon has placed on this agent and not seen finish.
    pub booked: Booked,
    /// The tasks it said it was running in its last heartbeat.
    #[serde(default)]
    pub running_tasks: Vec<String>,
}

/// Resources booked on an agent by steps in flight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Booked {
    pub cpu_cores: f64,
    /// By GPU index.
    pub vram_mb: BTreeMap<u32, u64>,
}

/// `GET /agents/{id}`: the agent and its status changes, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentDetail {
    pub agent: AgentView,
    pub history: Vec<AgentTransition>,
}

/// One status change of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentTransition {
    pub agent_id: String,
    pub from: Option<AgentState>,
    pub to: AgentState,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// `GET /agents/{id}/capacity`: what the agent has free now, and what Chiffon booked there.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CapacityView {
    pub agent_id: String,
    pub booked: Booked,
    pub capacity: Option<Capacity>,
    /// Whether a report younger than 60 s exists.
    pub known: bool,
    /// Why the capacity is unknown, when it is.
    pub note: Option<String>,
    pub reported_at: Option<DateTime<Utc>>,
    pub status: AgentState,
}

/// `GET /resources`: totals over the online agents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResourceTotals {
    /// Agents by status.
    pub agents: BTreeMap<String, u32>,
    /// Online agents without a fresh report: counted as unknown, not free.
    pub unknown: u32,
    pub cpu_cores: u32,
    pub free_cpu_cores: f64,
    pub memory_total_mb: u64,
    pub memory_free_mb: u64,
    pub gpus: u32,
    pub vram_total_mb: u64,
    /// A sum for the overview only: a step needs its memory on one GPU, see
    /// `largest_free_vram_mb`.
    pub vram_free_mb: u64,
    pub largest_free_vram_mb: u64,
}

/// `GET /queue`: whether dispatch is paused, and its recent pauses and resumes.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueueView {
    /// Newest first.
    pub history: Vec<QueueEvent>,
    pub paused: bool,
    /// Why it is paused, while it is.
    pub reason: Option<String>,
}

/// A pause or resume of the dispatch queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueueEvent {
    pub id: i64,
    /// `paused` or `resumed`.
    pub kind: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub audit_commit: Option<String>,
}
