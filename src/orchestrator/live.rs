//! Live events: what the WebSocket streams and the CLI's `--follow` shows. Every state change
//! the orchestrator makes is also published here.

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::model::{RequestStatus, TaskStatus};
use crate::orchestrator::Core;
use crate::protocol::ExecEvent;
use std::sync::Arc;

/// One live event. On the wire: `{"type": "...", ...fields}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        status: crate::model::AgentState,
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
    fn request_id(&self) -> Option<&str> {
        match self {
            LiveEvent::Request { request_id, .. }
            | LiveEvent::Task { request_id, .. }
            | LiveEvent::Execution { request_id, .. } => Some(request_id),
            LiveEvent::Agent { .. } | LiveEvent::Queue { .. } | LiveEvent::Lagged { .. } => None,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct WsFilter {
    /// Only events about this request (agent events are always sent).
    request_id: Option<String>,
}

/// `GET /api/v1/ws[?request_id=…]`
pub async fn websocket(
    State(core): State<Arc<Core>>,
    Query(filter): Query<WsFilter>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let events = core.live.subscribe();
    upgrade.on_upgrade(move |socket| stream(socket, events, filter.request_id))
}

async fn stream(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<LiveEvent>,
    only: Option<String>,
) {
    loop {
        tokio::select! {
            event = events.recv() => {
                let event = match event {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(missed)) => LiveEvent::Lagged { missed },
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if let (Some(only), Some(id)) = (&only, event.request_id())
                    && only != id {
                        continue;
                    }
                let Ok(text) = serde_json::to_string(&event) else { continue };
                if socket.send(WsMessage::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {} // clients only listen
            }
        }
    }
}
