//! Tasks (one step's execution each), their notes and their audit entries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Task, TaskEvent};

/// `GET /tasks`: every filter optional, all must hold.
#[derive(Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    pub status: Option<String>,
    pub service: Option<String>,
    pub request_id: Option<String>,
    /// RFC 3339, or a span back from now: `30m`, `24h`, `7d`.
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
    /// `asc` (oldest first, the default) or `desc`.
    pub order: Option<String>,
}

/// A task with its recorded execution events and notes.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: Task,
    pub events: Vec<TaskEvent>,
    /// Notes people (or a post-mortem agent) added, oldest first.
    #[serde(default)]
    pub annotations: Vec<Annotation>,
}

/// A note on a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Annotation {
    pub id: i64,
    pub author: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /tasks/{id}/annotations`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAnnotation {
    pub text: String,
    #[serde(default)]
    pub author: Option<String>,
}

/// A task's audit entry as the repository holds it (or as queued, while the repository is
/// unavailable).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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
