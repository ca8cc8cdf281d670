//! The REST API under `/api/v1`, plus `/openapi.json`, the `/docs` page, `/metrics` and (from
//! `ui`) the web UI at `/`. JSON in and out, every shape a type of `crate::api`; errors are
//! `{"error": {"code", "message"}}` with a fitting status. The handlers live one file per
//! resource under `http/`; the router is built here, in one place. The OpenAPI document in
//! `assets/openapi.json` describes exactly these routes (tests hold the two together).

pub mod agents;
pub mod answer;
pub mod audit;
pub mod changes;
pub mod docs;
pub mod extract;
pub mod guard;
pub mod health;
pub mod llm;
pub mod metrics;
pub mod playbooks;
pub mod requests;
pub mod suggestions;
pub mod tasks;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request as HttpRequest, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::api::{ErrorBody, ErrorCode, ErrorDetail};
use crate::orchestrator::{Core, live};

/// Request bodies larger than this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest request text accepted, in characters.
pub const MAX_REQUEST_TEXT: usize = 4000;
/// A list's page size when the caller names none, and the most it may ask for.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

/// Every route the server answers.
pub fn router(core: Arc<Core>) -> Router {
    let api = Router::new()
        .route("/health", get(health::health))
        .route("/status", get(health::status))
        .route(
            "/requests",
            post(requests::create_request).get(requests::list_requests),
        )
        .route("/requests/{id}", get(requests::get_request))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/reject", post(requests::reject))
        .route("/requests/{id}/abort", post(requests::abort))
        .route("/requests/{id}/preview", post(requests::preview))
        .route("/requests/{id}/modify", post(requests::modify))
        .route("/requests/{id}/answer", post(answer::answer))
        .route("/requests/{id}/plans", get(requests::plan_versions))
        .route("/requests/{id}/revert", post(changes::revert))
        .route("/llm/decisions", get(llm::llm_decisions))
        .route("/tasks", get(tasks::list_tasks))
        .route("/tasks/{id}", get(tasks::get_task))
        .route("/tasks/{id}/annotations", post(tasks::annotate_task))
        .route("/tasks/{id}/changes", get(changes::task_changes))
        .route("/audit/{task_id}", get(audit::audit_entry))
        .route("/agents", get(agents::list_agents))
        .route("/agents/{id}", get(agents::get_agent))
        .route("/agents/{id}/capacity", get(agents::agent_capacity))
        .route("/resources", get(agents::resources))
        .route("/queue", get(agents::queue))
        .route("/playbooks", get(playbooks::list_playbooks))
        .route("/playbooks/templates", post(playbooks::create_template))
        .route("/playbooks/match", get(playbooks::match_playbook))
        .route("/suggestions", get(suggestions::suggestions))
        .route(
            "/suggestions/{id}/apply",
            post(suggestions::apply_suggestion),
        )
        .route(
            "/suggestions/applied/{commit}/revert",
            post(changes::revert_applied_suggestion),
        )
        .route("/ws", get(live::websocket))
        .route("/openapi.json", get(docs::openapi))
        .fallback(unknown_route)
        .route_layer(axum::middleware::from_fn_with_state(
            core.clone(),
            require_token,
        ))
        .route_layer(axum::middleware::from_fn(metrics::mark_route));
    Router::new()
        .nest("/api/v1", api)
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::docs))
        .route("/docs/docs.js", get(docs::script))
        .route("/docs/docs.css", get(docs::style))
        .route("/metrics", get(metrics::metrics))
        .merge(crate::orchestrator::ui::routes())
        .route_layer(axum::middleware::from_fn(metrics::mark_route))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            core.clone(),
            guard::guard,
        ))
        .layer(axum::Extension(Arc::new(live::Streams::new(
            core.config.http.max_websockets,
        ))))
        .layer(axum::middleware::from_fn_with_state(
            core.clone(),
            metrics::track,
        ))
        .with_state(core)
}

/// With an API token configured, every `/api/v1` call but exactly `/api/v1/health` (for
/// probes) needs `Authorization: Bearer <token>`; a browser's WebSocket, which cannot set
/// headers, may send `?access_token=` (percent-encoded) instead.
async fn require_token(
    State(core): State<Arc<Core>>,
    request: HttpRequest,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = &core.config.api_token else {
        return next.run(request).await;
    };
    // Inside the nested router the path has lost its `/api/v1`; accept either spelling.
    let path = request.uri().path();
    if path == "/health" || path == "/api/v1/health" {
        return next.run(request).await;
    }
    let websocket = path == "/ws" || path == "/api/v1/ws";
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let from_query = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("access_token="))
            .map(percent_decode)
    });
    match from_header.or(if websocket { from_query } else { None }) {
        Some(offered) if token.matches(&offered) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::BadToken,
            "the API token is wrong; check CHIFFON_API_TOKEN",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::TokenRequired,
            "this Chiffon requires an API token: send `Authorization: Bearer <token>` (the CLI reads CHIFFON_API_TOKEN)",
        )
        .into_response(),
    }
}

/// `%2B` → `+`; a `+` stays a `+` (tokens have no spaces), a broken escape stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An error answer: an HTTP status and the `ErrorBody` sent with it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("no {what} with id {id:?}"),
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!("internal error: {error:#}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; the server log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The page size a caller asked for, within bounds.
pub fn page_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}; see /docs", uri.path()),
    )
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::UnknownRoute,
        format!(
            "no route {}; the API is under /api/v1, see /docs",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(super::percent_decode("a%2Bb%2F%3D+c"), "a+b/=+c");
        assert_eq!(super::percent_decode("100%"), "100%");
    }
}
