//! What a task changed on each host (`GET /tasks/{id}/changes`), and undoing a request
//! (`POST /requests/{id}/revert`: a new request whose plan puts its changes back), and undoing
//! an applied suggestion's commit to the playbook repository (`POST /suggestions/applied/…`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api::{ChangeView, ErrorCode, HostChanges, RequestView, RevertBody, TaskChanges};
use crate::model::TaskId;
use crate::orchestrator::Core;
use crate::orchestrator::http::extract::OptionalJson;
use crate::orchestrator::http::requests::{load_request, view};
use crate::orchestrator::http::tasks::load_task;
use crate::orchestrator::http::{ApiError, ApiResult};
use crate::orchestrator::revert::RevertRefused;

/// The most conflict choices one revert may carry.
const MAX_RESOLUTIONS: usize = 1000;

pub(crate) async fn task_changes(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskChanges>> {
    let task = load_task(&core, &id).await?;
    let task_id = task.id.clone();
    let stored = core.store.task_changes(&task_id, false).await?;
    let kept = core.store.task_changes_kept(&task_id).await?;
    let mut hosts: Vec<HostChanges> = Vec::new();
    for change in stored {
        let view = ChangeView {
            seq: change.seq,
            recorded_at: change.recorded_at,
            content_kept: kept.contains(&change.seq),
            change: change.change,
        };
        match hosts.iter_mut().find(|h| h.host == view.change.host) {
            Some(host) => host.changes.push(view),
            None => hosts.push(HostChanges {
                host: view.change.host.clone(),
                changes: vec![view],
            }),
        }
    }
    Ok(Json(TaskChanges {
        task_id: task.id.to_string(),
        request_id: task.request_id.to_string(),
        title: task.title,
        hosts,
    }))
}

pub(crate) async fn revert(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<RevertBody>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let original = load_request(&core, &id).await?;
    let invalid = |message: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidBody,
            message,
        )
    };
    let tasks = body
        .tasks
        .iter()
        .map(|t| TaskId::parse(t).ok_or_else(|| invalid(format!("{t:?} is not a task id"))))
        .collect::<Result<Vec<_>, _>>()?;
    if body.resolve.len() > MAX_RESOLUTIONS {
        return Err(invalid(format!(
            "at most {MAX_RESOLUTIONS} conflict choices per revert"
        )));
    }
    for choice in &body.resolve {
        let plain = |t: &str| !t.is_empty() && t.len() <= 4096 && !t.chars().any(char::is_control);
        if !choice.path.starts_with('/') || !plain(&choice.path) {
            return Err(invalid(format!(
                "resolve path {:?} must be an absolute path on the host",
                choice.path
            )));
        }
        if choice.host.as_deref().is_some_and(|h| !plain(h)) {
            return Err(invalid(
                "resolve host must be an inventory host name".to_owned(),
            ));
        }
    }
    match core.revert(&original, &tasks, &body.resolve).await? {
        Ok(request) => Ok((StatusCode::CREATED, Json(view(&core, request).await?))),
        Err(refused @ RevertRefused::ForeignTask(..)) => Err(invalid(refused.to_string())),
        Err(refused) => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            refused.to_string(),
        )),
    }
}

/// `POST /suggestions/applied/{commit}/revert`: plans the undo of an applied suggestion's
/// commit to the playbook repository (a new commit; approved like any plan).
pub(crate) async fn revert_applied_suggestion(
    State(core): State<Arc<Core>>,
    Path(commit): Path<String>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    use crate::orchestrator::revert_commit::CommitRevertRefused;
    if !(4..=64).contains(&commit.len()) || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidBody,
            format!("{commit:?} is not a commit id (4 to 64 hex digits)"),
        ));
    }
    match core.plan_commit_revert(&commit).await? {
        Ok(request) => Ok((StatusCode::CREATED, Json(view(&core, request).await?))),
        Err(refused @ CommitRevertRefused::NotFound(_)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            refused.to_string(),
        )),
        Err(refused @ CommitRevertRefused::Conflict(..)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::FileChanged,
            refused.to_string(),
        )),
        Err(refused) => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            refused.to_string(),
        )),
    }
}
