//! The REST API under `/api/v1`, plus `/openapi.json`, the `/docs` page and (from `ui`) the web
//! UI at `/`. JSON in and out;
//! errors are `{"error": {"code", "message"}}` with a fitting status. The OpenAPI document in
//! `assets/openapi.json` describes exactly these routes (a test holds the two together).

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request as HttpRequest, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{
    AgentState, AgentType, Request, RequestId, RequestStatus, Task, TaskEvent, TaskId, TaskStatus,
};
use crate::orchestrator::{Core, live};
use crate::store::TaskFilter;

/// Request bodies larger than this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The longest request text accepted, in characters.
pub const MAX_REQUEST_TEXT: usize = 4000;
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

const OPENAPI: &str = include_str!("../../assets/openapi.json");
const DOCS_PAGE: &str = include_str!("../../assets/docs.html");

pub fn router(core: Arc<Core>) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/requests", post(create_request).get(list_requests))
        .route("/requests/{id}", get(get_request))
        .route("/requests/{id}/approve", post(approve))
        .route("/requests/{id}/reject", post(reject))
        .route("/requests/{id}/abort", post(abort))
        .route("/requests/{id}/preview", post(preview))
        .route("/requests/{id}/modify", post(modify))
        .route("/requests/{id}/plans", get(plan_versions))
        .route("/llm/decisions", get(llm_decisions))
        .route("/tasks", get(list_tasks))
        .route("/tasks/{id}", get(get_task))
        .route("/tasks/{id}/annotations", post(annotate_task))
        .route("/audit/{task_id}", get(audit_entry))
        .route("/agents", get(list_agents))
        .route("/agents/{id}", get(get_agent))
        .route("/agents/{id}/capacity", get(agent_capacity))
        .route("/resources", get(resources))
        .route("/queue", get(queue))
        .route("/playbooks", get(list_playbooks))
        .route("/playbooks/templates", post(create_template))
        .route("/playbooks/match", get(match_playbook))
        .route("/suggestions", get(suggestions))
        .route("/suggestions/{id}/apply", post(apply_suggestion))
        .route("/ws", get(live::websocket))
        .route("/openapi.json", get(openapi))
        .fallback(unknown_route)
        .route_layer(axum::middleware::from_fn_with_state(
            core.clone(),
            require_token,
        ));
    Router::new()
        .nest("/api/v1", api)
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
        .merge(crate::orchestrator::ui::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(core)
}

/// With an API token configured, every `/api/v1` call but `/health` (for probes) needs
/// `Authorization: Bearer <token>`; a browser's WebSocket may send `?access_token=` instead.
async fn require_token(
    State(core): State<Arc<Core>>,
    request: HttpRequest,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = &core.config.api_token else {
        return next.run(request).await;
    };
    if request.uri().path().ends_with("/health") {
        return next.run(request).await;
    }
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let from_query = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("access_token="))
    });
    match from_header.or(if request.uri().path().ends_with("/ws") { from_query } else { None }) {
        Some(offered) if token.matches(offered) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_token",
            "the API token is wrong; check CHIFFON_API_TOKEN",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_required",
            "this Chiffon requires an API token: send `Authorization: Bearer <token>` (the CLI reads CHIFFON_API_TOKEN)",
        )
        .into_response(),
    }
}

/// An error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} with id {id:?}"),
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!("internal error: {error:#}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON object body, with every way it can be wrong mapped to an API error with a code:
/// wrong content type (415), too large (413), not JSON or not UTF-8 (400), not an object or
/// not the expected fields (422).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: HttpRequest, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| body_rejection(&r))?;
        parse_body(&bytes).map(Self)
    }
}

/// `Query<T>` whose rejections are `400 invalid_query` errors.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    rejection.body_text(),
                )
            })
    }
}

/// An optional JSON object body: empty means `T::default()`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: HttpRequest, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| body_rejection(&r))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_body(&bytes).map(Self)
    }
}

