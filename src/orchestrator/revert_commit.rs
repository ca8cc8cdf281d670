//! Undoing Chiffon's own commits to the playbook repository (an applied suggestion,
//! `docs/revert.md`): a NEW request whose plan has one step the orchestrator runs itself, a
//! `git revert` of that commit as a new commit, shown with its risk and approved like any plan.
//!
//! Invariant: history is never rewritten (the undo is a new commit naming the one it
//! reverts), only commits Chiffon made applying a suggestion are undone, and a revert that
//! clashes with a later change is refused with the files named, the repository untouched.

use chrono::Utc;
use serde_json::json;

use crate::api::{PreviewDiff, StepPreview};
use crate::audit::AuditEntry;
use crate::model::change::{Change, ResourceState};
use crate::model::{
    AgentType, Plan, Request, RequestId, RequestStatus, Resources, Risk, RiskLevel, Step, Task,
    TaskStatus,
};
use crate::orchestrator::Core;
use crate::orchestrator::live::LiveEvent;
use crate::protocol::{ResultStatus, TaskResult};
use crate::tools::git::{self, CommitInfo};

/// The step action the orchestrator performs itself, not an agent.
pub const ACTION: &str = "revert_commit";
/// The step's variable naming the commit it reverts (its full id).
const COMMIT_VAR: &str = "chiffon_revert_commit";
/// How Chiffon's commits applying a suggestion begin (`suggest::apply`).
const APPLIED_PREFIX: &str = "Apply suggestion ";
/// How Chiffon's commits changing a version pin begin (`pin_change`).
const PIN_PREFIX: &str = "Change the pin ";
/// The host a change to the playbook repository is recorded on.
pub const REPOSITORY_HOST: &str = "playbook repository";

/// Why a commit cannot be reverted; nothing was created.
#[derive(Debug, thiserror::Error)]
pub enum CommitRevertRefused {
    #[error("no commit {0} in the playbook repository")]
    NotFound(String),
    #[error(
        "commit {0} is not one of Chiffon's applied suggestions or pin changes (\"{1}\"); revert it with git yourself"
    )]
    NotApplied(String, String),
    #[error("commit {0} is not on the playbook repository's current branch")]
    NotOnHead(String),
    #[error("commit {0} was already reverted by commit {1}")]
    AlreadyReverted(String, String),
    #[error(
        "conflict: later commits changed the same lines of {files} since commit {0}; resolve it with `git revert {0}` in the playbook repository yourself",
        files = .1.join(", ")
    )]
    Conflict(String, Vec<String>),
}

