//! Tasks and their execution events (`tasks`, `task_events`): a task's row from queued to
//! finished, the events agents report while it runs, and what past runs say about a playbook.

use chrono::Utc;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::{ExecEvent, RequestId, Task, TaskEvent, TaskId, TaskStatus};
use crate::store::{
    FromStoreRow, Store, json_col, opt_json_col, opt_ts_col, parse_ts, parsed_col, ts, ts_col,
    u32_col,
};

/// How a task finished, as written to its row.
#[derive(Debug, Clone)]
pub struct TaskFinish {
    pub status: TaskStatus,
    pub outcome: String,
    pub resource_usage: serde_json::Value,
    pub error: Option<String>,
    pub resource_state_at_failure: Option<serde_json::Value>,
    /// What the run warned about (`model::Task::warnings`).
    pub warnings: Vec<String>,
}

impl TaskFinish {
    /// A task that never ran, with why.
    pub fn cancelled(reason: &str) -> Self {
        Self {
            status: TaskStatus::Cancelled,
            outcome: format!("cancelled: {reason}"),
            resource_usage: serde_json::json!({}),
            error: Some(reason.to_owned()),
            resource_state_at_failure: None,
            warnings: Vec::new(),
        }
    }
}

/// Read from `SELECT * FROM tasks`.
impl FromStoreRow for Task {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        Ok(Task {
            id: parsed_col(row, "task_id", TaskId::parse, "task id")?,
            request_id: parsed_col(row, "request_id", RequestId::parse, "request id")?,
            step_id: row.try_get("step_id")?,
            plan_version: u32_col(row, "plan_version")?,
            title: row.try_get("title")?,
            status: parsed_col(row, "status", TaskStatus::parse, "task status")?,
            outcome: row.try_get("outcome")?,
            resource_usage: json_col(row, "resource_usage")?,
            service_touched: row.try_get("service_touched")?,
            agent_id: row.try_get("agent_id")?,
            playbook: row.try_get("playbook")?,
            error: row.try_get("error")?,
            resource_state_at_failure: opt_json_col(row, "resource_state_at_failure")?,
            suggestions: json_col(row, "suggestions")?,
            audit_commit: row.try_get("audit_commit")?,
            created_at: ts_col(row, "created_at")?,
            updated_at: ts_col(row, "updated_at")?,
            started_at: opt_ts_col(row, "started_at")?,
            finished_at: opt_ts_col(row, "finished_at")?,
            warnings: opt_json_col(row, "warnings")?.unwrap_or_default(),
        })
    }
}

impl FromStoreRow for TaskEvent {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        Ok(TaskEvent {
            seq: row.try_get("seq")?,
            task_id: parsed_col(row, "task_id", TaskId::parse, "task id")?,
            at: ts_col(row, "at")?,
            event: json_col(row, "event")?,
        })
    }
}

