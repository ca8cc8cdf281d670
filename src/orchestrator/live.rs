//! Live events over the WebSocket (`GET /api/v1/ws`): every state change the orchestrator
//! makes is published as an `api::LiveEvent` and streamed to each listener, optionally only
//! those about one request. Streams are limited: at most `max_websockets` at once (one more is
//! refused with 503 before the upgrade), client messages of at most
//! `websocket_max_message_bytes`, and a client that answers no ping for `websocket_idle` is
//! dropped (docs/security.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast;
use tokio::time::Instant;

/// The server publishes the contract's event type as is.
pub use crate::api::LiveEvent;
use crate::api::{ErrorCode, LiveFilter};
use crate::orchestrator::Core;
use crate::orchestrator::http::ApiError;

/// The live streams open now, against their cap.
#[derive(Debug)]
pub struct Streams {
    open: AtomicUsize,
    max: usize,
}

impl Streams {
    pub fn new(max: usize) -> Self {
        Self {
            open: AtomicUsize::new(0),
            max,
        }
    }

    /// A place for one more stream, held until the stream ends; `None` at the cap.
    fn claim(self: &Arc<Self>) -> Option<StreamSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| StreamSlot(self.clone()))
    }
}

/// One open stream; gives its place back when dropped.
struct StreamSlot(Arc<Streams>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `GET /api/v1/ws[?request_id=…]`
pub async fn websocket(
    State(core): State<Arc<Core>>,
    Extension(streams): Extension<Arc<Streams>>,
    Query(filter): Query<LiveFilter>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(slot) = streams.claim() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::TooManyStreams,
            format!(
                "{} live event streams are open, the most this server allows (`max_websockets` under [http]); close one or try again later",
                streams.max
            ),
        )
        .into_response();
    };
    let limits = &core.config.http;
    let idle = limits.websocket_idle;
    let events = core.live.subscribe();
    upgrade
        .max_message_size(limits.websocket_max_message_bytes)
        .max_frame_size(limits.websocket_max_message_bytes)
        .on_upgrade(move |socket| async move {
            stream(socket, events, filter.request_id, idle).await;
            drop(slot);
        })
}

async fn stream(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<LiveEvent>,
    only: Option<String>,
    idle: Duration,
) {
    // A ping every half idle period; any message from the client (a pong) shows it is there.
    let mut ping = tokio::time::interval(idle / 2);
    ping.tick().await;
    let mut heard = Instant::now();
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
            _ = ping.tick() => {
                if heard.elapsed() > idle {
                    tracing::debug!("closing a live stream whose client answered no ping for {idle:?}");
                    break;
                }
                if socket.send(WsMessage::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => heard = Instant::now(), // clients only listen (and answer pings)
            }
        }
    }
}
