//! An upgrade's pin change (`docs/repositories.md`, "Upgrades"): the first step of a plan
//! that upgrades a pinned app, which the orchestrator runs itself. When the plan is made, the
//! pin's file is read and the one-line edit (`pin_edit`) is shown as a unified diff in the
//! step's details, with the file's SHA-256 kept in the step; the dry run shows the same diff;
//! after approval the edit is committed to the playbook repository as Chiffon's commit naming
//! the request, audited, and the playbook step that depends on it runs the new version.
//!
//! Invariant: nothing is written before approval; the file is changed only when it is byte for
//! byte what the plan showed the diff against, and committed as exactly that change (a file
//! with uncommitted edits, staged changes or a moved pin fail the step with nothing changed).
//! A restart while it runs finds its commit at HEAD and carries on.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::api::StepPreview;
use crate::audit::AuditEntry;
use crate::catalogue::Catalogue;
use crate::model::{Choice, Plan, Question, Request, Step, Task, TaskStatus};
use crate::orchestrator::pin_edit::{self, PinEdit};
use crate::orchestrator::{Core, revert_commit};
use crate::planner::upgrade::{self, CHANGE_PIN, PIN_FILE, PIN_FROM, PIN_TO, PIN_VAR};
use crate::protocol::{ResultStatus, TaskResult};

/// The step's variable holding the SHA-256 of the pin's file when the plan was made.
const PIN_SHA256: &str = "chiffon_pin_sha256";

/// A pin change as its step names it.
struct Change {
    file: String,
    var: String,
    from: String,
    to: String,
    sha256: Option<String>,
}

impl Change {
    fn of(step: &Step) -> Self {
        let var = |k: &str| {
            step.extra_vars
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            file: var(PIN_FILE),
            var: var(PIN_VAR),
            from: var(PIN_FROM),
            to: var(PIN_TO),
            sha256: step
                .extra_vars
                .get(PIN_SHA256)
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        }
    }

    fn edit(&self) -> PinEdit<'_> {
        PinEdit {
            file: &self.file,
            var: &self.var,
            from: &self.from,
            to: &self.to,
        }
    }

    /// The file's text and the edited text, or why not.
    fn read_and_edit(&self, repo: &Path) -> anyhow::Result<(String, String)> {
        let path = inside(repo, &self.file)?;
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", self.file))?;
        let edited = pin_edit::apply(&text, &self.edit())?;
        Ok((text, edited))
    }

    /// The commit message: Chiffon's, naming the request.
    fn message(&self, request: &Request) -> String {
        format!(
            "Change the pin {} in {} from {} to {}\n\nUpgrade requested in Chiffon: {}\n\nApproved in request {}.\n",
            self.var, self.file, self.from, self.to, request.text, request.id
        )
    }
}

