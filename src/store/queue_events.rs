//! The dispatch queue's pauses and resumes (`queue_events`); the newest is its current state.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::QueueEvent;
use crate::store::{FromStoreRow, Store, ts, ts_col};

impl FromStoreRow for QueueEvent {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        Ok(QueueEvent {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            reason: row.try_get("reason")?,
            at: ts_col(row, "at")?,
            audit_commit: row.try_get("audit_commit")?,
        })
    }
}

impl Store {
    /// Records a pause or resume of the dispatch queue; returns its id.
    pub async fn record_queue_event(
        &self,
        kind: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO queue_events (kind, reason, at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(kind)
        .bind(reason)
        .bind(ts(at))
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn set_queue_event_audit(&self, id: i64, commit: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE queue_events SET audit_commit = $1 WHERE id = $2")
            .bind(commit)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The queue's pauses and resumes, newest first; the first one is its current state.
    pub async fn queue_events(&self, limit: u32) -> anyhow::Result<Vec<QueueEvent>> {
        self.fetch_all_as(
            sqlx::query(
                "SELECT id, kind, reason, at, audit_commit FROM queue_events ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit)),
        )
        .await
    }
}
