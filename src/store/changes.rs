//! What real runs changed (`task_changes`) and which request undoes which (`request_reverts`):
//! written once per task result (a redelivered result changes nothing), read per task, per
//! request, and by the revert planner with the kept content.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::change::Change;
use crate::model::{RequestId, TaskId};
use crate::store::{FromStoreRow, Store, json_col, parsed_col, ts, ts_col};

/// A change as stored: its task, its place in that task's order, and the record itself
/// (content included only when asked for).
#[derive(Debug, Clone)]
pub struct StoredChange {
    pub task_id: TaskId,
    pub seq: i64,
    pub change: Change,
    pub recorded_at: DateTime<Utc>,
}

impl FromStoreRow for StoredChange {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        let mut change: Change = json_col(row, "change")?;
        // Content columns are selected only by the readers that need them.
        change.before_content = row.try_get("before_content").ok().flatten();
        change.after_content = row.try_get("after_content").ok().flatten();
        Ok(Self {
            task_id: parsed_col(row, "task_id", TaskId::parse, "task id")?,
            seq: row.try_get("seq")?,
            change,
            recorded_at: ts_col(row, "created_at")?,
        })
    }
}

/// The request a revert request undoes, and which of its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct RevertLink {
    pub request_id: RequestId,
    pub reverts: RequestId,
    pub tasks: Vec<TaskId>,
}

impl Store {
    /// Keeps what a task changed, in order. Idempotent: a result delivered twice adds nothing.
    pub async fn record_changes(
        &self,
        task: &TaskId,
        request: &RequestId,
        changes: &[Change],
    ) -> anyhow::Result<()> {
        let now = ts(Utc::now());
        let mut tx = self.pool.begin().await?;
        for (index, change) in changes.iter().enumerate() {
            let mut summary = change.clone();
            let before = summary.before_content.take();
            let after = summary.after_content.take();
            sqlx::query(
                "INSERT INTO task_changes (task_id, seq, request_id, host, kind, target, reversible,
                    change, before_content, after_content, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (task_id, seq) DO NOTHING",
            )
            .bind(task.as_str())
            .bind(index as i64 + 1)
            .bind(request.as_str())
            .bind(&change.host)
            .bind(&change.kind)
            .bind(&change.target)
            .bind(i64::from(change.reversible))
            .bind(serde_json::to_string(&summary)?)
            .bind(before)
            .bind(after)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A task's changes in order; with `content`, the kept file content too.
    pub async fn task_changes(
        &self,
        task: &TaskId,
        content: bool,
    ) -> anyhow::Result<Vec<StoredChange>> {
        let columns = change_columns(content);
        self.fetch_all_as(
            sqlx::query(&format!(
                "SELECT {columns} FROM task_changes WHERE task_id = $1 ORDER BY seq"
            ))
            .bind(task.as_str()),
        )
        .await
    }

    /// The `seq` of a task's changes whose previous content is kept.
    pub async fn task_changes_kept(&self, task: &TaskId) -> anyhow::Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT seq FROM task_changes WHERE task_id = $1 AND before_content IS NOT NULL ORDER BY seq",
        )
        .bind(task.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every change a request's tasks made, task by task in the order they ran.
    pub async fn request_changes(
        &self,
        request: &RequestId,
        content: bool,
    ) -> anyhow::Result<Vec<StoredChange>> {
        let columns = change_columns(content);
        self.fetch_all_as(
            sqlx::query(&format!(
                "SELECT {columns} FROM task_changes WHERE request_id = $1 ORDER BY created_at, task_id, seq"
            ))
            .bind(request.as_str()),
        )
        .await
    }

    /// Records that `link.request_id` undoes `link.reverts`.
    pub async fn record_revert(&self, link: &RevertLink) -> anyhow::Result<()> {
        let tasks: Vec<&str> = link.tasks.iter().map(TaskId::as_str).collect();
        sqlx::query(
            "INSERT INTO request_reverts (request_id, reverts, tasks, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(link.request_id.as_str())
        .bind(link.reverts.as_str())
        .bind(serde_json::to_string(&tasks)?)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The request `request` undoes, if it is a revert.
    pub async fn revert_of(&self, request: &RequestId) -> anyhow::Result<Option<RevertLink>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT reverts, tasks FROM request_reverts WHERE request_id = $1")
                .bind(request.as_str())
                .fetch_optional(&self.pool)
                .await?;
        let Some((reverts, tasks)) = row else {
            return Ok(None);
        };
        let tasks: Vec<String> = serde_json::from_str(&tasks)?;
        Ok(Some(RevertLink {
            request_id: request.clone(),
            reverts: RequestId::parse(&reverts)
                .ok_or_else(|| anyhow::anyhow!("bad request id {reverts:?} in the store"))?,
            tasks: tasks.iter().filter_map(|t| TaskId::parse(t)).collect(),
        }))
    }
}

fn change_columns(content: bool) -> &'static str {
    if content {
        "task_id, seq, change, created_at, before_content, after_content"
    } else {
        "task_id, seq, change, created_at"
    }
}