/// The path of `rel` inside `repo`: relative, no `..`, a regular file (not a link) whose
/// folder resolves inside the repository.
fn inside(repo: &Path, rel: &str) -> anyhow::Result<PathBuf> {
    let relative = Path::new(rel);
    anyhow::ensure!(
        !rel.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
        "{rel:?} is not a path inside the playbook repository"
    );
    let path = repo.join(relative);
    let meta = std::fs::symlink_metadata(&path).with_context(|| format!("cannot read {rel}"))?;
    anyhow::ensure!(meta.is_file(), "{rel} is not a regular file");
    let root = repo.canonicalize()?;
    let real = path.canonicalize()?;
    anyhow::ensure!(
        real.starts_with(&root),
        "{rel} is outside the playbook repository"
    );
    Ok(path)
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The unified diff of the change, as the step's details and the preview show it; a secret
/// on a context line (`db_password: …` beside the pin) is hidden, since the plan is stored and
/// audited.
fn diff(file: &str, before: &str, after: &str) -> String {
    let new: Vec<String> = after.lines().map(str::to_owned).collect();
    crate::redact::text(&crate::suggest::unified(file, before, &new)).into_owned()
}

impl Core {
    /// Reads each pin change's file: its diff goes in the step's details and the file's hash
    /// in the step. A pin Chiffon cannot change as written takes the change out of the plan
    /// and asks instead (re-run at the pinned version, or say another way).
    pub(crate) fn attach_pin_changes(&self, plan: &mut Plan) {
        let repo = &self.config.playbooks;
        let mut refused: Vec<(String, Question)> = Vec::new();
        for step in &mut plan.steps {
            if step.action != CHANGE_PIN {
                continue;
            }
            let change = Change::of(step);
            match change.read_and_edit(repo) {
                Ok((text, edited)) => {
                    step.details = vec![diff(&change.file, &text, &edited)];
                    step.extra_vars
                        .insert(PIN_SHA256.to_owned(), json!(sha256(&text)));
                }
                Err(error) => {
                    let service = step.service.clone().unwrap_or_default();
                    let mut question = upgrade::version_question(
                        &service,
                        &change.file,
                        &change.var,
                        upgrade::current_tag(&change.from),
                    );
                    question.text = format!(
                        "Chiffon cannot change the pin: {error:#}. Re-run at the pinned version, or change the pin yourself and ask again."
                    );
                    refused.push((step.id.clone(), question));
                }
            }
        }
        for (id, question) in refused {
            plan.steps
                .retain(|s| s.id != id && !s.depends_on.contains(&id));
            plan.open_questions.push(question.text.clone());
            plan.questions.push(question);
        }
    }

    /// An upgrade that named no version: the registry's newest tag shaped like the pinned one
    /// is the answer to the plan's "which version?" question (returned, for the plan to be made
    /// again with it: the diff shows it and the approval covers it); a registry that has none
    /// or does not answer is said in the plan's risk reasons, and the question stays.
    pub(crate) async fn newest_versions(
        &self,
        plan: &mut Plan,
        catalogue: &Catalogue,
    ) -> Vec<Question> {
        let mut found = Vec::new();
        if !self.config.registry_lookup {
            return found;
        }
        for question in &plan.questions {
            let Some(service) = question.id.strip_prefix("version:") else {
                continue;
            };
            if question.answer.is_some() {
                continue;
            }
            let repository = &catalogue.repository;
            let Some(image) = repository
                .apps
                .iter()
                .filter(|a| a.service == service)
                .find_map(|a| a.image.as_deref())
                .map(|image| repository.expand(image))
            else {
                continue;
            };
            match crate::orchestrator::pin_registry::newest(&self.planning.http, &image).await {
                Ok(Some(tag)) => {
                    let mut answered = question.clone();
                    answered.choices.push(Choice {
                        id: tag.clone(),
                        label: format!(
                            "the newest release shaped like {image} in its registry, looked up when the plan was made"
                        ),
                    });
                    answered.answer = Some(tag);
                    found.push(answered);
                }
                Ok(None) => plan.risk.reasons.push(format!(
                    "the registry of {image} has no newer release of the same form"
                )),
                Err(error) => plan.risk.reasons.push(format!(
                    "Chiffon could not ask the registry of {image} for newer releases: {error:#}"
                )),
            }
        }
        found
    }

    /// Runs an approved pin change here, in the orchestrator: the file checked against the
    /// plan, edited, committed as Chiffon's commit naming the request, audited; the catalogue
    /// is re-read so the next plans see the new pin.
    ///
    /// The task stays `queued` while it runs: a restart in between closes it and runs the step
    /// again, which finds its commit at HEAD and succeeds with it.
    pub(crate) async fn run_pin_change(
        &self,
        request: &Request,
        step: &Step,
        mut task: Task,
    ) -> anyhow::Result<TaskStatus> {
        self.store.insert_task(&task).await?;
        self.emit_task(&task);
        let change = Change::of(step);
        let repo = self.config.playbooks.clone();
        let message = change.message(request);
        let marker = format!("Approved in request {}.", request.id);
        let started = std::time::Instant::now();
        let done = {
            let change = Change::of(step);
            tokio::task::spawn_blocking(move || commit_change(&repo, &change, &message, &marker))
                .await?
        };
        let mut result = TaskResult::failed(task.id.as_str(), String::new(), None);
        result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match done {
            Ok((commit, diff)) => {
                result.outcome = ResultStatus::Succeeded;
                result.error = None;
                // What changed, like a run's changes: undoing the request reverts this commit.
                result.changes.push(revert_commit::commit_change(
                    &step.title,
                    &change.file,
                    (&change.from, &change.to),
                    &commit,
                    &diff,
                ));
                self.keep_changes(&task.id, &mut result).await?;
                self.reload_catalogue();
                self.record_audit(AuditEntry {
                    kind: "playbook_change",
                    subject: format!(
                        "change the pin {} in {} from {} to {} (commit {commit}), approved in request {}",
                        change.var, change.file, change.from, change.to, request.id
                    ),
                    subject_id: request.id.to_string(),
                    recorded_at: Utc::now(),
                    details: json!({
                        "file": change.file,
                        "var": change.var,
                        "from": change.from,
                        "to": change.to,
                        "diff": diff,
                        "playbook_commit": commit,
                        "playbook_repository": self.config.playbooks,
                        "request": request.id,
                        "task": task.id,
                    }),
                })
                .await?;
            }
            Err(error) => result.error = Some(format!("{error:#}")),
        }
        self.conclude(request, step, &mut task, result).await
    }

    /// The dry run of a pin change: the diff it would commit, or why it would fail.
    pub(crate) fn preview_pin_change(&self, step: &Step, preview: StepPreview) -> StepPreview {
        let change = Change::of(step);
        let checked = change
            .read_and_edit(&self.config.playbooks)
            .and_then(|(text, edited)| {
                unchanged_since_plan(&change, &text)?;
                Ok(diff(&change.file, &text, &edited))
            });
        revert_commit::repository_preview(preview, step, checked)
    }
}

/// Refuses a file that is not what the plan read.
fn unchanged_since_plan(change: &Change, text: &str) -> anyhow::Result<()> {
    if let Some(planned) = &change.sha256 {
        anyhow::ensure!(
            *planned == sha256(text),
            "{} changed since the plan was made; nothing was changed: ask again to plan against it as it is now",
            change.file
        );
    }
    Ok(())
}

/// Edits and commits the pin (blocking: git and files); returns the commit and the diff. A
/// commit of this request already at HEAD (made before a restart) is the answer.
fn commit_change(
    repo: &Path,
    change: &Change,
    message: &str,
    marker: &str,
) -> anyhow::Result<(String, String)> {
    let path = inside(repo, &change.file)?;
    let git = gix::open(repo).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a git repository ({e}); Chiffon commits every change it makes to it",
            repo.display()
        )
    })?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", change.file))?;
    let head = git.head_commit().ok();
    let committed = head
        .as_ref()
        .map(|c| c.message_raw_sloppy().to_string())
        .is_some_and(|m| m.contains(marker));
    if committed && let Some(head) = head {
        // Made before a restart: the file may still need writing.
        let blob = head_blob(&git, &change.file)?.unwrap_or_default();
        if text != blob && unchanged_since_plan(change, &text).is_ok() {
            std::fs::write(&path, &blob)?;
        }
        return Ok((head.id.to_string(), diff(&change.file, &text, &blob)));
    }
    unchanged_since_plan(change, &text)?;
    let in_head = head_blob(&git, &change.file)?;
    anyhow::ensure!(
        in_head.as_deref() == Some(text.as_str()),
        "{} has changes that are not committed; commit or discard them first, so that Chiffon's commit holds only the pin",
        change.file
    );
    let edited = pin_edit::apply(&text, &change.edit())?;
    crate::suggest::apply::ensure_nothing_staged(&git)?;
    let commit = crate::suggest::apply::commit(&git, &change.file, edited.as_bytes(), message)?;
    std::fs::write(&path, &edited).with_context(|| format!("cannot write {}", change.file))?;
    Ok((commit, diff(&change.file, &text, &edited)))
}

