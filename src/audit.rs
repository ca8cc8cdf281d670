//! The audit trail: an append-only git repository with one commit per finished task, approval
//! and rejection. Each commit adds one readable JSON entry under `entries/YYYY/MM/DD/`.
//!
//! The repository is bare (no working tree to edit by accident): read it with
//! `git -C <data-dir>/audit log` and `git -C <data-dir>/audit show <commit>`, or clone it.
//!
//! Invariant: history is only ever appended to; entries are redacted before they are written.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What is recorded in one commit.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// `task`, `approval`, `rejection`.
    pub kind: &'static str,
    /// The commit's subject line, e.g. "task task_0190… succeeded: Deploy Uptime Kuma".
    #[serde(skip)]
    pub subject: String,
    /// The id the entry is about (task or request id); part of the file name.
    pub subject_id: String,
    pub recorded_at: DateTime<Utc>,
    /// The details: request, plan version, dispatch, result.
    pub details: serde_json::Value,
}

/// Handle to the audit repository. Commits are serialized: git refs allow one writer.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    writer: Arc<Mutex<()>>,
}

const AUTHOR_NAME: &str = "Chiffon";
const AUTHOR_EMAIL: &str = "chiffon@localhost";

impl AuditLog {
    /// Opens the repository at `path`, creating it with an initial commit if it does not exist.
    pub fn open_or_init(path: &Path) -> anyhow::Result<Self> {
        let log = Self {
            path: path.to_owned(),
            writer: Arc::new(Mutex::new(())),
        };
        if !path.join("HEAD").exists() {
            std::fs::create_dir_all(path).with_context(|| {
                format!("cannot create the audit repository at {}", path.display())
            })?;
            let repo = gix::init_bare(path).with_context(|| {
                format!("cannot create the audit repository at {}", path.display())
            })?;
            let readme = "# Chiffon audit trail\n\n\
                One commit per finished task, approval and rejection. Entries live under\n\
                `entries/YYYY/MM/DD/` as JSON. This history is append-only: never rewrite it.\n";
            commit_file(
                &repo,
                "README.md",
                readme.as_bytes(),
                "Start the Chiffon audit trail",
            )?;
        }
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits `entry` and returns the commit id.
    pub async fn record(&self, entry: AuditEntry) -> anyhow::Result<String> {
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.record_blocking(entry))
            .await
            .context("the audit writer panicked")?
    }

    fn record_blocking(&self, mut entry: AuditEntry) -> anyhow::Result<String> {
        crate::redact::json(&mut entry.details);
        let at = entry.recorded_at;
        let file = format!(
            "entries/{}/{}-{}-{}.json",
            at.format("%Y/%m/%d"),
            at.format("%H%M%S%.6f"),
            entry.kind,
            entry.subject_id
        );
        let mut body = serde_json::to_vec_pretty(&entry)?;
        body.push(b'\n');
        let subject = crate::redact::text(&entry.subject).into_owned();
        let message = format!("{subject}\n\nEntry: {file}\n");
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let repo = gix::open(&self.path).with_context(|| {
            format!(
                "cannot open the audit repository at {}",
                self.path.display()
            )
        })?;
        commit_file(&repo, &file, &body, &message)
    }

    /// The number of commits, and whether the repository can be read, for `/health`.
    pub fn check(&self) -> anyhow::Result<String> {
        let repo = gix::open(&self.path)?;
        let head = repo.head_commit()?;
        Ok(head.id.to_string())
    }
}

/// Adds one file to HEAD's tree and commits it on top of HEAD (or as the root commit), as
/// Chiffon. Used for the audit repository and for suggestions applied to a playbook repository.
pub(crate) fn commit_file(
    repo: &gix::Repository,
    file: &str,
    contents: &[u8],
    message: &str,
) -> anyhow::Result<String> {
    let parent = repo.head_id().ok().map(|id| id.detach());
    let base_tree = match parent {
        Some(_) => repo.head_commit()?.tree_id()?.detach(),
        None => gix::ObjectId::empty_tree(repo.object_hash()),
    };
    let blob = repo.write_blob(contents)?.detach();
    let mut editor = repo.edit_tree(base_tree)?;
    editor.upsert(file, gix::object::tree::EntryKind::Blob, blob)?;
    let tree = editor.write()?.detach();
    let signature = gix::actor::Signature {
        name: AUTHOR_NAME.into(),
        email: AUTHOR_EMAIL.into(),
        time: gix::date::Time::now_utc(),
    };
    let mut time = gix::date::parse::TimeBuf::default();
    let signature = signature.to_ref(&mut time);
    let id = repo
        .commit_as(signature, signature, "HEAD", message, tree, parent)
        .context("cannot commit to the audit repository")?;
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_become_commits_on_top_of_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open_or_init(&dir.path().join("audit")).unwrap();
        let first = log.check().unwrap();
        let entry = |n: u32| AuditEntry {
            kind: "task",
            subject: format!("task {n} succeeded"),
            subject_id: format!("task_{n}"),
            recorded_at: Utc::now(),
            details: serde_json::json!({"n": n, "api_token": "never-written"}),
        };
        let a = log.record(entry(1)).await.unwrap();
        let b = log.record(entry(2)).await.unwrap();
        assert_ne!(a, b);
        assert_ne!(first, a);
        assert_eq!(log.check().unwrap(), b);
        // reopening keeps the history
        let again = AuditLog::open_or_init(&dir.path().join("audit")).unwrap();
        assert_eq!(again.check().unwrap(), b);
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(dir.path().join("audit"))
                .args(args)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(
            git(&["log", "--format=%s"]),
            "task 2 succeeded\ntask 1 succeeded\nStart the Chiffon audit trail\n"
        );
        let files = git(&["ls-tree", "-r", "--name-only", "HEAD"]);
        assert_eq!(
            files.lines().filter(|f| f.starts_with("entries/")).count(),
            2,
            "{files}"
        );
        let entry = git(&[
            "show",
            &format!(
                "HEAD:{}",
                files.lines().find(|f| f.ends_with("task_2.json")).unwrap()
            ),
        ]);
        assert!(
            entry.contains("\"n\": 2") && !entry.contains("never-written"),
            "{entry}"
        );
    }
}
