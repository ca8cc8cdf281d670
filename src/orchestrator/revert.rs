//! Reversible by design (`docs/revert.md`): what a run changed is kept when its result
//! arrives, and `revert` turns a finished request's changes into a NEW request whose plan puts
//! them back (per host, in reverse order: a step of Chiffon's built-in `revert_files.yml`, and
//! around it the containers' steps of `revert_containers.yml`), awaiting approval like any plan. What cannot be undone is named in the plan's risk reasons.
//!
//! Invariant: a revert plan restores only content the store kept exactly (never a secret's,
//! never a `no_log` task's), and a path changed since the run is a conflict the play stops on
//! before it changes anything, unless the person chose `keep_theirs` or `restore_ours` (with
//! the revert, or by answering the question its dry run asks: `revert_conflicts`).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::Utc;
use serde_json::{Value, json};

use crate::api::Resolution;
use crate::model::change::Change;
use crate::model::{
    AgentType, Plan, Request, RequestId, RequestStatus, Resources, Risk, RiskLevel, Step, TaskId,
};
use crate::orchestrator::Core;
use crate::orchestrator::live::LiveEvent;
use crate::orchestrator::revert_containers::{REVERT_CONTAINERS_PLAYBOOK, undo_containers};
use crate::orchestrator::revert_resources::undo_resources;
use crate::protocol::TaskResult;
use crate::store::{RevertLink, StoredChange};

/// The built-in action that puts files back.
pub const REVERT_PLAYBOOK: &str = "chiffon:ansible/actions/revert_files.yml";

/// Why a revert cannot be made; each is the person's to fix, nothing was created.
#[derive(Debug, thiserror::Error)]
pub enum RevertRefused {
    #[error("request {0} is {1}: only a finished request can be undone")]
    NotFinished(String, RequestStatus),
    #[error("task {0} is not a task of request {1}")]
    ForeignTask(String, String),
    #[error("request {0} recorded no change Chiffon can undo{1}")]
    NothingToUndo(String, String),
}

impl Core {
    /// Keeps what a task's run changed (secrets withheld again with the orchestrator's own
    /// list), then leaves only a summary in the result, so the audit entry says what changed
    /// without carrying file content.
    pub(crate) async fn keep_changes(
        &self,
        task_id: &TaskId,
        result: &mut TaskResult,
    ) -> anyhow::Result<()> {
        if result.changes.is_empty() {
            return Ok(());
        }
        let Some(task) = self.store.get_task(task_id).await? else {
            return Ok(()); // a preview's result: previews change nothing
        };
        for change in &mut result.changes {
            change.withhold_secrets(|text| crate::redact::text(text).into_owned());
        }
        self.store
            .record_changes(task_id, &task.request_id, &result.changes)
            .await?;
        for change in &mut result.changes {
            change.before_content = None;
            change.after_content = None;
            change.diff = None;
        }
        Ok(())
    }

    /// Plans the undo of `original` (its `tasks`, or all of them) as a new request awaiting
    /// approval, linked to the one it reverts.
    pub async fn revert(
        &self,
        original: &Request,
        tasks: &[TaskId],
        resolve: &[Resolution],
    ) -> anyhow::Result<Result<Request, RevertRefused>> {
        if !matches!(
            original.status,
            RequestStatus::Succeeded | RequestStatus::Failed | RequestStatus::Aborted
        ) {
            return Ok(Err(RevertRefused::NotFinished(
                original.id.to_string(),
                original.status,
            )));
        }
        let mut changes = self.store.request_changes(&original.id, true).await?;
        if !tasks.is_empty() {
            for task in tasks {
                let known = self.store.get_task(task).await?;
                if known.is_none_or(|t| t.request_id != original.id) {
                    return Ok(Err(RevertRefused::ForeignTask(
                        task.to_string(),
                        original.id.to_string(),
                    )));
                }
            }
            changes.retain(|c| tasks.contains(&c.task_id));
        }
        let undo = plan_revert(original, &changes, resolve);
        if undo.plan.steps.is_empty() {
            let why = if undo.irreversible.is_empty() {
                String::new()
            } else {
                format!(": {}", undo.irreversible.join("; "))
            };
            return Ok(Err(RevertRefused::NothingToUndo(
                original.id.to_string(),
                why,
            )));
        }
        let now = Utc::now();
        let request = Request {
            id: RequestId::generate(),
            text: format!("Undo request {}: {}", original.id, original.text),
            status: RequestStatus::AwaitingApproval,
            high_value: false,
            plan: undo.plan,
            reason: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_request(&request).await?;
        let undone: Vec<TaskId> = if tasks.is_empty() {
            let mut ids: Vec<TaskId> = changes.iter().map(|c| c.task_id.clone()).collect();
            ids.dedup();
            ids
        } else {
            tasks.to_vec()
        };
        self.store
            .record_revert(&RevertLink {
                request_id: request.id.clone(),
                reverts: original.id.clone(),
                tasks: undone,
            })
            .await?;
        tracing::info!(request = %request.id, reverts = %original.id, steps = request.plan.steps.len(), "planned an undo");
        self.emit(LiveEvent::Request {
            request_id: request.id.to_string(),
            status: request.status,
            reason: Some(format!("undoes request {}", original.id)),
            at: now,
        });
        Ok(Ok(request))
    }
}

/// A revert plan and what it cannot undo.
#[derive(Debug)]
pub struct RevertPlan {
    pub plan: Plan,
    /// One line per change that stays, with the reason.
    pub irreversible: Vec<String>,
}

/// One path on one host, from the first change the run made to it to the last.
struct PathHistory<'a> {
    first: &'a Change,
    last: &'a Change,
}