impl Store {
    pub async fn insert_task(&self, task: &Task) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO tasks (task_id, request_id, step_id, plan_version, title, status, outcome,
                resource_usage, service_touched, agent_id, playbook, error, resource_state_at_failure,
                suggestions, audit_commit, created_at, updated_at, started_at, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(task.id.as_str())
        .bind(task.request_id.as_str())
        .bind(&task.step_id)
        .bind(i64::from(task.plan_version))
        .bind(&task.title)
        .bind(task.status.as_str())
        .bind(&task.outcome)
        .bind(task.resource_usage.to_string())
        .bind(&task.service_touched)
        .bind(&task.agent_id)
        .bind(&task.playbook)
        .bind(&task.error)
        .bind(task.resource_state_at_failure.as_ref().map(|v| v.to_string()))
        .bind(task.suggestions.to_string())
        .bind(&task.audit_commit)
        .bind(ts(task.created_at))
        .bind(ts(task.updated_at))
        .bind(task.started_at.map(ts))
        .bind(task.finished_at.map(ts))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that a task left the orchestrator (`dispatched`) or that an agent took it
    /// (`running`, with the agent's id and the start time). Status only moves forward
    /// (queued → dispatched → running), so a late write never undoes an earlier one.
    pub async fn mark_task(
        &self,
        id: &TaskId,
        status: TaskStatus,
        agent_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = ts(Utc::now());
        let started = (status == TaskStatus::Running).then(|| now.clone());
        sqlx::query(
            "UPDATE tasks SET status = $1, agent_id = COALESCE($2, agent_id),
                started_at = COALESCE(started_at, $3), updated_at = $4
             WHERE task_id = $5 AND status IN ('queued', 'dispatched')
               AND ($1 = 'running' OR status = 'queued')",
        )
        .bind(status.as_str())
        .bind(agent_id)
        .bind(started)
        .bind(&now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes a task's end. Returns false if it had already finished (a duplicate result).
    pub async fn finish_task(&self, id: &TaskId, finish: &TaskFinish) -> anyhow::Result<bool> {
        let now = ts(Utc::now());
        let done = sqlx::query(
            "UPDATE tasks SET status = $1, outcome = $2, resource_usage = $3, error = $4,
                resource_state_at_failure = $5, finished_at = $6, updated_at = $7, warnings = $9
             WHERE task_id = $8 AND status NOT IN ('succeeded', 'failed', 'aborted', 'cancelled')",
        )
        .bind(finish.status.as_str())
        .bind(&finish.outcome)
        .bind(finish.resource_usage.to_string())
        .bind(&finish.error)
        .bind(
            finish
                .resource_state_at_failure
                .as_ref()
                .map(|v| v.to_string()),
        )
        .bind(&now)
        .bind(&now)
        .bind(id.as_str())
        .bind(serde_json::to_string(&finish.warnings)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_task_audit_commit(&self, id: &TaskId, commit: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE tasks SET audit_commit = $1, updated_at = $2 WHERE task_id = $3")
            .bind(commit)
            .bind(ts(Utc::now()))
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Suggestions made from a task's failure (see `suggest::runs`).
    pub async fn set_task_suggestions(
        &self,
        id: &TaskId,
        suggestions: &serde_json::Value,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE tasks SET suggestions = $1, updated_at = $2 WHERE task_id = $3")
            .bind(suggestions.to_string())
            .bind(ts(Utc::now()))
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn get_task(&self, id: &TaskId) -> anyhow::Result<Option<Task>> {
        self.fetch_optional_as(
            sqlx::query("SELECT * FROM tasks WHERE task_id = $1").bind(id.as_str()),
        )
        .await
    }

    /// Appends an execution event to a task; events keep their arrival order.
    pub async fn append_event(&self, task: &TaskId, event: &ExecEvent) -> anyhow::Result<i64> {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO task_events (task_id, seq, at, event)
             VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM task_events WHERE task_id = $1), $2, $3)
             RETURNING seq",
        )
        .bind(task.as_str())
        .bind(ts(Utc::now()))
        .bind(serde_json::to_string(event)?)
        .fetch_one(&self.pool)
        .await?;
        Ok(seq)
    }

    pub async fn task_events(&self, task: &TaskId) -> anyhow::Result<Vec<TaskEvent>> {
        self.fetch_all_as(
            sqlx::query(
                "SELECT task_id, seq, at, event FROM task_events WHERE task_id = $1 ORDER BY seq",
            )
            .bind(task.as_str()),
        )
        .await
    }

    /// Durations in seconds of a playbook's past successful runs, newest first, for estimates.
    pub async fn playbook_durations(&self, playbook: &str, limit: u32) -> anyhow::Result<Vec<f64>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT started_at, finished_at FROM tasks
             WHERE playbook = $1 AND status = 'succeeded' AND started_at IS NOT NULL AND finished_at IS NOT NULL
             ORDER BY finished_at DESC LIMIT $2",
        )
        .bind(playbook)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|(start, end)| {
                Ok((parse_ts(end)? - parse_ts(start)?).num_milliseconds() as f64 / 1000.0)
            })
            .collect()
    }

    /// For every playbook that has finished at least once: (playbook, finished runs, whether
    /// the latest run failed).
    pub async fn playbook_runs(&self) -> anyhow::Result<Vec<(String, u32, bool)>> {
        let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT t.playbook, COUNT(*),
                (SELECT l.status FROM tasks l WHERE l.playbook = t.playbook
                   AND l.status IN ('succeeded', 'failed', 'aborted')
                   ORDER BY l.finished_at DESC LIMIT 1)
             FROM tasks t
             WHERE t.playbook IS NOT NULL AND t.status IN ('succeeded', 'failed', 'aborted')
             GROUP BY t.playbook",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(playbook, runs, last)| {
                (playbook, runs as u32, last.as_deref() == Some("failed"))
            })
            .collect())
    }
}
