//! The counts `/metrics` reads at scrape time: requests by status, tasks by status and service,
//! and the audit queue. Computed from the tables on every scrape rather than counted as events
//! happen, so they are right after a restart and never drift from what the API shows.

use chrono::{DateTime, Utc};

use crate::store::{Store, parse_ts};

/// One scrape's worth of counts from the store.
#[derive(Debug, Clone, Default)]
pub struct MetricCounts {
    /// `(status, count)` of requests.
    pub requests: Vec<(String, i64)>,
    /// `(status, service, count)` of tasks; the service is empty for steps that touch none.
    pub tasks: Vec<(String, String, i64)>,
    /// Audit entries stored but not committed yet.
    pub audit_queued: i64,
    /// When the oldest entry still queued was recorded.
    pub audit_oldest_queued_at: Option<DateTime<Utc>>,
    /// When the audit writer last committed an entry.
    pub audit_last_commit_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The counts behind the state-like metrics. Each query is one pass over an index (the
    /// status indexes, the partial index of queued audit entries, the ledger's primary key read
    /// backwards), so a scrape stays cheap as the history grows (`benches/metrics.rs`).
    pub async fn metric_counts(&self) -> anyhow::Result<MetricCounts> {
        let requests =
            sqlx::query_as("SELECT status, COUNT(*) FROM requests GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await?;
        let tasks = sqlx::query_as(
            "SELECT status, COALESCE(service_touched, ''), COUNT(*) FROM tasks
             GROUP BY status, service_touched ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        let audit_queued = self.audit_queue_len().await?;
        let oldest: Option<String> = sqlx::query_scalar(
            "SELECT recorded_at FROM audit_entries WHERE commit_id IS NULL ORDER BY id LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        // The single writer commits entries in id order, so the newest commit is on the
        // highest committed id.
        let last: Option<Option<String>> = sqlx::query_scalar(
            "SELECT written_at FROM audit_entries WHERE commit_id IS NOT NULL
             ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(MetricCounts {
            requests,
            tasks,
            audit_queued,
            audit_oldest_queued_at: oldest.as_deref().map(parse_ts).transpose()?,
            audit_last_commit_at: last.flatten().as_deref().map(parse_ts).transpose()?,
        })
    }
}
