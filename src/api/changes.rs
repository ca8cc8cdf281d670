//! What a run changed on each host (`GET /tasks/{id}/changes`) and the revert request's body
//! (`POST /requests/{id}/revert`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::change::Change;

/// A task's changes, per host, in the order they happened.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TaskChanges {
    pub task_id: String,
    pub request_id: String,
    /// The step's title, for people.
    pub title: String,
    pub hosts: Vec<HostChanges>,
}

/// The changes on one host.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostChanges {
    pub host: String,
    pub changes: Vec<ChangeView>,
}

/// One change, before → after (the kept content itself stays in the store; the diff shows it).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeView {
    /// Its place in the task's order, from 1.
    pub seq: i64,
    pub recorded_at: DateTime<Utc>,
    #[serde(flatten)]
    pub change: Change,
    /// Whether the previous content is kept, so the file can be restored byte for byte.
    pub content_kept: bool,
}

/// `POST /requests/{id}/revert`: which tasks to undo (all of the request's when empty) and
/// how to settle files someone changed since the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevertBody {
    /// Task ids of the request; empty: every task of it.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// A choice per conflicting path (found by the revert plan's preview).
    #[serde(default)]
    pub resolve: Vec<Resolution>,
}

/// A person's choice for a path changed since the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// The inventory host; every host when absent.
    #[serde(default)]
    pub host: Option<String>,
    pub path: String,
    pub choice: ConflictChoice,
}

/// Keep the later change, or put back what was there before the run anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictChoice {
    KeepTheirs,
    RestoreOurs,
}

impl ConflictChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictChoice::KeepTheirs => "keep_theirs",
            ConflictChoice::RestoreOurs => "restore_ours",
        }
    }
}
