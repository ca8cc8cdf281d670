//! `/suggestions`: improvement suggestions for the served playbook repository, and applying
//! one (patched, syntax-checked, committed, audited) with the same ansible-playbook the
//! agents run.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;

use crate::api::{
    Applied, ApplySuggestion, ErrorCode, LintNote, Severity, Suggestion, SuggestionGroup,
    SuggestionOrigin, Suggestions,
};
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
            origin: origin(s.origin),
        }
    }
}

fn origin(origin: crate::suggest::Origin) -> SuggestionOrigin {
    match origin {
        crate::suggest::Origin::Chiffon => SuggestionOrigin::Chiffon,
        crate::suggest::Origin::AnsibleLint => SuggestionOrigin::AnsibleLint,
    }
}

impl From<crate::suggest::Report> for Suggestions {
    fn from(report: crate::suggest::Report) -> Self {
        let severity = |s| match s {
            crate::suggest::Severity::Low => Severity::Low,
            crate::suggest::Severity::Medium => Severity::Medium,
            crate::suggest::Severity::High => Severity::High,
        };
        Self {
            items: report.items.into_iter().map(Suggestion::from).collect(),
            next: None,
            groups: report
                .groups
                .into_iter()
                .map(|g| SuggestionGroup {
                    rule: g.rule,
                    count: g.count,
                    severity: severity(g.severity),
                    message: g.message,
                    examples: g.examples,
                    origin: origin(g.origin),
                    items: g.items.into_iter().map(Suggestion::from).collect(),
                })
                .collect(),
            lint: LintNote {
                status: serde_json::to_value(report.lint.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                message: report.lint.message,
                seconds: report.lint.seconds,
                cached: report.lint.cached,
            },
            tree: report.tree,
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

/// Chiffon's rules, ranked, with ansible-lint's findings from the cache of this repository
/// tree; a tree not linted yet is linted in the background and the answer says so (it never
/// waits for ansible-lint, nor fails because of it).
pub(crate) async fn suggestions(State(core): State<Arc<Core>>) -> ApiResult<Json<Suggestions>> {
    let report = core
        .linter
        .report(&core.config.playbooks, Duration::ZERO, &|_| {})
        .await;
    Ok(Json(report.into()))
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
    // The same ansible-playbook the agents run (configured, else the data dir's venv, else
    // PATH): a server whose agents just ran playbooks can always check a change.
    let ansible = crate::tools::ansible::locate_ansible_playbook(
        core.config.ansible_playbook.as_deref(),
        &core.config.data_dir,
    );
    let Some(ansible) = ansible else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::AnsibleUnavailable,
            format!(
                "ansible-playbook is needed to check the change and none was found: not configured (ansible.playbook_bin, CHIFFON_ANSIBLE_PLAYBOOK), not in {}, not on PATH",
                core.config.data_dir.join("ansible-venv/bin").display()
            ),
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
