//! Requests and their plans: what `POST /requests` and the decision verbs take, and the
//! request view every one of them answers with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::decision::Decision as LlmDecision;
use crate::model::{Plan, Request, RequestStatus, Task};

/// `POST /requests`: what a person wants done.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub text: String,
    #[serde(default)]
    pub high_value: bool,
}

/// `POST /requests/{id}/approve` (the body is optional).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The plan version the person read; approving refuses if it is no longer current.
    pub plan_version: Option<u32>,
    /// Who decides (stored with the decision); default `api client`.
    pub by: Option<String>,
}

/// `POST /requests/{id}/reject`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    pub reason: String,
    pub by: Option<String>,
}

/// `POST /requests/{id}/modify`: the change, in plain words.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Modification {
    pub text: String,
    pub by: Option<String>,
}

/// `POST /requests/{id}/abort` (the body is optional).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Abort {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub by: Option<String>,
}

/// A request as the API shows it: the plan's steps carry their execution status, and the
/// tasks that executed them come along.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestView {
    #[serde(flatten)]
    pub request: Request,
    /// True while the plan cannot run (no step, or an open question): the request waits for
    /// an answer (`POST /requests/{id}/answer`) or a change, not for an approval.
    #[serde(default)]
    pub needs_answer: bool,
    pub tasks: Vec<Task>,
    /// The check-mode preview of the current plan version, when one was made
    /// (`POST /requests/{id}/preview`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<Preview>,
    /// Approvals, rejections, modifications and aborts: who, when, on which plan version.
    #[serde(default)]
    pub decisions: Vec<RequestDecision>,
    /// How the current plan version was made: which planner, why, what was tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<LlmDecision>,
    /// How a finished request ended, in one word a person can trust: `succeeded`,
    /// `succeeded_with_warnings` (it ran, but a step's playbook warned: its `warnings` say
    /// what, e.g. files written but the stack not started), `failed`, `aborted` or
    /// `rejected`; absent while it is not finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// One request of a listing (`GET /requests`): the request and, once it is finished, how it
/// ended in the words of `RequestView::outcome` (so a list never shows a run that warned as a
/// plain success).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestSummary {
    #[serde(flatten)]
    pub request: Request,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// `RequestView::outcome` for a request in `status` whose current steps warned `warned`.
pub fn request_outcome(status: RequestStatus, warned: bool) -> Option<String> {
    match status {
        RequestStatus::Succeeded if warned => Some("succeeded_with_warnings".to_owned()),
        RequestStatus::Succeeded
        | RequestStatus::Failed
        | RequestStatus::Aborted
        | RequestStatus::Rejected => Some(status.to_string()),
        _ => None,
    }
}

/// A person's decision about a request: `approved`, `rejected`, `modified` or `aborted`, by
/// whom, on which plan version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestDecision {
    pub kind: String,
    pub plan_version: u32,
    /// Who: the `by` the client sent (the CLI sends user@host), else `api client`.
    pub actor: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A check-mode run of a plan version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Preview {
    pub plan_version: u32,
    pub previewed_at: DateTime<Utc>,
    pub steps: Vec<StepPreview>,
}

/// What one step would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepPreview {
    pub step_id: String,
    pub title: String,
    /// `would_change`, `no_change`, `would_fail`, `not_previewed`, or `checked_after`: the
    /// check-mode run stumbled, but a step it depends on would change things first, which a
    /// dry run does not make, so the step is really checked only after that one runs
    /// (`after_steps`; the stumble is in `error`).
    pub outcome: String,
    /// For `checked_after`: the steps (ids) whose changes this one needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_steps: Vec<String>,
    /// Changes Ansible reported, summed over hosts.
    pub changed: u64,
    /// What the run would warn about (`Task::warnings`), e.g. that the stack would be written
    /// but not started, known before approval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub diffs: Vec<PreviewDiff>,
    pub error: Option<String>,
}

/// One file or state change a task would make, as Ansible's `--diff` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PreviewDiff {
    pub host: String,
    pub task: String,
    pub diff: String,
}

/// One version of a request's plan, with the change that made it (`None` for the first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanVersion {
    pub plan: Plan,
    pub change: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `GET /llm/decisions?request_id=&limit=`.
#[derive(Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmDecisionQuery {
    pub request_id: Option<String>,
    pub limit: Option<u32>,
}
