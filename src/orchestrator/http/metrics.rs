//! `GET /metrics` for Prometheus (docs/metrics.md), and the middleware that counts and times
//! every HTTP request by its route pattern.
//!
//! The scrape needs a token whenever the server has one: the metrics token
//! (`--metrics-token`, for a Prometheus that should not hold the API token) or the API token.
//! Metrics name agents, hosts and services, which is more than a stranger should learn.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request as HttpRequest, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::ErrorCode;
use crate::config::ApiToken;
use crate::orchestrator::Core;
use crate::orchestrator::http::ApiError;
use crate::orchestrator::metrics::{Format, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};

/// The route label of a request no route matched (unknown paths, refused hosts), so scanners
/// probing random paths add one series, not one per path.
const UNMATCHED: &str = "unmatched";

/// `GET /metrics`: OpenMetrics when the scraper accepts it (Prometheus asks for it first),
/// else the Prometheus text format.
pub(crate) async fn metrics(State(core): State<Arc<Core>>, headers: HeaderMap) -> Response {
    if let Err(refusal) = check_token(&core, &headers) {
        return refusal.into_response();
    }
    let format = match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
        _ => Format::Prometheus,
    };
    match core.render_metrics(format).await {
        Ok(body) => {
            let content_type = match format {
                Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
                Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
            };
            ([(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// With a metrics or API token configured, the scrape must bring one of them.
fn check_token(core: &Core, headers: &HeaderMap) -> Result<(), ApiError> {
    let accepted: Vec<&ApiToken> = [
        core.config.http.metrics_token.as_ref(),
        core.config.api_token.as_ref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if accepted.is_empty() {
        return Ok(());
    }
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match offered {
        Some(offered) if accepted.iter().any(|token| token.matches(offered)) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::BadToken,
            "the token is wrong: /metrics takes the metrics token (CHIFFON_METRICS_TOKEN) or the API token",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::TokenRequired,
            "/metrics requires a token: send `Authorization: Bearer <token>` (in Prometheus: `authorization: {credentials_file: …}` in the scrape config)",
        )),
    }
}

/// The matched route, carried out to `track` on the response (the outer middleware runs
/// before routing, so it cannot read the request's `MatchedPath` itself).
#[derive(Debug, Clone)]
struct Route(MatchedPath);

/// A route layer: passes the pattern the router matched on to `track`.
pub(crate) async fn mark_route(request: HttpRequest, next: axum::middleware::Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    // The innermost router's pattern is the whole path; an outer one's may be a prefix.
    if let Some(matched) = matched
        && response.extensions().get::<Route>().is_none()
    {
        response.extensions_mut().insert(Route(matched));
    }
    response
}

/// The outermost layer: counts and times every request by method, route pattern and status.
pub(crate) async fn track(
    State(core): State<Arc<Core>>,
    request: HttpRequest,
    next: axum::middleware::Next,
) -> Response {
    let began = Instant::now();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<Route>()
        .map_or(UNMATCHED, |route| route.0.as_str());
    core.metrics
        .record_http(method, route, response.status().as_u16(), began.elapsed());
    response
}

/// Standard methods by name; anything else is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
