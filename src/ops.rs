//! Running Chiffon for years: `chiffon backup` and `chiffon restore` (one archive with a
//! manifest, `ops::archive`), and `chiffon doctor`, whose checks `serve` also runs at start-up
//! (the quick ones) to warn in its log. The server and the command line share this module;
//! it never imports either of them, nor the orchestrator.

pub mod archive;
pub mod backup;
pub mod doctor;
pub mod restore;

use std::path::Path;

use crate::audit::{AuditLog, Verification};
use crate::store::Store;

/// The version and commit this binary was built from: `0.1.0 (commit 7eeccf70a1)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CHIFFON_COMMIT"),
    ")"
);

/// `chiffon audit verify`'s check: the audit repository at `audit_path` against the ledger in
/// `store`, plus every finished task that has no entry at all.
pub async fn verify_trail(store: &Store, audit_path: &Path) -> anyhow::Result<Verification> {
    anyhow::ensure!(
        audit_path.join("HEAD").exists(),
        "no audit repository at {} (is --data-dir the server's data directory?)",
        audit_path.display()
    );
    let ledger = store.audit_ledger().await?;
    let missing = store.finished_tasks_without_audit().await?;
    let log = AuditLog::open_or_init(audit_path)?;
    let mut report = tokio::task::spawn_blocking(move || log.verify(&ledger)).await??;
    for task in &missing {
        report.problems.push(format!(
            "task {task} finished but has no audit entry, written or queued"
        ));
    }
    Ok(report)
}
