//! Task annotations (`task_annotations`): append-only notes people add to a task.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::TaskId;
use crate::store::{FromStoreRow, Store, ts, ts_col};

/// A note on a task.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Annotation {
    pub id: i64,
    pub author: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

impl FromStoreRow for Annotation {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        Ok(Annotation {
            id: row.try_get("id")?,
            author: row.try_get("author")?,
            text: row.try_get("text")?,
            created_at: ts_col(row, "created_at")?,
        })
    }
}

impl Store {
    /// Adds a note to a task (append-only); returns it.
    pub async fn annotate(
        &self,
        task: &TaskId,
        author: &str,
        text: &str,
    ) -> anyhow::Result<Annotation> {
        let now = Utc::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO task_annotations (task_id, author, text, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(task.as_str())
        .bind(author)
        .bind(text)
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(Annotation {
            id,
            author: author.to_owned(),
            text: text.to_owned(),
            created_at: now,
        })
    }

    /// A task's notes, oldest first.
    pub async fn annotations(&self, task: &TaskId) -> anyhow::Result<Vec<Annotation>> {
        self.fetch_all_as(
            sqlx::query(
                "SELECT id, author, text, created_at FROM task_annotations WHERE task_id = $1 ORDER BY id",
            )
            .bind(task.as_str()),
        )
        .await
    }
}
