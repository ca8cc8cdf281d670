//! `/requests`: create, list and read requests; approve, reject, modify, preview and abort
//! their plans; every plan version.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api::{
    Abort, Approval, ErrorCode, Modification, NewRequest, Page, PageQuery, PlanVersion, Preview,
    Rejection, RequestDecision, RequestSummary, RequestView,
};
use crate::model::{Request, RequestId, RequestStatus};
use crate::orchestrator::Core;
use crate::orchestrator::http::extract::{ApiJson, ApiQuery, OptionalJson};
use crate::orchestrator::http::{ApiError, ApiResult, MAX_REQUEST_TEXT, page_limit};
use crate::store::TaskFilter;

impl From<crate::store::Decision> for RequestDecision {
    fn from(decision: crate::store::Decision) -> Self {
        Self {
            kind: decision.kind,
            plan_version: decision.plan_version,
            actor: decision.actor,
            reason: decision.reason,
            at: decision.at,
        }
    }
}

impl From<crate::store::PlanVersion> for PlanVersion {
    fn from(version: crate::store::PlanVersion) -> Self {
        Self {
            plan: version.plan,
            change: version.change,
            created_at: version.created_at,
        }
    }
}

pub fn parse_request_id(id: &str) -> ApiResult<RequestId> {
    RequestId::parse(id).ok_or_else(|| ApiError::not_found("request", id))
}

/// The request with its steps' execution status, its tasks, preview, decisions and routing.
pub(crate) async fn view(core: &Core, mut request: Request) -> ApiResult<RequestView> {
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
            step.warnings = task.warnings.clone();
        }
    }
    let warned = request.plan.steps.iter().any(|s| !s.warnings.is_empty());
    let outcome = crate::api::request_outcome(request.status, warned);
    let preview = core
        .store
        .preview(&request.id, request.plan.version)
        .await?
        .and_then(|p| serde_json::from_value::<Preview>(p).ok());
    let decisions = core.store.decisions(&request.id).await?;
    let routing = core
        .store
        .llm_decisions(Some(&request.id), 20)
        .await?
        .into_iter()
        .find(|d| d.plan_version == request.plan.version);
    Ok(RequestView {
        needs_answer: request.plan.needs_answer(),
        request,
        tasks,
        preview,
        decisions: decisions.into_iter().map(RequestDecision::from).collect(),
        routing,
        outcome,
    })
}

pub(crate) async fn load_request(core: &Core, id: &str) -> ApiResult<Request> {
    let id = parse_request_id(id)?;
    core.store
        .get_request(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("request", id.as_str()))
}

pub(crate) async fn create_request(
    State(core): State<Arc<Core>>,
    ApiJson(body): ApiJson<NewRequest>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let text = body.text.trim();
    if text.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::EmptyText,
            "say what you want done, e.g. \"deploy uptime kuma\"",
        ));
    }
    let length = text.chars().count();
    if length > MAX_REQUEST_TEXT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::TextTooLong,
            format!("the request is {length} characters; the limit is {MAX_REQUEST_TEXT}"),
        ));
    }
    let request = core.create_request(text, body.high_value).await?;
    Ok((StatusCode::CREATED, Json(view(&core, request).await?)))
}

pub(crate) async fn list_requests(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<RequestSummary>>> {
    let limit = page_limit(query.limit);
    let cursor = query.cursor.as_deref().map(parse_request_id).transpose()?;
    let requests = core.store.list_requests(cursor.as_ref(), limit).await?;
    let next = (requests.len() as u32 == limit)
        .then(|| requests.last().map(|r| r.id.to_string()))
        .flatten();
    let succeeded: Vec<RequestId> = requests
        .iter()
        .filter(|r| r.status == RequestStatus::Succeeded)
        .map(|r| r.id.clone())
        .collect();
    let warned = core.store.requests_with_warnings(&succeeded).await?;
    let items = requests
        .into_iter()
        .map(|request| RequestSummary {
            outcome: crate::api::request_outcome(
                request.status,
                warned.contains(request.id.as_str()),
            ),
            request,
        })
        .collect();
    Ok(Json(Page { items, next }))
}

pub(crate) async fn get_request(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    let request = load_request(&core, &id).await?;
    Ok(Json(view(&core, request).await?))
}

/// The `by` of a decision: 1 to 64 printable characters, else `api client`.
pub(crate) fn actor(by: Option<&str>) -> ApiResult<String> {
    match by.map(str::trim) {
        None | Some("") => Ok("api client".to_owned()),
        Some(by) if by.chars().count() <= 64 && !by.chars().any(char::is_control) => {
            Ok(by.to_owned())
        }
        Some(_) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidBody,
            "`by` must be at most 64 printable characters (a name, e.g. alice@lola)",
        )),
    }
}