fn body_rejection(rejection: &axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
    } else {
        ApiError::new(rejection.status(), "bad_request", rejection.body_text())
    }
}

/// Parses a JSON object body into `T`.
fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "the body must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e.to_string(),
        )
    })
}

fn parse_request_id(id: &str) -> ApiResult<RequestId> {
    RequestId::parse(id).ok_or_else(|| ApiError::not_found("request", id))
}

/// A list page.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A request as the API shows it: the plan's steps carry their execution status, and the
/// tasks that executed them come along.
#[derive(Debug, Serialize, Deserialize)]
pub struct RequestView {
    #[serde(flatten)]
    pub request: Request,
    pub tasks: Vec<Task>,
    /// The check-mode preview of the current plan version, when one was made
    /// (`POST /requests/{id}/preview`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<crate::orchestrator::Preview>,
    /// Approvals, rejections, modifications and aborts: who, when, on which plan version.
    #[serde(default)]
    pub decisions: Vec<crate::store::Decision>,
    /// How the current plan version was made: which planner, why, what was tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<crate::llm::Decision>,
}

async fn view(core: &Core, mut request: Request) -> ApiResult<RequestView> {
    let tasks = core
        .store
        .list_tasks(&TaskFilter {
            request_id: Some(request.id.clone()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    for step in &mut request.plan.steps {
        if let Some(task) = tasks
            .iter()
            .rev()
            .find(|t| t.step_id == step.id && t.plan_version == request.plan.version)
        {
            step.status = task.status.to_string();
        }
    }
    let preview = core
        .store
        .preview(&request.id, request.plan.version)
        .await?
        .and_then(|p| serde_json::from_value(p).ok());
    let decisions = core.store.decisions(&request.id).await?;
    let routing = core
        .store
        .llm_decisions(Some(&request.id), 20)
        .await?
        .into_iter()
        .find(|d| d.plan_version == request.plan.version);
    Ok(RequestView {
        request,
        tasks,
        preview,
        decisions,
        routing,
    })
}

async fn load_request(core: &Core, id: &str) -> ApiResult<Request> {
    let id = parse_request_id(id)?;
    core.store
        .get_request(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("request", id.as_str()))
}

// ---- requests ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    text: String,
    #[serde(default)]
    high_value: bool,
}

async fn create_request(
    State(core): State<Arc<Core>>,
    ApiJson(body): ApiJson<NewRequest>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let text = body.text.trim();
    if text.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_text",
            "say what you want done, e.g. \"deploy uptime kuma\"",
        ));
    }
    let length = text.chars().count();
    if length > MAX_REQUEST_TEXT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text_too_long",
            format!("the request is {length} characters; the limit is {MAX_REQUEST_TEXT}"),
        ));
    }
    let request = core.create_request(text, body.high_value).await?;
    Ok((StatusCode::CREATED, Json(view(&core, request).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<u32>,
    cursor: Option<String>,
}

async fn list_requests(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Request>>> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let cursor = query.cursor.as_deref().map(parse_request_id).transpose()?;
    let items = core.store.list_requests(cursor.as_ref(), limit).await?;
    let next = (items.len() as u32 == limit)
        .then(|| items.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(Page { items, next }))
}

async fn get_request(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    let request = load_request(&core, &id).await?;
    Ok(Json(view(&core, request).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    /// The plan version the person read; approving refuses if it is no longer current.
    plan_version: Option<u32>,
    /// Who decides (stored with the decision); default `api client`.
    by: Option<String>,
}

/// The `by` of a decision: 1 to 64 printable characters, else `api client`.
fn actor(by: Option<&str>) -> ApiResult<String> {
    match by.map(str::trim) {
        None | Some("") => Ok("api client".to_owned()),
        Some(by) if by.chars().count() <= 64 && !by.chars().any(char::is_control) => {
            Ok(by.to_owned())
        }
        Some(_) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "`by` must be at most 64 printable characters (a name, e.g. alice@lola)",
        )),
    }
}

async fn approve(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    // The body is optional: an empty one approves whatever version is current.
    OptionalJson(body): OptionalJson<ApproveBody>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let actor = actor(body.by.as_deref())?;
    let request = load_request(&core, &id).await?;
    if request.status != RequestStatus::AwaitingApproval {
        return Err(not_awaiting(&request, "approved"));
    }
    if let Some(version) = body.plan_version
        && version != request.plan.version
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "plan_version_mismatch",
            format!(
                "you approved plan v{version} but the current plan is v{}; read it and approve again",
                request.plan.version
            ),
        ));
    }
    if request.plan.steps.is_empty() || !request.plan.open_questions.is_empty() {
        let detail = if request.plan.open_questions.is_empty() {
            "the plan has no steps".to_owned()
        } else {
            format!(
                "the plan has open questions: {}",
                request.plan.open_questions.join(" ")
            )
        };
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "plan_not_executable",
            format!("{detail}; reject it and make a new request"),
        ));
    }
    if !core.approve(&request, &actor).await? {
        let current = load_request(&core, &id).await?;
        return Err(not_awaiting(&current, "approved"));
    }
    let request = load_request(&core, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(view(&core, request).await?)))
}

