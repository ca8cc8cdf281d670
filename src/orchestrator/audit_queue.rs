//! The audit trail's durable queue and its single writer.
//!
//! Every audit entry is first stored in the database (`audit_entries`: the redacted bytes and
//! their SHA-256), after the state change it records; one writer task then commits the queued
//! entries to the git repository in order and records each commit id. When the repository is
//! unavailable (disk full, a stale lock) nothing waits on it: the work goes on, the entries
//! stay queued, `/health` says so, and the writer tries again with back-off until they are
//! written. A restart picks the queue up where it was.
//!
//! Invariant: only this writer commits audit entries, oldest first; an entry is never changed
//! once stored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Notify, oneshot};

use crate::audit::AuditEntry;
use crate::model::TaskId;
use crate::orchestrator::{Core, lock};
use crate::store::StoredAuditEntry;

/// How long a caller waits for its entry's commit before going on without it.
const WAIT_FOR_COMMIT: Duration = Duration::from_secs(3);
/// Retry back-off while the repository is unavailable.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// Entries read from the queue at a time.
const BATCH: u32 = 100;

/// The writer's shared state: who waits for which entry, and whether the last write failed.
#[derive(Debug, Default)]
pub struct AuditQueue {
    wake: Notify,
    waiters: Mutex<HashMap<i64, oneshot::Sender<Option<String>>>>,
    failing: Mutex<Option<Failing>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failing {
    pub since: DateTime<Utc>,
    pub error: String,
}

impl AuditQueue {
    /// Why the repository could not be written, while it cannot.
    pub fn failing(&self) -> Option<Failing> {
        lock(&self.failing).clone()
    }
}

impl Core {
    /// Stores `entry` in the durable queue and waits a moment for its commit. `None` means
    /// it stays queued (the repository is unavailable) and is written later.
    pub(crate) async fn record_audit(&self, entry: AuditEntry) -> anyhow::Result<Option<String>> {
        let prepared = crate::audit::prepare(entry);
        let id = self.store.enqueue_audit(&prepared).await?;
        let (tx, rx) = oneshot::channel();
        lock(&self.audit_queue.waiters).insert(id, tx);
        self.audit_queue.wake.notify_one();
        let commit = tokio::time::timeout(WAIT_FOR_COMMIT, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        lock(&self.audit_queue.waiters).remove(&id);
        Ok(commit)
    }

    /// Whether `subject_id` (a task id) already has an audit entry, written or queued.
    pub(crate) async fn has_audit_entry(&self, subject_id: &str) -> anyhow::Result<bool> {
        Ok(!self.store.audit_entries_for(subject_id).await?.is_empty())
    }

    /// Puts the commit id where the entry's subject is shown.
    async fn entry_written(&self, entry: &StoredAuditEntry, commit: &str) -> anyhow::Result<()> {
        match entry.kind.as_str() {
            "task" => {
                if let Some(task_id) = TaskId::parse(&entry.subject_id) {
                    self.store.set_task_audit_commit(&task_id, commit).await?;
                    if let Some(task) = self.store.get_task(&task_id).await? {
                        self.emit_task(&task);
                    }
                }
            }
            "queue" => {
                if let Some(id) = entry
                    .subject_id
                    .strip_prefix("queue-")
                    .and_then(|id| id.parse().ok())
                {
                    self.store.set_queue_event_audit(id, commit).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Core {
    /// The single writer: commits queued entries oldest first, until the server stops.
    pub(crate) async fn run_audit_writer(self: Arc<Self>) {
        let mut retry = FIRST_RETRY;
        loop {
            // Registered before looking, so an entry queued meanwhile is not missed.
            let woken = self.audit_queue.wake.notified();
            match write_queued(&self).await {
                Ok(true) => {
                    retry = FIRST_RETRY;
                    continue;
                }
                Ok(false) => {
                    retry = FIRST_RETRY;
                    woken.await;
                }
                Err(()) => {
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(LAST_RETRY);
                }
            }
        }
    }
}

/// Writes one batch. `Ok(true)`: it wrote some and there may be more; `Ok(false)`: the queue
/// is empty; `Err`: the repository (or the database) failed, try again later.
async fn write_queued(core: &Core) -> Result<bool, ()> {
    let queued = match core.store.queued_audit(BATCH).await {
        Ok(queued) => queued,
        Err(error) => {
            tracing::warn!("cannot read the audit queue: {error:#}");
            return Err(());
        }
    };
    if queued.is_empty() {
        return Ok(false);
    }
    for entry in &queued {
        let written = core
            .audit
            .write(&entry.file, &entry.body, &entry.message)
            .await;
        match written {
            Ok(commit) => {
                let recorded = async {
                    core.store.mark_audit_written(entry.id, &commit).await?;
                    core.entry_written(entry, &commit).await
                };
                if let Err(error) = recorded.await {
                    tracing::warn!("cannot record audit commit {commit}: {error:#}");
                    return Err(());
                }
                if lock(&core.audit_queue.failing).take().is_some() {
                    tracing::info!(
                        "the audit repository is writable again; writing the queued entries"
                    );
                }
                if let Some(waiter) = lock(&core.audit_queue.waiters).remove(&entry.id) {
                    let _ = waiter.send(Some(commit));
                }
            }
            Err(error) => {
                let error = format!("{error:#}");
                let first = {
                    let mut failing = lock(&core.audit_queue.failing);
                    let first = failing.is_none();
                    if first {
                        *failing = Some(Failing {
                            since: Utc::now(),
                            error: error.clone(),
                        });
                    }
                    first
                };
                if first {
                    tracing::error!(
                        "cannot write to the audit repository ({error}); entries are kept in the database and written when it is available again"
                    );
                }
                let _ = core.store.mark_audit_failed(entry.id, &error).await;
                // Nobody waits for an entry that cannot be written now.
                for (_, waiter) in lock(&core.audit_queue.waiters).drain() {
                    let _ = waiter.send(None);
                }
                return Err(());
            }
        }
    }
    Ok(true)
}