pub(crate) async fn approve(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    // The body is optional: an empty one approves whatever version is current.
    OptionalJson(body): OptionalJson<Approval>,
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
            ErrorCode::PlanVersionMismatch,
            format!(
                "you approved plan v{version} but the current plan is v{}; read it and approve again",
                request.plan.version
            ),
        ));
    }
    // An undo not yet dry-run is, first: a path changed since the run becomes a question.
    let request = core.dry_run_undo_before_approval(request).await?;
    if let Some(conflicts) = crate::orchestrator::unanswered_conflicts(&request) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::PlanNotExecutable,
            conflicts,
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
            ErrorCode::PlanNotExecutable,
            format!(
                "{detail}; answer it (`chiffon answer {} <choice>`) or change the request in words",
                request.id
            ),
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
        ErrorCode::InvalidState,
        format!(
            "request {} is {}; only a request awaiting approval can be {verb}",
            request.id, request.status
        ),
    )
}

pub(crate) async fn reject(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Rejection>,
) -> ApiResult<Json<RequestView>> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REQUEST_TEXT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidReason,
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

/// Re-plans a request awaiting approval with a change ("use staging Kuma first"): a new plan
/// version, which an approval must then name.
pub(crate) async fn modify(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Modification>,
) -> ApiResult<Json<RequestView>> {
    let change = body.text.trim();
    if change.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::EmptyText,
            "say what to change, e.g. \"use staging first\"",
        ));
    }
    let length = change.chars().count();
    if length > MAX_REQUEST_TEXT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::TextTooLong,
            format!("the change is {length} characters; the limit is {MAX_REQUEST_TEXT}"),
        ));
    }
    let actor = actor(body.by.as_deref())?;
    let request = load_request(&core, &id).await?;
    if request.status != RequestStatus::AwaitingApproval {
        return Err(not_awaiting(&request, "modified"));
    }
    // An undo plan comes from what the runs recorded, never from words the planner reads.
    if core.store.revert_of(&request.id).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            "an undo plan is made from what the run recorded, not from words: answer its conflict questions (chiffon answer), or reject it and ask for the undo again (chiffon revert … --keep-theirs PATH / --restore-ours PATH)",
        ));
    }
    let Some(modified) = core.modify(&request, change, &actor).await? else {
        let current = load_request(&core, &id).await?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            format!(
                "request {} changed while it was being re-planned (now {}, plan v{}); read it again",
                current.id, current.status, current.plan.version
            ),
        ));
    };
    Ok(Json(view(&core, modified).await?))
}

/// Every plan version of a request, oldest first, each with the change that made it.
pub(crate) async fn plan_versions(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<PlanVersion>>> {
    let request = load_request(&core, &id).await?;
    let versions = core.store.plan_versions(&request.id).await?;
    Ok(Json(versions.into_iter().map(PlanVersion::from).collect()))
}

/// Runs the plan in check mode (`--check --diff`) before approval: nothing on the hosts
/// changes; each step says what it would change, with the diffs. Waits for the preview.
pub(crate) async fn preview(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    let request = load_request(&core, &id).await?;
    if request.status != RequestStatus::AwaitingApproval {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            format!(
                "request {} is {}; a preview is for a plan awaiting approval",
                request.id, request.status
            ),
        ));
    }
    if !request.plan.open_questions.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::PlanHasQuestions,
            "the plan has open questions; answer them (`chiffon answer`, or modify the request) before previewing it",
        ));
    }
    core.preview(&request).await?;
    let request = load_request(&core, &id).await?;
    Ok(Json(view(&core, request).await?))
}

/// Stops an approved, running or paused request (202: the step in progress is being stopped;
/// watch the live events or poll the request for `aborted`).
pub(crate) async fn abort(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<Abort>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let reason = body
        .reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "aborted by a person".to_owned());
    if reason.chars().count() > MAX_REQUEST_TEXT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidReason,
            format!("give a reason of at most {MAX_REQUEST_TEXT} characters"),
        ));
    }
    let actor = actor(body.by.as_deref())?;
    let request = load_request(&core, &id).await?;
    if !core.abort(&request, &reason, &actor).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
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