fn not_awaiting(request: &Request, verb: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "invalid_state",
        format!(
            "request {} is {}; only a request awaiting approval can be {verb}",
            request.id, request.status
        ),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
    by: Option<String>,
}

async fn reject(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RejectBody>,
) -> ApiResult<Json<RequestView>> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REQUEST_TEXT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reason",
            format!("give a reason of 1 to {MAX_REQUEST_TEXT} characters"),
        ));
    }
    let actor = actor(body.by.as_deref())?;
    let request = load_request(&core, &id).await?;
    if request.status != RequestStatus::AwaitingApproval
        || !core.reject(&request, reason, &actor).await?
    {
        let current = load_request(&core, &id).await?;
        return Err(not_awaiting(&current, "rejected"));
    }
    let request = load_request(&core, &id).await?;
    Ok(Json(view(&core, request).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModifyBody {
    text: String,
    by: Option<String>,
}

/// Re-plans a request awaiting approval with a change ("use staging Kuma first"): a new plan
/// version, which an approval must then name.
async fn modify(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ModifyBody>,
) -> ApiResult<Json<RequestView>> {
    let change = body.text.trim();
    if change.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty_text",
            "say what to change, e.g. \"use staging first\"",
        ));
    }
    let length = change.chars().count();
    if length > MAX_REQUEST_TEXT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text_too_long",
            format!("the change is {length} characters; the limit is {MAX_REQUEST_TEXT}"),
        ));
    }
    let actor = actor(body.by.as_deref())?;
    let request = load_request(&core, &id).await?;
    if request.status != RequestStatus::AwaitingApproval {
        return Err(not_awaiting(&request, "modified"));
    }
    let Some(modified) = core.modify(&request, change, &actor).await? else {
        let current = load_request(&core, &id).await?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            format!(
                "request {} changed while it was being re-planned (now {}, plan v{}); read it again",
                current.id, current.status, current.plan.version
            ),
        ));
    };
    Ok(Json(view(&core, modified).await?))
}