impl Core {
    /// Plans the revert of the applied suggestion's `commit` as a new request awaiting
    /// approval; refused (nothing created) when it cannot apply cleanly now.
    pub async fn plan_commit_revert(
        &self,
        commit: &str,
    ) -> anyhow::Result<Result<Request, CommitRevertRefused>> {
        let repo = self.config.playbooks.clone();
        let wanted = commit.to_owned();
        let checked = tokio::task::spawn_blocking(move || check(&repo, &wanted)).await??;
        let info = match checked {
            Ok(info) => info,
            Err(refused) => return Ok(Err(refused)),
        };
        let now = Utc::now();
        let request = Request {
            id: RequestId::generate(),
            text: format!(
                "Undo commit {} of the playbook repository: {}",
                short(&info.id),
                info.subject
            ),
            status: RequestStatus::AwaitingApproval,
            high_value: false,
            plan: plan(&info),
            reason: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_request(&request).await?;
        tracing::info!(request = %request.id, commit = %info.id, "planned the revert of a playbook commit");
        self.emit(LiveEvent::Request {
            request_id: request.id.to_string(),
            status: request.status,
            reason: Some(format!("reverts playbook commit {}", short(&info.id))),
            at: now,
        });
        Ok(Ok(request))
    }

    /// Runs an approved `revert_commit` step here, in the orchestrator: checked again (the
    /// repository may have moved since the plan), reverted as a new commit, stored and
    /// audited like any task, plus a `playbook_change` audit entry naming both commits.
    ///
    /// The task stays `queued` while git runs: a restart in between closes it and runs the
    /// step again, which finds the revert already made and succeeds with it.
    pub(crate) async fn run_commit_revert(
        &self,
        request: &Request,
        step: &Step,
        mut task: Task,
    ) -> anyhow::Result<TaskStatus> {
        self.store.insert_task(&task).await?;
        self.emit_task(&task);
        let commit = step.extra_vars[COMMIT_VAR]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let repo = self.config.playbooks.clone();
        let message = format!(
            "Revert playbook commit {commit}\n\nThis reverts commit {commit}.\n\nApproved in request {}.\n",
            request.id
        );
        let started = std::time::Instant::now();
        let wanted = commit.clone();
        let done = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
            match check(&repo, &wanted)? {
                Ok(info) => git::revert(&repo, &info.id, &message),
                Err(CommitRevertRefused::AlreadyReverted(_, by)) => Ok(by),
                Err(refused) => Err(refused.into()),
            }
        })
        .await?;
        let mut result = TaskResult::failed(task.id.as_str(), String::new(), None);
        result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match done {
            Ok(new_commit) => {
                result.outcome = ResultStatus::Succeeded;
                result.error = None;
                self.reload_catalogue();
                self.record_audit(AuditEntry {
                    kind: "playbook_change",
                    subject: format!(
                        "revert commit {commit} of the playbook repository (commit {new_commit}), approved in request {}",
                        request.id
                    ),
                    subject_id: request.id.to_string(),
                    recorded_at: Utc::now(),
                    details: json!({
                        "reverts_commit": commit,
                        "playbook_commit": new_commit,
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

    /// The preview of a `revert_commit` step: the change it would commit, or why it would
    /// fail (a conflict), without touching the repository.
    pub(crate) async fn preview_commit_revert(
        &self,
        step: &Step,
        preview: StepPreview,
    ) -> StepPreview {
        let commit = step.extra_vars[COMMIT_VAR]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let repo = self.config.playbooks.clone();
        let found = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
            let info = check(&repo, &commit)??;
            git::revert_diff(&repo, &info.id)
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
        repository_preview(preview, step, found)
    }
}

/// The commit behind `commit`, if Chiffon may revert it now, or why not.
fn check(
    repo: &std::path::Path,
    commit: &str,
) -> anyhow::Result<Result<CommitInfo, CommitRevertRefused>> {
    let Some(info) = git::commit_info(repo, commit)? else {
        return Ok(Err(CommitRevertRefused::NotFound(commit.to_owned())));
    };
    if !info.subject.starts_with(APPLIED_PREFIX) && !info.subject.starts_with(PIN_PREFIX) {
        return Ok(Err(CommitRevertRefused::NotApplied(info.id, info.subject)));
    }
    if !info.on_head {
        return Ok(Err(CommitRevertRefused::NotOnHead(info.id)));
    }
    if let Some(by) = info.reverted_by {
        return Ok(Err(CommitRevertRefused::AlreadyReverted(info.id, by)));
    }
    let conflicts = git::revert_conflicts(repo, &info.id)?;
    if !conflicts.is_empty() {
        return Ok(Err(CommitRevertRefused::Conflict(info.id, conflicts)));
    }
    Ok(Ok(info))
}

/// The dry run of a step that commits to the playbook repository (a commit revert, a pin
/// change): the diff it would commit, or why it would fail.
pub(crate) fn repository_preview(
    mut preview: StepPreview,
    step: &Step,
    found: anyhow::Result<String>,
) -> StepPreview {
    match found {
        Ok(diff) => {
            preview.outcome = "would_change".to_owned();
            preview.changed = 1;
            preview.diffs.push(PreviewDiff {
                host: REPOSITORY_HOST.to_owned(),
                task: step.title.clone(),
                diff,
            });
        }
        Err(error) => {
            preview.outcome = "would_fail".to_owned();
            preview.error = Some(format!("{error:#}"));
        }
    }
    preview
}

/// A step the orchestrator runs itself: revert `commit` as a new commit.
fn revert_step(
    id: String,
    commit: &str,
    title: String,
    details: Vec<String>,
    depends_on: Vec<String>,
) -> Step {
    let mut extra_vars = serde_json::Map::new();
    extra_vars.insert(COMMIT_VAR.into(), json!(commit));
    Step {
        id,
        title,
        action: ACTION.to_owned(),
        agent_type: AgentType::Infra,
        playbook: None,
        service: None,
        limit: None,
        depends_on,
        estimated_duration_s: 1,
        resources: Resources::default(),
        tags: Vec::new(),
        extra_vars,
        status: "pending".to_owned(),
        details,
        warnings: Vec::new(),
    }
}

/// The record of Chiffon's own commit to the playbook repository (a pin change), kept with the
/// task's changes so that `chiffon changes` shows it and undoing the request reverts it.
pub(crate) fn commit_change(
    task: &str,
    file: &str,
    (from, to): (&str, &str),
    commit: &str,
    diff: &str,
) -> Change {
    Change {
        host: REPOSITORY_HOST.to_owned(),
        task: task.to_owned(),
        module: "chiffon change_pin".to_owned(),
        kind: "commit".to_owned(),
        target: file.to_owned(),
        existed: Some(true),
        before: Some(ResourceState {
            version: Some(from.to_owned()),
            ..ResourceState::default()
        }),
        after: Some(ResourceState {
            version: Some(to.to_owned()),
            sha1: Some(commit.to_owned()),
            ..ResourceState::default()
        }),
        before_content: None,
        after_content: None,
        diff: Some(diff.to_owned()),
        reversible: true,
        note: Some(format!(
            "Chiffon's commit {} to the playbook repository; undone by reverting it as a new commit",
            short(commit)
        )),
    }
}

/// The steps that revert Chiffon's commits among `commits` (kind `commit`), latest first, each
/// after the step before it (`after`, then each other); one line each for the plan's reasons.
pub(crate) fn undo_steps(
    commits: &[&Change],
    mut after: Option<String>,
    first: usize,
) -> (Vec<Step>, Vec<String>) {
    let mut steps = Vec::new();
    let mut lines = Vec::new();
    for change in commits.iter().rev() {
        let Some(commit) = change.after.as_ref().and_then(|a| a.sha1.clone()) else {
            continue;
        };
        let id = format!("s{}", first + steps.len() + 1);
        lines.push(format!(
            "reverts Chiffon's commit {} to the playbook repository ({}) as a new commit",
            short(&commit),
            change.target
        ));
        steps.push(revert_step(
            id.clone(),
            &commit,
            format!(
                "Revert playbook commit {} ({}) as a new commit",
                short(&commit),
                change.target
            ),
            vec![change.task.clone()],
            after.take().into_iter().collect(),
        ));
        after = Some(id);
    }
    (steps, lines)
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// One step, run by the orchestrator: the revert commit.
fn plan(info: &CommitInfo) -> Plan {
    let step = revert_step(
        "s1".to_owned(),
        &info.id,
        format!("Revert playbook commit {} as a new commit", short(&info.id)),
        vec![info.subject.clone()],
        Vec::new(),
    );
    let reasons = vec![
        format!(
            "reverts commit {} (\"{}\") of the playbook repository as a new commit; history is not rewritten",
            info.id, info.subject
        ),
        format!("files: {}", info.files.join(", ")),
        "changes the playbook repository only, no host: the next run of the playbooks that use these files applies it".to_owned(),
    ];
    Plan {
        version: 1,
        planner: "revert".to_owned(),
        steps: vec![step],
        risk: Risk {
            level: RiskLevel::Low,
            reasons,
        },
        approval_required: true,
        estimated_duration_s: 1,
        open_questions: Vec::new(),
        questions: Vec::new(),
    }
}
