//! `GET /audit/{task_id}`: a task's audit entry as the repository holds it, or as queued while
//! the repository is unavailable.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api::{AuditView, ErrorCode};
use crate::orchestrator::Core;
use crate::orchestrator::http::tasks::load_task;
use crate::orchestrator::http::{ApiError, ApiResult};

pub(crate) async fn audit_entry(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<AuditView>> {
    let task_id = load_task(&core, &id).await?.id;
    let stored = core
        .store
        .audit_entries_for(task_id.as_str())
        .await?
        .into_iter()
        .rfind(|e| e.kind == "task")
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
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
                        ErrorCode::AuditEntryMissing,
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