/// Every plan version of a request, oldest first, each with the change that made it.
async fn plan_versions(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<crate::store::PlanVersion>>> {
    let request = load_request(&core, &id).await?;
    Ok(Json(core.store.plan_versions(&request.id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LlmDecisionQuery {
    request_id: Option<String>,
    limit: Option<u32>,
}

/// How plans were made, newest first: planner, reason code, quotas, attempts, tokens, cost.
async fn llm_decisions(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<LlmDecisionQuery>,
) -> ApiResult<Json<Page<crate::llm::Decision>>> {
    let request = query
        .request_id
        .as_deref()
        .map(parse_request_id)
        .transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let items = core.store.llm_decisions(request.as_ref(), limit).await?;
    Ok(Json(Page { items, next: None }))
}

/// Runs the plan in check mode (`--check --diff`) before approval: nothing on the hosts
/// changes; each step says what it would change, with the diffs. Waits for the preview.
async fn preview(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    let request = load_request(&core, &id).await?;
    if request.status != RequestStatus::AwaitingApproval {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            format!(
                "request {} is {}; a preview is for a plan awaiting approval",
                request.id, request.status
            ),
        ));
    }
    if !request.plan.open_questions.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "plan_has_questions",
            "the plan has open questions; answer them (modify the request) before previewing it",
        ));
    }
    core.preview(&request).await?;
    let request = load_request(&core, &id).await?;
    Ok(Json(view(&core, request).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AbortBody {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    by: Option<String>,
}

/// Stops an approved, running or paused request (202: the step in progress is being stopped;
/// watch the live events or poll the request for `aborted`).
async fn abort(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<AbortBody>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "aborted by a person".to_owned());
    if reason.chars().count() > MAX_REQUEST_TEXT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reason",
            format!("give a reason of at most {MAX_REQUEST_TEXT} characters"),
        ));
    }
    let actor = actor(body.by.as_deref())?;
    let request = load_request(&core, &id).await?;
    if !core.abort(&request, &reason, &actor).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            format!(
                "request {} is {}; only an approved, running or paused request can be aborted{}",
                request.id,
                request.status,
                if request.status == RequestStatus::AwaitingApproval {
                    " (reject it instead)"
                } else {
                    ""
                }
            ),
        ));
    }
    let request = load_request(&core, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(view(&core, request).await?)))
}

// ---- tasks --------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskQuery {
    status: Option<String>,
    service: Option<String>,
    request_id: Option<String>,
    /// RFC 3339, or a span back from now: `30m`, `24h`, `7d`.
    since: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    /// The `next` of the previous page.
    cursor: Option<String>,
    /// `asc` (oldest first, the default) or `desc`.
    order: Option<String>,
}

/// A point in time given as RFC 3339 or as a span back from `now` (`90s`, `30m`, `24h`, `7d`,
/// `2w`).
fn parse_when(name: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!(
                "{name} must be an RFC 3339 time (2026-11-20T00:00:00Z) or a span back from now such as 30m, 24h, 7d or 2w; got {text:?}"
            ),
        )
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let span = match unit {
        "s" => chrono::Duration::try_seconds(number),
        "m" => chrono::Duration::try_minutes(number),
        "h" => chrono::Duration::try_hours(number),
        "d" => chrono::Duration::try_days(number),
        "w" => chrono::Duration::try_weeks(number),
        _ => None,
    }
    .ok_or_else(invalid)?;
    now.checked_sub_signed(span).ok_or_else(invalid)
}

async fn list_tasks(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<TaskQuery>,
) -> ApiResult<Json<Page<Task>>> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            TaskStatus::parse(s).ok_or_else(|| {
                let known: Vec<&str> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("status must be one of {}", known.join(", ")),
                )
            })
        })
        .transpose()?;
    let request_id = query
        .request_id
        .as_deref()
        .map(parse_request_id)
        .transpose()?;
    let now = Utc::now();
    let since = query
        .since
        .as_deref()
        .map(|t| parse_when("since", t, now))
        .transpose()?;
    let until = query
        .until
        .as_deref()
        .map(|t| parse_when("until", t, now))
        .transpose()?;
    let newest_first = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("order must be asc or desc; got {other:?}"),
            ));
        }
    };
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            TaskId::parse(c).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "cursor must be the `next` of a previous page (a task id)",
                )
            })
        })
        .transpose()?;
    // "kuma" finds uptime-kuma's tasks: a name the planner knows becomes the service's own.
    let service = query
        .service
        .map(|name| crate::planner::canonical_service(&name, &core.catalogue()).unwrap_or(name));
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let filter = TaskFilter {
        status,
        service,
        request_id,
        since,
        until,
        after,
        newest_first,
        limit,
    };
    let items = core.store.list_tasks(&filter).await?;
    let next = (items.len() as u32 == limit)
        .then(|| items.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(Json(Page { items, next }))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: Task,
    pub events: Vec<TaskEvent>,
    /// Notes people (or a post-mortem agent) added, oldest first.
    #[serde(default)]
    pub annotations: Vec<crate::store::Annotation>,
}

