//! The audit ledger (`audit_entries`): each audit entry's exact bytes and SHA-256, queued
//! durably until the audit writer commits it, then with its commit id.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::TaskId;
use crate::store::{FromStoreRow, Store, opt_ts_col, ts, ts_col};

/// One audit entry as stored: the exact bytes committed (or to be committed) and their hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredAuditEntry {
    pub id: i64,
    pub kind: String,
    pub subject_id: String,
    /// Path of the entry inside the audit repository.
    pub file: String,
    #[serde(skip)]
    pub message: String,
    #[serde(skip)]
    pub body: String,
    pub sha256: String,
    pub recorded_at: DateTime<Utc>,
    /// Null while the entry is queued (not yet in the repository).
    pub commit_id: Option<String>,
    pub written_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// An entry ready to be queued: what `audit::prepare` makes of an `AuditEntry`.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub kind: String,
    pub subject_id: String,
    pub file: String,
    pub message: String,
    pub body: String,
    pub sha256: String,
    pub recorded_at: DateTime<Utc>,
}

impl FromStoreRow for StoredAuditEntry {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        Ok(StoredAuditEntry {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            subject_id: row.try_get("subject_id")?,
            file: row.try_get("file")?,
            message: row.try_get("message")?,
            body: row.try_get("body")?,
            sha256: row.try_get("sha256")?,
            recorded_at: ts_col(row, "recorded_at")?,
            commit_id: row.try_get("commit_id")?,
            written_at: opt_ts_col(row, "written_at")?,
            attempts: row.try_get("attempts")?,
            last_error: row.try_get("last_error")?,
        })
    }
}

impl Store {
    /// Queues an audit entry durably; the audit writer commits it. Returns its id.
    pub async fn enqueue_audit(&self, entry: &NewAuditEntry) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO audit_entries (kind, subject_id, file, message, body, sha256, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&entry.kind)
        .bind(&entry.subject_id)
        .bind(&entry.file)
        .bind(&entry.message)
        .bind(&entry.body)
        .bind(&entry.sha256)
        .bind(ts(entry.recorded_at))
        .fetch_one(&self.pool)
        .await?)
    }

    /// The entries still waiting for the repository, oldest first.
    pub async fn queued_audit(&self, limit: u32) -> anyhow::Result<Vec<StoredAuditEntry>> {
        self.fetch_all_as(
            sqlx::query("SELECT * FROM audit_entries WHERE commit_id IS NULL ORDER BY id LIMIT $1")
                .bind(i64::from(limit)),
        )
        .await
    }

    /// Every entry with an id above `after`, in order: a page of the ledger for verification.
    pub async fn audit_entries(
        &self,
        after: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<StoredAuditEntry>> {
        self.fetch_all_as(
            sqlx::query("SELECT * FROM audit_entries WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after)
                .bind(i64::from(limit)),
        )
        .await
    }

    /// The whole ledger in id order, without the bodies (only their hashes are compared):
    /// what `chiffon audit verify` checks the repository against.
    pub async fn audit_ledger(&self) -> anyhow::Result<Vec<StoredAuditEntry>> {
        self.fetch_all_as(sqlx::query(
            "SELECT id, kind, subject_id, file, '' AS message, '' AS body, sha256, recorded_at,
                    commit_id, written_at, attempts, last_error
             FROM audit_entries ORDER BY id",
        ))
        .await
    }

    /// The entries about `subject_id` (a task, request or queue event), oldest first.
    pub async fn audit_entries_for(
        &self,
        subject_id: &str,
    ) -> anyhow::Result<Vec<StoredAuditEntry>> {
        self.fetch_all_as(
            sqlx::query("SELECT * FROM audit_entries WHERE subject_id = $1 ORDER BY id")
                .bind(subject_id),
        )
        .await
    }

    pub async fn mark_audit_written(&self, id: i64, commit: &str) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE audit_entries SET commit_id = $1, written_at = $2, last_error = NULL
             WHERE id = $3",
        )
        .bind(commit)
        .bind(ts(Utc::now()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mark_audit_failed(&self, id: i64, error: &str) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE audit_entries SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
        )
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many entries wait for the repository.
    pub async fn audit_queue_len(&self) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries WHERE commit_id IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Finished tasks that have no audit entry at all (neither written nor queued).
    pub async fn finished_tasks_without_audit(&self) -> anyhow::Result<Vec<TaskId>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT task_id FROM tasks t
             WHERE status IN ('succeeded', 'failed', 'aborted', 'cancelled')
               AND NOT EXISTS (SELECT 1 FROM audit_entries a WHERE a.subject_id = t.task_id)
             ORDER BY created_at, task_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().filter_map(|id| TaskId::parse(id)).collect())
    }
}