/// The text of `file` in HEAD's tree, if it is there.
fn head_blob(git: &gix::Repository, file: &str) -> anyhow::Result<Option<String>> {
    let Ok(head) = git.head_commit() else {
        return Ok(None);
    };
    let tree = head.tree()?;
    let Some(entry) = tree.lookup_entry_by_path(file)? else {
        return Ok(None);
    };
    let object = entry.object()?;
    Ok(Some(String::from_utf8_lossy(&object.data).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "group_vars/all/versions.yml";
    const TEXT: &str = "# pinned here\nsonarr_image: docker.io/linuxserver/sonarr:4.0.15\nadguard_image: docker.io/adguard/adguardhome:v0.107.52\n";

    fn change(planned: &str) -> Change {
        Change {
            file: FILE.to_owned(),
            var: "sonarr_image".to_owned(),
            from: "docker.io/linuxserver/sonarr:4.0.15".to_owned(),
            to: "docker.io/linuxserver/sonarr:4.0.16".to_owned(),
            sha256: Some(sha256(planned)),
        }
    }

    fn head(repo: &Path) -> String {
        gix::open(repo).unwrap().head_id().unwrap().to_string()
    }

    #[test]
    fn a_rerun_after_a_restart_finds_its_commit_and_uncommitted_or_moved_files_are_refused() {
        let dir = crate::repo::scratch(&[(FILE, TEXT)]);
        let repo = dir.path();
        let git = gix::init(repo).unwrap();
        let first = crate::suggest::apply::commit(&git, FILE, TEXT.as_bytes(), "homelab").unwrap();
        let marker = "Approved in request req_1.";
        let message = format!("Change the pin\n\n{marker}\n");
        let edited = TEXT.replace("sonarr:4.0.15", "sonarr:4.0.16");

        // The owner's edit, not committed, was there when the plan was made: Chiffon's commit
        // would carry it, so nothing is done.
        let theirs = TEXT.replace("# pinned here", "# pinned here, by me");
        std::fs::write(repo.join(FILE), &theirs).unwrap();
        let refused = commit_change(repo, &change(&theirs), &message, marker).unwrap_err();
        assert!(
            format!("{refused:#}").contains("not committed"),
            "{refused:#}"
        );
        assert_eq!(std::fs::read_to_string(repo.join(FILE)).unwrap(), theirs);
        assert_eq!(head(repo), first);

        // Committed once, exactly the pin's line.
        std::fs::write(repo.join(FILE), TEXT).unwrap();
        let (commit, diff) = commit_change(repo, &change(TEXT), &message, marker).unwrap();
        assert_ne!(commit, first);
        assert_eq!(head(repo), commit);
        assert_eq!(std::fs::read_to_string(repo.join(FILE)).unwrap(), edited);
        assert!(diff.contains("-sonarr_image: docker.io/linuxserver/sonarr:4.0.15\n+sonarr_image: docker.io/linuxserver/sonarr:4.0.16\n"), "{diff}");

        // Run again after a restart: the same commit, no second one.
        let (again, _) = commit_change(repo, &change(TEXT), &message, marker).unwrap();
        assert_eq!(again, commit);
        assert_eq!(head(repo), commit);
        // Stopped between the commit and writing the file: the file is written now.
        std::fs::write(repo.join(FILE), TEXT).unwrap();
        let (again, _) = commit_change(repo, &change(TEXT), &message, marker).unwrap();
        assert_eq!(again, commit);
        assert_eq!(std::fs::read_to_string(repo.join(FILE)).unwrap(), edited);

        // Another request planned against the old text: the file moved since, nothing changes.
        let other = "Approved in request req_2.";
        let refused =
            commit_change(repo, &change(TEXT), &format!("x\n\n{other}\n"), other).unwrap_err();
        assert!(
            format!("{refused:#}").contains("changed since the plan was made"),
            "{refused:#}"
        );
        assert_eq!(head(repo), commit);
        assert_eq!(std::fs::read_to_string(repo.join(FILE)).unwrap(), edited);
    }

    #[test]
    fn a_secret_beside_the_pin_never_reaches_the_diff() {
        let before = "jellyfin_version: 10.9.11\njellyfin_db_password: hunter2-very-secret\n";
        let after = before.replace("10.9.11", "10.9.2");
        let shown = diff("vars/main.yml", before, &after);
        assert!(shown.contains("+jellyfin_version: 10.9.2"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn only_a_regular_file_inside_the_repository_is_edited() {
        let dir = crate::repo::scratch(&[(FILE, TEXT)]);
        let repo = dir.path();
        for bad in ["../etc/passwd", "/etc/passwd", "", "group_vars/../../x"] {
            assert!(inside(repo, bad).is_err(), "{bad}");
        }
        std::os::unix::fs::symlink("/etc/hostname", repo.join("link.yml")).unwrap();
        assert!(inside(repo, "link.yml").is_err());
        assert!(inside(repo, FILE).is_ok());
    }
}