async fn get_task(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    let task_id = TaskId::parse(&id).ok_or_else(|| ApiError::not_found("task", &id))?;
    let task = core
        .store
        .get_task(&task_id)
        .await?
        .ok_or_else(|| ApiError::not_found("task", &id))?;
    let events = core.store.task_events(&task_id).await?;
    let annotations = core.store.annotations(&task_id).await?;
    Ok(Json(TaskView {
        task,
        events,
        annotations,
    }))
}

/// A task's audit entry as the repository holds it (or as queued, while the repository is
/// unavailable).
#[derive(Debug, Serialize, Deserialize)]
pub struct AuditView {
    pub task_id: String,
    /// `written` (committed) or `queued`.
    pub state: String,
    pub commit: Option<String>,
    /// The entry's path inside the audit repository.
    pub file: String,
    pub sha256: String,
    pub recorded_at: DateTime<Utc>,
    /// The entry itself (from the repository once written).
    pub entry: serde_json::Value,
}

async fn audit_entry(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<AuditView>> {
    let task_id = TaskId::parse(&id).ok_or_else(|| ApiError::not_found("task", &id))?;
    core.store
        .get_task(&task_id)
        .await?
        .ok_or_else(|| ApiError::not_found("task", &id))?;
    let stored = core
        .store
        .audit_entries_for(task_id.as_str())
        .await?
        .into_iter()
        .rfind(|e| e.kind == "task")
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("task {id} has no audit entry yet: it has not finished"),
            )
        })?;
    let bytes = match &stored.commit_id {
        Some(commit) => {
            let audit = core.audit.clone();
            let (commit, file) = (commit.clone(), stored.file.clone());
            tokio::task::spawn_blocking(move || audit.read(&commit, &file))
                .await
                .map_err(anyhow::Error::from)??
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::CONFLICT,
                        "audit_entry_missing",
                        format!(
                            "commit {} does not hold {}; run `chiffon audit verify`",
                            stored.commit_id.as_deref().unwrap_or("?"),
                            stored.file
                        ),
                    )
                })?
        }
        None => stored.body.clone().into_bytes(),
    };
    let entry = serde_json::from_slice(&bytes).map_err(anyhow::Error::from)?;
    Ok(Json(AuditView {
        task_id: task_id.to_string(),
        state: if stored.commit_id.is_some() {
            "written"
        } else {
            "queued"
        }
        .to_owned(),
        commit: stored.commit_id,
        file: stored.file,
        sha256: stored.sha256,
        recorded_at: stored.recorded_at,
        entry,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnnotationBody {
    text: String,
    #[serde(default)]
    author: Option<String>,
}

/// Adds a note to a task; secrets in it are redacted before it is stored.
async fn annotate_task(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AnnotationBody>,
) -> ApiResult<(StatusCode, Json<crate::store::Annotation>)> {
    let task_id = TaskId::parse(&id).ok_or_else(|| ApiError::not_found("task", &id))?;
    core.store
        .get_task(&task_id)
        .await?
        .ok_or_else(|| ApiError::not_found("task", &id))?;
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > 10_000 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
            "give a note of 1 to 10000 characters",
        ));
    }
    let author = body
        .author
        .map(|a| a.trim().chars().take(100).collect::<String>())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "anonymous".to_owned());
    let note = core
        .store
        .annotate(&task_id, &author, &crate::redact::text(text))
        .await?;
    Ok((StatusCode::CREATED, Json(note)))
}

// ---- agents, playbooks, health ------------------------------------------------------------

