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

use crate::store::{NewAuditEntry, StoredAuditEntry};

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

/// The longest commit subject, in characters; the full text is in the entry.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// One line for a commit subject: control characters (newlines included) become spaces, runs
/// of spaces one, and it is cut at `MAX_SUBJECT_CHARS`, so free text (a reason) cannot add
/// lines such as `Signed-off-by:` to the message.
pub fn subject_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len().min(MAX_SUBJECT_CHARS * 4));
    for c in text.chars() {
        let c = if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            ' '
        } else {
            c
        };
        if c == ' ' && (line.is_empty() || line.ends_with(' ')) {
            continue;
        }
        line.push(c);
    }
    let line = line.trim_end();
    match line.char_indices().nth(MAX_SUBJECT_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Turns `entry` into the exact bytes to commit: redacted, pretty JSON, with its file name in
/// the repository, the commit message and the SHA-256 of the bytes (kept in the database so
/// `chiffon audit verify` can tell an entry changed after it was written).
pub fn prepare(mut entry: AuditEntry) -> NewAuditEntry {
    crate::redact::json(&mut entry.details);
    let at = entry.recorded_at;
    let file = format!(
        "entries/{}/{}-{}-{}.json",
        at.format("%Y/%m/%d"),
        at.format("%H%M%S%.6f"),
        entry.kind,
        entry.subject_id
    );
    let mut body = serde_json::to_string_pretty(&entry).unwrap_or_else(|_| "{}".to_owned());
    body.push('\n');
    let subject = subject_line(&crate::redact::text(&entry.subject));
    let message = format!("{subject}\n\nEntry: {file}\n");
    NewAuditEntry {
        kind: entry.kind.to_owned(),
        subject_id: entry.subject_id,
        sha256: sha256_hex(body.as_bytes()),
        file,
        message,
        body,
        recorded_at: at,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Handle to the audit repository. Commits are serialized: git refs allow one writer.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    writer: Arc<Mutex<()>>,
}

const AUTHOR_NAME: &str = "Chiffon";
const AUTHOR_EMAIL: &str = "chiffon@localhost";
const README: &str = "# Chiffon audit trail\n\n\
    One commit per finished task, approval, rejection, queue pause/resume and playbook change\n\
    made by Chiffon. Entries live under `entries/YYYY/MM/DD/` as JSON. This history is\n\
    append-only: never rewrite it. `chiffon audit verify` checks it against the database.\n";

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
            commit_file(
                &repo,
                "README.md",
                README.as_bytes(),
                "Start the Chiffon audit trail",
            )?;
        }
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> anyhow::Result<gix::Repository> {
        gix::open(&self.path).with_context(|| {
            format!(
                "cannot open the audit repository at {}",
                self.path.display()
            )
        })
    }

    /// Commits one prepared entry and returns the commit id. Idempotent: when HEAD already
    /// holds `file` with these bytes (the process stopped after committing but before the
    /// database heard of it) the commit that added it is returned instead of a second one.
    pub async fn write(&self, file: &str, body: &str, message: &str) -> anyhow::Result<String> {
        let log = self.clone();
        let (file, body, message) = (file.to_owned(), body.to_owned(), message.to_owned());
        tokio::task::spawn_blocking(move || log.write_blocking(&file, body.as_bytes(), &message))
            .await
            .context("the audit writer panicked")?
    }

    fn write_blocking(&self, file: &str, body: &[u8], message: &str) -> anyhow::Result<String> {
        let _guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let repo = self.open()?;
        if let Ok(head) = repo.head_commit() {
            let tree = head.tree()?;
            if let Some(existing) = tree.lookup_entry_by_path(file)? {
                let blob = repo.write_blob(body)?.detach();
                anyhow::ensure!(
                    existing.object_id() == blob,
                    "the audit repository already holds {file} with other contents; run `chiffon audit verify`"
                );
                return introducing_commit(&repo, head.id, file);
            }
        }
        commit_file(&repo, file, body, message)
    }

    /// The HEAD commit id, for `/health`; fails when the repository cannot be read.
    pub fn check(&self) -> anyhow::Result<String> {
        let repo = self.open()?;
        let head = repo.head_commit()?;
        Ok(head.id.to_string())
    }

    /// The bytes of `file` as committed in `commit`, if it is there.
    pub fn read(&self, commit: &str, file: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let repo = self.open()?;
        let id = gix::ObjectId::from_hex(commit.as_bytes())?;
        let tree = repo.find_commit(id)?.tree()?;
        let Some(entry) = tree.lookup_entry_by_path(file)? else {
            return Ok(None);
        };
        Ok(Some(repo.find_blob(entry.object_id())?.data.clone()))
    }

    /// Compares the repository with the ledger `entries` (every entry Chiffon stored, in id
    /// order): the history is one unbroken line from the first commit; every commit adds files
    /// and changes none; each written entry's commit is in that line and adds exactly its file
    /// with the bytes whose hash was stored; no commit after the first ledger entry is unknown.
    pub fn verify(&self, entries: &[StoredAuditEntry]) -> anyhow::Result<Verification> {
        let repo = self.open()?;
        let mut report = Verification::default();
        // The line of history, newest first, then reversed.
        let mut chain = Vec::new();
        let mut next = Some(repo.head_id()?.detach());
        while let Some(id) = next {
            let commit = repo.find_commit(id)?;
            let parents: Vec<gix::ObjectId> = commit.parent_ids().map(|p| p.detach()).collect();
            if parents.len() > 1 {
                report.problems.push(format!(
                    "commit {id} merges {} histories; the audit trail must be one line",
                    parents.len()
                ));
            }
            chain.push((id, commit.tree_id()?.detach()));
            next = parents.first().copied();
        }
        chain.reverse();
        report.commits = chain.len();
        let position: std::collections::HashMap<gix::ObjectId, usize> = chain
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let mut by_commit: std::collections::HashMap<gix::ObjectId, &StoredAuditEntry> =
            std::collections::HashMap::new();
        let mut last_position = 0;
        for entry in entries {
            let Some(commit) = &entry.commit_id else {
                report.queued += 1;
                continue;
            };
            let id = gix::ObjectId::from_hex(commit.as_bytes())
                .with_context(|| format!("entry {} has a malformed commit id", entry.id))?;
            match position.get(&id) {
                None => report.problems.push(format!(
                    "entry {} ({}) was committed as {commit}, which is not in the history: the history was rewritten",
                    entry.id, entry.file
                )),
                Some(&at) => {
                    if at < last_position {
                        report.problems.push(format!(
                            "entry {} ({}) is out of order in the history",
                            entry.id, entry.file
                        ));
                    }
                    last_position = at;
                    by_commit.insert(id, entry);
                }
            }
        }
        let first_known = chain
            .iter()
            .position(|(id, _)| by_commit.contains_key(id))
            .unwrap_or(chain.len());
        let mut previous_tree = None;
        for (at, (id, tree)) in chain.iter().enumerate() {
            let mut changes = Vec::new();
            tree_changes(&repo, previous_tree, Some(*tree), "", &mut changes)?;
            previous_tree = Some(*tree);
            for change in &changes {
                if let Change::Modified(path) | Change::Removed(path) = change {
                    report.problems.push(format!(
                        "commit {id} changes {path}, which an earlier commit wrote: entries must never change"
                    ));
                }
            }
            let added: Vec<(&String, &gix::ObjectId)> = changes
                .iter()
                .filter_map(|c| match c {
                    Change::Added(path, blob) => Some((path, blob)),
                    _ => None,
                })
                .collect();
            match by_commit.get(id) {
                Some(entry) => {
                    report.entries_checked += 1;
                    match added.as_slice() {
                        [(path, blob)] if **path == entry.file => {
                            let data = repo.find_blob(**blob)?.data.clone();
                            if sha256_hex(&data) != entry.sha256 {
                                report.problems.push(format!(
                                    "{} in commit {id} differs from what was written (SHA-256 mismatch)",
                                    entry.file
                                ));
                            }
                        }
                        _ => report.problems.push(format!(
                            "commit {id} should add only {} but adds {}",
                            entry.file,
                            added
                                .iter()
                                .map(|(p, _)| p.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    }
                }
                None if at == 0 || at < first_known => report.earlier_commits += 1,
                None => report.problems.push(format!(
                    "commit {id} was not written by Chiffon (no ledger entry names it)"
                )),
            }
        }
        Ok(report)
    }

    /// Pushes the trail to `remote` (a URL or a configured remote name) with the `git`
    /// command, as a fast-forward only: a remote whose history differs refuses the push.
    pub fn push(&self, remote: &str) -> anyhow::Result<String> {
        let repo = self.open()?;
        let branch = repo
            .head_name()?
            .map(|name| name.shorten().to_string())
            .unwrap_or_else(|| "main".to_owned());
        crate::tools::git::push(&self.path, remote, &branch)?;
        Ok(branch)
    }
}

/// What `AuditLog::verify` found.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Verification {
    /// Commits in the history, the first included.
    pub commits: usize,
    /// Ledger entries found in the history with the right contents.
    pub entries_checked: usize,
    /// Ledger entries not yet written (the repository was unavailable).
    pub queued: usize,
    /// Commits before the first ledger entry (the first commit, and entries written before
    /// Chiffon kept hashes): checked for changes, not for contents.
    pub earlier_commits: usize,
    /// Everything wrong, in plain words; empty when the trail is intact.
    pub problems: Vec<String>,
}

enum Change {
    Added(String, gix::ObjectId),
    Modified(String),
    Removed(String),
}

/// The file-level differences between two trees, descending only where ids differ.
fn tree_changes(
    repo: &gix::Repository,
    old: Option<gix::ObjectId>,
    new: Option<gix::ObjectId>,
    prefix: &str,
    out: &mut Vec<Change>,
) -> anyhow::Result<()> {
    let entries = |id: Option<gix::ObjectId>| -> anyhow::Result<std::collections::BTreeMap<String, (bool, gix::ObjectId)>> {
        let Some(id) = id else {
            return Ok(Default::default());
        };
        let tree = repo.find_tree(id)?;
        let decoded = tree.decode()?;
        Ok(decoded
            .entries
            .iter()
            .map(|e| (e.filename.to_string(), (e.mode.is_tree(), e.oid.to_owned())))
            .collect())
    };
    let (old, new) = (entries(old)?, entries(new)?);
    for (name, &(is_tree, id)) in &new {
        let path = format!("{prefix}{name}");
        match old.get(name) {
            Some(&(_, old_id)) if old_id == id => {}
            Some(&(true, old_id)) if is_tree => {
                tree_changes(repo, Some(old_id), Some(id), &format!("{path}/"), out)?;
            }
            Some(_) => out.push(Change::Modified(path)),
            None if is_tree => tree_changes(repo, None, Some(id), &format!("{path}/"), out)?,
            None => out.push(Change::Added(path, id)),
        }
    }
    for name in old.keys().filter(|name| !new.contains_key(*name)) {
        out.push(Change::Removed(format!("{prefix}{name}")));
    }
    Ok(())
}

/// The commit on HEAD's first-parent line that added `file`.
fn introducing_commit(
    repo: &gix::Repository,
    head: gix::ObjectId,
    file: &str,
) -> anyhow::Result<String> {
    let mut current = head;
    loop {
        let commit = repo.find_commit(current)?;
        let Some(parent) = commit.parent_ids().next().map(|p| p.detach()) else {
            return Ok(current.to_string());
        };
        if repo
            .find_commit(parent)?
            .tree()?
            .lookup_entry_by_path(file)?
            .is_none()
        {
            return Ok(current.to_string());
        }
        current = parent;
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

    fn git(repo: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn entry(n: u32) -> AuditEntry {
        AuditEntry {
            kind: "task",
            subject: format!("task {n} succeeded"),
            subject_id: format!("task_{n}"),
            recorded_at: Utc::now(),
            details: serde_json::json!({"n": n, "api_token": "never-written"}),
        }
    }

    /// Writes `n` prepared entries and returns them as the ledger would hold them.
    async fn write_entries(log: &AuditLog, n: u32) -> Vec<StoredAuditEntry> {
        let mut ledger = Vec::new();
        for i in 1..=n {
            let new = prepare(entry(i));
            let commit = log.write(&new.file, &new.body, &new.message).await.unwrap();
            ledger.push(StoredAuditEntry {
                id: i64::from(i),
                kind: new.kind,
                subject_id: new.subject_id,
                file: new.file,
                message: new.message,
                body: new.body,
                sha256: new.sha256,
                recorded_at: new.recorded_at,
                commit_id: Some(commit),
                written_at: Some(Utc::now()),
                attempts: 0,
                last_error: None,
            });
        }
        ledger
    }

    #[tokio::test]
    async fn entries_become_commits_on_top_of_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit");
        let log = AuditLog::open_or_init(&path).unwrap();
        let first = log.check().unwrap();
        let ledger = write_entries(&log, 2).await;
        let (a, b) = (ledger[0].commit_id.clone(), ledger[1].commit_id.clone());
        assert_ne!(a, b);
        assert_ne!(Some(first), a);
        assert_eq!(Some(log.check().unwrap()), b);
        // reopening keeps the history
        let again = AuditLog::open_or_init(&path).unwrap();
        assert_eq!(Some(again.check().unwrap()), b);
        assert_eq!(
            git(&path, &["log", "--format=%s"]),
            "task 2 succeeded\ntask 1 succeeded\nStart the Chiffon audit trail\n"
        );
        let files = git(&path, &["ls-tree", "-r", "--name-only", "HEAD"]);
        assert_eq!(
            files.lines().filter(|f| f.starts_with("entries/")).count(),
            2,
            "{files}"
        );
        let shown = git(&path, &["show", &format!("HEAD:{}", ledger[1].file)]);
        assert!(
            shown.contains("\"n\": 2") && !shown.contains("never-written"),
            "{shown}"
        );
        assert_eq!(sha256_hex(shown.as_bytes()), ledger[1].sha256);
        // Writing an entry again (a crash before the database heard of the commit) adds
        // nothing and answers the original commit.
        let again = log
            .write(&ledger[0].file, &ledger[0].body, &ledger[0].message)
            .await
            .unwrap();
        assert_eq!(Some(again), a);
        assert_eq!(Some(log.check().unwrap()), b);
        let report = log.verify(&ledger).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!((report.commits, report.entries_checked), (3, 2));
    }

    #[tokio::test]
    async fn verify_catches_changed_entries_rewritten_history_and_foreign_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit");
        let log = AuditLog::open_or_init(&path).unwrap();
        let ledger = write_entries(&log, 3).await;
        let head_before = log.check().unwrap();

        // An edit committed on top: caught as a change to a written entry.
        let repo = gix::open(&path).unwrap();
        let edited = ledger[0].body.replace("\"n\": 1", "\"n\": 7");
        assert_ne!(edited, ledger[0].body);
        commit_file(&repo, &ledger[0].file, edited.as_bytes(), "fix typo").unwrap();
        let report = log.verify(&ledger).unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains(&ledger[0].file) && p.contains("never change")),
            "{:?}",
            report.problems
        );
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("not written by Chiffon")),
            "{:?}",
            report.problems
        );

        // History rewritten to hide it (the second entry's commit replaced by another one
        // with edited contents): the ledger's commit is gone from the line.
        assert_ne!(head_before, log.check().unwrap());
        let parent = ledger[0].commit_id.clone().unwrap();
        git(&path, &["update-ref", "HEAD", &parent]);
        let tampered = ledger[1].body.replace("task_2", "task_9");
        assert_ne!(tampered, ledger[1].body);
        commit_file(
            &repo_at(&path),
            &ledger[1].file,
            tampered.as_bytes(),
            &ledger[1].message,
        )
        .unwrap();
        let report = log.verify(&ledger[..2]).unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("not in the history") && p.contains(&ledger[1].file)),
            "{:?}",
            report.problems
        );
    }

    fn repo_at(path: &Path) -> gix::Repository {
        gix::open(path).unwrap()
    }
}
