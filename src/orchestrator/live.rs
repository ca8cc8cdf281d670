//! Live events over the WebSocket (`GET /api/v1/ws`): every state change the orchestrator
//! makes is published as an `api::LiveEvent` and streamed to each listener, optionally only
//! those about one request.

use std::sync::Arc;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use tokio::sync::broadcast;

/// The server publishes the contract's event type as is.
pub use crate::api::LiveEvent;
use crate::api::LiveFilter;
use crate::orchestrator::Core;

/// `GET /api/v1/ws[?request_id=…]`
pub async fn websocket(
    State(core): State<Arc<Core>>,
    Query(filter): Query<LiveFilter>,
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