/// Filters of `GET /agents`: all optional, all must hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentQuery {
    /// Only agents that are (true) or are not (false) online.
    online: Option<bool>,
    #[serde(rename = "type")]
    agent_type: Option<String>,
    /// At least this much free GPU memory on one GPU, in GB (1 GB = 1024 MiB).
    min_free_vram_gb: Option<f64>,
    min_free_cores: Option<f64>,
}

async fn list_agents(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<AgentQuery>,
) -> ApiResult<Json<Page<crate::orchestrator::AgentInfo>>> {
    let agent_type = query
        .agent_type
        .as_deref()
        .map(|t| {
            AgentType::parse(t).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("unknown agent type {t:?}: use infra or desktop"),
                )
            })
        })
        .transpose()?;
    for (name, value) in [
        ("min_free_vram_gb", query.min_free_vram_gb),
        ("min_free_cores", query.min_free_cores),
    ] {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("{name} must be a number of 0 or more"),
            ));
        }
    }
    let items = core
        .agents()
        .into_iter()
        .filter(|a| {
            query
                .online
                .is_none_or(|want| (a.status == AgentState::Online) == want)
        })
        .filter(|a| agent_type.is_none_or(|t| a.agent_type == t))
        .filter(|a| {
            // Stale or missing reports are unknown: they never pass a capacity filter.
            let need_vram = query.min_free_vram_gb.map(crate::registry::gb_to_mb);
            let need_cores = query.min_free_cores;
            if need_vram.is_none() && need_cores.is_none() {
                return true;
            }
            let Some(c) = &a.capacity else { return false };
            need_vram.is_none_or(|mb| c.gpus.iter().any(|g| g.vram_free_mb >= mb))
                && need_cores.is_none_or(|n| c.free_cpu_cores >= n)
        })
        .collect();
    Ok(Json(Page { items, next: None }))
}

fn agent_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "agent_not_found",
        format!("no agent {id:?} has registered; see GET /api/v1/agents"),
    )
}

async fn get_agent(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let agent = core.agent(&id).ok_or_else(|| agent_not_found(&id))?;
    let history = core.store.agent_events(&id, 50).await?;
    Ok(Json(
        serde_json::json!({"agent": agent, "history": history}),
    ))
}

/// `get_available_capacity`: what the agent has free now, minus what Chiffon booked there.
async fn agent_capacity(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let agent = core.agent(&id).ok_or_else(|| agent_not_found(&id))?;
    let known = agent.capacity.is_some();
    Ok(Json(serde_json::json!({
        "agent_id": agent.id,
        "status": agent.status,
        "known": known,
        "reported_at": agent.capacity_reported_at,
        "capacity": agent.capacity,
        "booked": agent.booked,
        "note": if known { None } else { Some("no report younger than 60 s: unknown, not free") },
    })))
}

async fn resources(State(core): State<Arc<Core>>) -> Json<crate::registry::Totals> {
    Json(core.resources())
}

/// Whether the dispatch queue is paused, and its recent pauses and resumes.
async fn queue(State(core): State<Arc<Core>>) -> ApiResult<Json<serde_json::Value>> {
    let history = core.store.queue_events(20).await?;
    let paused = core.paused();
    Ok(Json(serde_json::json!({
        "paused": paused.is_some(),
        "reason": paused,
        "history": history,
    })))
}

/// `GET /playbooks`: the playbooks the planner plans with (`items`), and the repository read as
/// deployable units, with the files it could not read.
#[derive(Debug, Serialize)]
struct PlaybooksView {
    items: Vec<crate::catalogue::Playbook>,
    next: Option<String>,
    #[serde(flatten)]
    scan: crate::matcher::Scan,
}

async fn list_playbooks(State(core): State<Arc<Core>>) -> ApiResult<Json<PlaybooksView>> {
    let repo = core.config.playbooks.clone();
    let scan = tokio::task::spawn_blocking(move || crate::matcher::scan(&repo))
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Json(PlaybooksView {
        items: core.catalogue().playbooks.clone(),
        next: None,
        scan,
    }))
}

