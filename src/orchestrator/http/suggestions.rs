//! `/suggestions`: improvement suggestions for the served playbook repository, and applying
//! one (patched, syntax-checked, committed, audited). `add_ansible_lint` is the one place
//! ansible-lint's findings join Chiffon's own, for the server and `chiffon playbooks lint`.

use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;

use crate::api::{Applied, ApplySuggestion, ErrorCode, Page, Severity, Suggestion};
use crate::model::TaskId;
use crate::orchestrator::Core;
use crate::orchestrator::http::extract::OptionalJson;
use crate::orchestrator::http::{ApiError, ApiResult};

impl From<crate::suggest::Suggestion> for Suggestion {
    fn from(s: crate::suggest::Suggestion) -> Self {
        Self {
            id: s.id,
            rule: s.rule,
            file: s.file,
            line: s.line,
            severity: match s.severity {
                crate::suggest::Severity::Low => Severity::Low,
                crate::suggest::Severity::Medium => Severity::Medium,
                crate::suggest::Severity::High => Severity::High,
            },
            message: s.message,
            diff: s.diff,
        }
    }
}

impl From<crate::suggest::apply::Applied> for Applied {
    fn from(applied: crate::suggest::apply::Applied) -> Self {
        Self {
            suggestion: applied.suggestion.into(),
            commit: applied.commit,
            audit_commit: applied.audit_commit,
        }
    }
}

/// Runs ansible-lint (`lint`) over the repository at `repo` and adds its findings to `found`.
pub async fn add_ansible_lint(
    repo: &FsPath,
    lint: &FsPath,
    found: &mut Vec<crate::suggest::Suggestion>,
) -> anyhow::Result<()> {
    let findings = crate::tools::ansible::ansible_lint(lint, repo).await?;
    crate::suggest::merge_lint(repo, found, findings);
    Ok(())
}

/// Chiffon's rules, plus ansible-lint's findings when it is installed next to ansible-playbook
/// or on PATH.
pub(crate) async fn suggestions(
    State(core): State<Arc<Core>>,
) -> ApiResult<Json<Page<Suggestion>>> {
    let repo = core.config.playbooks.clone();
    let mut found = {
        let repo = repo.clone();
        tokio::task::spawn_blocking(move || crate::suggest::analyse(&repo))
            .await
            .map_err(anyhow::Error::from)?
    };
    if let Some(lint) =
        crate::tools::ansible::find_ansible_lint(core.config.ansible_playbook.as_deref())
        && let Err(error) = add_ansible_lint(&repo, &lint, &mut found).await
    {
        tracing::warn!("ansible-lint findings left out: {error:#}");
    }
    Ok(Json(Page {
        items: found.into_iter().map(Suggestion::from).collect(),
        next: None,
    }))
}

/// The commit message's "prompted by": the task, when one is named.
async fn prompted_by(core: &Core, task: Option<&str>) -> ApiResult<String> {
    let Some(task) = task else {
        return Ok("POST /api/v1/suggestions/{id}/apply".to_owned());
    };
    let task_id = TaskId::parse(task).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidTaskId,
            format!("{task:?} is not a task id"),
        )
    })?;
    let found = core
        .store
        .get_task(&task_id)
        .await?
        .ok_or_else(|| ApiError::not_found("task", task))?;
    Ok(format!(
        "task {} ({}: {}) of request {}",
        found.id, found.status, found.title, found.request_id
    ))
}

fn apply_error(error: &crate::suggest::apply::ApplyError) -> ApiError {
    use crate::suggest::apply::ApplyError;
    let (status, code) = match error {
        ApplyError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::SuggestionNotFound),
        ApplyError::NoDiff(..) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::NoAutomaticChange,
        ),
        ApplyError::Stale(_) => (StatusCode::CONFLICT, ErrorCode::FileChanged),
        ApplyError::CheckFailed(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::CheckFailed),
        ApplyError::Repository(_) => (StatusCode::CONFLICT, ErrorCode::RepositoryNotReady),
        ApplyError::Other(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
    };
    ApiError::new(status, code, error.to_string())
}

/// Applies one suggestion to the served repository: patched, syntax-checked, committed.
pub(crate) async fn apply_suggestion(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<ApplySuggestion>,
) -> ApiResult<Json<Applied>> {
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
            ErrorCode::AnsibleUnavailable,
            "ansible-playbook is needed to check the change; configure ansible.playbook_bin",
        ));
    };
    // The commit names the task that prompted the change, when there was one.
    let prompted_by = prompted_by(&core, body.task_id.as_deref()).await?;
    let mut applied =
        crate::suggest::apply::apply(&core.config.playbooks, &id, &ansible, &prompted_by)
            .await
            .map_err(|error| apply_error(&error))?;
    core.reload_catalogue();
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
    Ok(Json(applied.into()))
}