/// The plan that undoes `changes` (in the order they happened) of `original`: per host, every
/// path back to its state before its first change, checked against its state after its last;
/// services back to their state before the run, packages the run installed removed
/// (`revert_resources`); containers back on their previous definition, or removed when the
/// run created them (`revert_containers`, a step before and one after the files').
pub fn plan_revert(
    original: &Request,
    changes: &[StoredChange],
    resolve: &[Resolution],
) -> RevertPlan {
    let mut irreversible = Vec::new();
    // Hosts in the order they were last changed, so the latest is undone first.
    let mut hosts: Vec<&str> = Vec::new();
    let mut paths: BTreeMap<&str, Vec<(&str, PathHistory<'_>)>> = BTreeMap::new();
    // Per host, the compose projects the run brought up (first time each).
    let mut projects: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    // Per host, its service and package changes; Chiffon's own commits to the repository.
    let mut resources: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    let mut commits: Vec<&Change> = Vec::new();
    // Per host, its container changes.
    let mut containers: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for stored in changes {
        let change = &stored.change;
        if change.kind == "commit" {
            commits.push(change);
            continue;
        }
        hosts.retain(|h| *h != change.host);
        hosts.push(&change.host);
        if change.kind == "compose" {
            let list = projects.entry(&change.host).or_default();
            if !list.iter().any(|c| c.target == change.target) {
                list.push(change);
            }
            continue;
        }
        if matches!(change.kind.as_str(), "service" | "package") {
            resources.entry(&change.host).or_default().push(change);
            continue;
        }
        if change.kind == "container" {
            containers.entry(&change.host).or_default().push(change);
            continue;
        }
        if !matches!(change.kind.as_str(), "file" | "directory" | "link") {
            irreversible.push(cannot_undo(change));
            continue;
        }
        let list = paths.entry(&change.host).or_default();
        match list.iter_mut().find(|(path, _)| *path == change.target) {
            Some((_, history)) => history.last = change,
            None => list.push((
                &change.target,
                PathHistory {
                    first: change,
                    last: change,
                },
            )),
        }
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut lines = Vec::new();
    let mut nothing = Vec::new();
    let mut counts = Counts::default();
    for host in hosts.iter().rev() {
        let entries = file_entries(
            host,
            paths.get(host).map(Vec::as_slice).unwrap_or_default(),
            resolve,
            &mut counts,
            &mut irreversible,
        );
        let compose = compose_entries(
            host,
            projects.get(host).map(Vec::as_slice).unwrap_or_default(),
            &entries,
            &mut lines,
            &mut irreversible,
        );
        let undo = undo_resources(
            host,
            resources.get(host).map(Vec::as_slice).unwrap_or_default(),
        );
        irreversible.extend(undo.irreversible);
        nothing.extend(undo.nothing);
        lines.extend(undo.lines);
        let boxes = undo_containers(
            host,
            containers.get(host).map(Vec::as_slice).unwrap_or_default(),
        );
        irreversible.extend(boxes.irreversible);
        nothing.extend(boxes.nothing);
        lines.extend(boxes.lines);
        counts.containers_removed += boxes.remove.len();
        counts.containers_restored += boxes.recreate.len();
        let files = !(entries.is_empty() && undo.services.is_empty() && undo.packages.is_empty());
        // Containers the run created go before the files it made; the others come back on
        // their previous files, after them. Without a files step, one step does both.
        let (before, after) = if files {
            (boxes.remove, boxes.recreate)
        } else {
            ([boxes.remove, boxes.recreate].concat(), Vec::new())
        };
        push_containers_step(&mut steps, original, host, before);
        if files {
            counts.services += undo.services.len();
            counts.packages += undo.packages.len();
            let title = format!(
                "Put back {} on {host} as they were before request {}",
                what_is_put_back(entries.len(), undo.services.len(), undo.packages.len()),
                original.id.short()
            );
            let extra_vars = files_vars(host, entries, compose, undo.services, &undo.packages);
            push_step(
                &mut steps,
                original,
                host,
                title,
                REVERT_PLAYBOOK,
                extra_vars,
            );
        }
        push_containers_step(&mut steps, original, host, after);
    }
    let after = steps.last().map(|s| s.id.clone());
    let (reverts, commit_lines) = super::revert_commit::undo_steps(&commits, after, steps.len());
    steps.extend(reverts);
    lines.extend(commit_lines);
    let reasons = risk_reasons(original, &counts, lines, &nothing, &irreversible);
    let level = if irreversible.is_empty() {
        RiskLevel::Medium
    } else {
        RiskLevel::High
    };
    let estimated_duration_s = steps.iter().map(|s| s.estimated_duration_s).sum();
    RevertPlan {
        plan: Plan {
            version: 1,
            planner: "revert".to_owned(),
            steps,
            risk: Risk { level, reasons },
            approval_required: true,
            estimated_duration_s,
            open_questions: Vec::new(),
            questions: Vec::new(),
        },
        irreversible,
    }
}

/// The entries of the compose projects the run brought up on `host`, given its file entries;
/// what each does goes to `lines`, what cannot be done to `irreversible`.
fn compose_entries(
    host: &str,
    projects: &[&Change],
    files: &[Value],
    lines: &mut Vec<String>,
    irreversible: &mut Vec<String>,
) -> Vec<Value> {
    let mut compose = Vec::new();
    for project in projects {
        match compose_entry(project, files) {
            Ok(entry) => {
                lines.push(compose_line(host, &entry));
                compose.push(entry);
            }
            Err(why) => irreversible.push(compose_stays(project, why)),
        }
    }
    compose
}

/// The variables of one host's step of `revert_files.yml`.
fn files_vars(
    host: &str,
    entries: Vec<Value>,
    compose: Vec<Value>,
    services: Vec<Value>,
    packages: &[String],
) -> serde_json::Map<String, Value> {
    let mut extra_vars = serde_json::Map::new();
    extra_vars.insert("chiffon_hosts".into(), json!(host));
    extra_vars.insert("chiffon_revert_files".into(), Value::Array(entries));
    if !compose.is_empty() {
        extra_vars.insert("chiffon_revert_compose".into(), Value::Array(compose));
    }
    if !services.is_empty() {
        extra_vars.insert("chiffon_revert_services".into(), Value::Array(services));
    }
    if !packages.is_empty() {
        extra_vars.insert("chiffon_revert_packages".into(), json!(packages));
    }
    extra_vars
}

/// A step of `revert_containers.yml` for `entries` on `host`, unless there are none.
fn push_containers_step(
    steps: &mut Vec<Step>,
    original: &Request,
    host: &str,
    entries: Vec<Value>,
) {
    if entries.is_empty() {
        return;
    }
    let title = format!(
        "Put back {} on {host} as they were before request {}",
        match entries.len() {
            1 => "1 container".to_owned(),
            n => format!("{n} containers"),
        },
        original.id.short()
    );
    let mut extra_vars = serde_json::Map::new();
    extra_vars.insert("chiffon_hosts".into(), json!(host));
    extra_vars.insert("chiffon_revert_containers".into(), Value::Array(entries));
    push_step(
        steps,
        original,
        host,
        title,
        REVERT_CONTAINERS_PLAYBOOK,
        extra_vars,
    );
}

/// Adds an undo step on `host`, after the last one.
fn push_step(
    steps: &mut Vec<Step>,
    original: &Request,
    host: &str,
    title: String,
    playbook: &str,
    extra_vars: serde_json::Map<String, Value>,
) {
    let depends_on = steps.last().map(|s| vec![s.id.clone()]).unwrap_or_default();
    steps.push(Step {
        id: format!("s{}", steps.len() + 1),
        title,
        action: "revert".to_owned(),
        agent_type: AgentType::Infra,
        playbook: Some(playbook.to_owned()),
        service: original.plan.steps.iter().find_map(|s| s.service.clone()),
        limit: Some(host.to_owned()),
        depends_on,
        estimated_duration_s: 10,
        resources: Resources::default(),
        tags: Vec::new(),
        extra_vars,
        status: "pending".to_owned(),
        details: Vec::new(),
        warnings: Vec::new(),
    });
}

/// One host's path entries, latest first (files made inside a directory the run made go
/// before it); what cannot be put back goes to `irreversible`.
fn file_entries(
    host: &str,
    paths: &[(&str, PathHistory<'_>)],
    resolve: &[Resolution],
    counts: &mut Counts,
    irreversible: &mut Vec<String>,
) -> Vec<Value> {
    let mut entries = Vec::new();
    for (path, history) in paths.iter().rev() {
        match undo_entry(host, path, history, resolve) {
            Ok(entry) => {
                if entry["action"] == "restore" || entry["action"] == "mode" {
                    counts.restored += 1;
                } else {
                    counts.removed += 1;
                }
                entries.push(entry);
            }
            Err(why) => irreversible.push(why),
        }
    }
    entries
}

/// How much a revert plan puts back.
#[derive(Debug, Default)]
struct Counts {
    restored: usize,
    removed: usize,
    services: usize,
    packages: usize,
    containers_restored: usize,
    containers_removed: usize,
}

/// "3 paths, 1 service and 2 packages".
fn what_is_put_back(paths: usize, services: usize, packages: usize) -> String {
    let mut parts = Vec::new();
    for (count, one, many) in [
        (paths, "path", "paths"),
        (services, "service", "services"),
        (packages, "package", "packages"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {}", if count == 1 { one } else { many }));
        }
    }
    match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => "nothing".to_owned(),
    }
}

/// The plan's risk reasons: what it undoes, how, what needs nothing, what it cannot undo.
fn risk_reasons(
    original: &Request,
    counts: &Counts,
    lines: Vec<String>,
    nothing: &[String],
    irreversible: &[String],
) -> Vec<String> {
    let mut first = format!(
        "undoes request {}: {} path(s) put back, {} made by the run removed",
        original.id, counts.restored, counts.removed
    );
    if counts.services > 0 {
        let _ = write!(first, ", {} service(s) put back", counts.services);
    }
    if counts.packages > 0 {
        let _ = write!(
            first,
            ", {} package(s) the run installed removed",
            counts.packages
        );
    }
    if counts.containers_restored > 0 {
        let _ = write!(
            first,
            ", {} container(s) put back",
            counts.containers_restored
        );
    }
    if counts.containers_removed > 0 {
        let _ = write!(
            first,
            ", {} container(s) the run created removed",
            counts.containers_removed
        );
    }
    let mut reasons = vec![first];
    reasons.extend(lines);
    reasons.push(
        "a path changed since the run is a conflict: the dry run (before approval) asks you, for each, to keep theirs or restore ours, and the run stops before changing anything on one left unanswered".to_owned(),
    );
    reasons.extend(
        nothing
            .iter()
            .map(|line| format!("nothing to undo: {line}")),
    );
    reasons.extend(
        irreversible
            .iter()
            .map(|line| format!("cannot undo: {line}")),
    );
    reasons
}

/// The play's entry for one path, or why it cannot be put back.
fn undo_entry(
    host: &str,
    path: &str,
    history: &PathHistory<'_>,
    resolve: &[Resolution],
) -> Result<Value, String> {
    let (first, last) = (history.first, history.last);
    if !first.reversible || !path.starts_with('/') {
        return Err(cannot_undo(first));
    }
    let after = last.after.clone().unwrap_or_default();
    let expect_state = match after.state.as_deref() {
        Some("directory") => "directory",
        Some("link" | "hard") => "link",
        Some("absent") => "absent",
        _ => "file",
    };
    let on_conflict = resolve
        .iter()
        .find(|r| r.path == path && r.host.as_deref().is_none_or(|h| h == host))
        .map_or("ask", |r| r.choice.as_str());
    let mut entry = json!({
        "path": path,
        "expect_state": expect_state,
        "expect_sha1": after.sha1,
        "on_conflict": on_conflict,
    });
    let before_mode = first.before.as_ref().and_then(|b| b.mode.clone());
    if first.existed == Some(false) {
        entry["action"] = json!(if first.kind == "directory" {
            "remove_dir"
        } else {
            "remove"
        });
    } else if let Some(content) = &first.before_content {
        entry["action"] = json!("restore");
        entry["content_b64"] = json!(base64(content.as_bytes()));
        entry["mode"] = json!(before_mode);
    } else if first.kind != "file" && before_mode.is_some() {
        entry["action"] = json!("mode");
        entry["mode"] = json!(before_mode);
    } else {
        return Err(cannot_undo(first));
    }
    Ok(entry)
}

/// File names compose reads from a project's folder.
const COMPOSE_FILES: [&str; 4] = [
    "compose.yml",
    "compose.yaml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The play's entry for a compose project the run brought up: taken down when the run made
/// its compose file (before the file goes), brought up again on the restored file when it
/// put back one that existed; or why neither is honest.
fn compose_entry(project: &Change, files: &[Value]) -> Result<Value, &'static str> {
    let after = project.after.clone().unwrap_or_default();
    let (Some(name), Some(runtime)) = (after.project, after.runtime) else {
        return Err("its project name was not recorded");
    };
    let file = files
        .iter()
        .find(|entry| {
            entry["path"].as_str().is_some_and(|path| {
                COMPOSE_FILES
                    .iter()
                    .any(|f| path == format!("{}/{f}", project.target))
            })
        })
        .ok_or("its compose file is not among what the run changed and Chiffon can put back")?;
    let action = match file["action"].as_str() {
        Some("remove") => "down",
        Some("restore") => "up",
        _ => return Err("its compose file is not one Chiffon restores or removes"),
    };
    Ok(json!({
        "dir": project.target,
        "project": name,
        "runtime": runtime,
        "action": action,
        "compose_file": file["path"],
    }))
}

/// What the undo does to a compose project, for the plan's risk reasons.
fn compose_line(host: &str, entry: &Value) -> String {
    let project = entry["project"].as_str().unwrap_or_default();
    if entry["action"] == "down" {
        format!(
            "on {host}: takes compose project {project} down (the run started it) before removing its files"
        )
    } else {
        format!(
            "on {host}: brings compose project {project} back up on its compose file as it was before the run"
        )
    }
}

/// "on lola: compose project uptime-kuma in /srv/…: stays as it is (<why>)".
fn compose_stays(project: &Change, why: &str) -> String {
    let name = project
        .after
        .as_ref()
        .and_then(|a| a.project.clone())
        .unwrap_or_default();
    format!(
        "on {}: compose project {name} in {} stays as it is now ({why})",
        project.host, project.target
    )
}

/// "on lola: <what> (<task>): <why>".
pub(crate) fn cannot_undo(change: &Change) -> String {
    let why = change
        .note
        .clone()
        .unwrap_or_else(|| "its previous state was not recorded".to_owned());
    format!(
        "on {}: {} {} ({}, task {:?}): {why}",
        change.host, change.kind, change.target, change.module, change.task
    )
}

/// Standard base64 with padding (RFC 4648), what Ansible's `b64decode` reads.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ConflictChoice;
    use crate::model::change::ResourceState;

    fn change(kind: &str, target: &str, existed: Option<bool>, after_sha1: &str) -> Change {
        Change {
            host: "lola".into(),
            task: "Render".into(),
            module: "ansible.builtin.template".into(),
            kind: kind.into(),
            target: target.into(),
            existed,
            before: None,
            after: Some(ResourceState {
                state: Some(
                    if kind == "directory" {
                        "directory"
                    } else {
                        "file"
                    }
                    .into(),
                ),
                sha1: Some(after_sha1.into()).filter(|s: &String| !s.is_empty()),
                ..ResourceState::default()
            }),
            before_content: None,
            after_content: None,
            diff: None,
            reversible: true,
            note: None,
        }
    }

    fn stored(change: Change, seq: i64) -> StoredChange {
        StoredChange {
            task_id: TaskId::generate(),
            seq,
            change,
            recorded_at: Utc::now(),
        }
    }

    fn original() -> Request {
        Request {
            id: RequestId::generate(),
            text: "deploy kuma".into(),
            status: RequestStatus::Succeeded,
            high_value: false,
            plan: Plan {
                version: 1,
                planner: "deterministic".into(),
                steps: Vec::new(),
                risk: Risk {
                    level: RiskLevel::Low,
                    reasons: Vec::new(),
                },
                approval_required: true,
                estimated_duration_s: 0,
                open_questions: Vec::new(),
                questions: Vec::new(),
            },
            reason: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn compose_up(dir: &str) -> Change {
        let mut up = change("compose", dir, None, "");
        up.module = "ansible.builtin.command".into();
        up.after = Some(ResourceState {
            state: Some("up".into()),
            project: Some("uptime-kuma".into()),
            runtime: Some("docker".into()),
            ..ResourceState::default()
        });
        up
    }

    #[test]
    fn chiffons_pin_commit_is_reverted_after_the_files_latest_first() {
        let first = crate::orchestrator::revert_commit::commit_change(
            "Change the pin",
            "group_vars/all.yml",
            ("1.0", "1.1"),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "-v: 1.0\n+v: 1.1\n",
        );
        let second = crate::orchestrator::revert_commit::commit_change(
            "Change the pin",
            "group_vars/all.yml",
            ("1.1", "1.2"),
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "-v: 1.1\n+v: 1.2\n",
        );
        let made = [
            stored(first, 1),
            stored(change("file", "/srv/kuma/compose.yml", Some(false), "a"), 2),
            stored(second, 3),
        ];
        let undo = plan_revert(&original(), &made, &[]);
        assert!(undo.irreversible.is_empty(), "{:?}", undo.irreversible);
        let steps = &undo.plan.steps;
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(steps[0].action, "revert");
        let reverts: Vec<(&str, &serde_json::Value, &[String])> = steps[1..]
            .iter()
            .map(|s| {
                (
                    s.action.as_str(),
                    &s.extra_vars["chiffon_revert_commit"],
                    s.depends_on.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            reverts,
            [
                (
                    "revert_commit",
                    &json!("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
                    &["s1".to_owned()][..]
                ),
                (
                    "revert_commit",
                    &json!("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                    &["s2".to_owned()][..]
                ),
            ]
        );
    }

    #[test]
    fn a_compose_project_goes_down_with_the_files_that_made_it_or_back_up_on_the_old_ones() {
        // The run made the compose file and started the project: undo takes it down.
        let made = [
            stored(change("directory", "/srv/kuma", Some(false), ""), 1),
            stored(change("file", "/srv/kuma/compose.yml", Some(false), "a"), 2),
            stored(compose_up("/srv/kuma"), 3),
        ];
        let undo = plan_revert(&original(), &made, &[]);
        assert!(undo.irreversible.is_empty(), "{:?}", undo.irreversible);
        let compose = &undo.plan.steps[0].extra_vars["chiffon_revert_compose"];
        assert_eq!(compose[0]["action"], "down");
        assert_eq!(compose[0]["project"], "uptime-kuma");
        assert_eq!(compose[0]["compose_file"], "/srv/kuma/compose.yml");
        assert!(
            undo.plan
                .risk
                .reasons
                .iter()
                .any(|r| r.contains("takes compose project uptime-kuma down")),
            "{:?}",
            undo.plan.risk.reasons
        );

        // The run changed an existing compose file: undo puts it back, then brings it up.
        let mut changed = change("file", "/srv/kuma/compose.yml", Some(true), "b");
        changed.before_content = Some("services: {}\n".into());
        let undo = plan_revert(
            &original(),
            &[stored(changed, 1), stored(compose_up("/srv/kuma"), 2)],
            &[],
        );
        assert_eq!(
            undo.plan.steps[0].extra_vars["chiffon_revert_compose"][0]["action"],
            "up"
        );

        // Brought up with a compose file the run did not change: nothing honest to do.
        let mut other = change("file", "/srv/kuma/monitors.json", Some(true), "b");
        other.before_content = Some("[]".into());
        let undo = plan_revert(
            &original(),
            &[stored(other, 1), stored(compose_up("/srv/kuma"), 2)],
            &[],
        );
        assert!(
            undo.plan.steps[0]
                .extra_vars
                .get("chiffon_revert_compose")
                .is_none()
        );
        assert!(
            undo.irreversible[0]
                .contains("compose project uptime-kuma in /srv/kuma stays as it is now"),
            "{:?}",
            undo.irreversible
        );
    }

    #[test]
    fn an_undo_puts_each_path_back_to_before_its_first_change_latest_first() {
        let mut monitors = change("file", "/srv/kuma/monitors.json", Some(true), "b");
        monitors.before_content = Some("old\n".into());
        let mut again = change("file", "/srv/kuma/monitors.json", Some(true), "c");
        again.before_content = Some("middle\n".into());
        let mut command = change("command", "docker", None, "");
        command.reversible = false;
        command.note = Some("a command ran".into());
        let changes = [
            stored(change("directory", "/srv/kuma", Some(false), ""), 1),
            stored(change("file", "/srv/kuma/compose.yml", Some(false), "a"), 2),
            stored(monitors, 3),
            stored(again, 4),
            stored(command, 5),
        ];
        let keep = Resolution {
            host: None,
            path: "/srv/kuma/compose.yml".into(),
            choice: ConflictChoice::KeepTheirs,
        };
        let undo = plan_revert(&original(), &changes, &[keep]);
        assert_eq!(undo.plan.steps.len(), 1);
        let step = &undo.plan.steps[0];
        assert_eq!(step.playbook.as_deref(), Some(REVERT_PLAYBOOK));
        assert_eq!(step.limit.as_deref(), Some("lola"));
        let entries = step.extra_vars["chiffon_revert_files"].as_array().unwrap();
        let paths: Vec<&str> = entries
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "/srv/kuma/monitors.json",
                "/srv/kuma/compose.yml",
                "/srv/kuma"
            ]
        );
        // Back to before the first change, checked against what the last one left.
        assert_eq!(entries[0]["action"], "restore");
        assert_eq!(entries[0]["content_b64"], base64(b"old\n"));
        assert_eq!(entries[0]["expect_sha1"], "c");
        assert_eq!(entries[0]["on_conflict"], "ask");
        assert_eq!(entries[1]["action"], "remove");
        assert_eq!(entries[1]["on_conflict"], "keep_theirs");
        assert_eq!(entries[2]["action"], "remove_dir");
        assert_eq!(undo.irreversible.len(), 1, "{:?}", undo.irreversible);
        assert_eq!(undo.plan.risk.level, RiskLevel::High);
        assert!(
            undo.plan
                .risk
                .reasons
                .iter()
                .any(|r| r.starts_with("cannot undo: on lola: command docker"))
        );
    }

    #[test]
    fn a_file_whose_content_was_not_kept_is_listed_not_planned() {
        let mut secret = change("file", "/srv/app.env", Some(true), "b");
        secret.reversible = false;
        secret.note = Some("the file holds a secret".into());
        let undo = plan_revert(&original(), &[stored(secret, 1)], &[]);
        assert!(undo.plan.steps.is_empty());
        assert!(
            undo.irreversible[0].contains("holds a secret"),
            "{:?}",
            undo.irreversible
        );
    }

    #[test]
    fn services_and_packages_are_put_back_in_the_same_step_as_the_files_or_in_their_own() {
        let side = |state: &str, enabled: bool| ResourceState {
            state: Some(state.into()),
            enabled: Some(enabled),
            ..ResourceState::default()
        };
        let mut unit = change(
            "file",
            "/etc/systemd/system/backup.service",
            Some(false),
            "a",
        );
        unit.task = "Write the unit".into();
        let mut service = change("service", "backup.service", None, "");
        service.module = "ansible.builtin.systemd_service".into();
        service.before = Some(side("stopped", false));
        service.after = Some(side("started", true));
        let mut htop = change("package", "htop", Some(false), "");
        htop.module = "ansible.builtin.apt".into();
        let mut curl = change("package", "curl", Some(true), "");
        curl.reversible = false;
        curl.note = Some("package curl went from 7.88.1-10+deb12u5 to 7.88.1-10+deb12u8".into());
        // Another host where only a service changed: a step of its own.
        let mut nas = change("service", "smbd.service", None, "");
        nas.host = "nas".into();
        nas.before = Some(side("started", true));
        nas.after = Some(side("stopped", true));
        let undo = plan_revert(
            &original(),
            &[
                stored(htop, 1),
                stored(curl, 2),
                stored(unit, 3),
                stored(service, 4),
                stored(nas, 5),
            ],
            &[],
        );
        assert_eq!(undo.plan.steps.len(), 2);
        let nas_step = &undo.plan.steps[0];
        assert_eq!(nas_step.limit.as_deref(), Some("nas"));
        assert_eq!(nas_step.extra_vars["chiffon_revert_files"], json!([]));
        assert_eq!(
            nas_step.extra_vars["chiffon_revert_services"],
            json!([{"name": "smbd.service", "state": "started", "when": "after_files"}])
        );
        assert!(
            nas_step.title.starts_with("Put back 1 service on nas"),
            "{}",
            nas_step.title
        );
        let lola = &undo.plan.steps[1];
        assert!(
            lola.title
                .starts_with("Put back 1 path, 1 service and 1 package on lola"),
            "{}",
            lola.title
        );
        assert_eq!(
            lola.extra_vars["chiffon_revert_files"][0]["action"],
            "remove"
        );
        assert_eq!(
            lola.extra_vars["chiffon_revert_services"],
            json!([{"name": "backup.service", "state": "stopped", "enabled": false, "when": "before_files"}])
        );
        assert_eq!(lola.extra_vars["chiffon_revert_packages"], json!(["htop"]));
        let reasons = &undo.plan.risk.reasons;
        assert!(
            reasons[0].ends_with("2 service(s) put back, 1 package(s) the run installed removed"),
            "{reasons:?}"
        );
        for expected in [
            "on lola: stops service backup.service and disables it at boot (as it was before the run), before the files are put back",
            "on nas: starts service smbd.service (as it was before the run), after the files are put back",
            "on lola: removes the package the run newly installed (htop), last, after the services and files are put back",
        ] {
            assert!(
                reasons.iter().any(|r| r == expected),
                "{expected}: {reasons:?}"
            );
        }
        assert_eq!(undo.irreversible.len(), 1, "{:?}", undo.irreversible);
        assert!(undo.irreversible[0].contains("package curl"));
        assert_eq!(undo.plan.risk.level, RiskLevel::High);
    }

    #[test]
    fn containers_the_run_created_go_before_the_files_and_changed_ones_come_back_after() {
        let container = |name: &str, existed: bool, before: Option<&str>| {
            let mut c = change("container", name, Some(existed), "");
            c.module = "community.docker.docker_container".into();
            c.before_content = before.map(str::to_owned);
            c.after_content = Some(format!("{{\"name\": \"{name}\", \"image\": \"new\"}}\n"));
            c
        };
        let made = [
            stored(change("file", "/srv/kuma/checker.env", Some(false), "a"), 1),
            stored(container("kuma-db", false, None), 2),
            stored(
                container(
                    "kuma-checker",
                    true,
                    Some("{\"name\": \"kuma-checker\", \"image\": \"sha256:aaaa\"}\n"),
                ),
                3,
            ),
        ];
        let undo = plan_revert(&original(), &made, &[]);
        assert!(undo.irreversible.is_empty(), "{:?}", undo.irreversible);
        let steps: Vec<(&str, Option<&str>, &Value)> = undo
            .plan
            .steps
            .iter()
            .map(|s| {
                let vars = s
                    .extra_vars
                    .get("chiffon_revert_containers")
                    .or_else(|| s.extra_vars.get("chiffon_revert_files"))
                    .unwrap();
                (s.id.as_str(), s.playbook.as_deref(), vars)
            })
            .collect();
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert_eq!(steps[0].1, Some(REVERT_CONTAINERS_PLAYBOOK));
        assert_eq!(
            steps[0].2,
            &json!([{"name": "kuma-db", "action": "remove"}])
        );
        assert_eq!(steps[1].1, Some(REVERT_PLAYBOOK));
        assert_eq!(steps[1].2[0]["path"], "/srv/kuma/checker.env");
        assert_eq!(steps[2].1, Some(REVERT_CONTAINERS_PLAYBOOK));
        assert_eq!(steps[2].2[0]["name"], "kuma-checker");
        assert_eq!(steps[2].2[0]["image"], "sha256:aaaa");
        assert_eq!(undo.plan.steps[2].depends_on, ["s2"]);
        assert!(
            undo.plan.steps[0]
                .title
                .starts_with("Put back 1 container on lola"),
            "{}",
            undo.plan.steps[0].title
        );
        assert!(
            undo.plan.risk.reasons[0]
                .ends_with("1 container(s) put back, 1 container(s) the run created removed"),
            "{:?}",
            undo.plan.risk.reasons
        );

        // Only containers on the host: one step does both, removals first.
        let undo = plan_revert(&original(), &made[1..], &[]);
        assert_eq!(undo.plan.steps.len(), 1);
        let entries = &undo.plan.steps[0].extra_vars["chiffon_revert_containers"];
        assert_eq!(entries[0]["action"], "remove");
        assert_eq!(entries[1]["action"], "recreate");
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64("{\"é\": 1}\n".as_bytes()), "eyLDqSI6IDF9Cg==");
    }
}