/// Improvement suggestions for the playbook repository: Chiffon's rules, plus ansible-lint's
/// findings when it is installed next to ansible-playbook or on PATH.
async fn suggestions(
    State(core): State<Arc<Core>>,
) -> ApiResult<Json<Page<crate::suggest::Suggestion>>> {
    let repo = core.config.playbooks.clone();
    let mut found = {
        let repo = repo.clone();
        tokio::task::spawn_blocking(move || crate::suggest::analyse(&repo))
            .await
            .map_err(anyhow::Error::from)?
    };
    if let Some(lint) =
        crate::agent::ansible::find_ansible_lint(core.config.ansible_playbook.as_deref())
    {
        match crate::agent::ansible::ansible_lint(&lint, &repo).await {
            Ok(findings) => crate::suggest::merge_lint(&repo, &mut found, findings),
            Err(error) => tracing::warn!("ansible-lint findings left out: {error:#}"),
        }
    }
    Ok(Json(Page {
        items: found,
        next: None,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchQuery {
    q: String,
}

/// Which unit of the served repository deploys what `q` asks for.
async fn match_playbook(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<MatchQuery>,
) -> ApiResult<Json<crate::matcher::Match>> {
    if query.q.trim().is_empty() || query.q.len() > 2000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "q must be 1 to 2000 characters of what you want deployed",
        ));
    }
    let repo = core.config.playbooks.clone();
    let units = tokio::task::spawn_blocking(move || crate::matcher::units(&repo))
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Json(crate::matcher::find(&units, &query.q)))
}

/// `POST /playbooks/templates`: what to generate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    service: String,
    image: String,
    port: u16,
    #[serde(default = "default_template_hosts")]
    hosts: String,
}

fn default_template_hosts() -> String {
    "docker_hosts".to_owned()
}

/// Writes a playbook + role template into the served repository (never overwriting).
async fn create_template(
    State(core): State<Arc<Core>>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let spec = crate::template::TemplateSpec {
        service: body.service,
        image: body.image,
        port: body.port,
        hosts: body.hosts,
    };
    crate::template::validate(&spec).map_err(|error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_template",
            error.to_string(),
        )
    })?;
    let files = crate::template::write(&core.config.playbooks, &spec).map_err(|error| {
        ApiError::new(
            StatusCode::CONFLICT,
            "template_not_written",
            format!("{error:#}"),
        )
    })?;
    core.reload_catalogue();
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"files": files})),
    ))
}

/// `POST /suggestions/{id}/apply`: optionally, the task that prompted the change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyBody {
    #[serde(default)]
    task_id: Option<String>,
}

