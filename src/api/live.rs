//! The live events the WebSocket (`GET /api/v1/ws`) streams and the CLI's `--follow` shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{AgentState, ExecEvent, RequestStatus, TaskStatus};

/// One live event. On the wire: `{"type": "...", ...fields}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A request changed status.
    Request {
        request_id: String,
        status: RequestStatus,
        reason: Option<String>,
        at: DateTime<Utc>,
    },
    /// A task (one step's execution) changed status.
    Task {
        request_id: String,
        task_id: String,
        step_id: String,
        title: String,
        status: TaskStatus,
        outcome: Option<String>,
        agent_id: Option<String>,
        audit_commit: Option<String>,
        at: DateTime<Utc>,
    },
    /// An execution event from a running playbook.
    Execution {
        request_id: String,
        task_id: String,
        step_id: String,
        event: ExecEvent,
        at: DateTime<Utc>,
    },
    /// An agent joined, left or went quiet.
    Agent {
        agent_id: String,
        status: AgentState,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The dispatch queue paused (no agent has room for the next step) or resumed.
    Queue {
        paused: bool,
        reason: String,
        at: DateTime<Utc>,
    },
    /// This listener fell behind and missed `missed` events; re-read state over REST.
    Lagged { missed: u64 },
}

impl LiveEvent {
    /// The request the event is about; agent, queue and lag events are about none.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            LiveEvent::Request { request_id, .. }
            | LiveEvent::Task { request_id, .. }
            | LiveEvent::Execution { request_id, .. } => Some(request_id),
            LiveEvent::Agent { .. } | LiveEvent::Queue { .. } | LiveEvent::Lagged { .. } => None,
        }
    }
}

/// `GET /api/v1/ws[?request_id=…]`: only events about this request (agent events are always
/// sent).
#[derive(Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
pub struct LiveFilter {
    pub request_id: Option<String>,
}