/// Applies one suggestion to the served repository: patched, syntax-checked, committed.
async fn apply_suggestion(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ApplyBody>,
) -> ApiResult<Json<crate::suggest::apply::Applied>> {
    use crate::suggest::apply::ApplyError;
    let ansible = core.config.ansible_playbook.clone().or_else(|| {
        let venv = core
            .config
            .data_dir
            .join("ansible-venv/bin/ansible-playbook");
        venv.is_file().then_some(venv)
    });
    let Some(ansible) = ansible else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ansible_unavailable",
            "ansible-playbook is needed to check the change; configure ansible.playbook_bin",
        ));
    };
    // The commit names the task that prompted the change, when there was one.
    let prompted_by = match body.task_id.as_deref() {
        Some(task) => {
            let task_id = TaskId::parse(task).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_task_id",
                    format!("{task:?} is not a task id"),
                )
            })?;
            let found = core
                .store
                .get_task(&task_id)
                .await?
                .ok_or_else(|| ApiError::not_found("task", task))?;
            format!(
                "task {} ({}: {}) of request {}",
                found.id, found.status, found.title, found.request_id
            )
        }
        None => "POST /api/v1/suggestions/{id}/apply".to_owned(),
    };
    let applied = crate::suggest::apply::apply(&core.config.playbooks, &id, &ansible, &prompted_by)
        .await
        .map_err(|error| {
            let (status, code) = match &error {
                ApplyError::NotFound(_) => (StatusCode::NOT_FOUND, "suggestion_not_found"),
                ApplyError::NoDiff(..) => (StatusCode::UNPROCESSABLE_ENTITY, "no_automatic_change"),
                ApplyError::Stale(_) => (StatusCode::CONFLICT, "file_changed"),
                ApplyError::CheckFailed(_) => (StatusCode::UNPROCESSABLE_ENTITY, "check_failed"),
                ApplyError::Repository(_) => (StatusCode::CONFLICT, "repository_not_ready"),
                ApplyError::Other(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            };
            ApiError::new(status, code, error.to_string())
        })?;
    core.reload_catalogue();
    let mut applied = applied;
    applied.audit_commit = core
        .record_audit(crate::audit::AuditEntry {
            kind: "playbook_change",
            subject: format!(
                "apply suggestion {id} to the playbook repository (commit {})",
                applied.commit
            ),
            subject_id: id.clone(),
            recorded_at: Utc::now(),
            details: serde_json::json!({
                "suggestion": applied.suggestion,
                "playbook_repository": core.config.playbooks,
                "playbook_commit": applied.commit,
                "prompted_by": prompted_by,
            }),
        })
        .await?;
    Ok(Json(applied))
}

async fn health(State(core): State<Arc<Core>>) -> Response {
    let store = match core.store.ping().await {
        Ok(()) => {
            serde_json::json!({"status": "ok", "kind": core.store.backend().as_str()})
        }
        Err(error) => serde_json::json!({"status": "down", "error": error.to_string()}),
    };
    let queued = core.store.audit_queue_len().await.unwrap_or(-1);
    let audit = match (core.audit_queue.failing(), core.audit.check()) {
        (Some(failing), _) => serde_json::json!({
            "status": "degraded",
            "path": core.audit.path(),
            "queued": queued,
            "error": failing.error,
            "since": failing.since,
            "detail": "entries are kept in the database and written when the repository is writable again",
        }),
        (None, Ok(head)) => serde_json::json!({
            "status": "ok", "path": core.audit.path(), "head": head, "queued": queued,
        }),
        (None, Err(error)) => serde_json::json!({"status": "down", "error": format!("{error:#}")}),
    };
    let agents = core.agents();
    let online = agents
        .iter()
        .filter(|a| a.status == AgentState::Online)
        .count();
    let bus_ok = core.bus.healthy().await;
    let healthy = store["status"] == "ok" && audit["status"] == "ok" && bus_ok;
    let body = serde_json::json!({
        "status": if healthy { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "components": {
            "store": store,
            "bus": {"status": if bus_ok { "ok" } else { "down" }, "kind": core.bus.describe()},
            "audit": audit,
            "agents": {"status": if online > 0 { "ok" } else { "none_online" }, "online": online, "known": agents.len()},
            "playbooks": {"status": "ok", "path": core.config.playbooks, "count": core.catalogue().playbooks.len()},
        }
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn status(State(core): State<Arc<Core>>) -> ApiResult<Json<serde_json::Value>> {
    let (requests, tasks) = core.store.status_counts().await?;
    let to_map = |rows: Vec<(String, i64)>| {
        rows.into_iter()
            .map(|(status, count)| (status, serde_json::Value::from(count)))
            .collect::<serde_json::Map<String, serde_json::Value>>()
    };
    let agents = core.agents();
    Ok(Json(serde_json::json!({
        "requests": to_map(requests),
        "tasks": to_map(tasks),
        "agents": {"online": agents.iter().filter(|a| a.status == AgentState::Online).count(), "known": agents.len()},
    })))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn docs() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}; see /docs", uri.path()),
    )
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_route",
        format!(
            "no route {}; the API is under /api/v1, see /docs",
            uri.path()
        ),
    )
}
