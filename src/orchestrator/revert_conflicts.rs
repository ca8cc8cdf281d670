//! An undo's conflicts, asked before approval (docs/revert.md, "Conflicts"). The dry run of
//! `revert_files.yml` stops on every path changed since the run and marks them
//! (`[chiffon-conflicts I=NOW …]`, I the entry's index in the step); each becomes a question of
//! a new plan version whose choices are `keep_theirs` and `restore_ours`. Answering one (the
//! ordinary `POST /requests/{id}/answer`) sets that path's `on_conflict` in its step, so the
//! version with every conflict answered is an undo the play runs through, and approvable.
//!
//! Invariant: an undo plan with an unanswered conflict cannot be approved, and an answer
//! changes only the `on_conflict` of the one path its question names.

use chrono::Utc;
use serde_json::{Value, json};

use crate::model::{
    AgentState, AgentType, ExecEvent, Plan, Question, Request, RequestStatus, Step,
};
use crate::orchestrator::Core;
use crate::orchestrator::live::LiveEvent;
use crate::orchestrator::preview::{Preview, StepPreview};
use crate::orchestrator::revert::REVERT_PLAYBOOK;
use crate::orchestrator::revert_containers::REVERT_CONTAINERS_PLAYBOOK;

/// How a conflict question's id begins: `conflict:<host>:<path>`.
pub(crate) const QUESTION_PREFIX: &str = "conflict:";
/// Leave the later change as it is.
pub(crate) const KEEP_THEIRS: &str = "keep_theirs";
/// Put back what was there before the run anyway.
pub(crate) const RESTORE_OURS: &str = "restore_ours";
/// What the play's failure message begins with when it stops on conflicts.
const MARKER: &str = "[chiffon-conflicts ";

/// One path the dry run found changed since the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conflict {
    pub host: String,
    pub path: String,
    /// The entry's action: `restore`, `remove`, `remove_dir` or `mode`.
    pub action: String,
    /// What the path is now: `file` (other content), `directory`, `link` or `absent`.
    pub now: String,
}

/// A step that puts files back with the built-in play.
pub(crate) fn is_undo_step(step: &Step) -> bool {
    step.action == "revert" && step.playbook.as_deref() == Some(REVERT_PLAYBOOK)
}

/// A plan made by `revert` for a request's files and containers (not an applied
/// suggestion's commit).
pub(crate) fn is_undo_plan(plan: &Plan) -> bool {
    !plan.steps.is_empty()
        && plan.steps.iter().all(|step| {
            is_undo_step(step)
                || (step.action == "revert"
                    && step.playbook.as_deref() == Some(REVERT_CONTAINERS_PLAYBOOK))
        })
}

/// The `(index, now)` pairs of the marker in a failure message.
fn marks(msg: &str) -> Vec<(usize, String)> {
    let Some(start) = msg.find(MARKER) else {
        return Vec::new();
    };
    let rest = &msg[start + MARKER.len()..];
    let (body, whole) = match rest.find(']') {
        Some(end) => (&rest[..end], true),
        None => (rest, false),
    };
    let mut tokens: Vec<&str> = body.split_whitespace().collect();
    if !whole {
        // Cut by the event's length limit: the last token may be partial. The conflicts
        // left out are found by the next dry run, and the play's own check still stops them.
        tokens.pop();
    }
    tokens
        .iter()
        .filter_map(|token| {
            let (index, now) = token.split_once('=')?;
            Some((index.parse().ok()?, now.to_owned()))
        })
        .collect()
}

/// The failure message as a person reads it: without the marker.
pub(crate) fn without_marker(msg: &str) -> String {
    let Some(start) = msg.find(MARKER) else {
        return msg.to_owned();
    };
    match msg[start..].find(']') {
        Some(end) => format!("{}{}", &msg[..start], msg[start + end + 1..].trim_start()),
        None => msg[..start].to_owned(),
    }
}

/// The conflicts the dry run of `step` stopped on, read from its failed task's message.
pub(crate) fn found(step: &Step, events: &[ExecEvent]) -> Vec<Conflict> {
    if !is_undo_step(step) {
        return Vec::new();
    }
    let Some(entries) = step
        .extra_vars
        .get("chiffon_revert_files")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut conflicts: Vec<Conflict> = Vec::new();
    let failed = events
        .iter()
        .filter(|e| e.kind == "task_result" && e.status.as_deref() == Some("failed"));
    for event in failed {
        let host = event
            .host
            .clone()
            .or_else(|| step.limit.clone())
            .unwrap_or_default();
        for (index, now) in marks(event.msg.as_deref().unwrap_or_default()) {
            let Some(entry) = entries.get(index) else {
                continue;
            };
            let (Some(path), Some("ask")) = (entry["path"].as_str(), entry["on_conflict"].as_str())
            else {
                continue;
            };
            let conflict = Conflict {
                host: host.clone(),
                path: path.to_owned(),
                action: entry["action"].as_str().unwrap_or("restore").to_owned(),
                now,
            };
            if !conflicts.contains(&conflict) {
                conflicts.push(conflict);
            }
        }
    }
    conflicts
}

/// The step preview as shown: the marker taken out of its error.
pub(crate) fn shown(mut preview: StepPreview) -> StepPreview {
    preview.error = preview.error.as_deref().map(without_marker);
    preview
}

/// The question about one conflict.
pub(crate) fn question(conflict: &Conflict) -> Question {
    let what = match conflict.now.as_str() {
        "absent" => "it is gone".to_owned(),
        "file" => "its content is not what the run left".to_owned(),
        other => format!("it is now a {other}"),
    };
    let ours = match conflict.action.as_str() {
        "remove" => "Restore ours: remove it, as before the run (the run created it)",
        "remove_dir" => {
            "Restore ours: remove the directory the run created, if nothing but empty directories is in it"
        }
        "mode" => "Restore ours: put its mode back as before the run",
        _ => "Restore ours: put back what was there before the run",
    };
    Question::with_choices(
        format!("{QUESTION_PREFIX}{}:{}", conflict.host, conflict.path),
        format!(
            "On {}, `{}` changed since the run ({what}). Keep theirs, or restore ours?",
            conflict.host, conflict.path
        ),
        [
            (
                KEEP_THEIRS.to_owned(),
                "Keep theirs: leave it as it is now".to_owned(),
            ),
            (RESTORE_OURS.to_owned(), ours.to_owned()),
        ],
    )
}

/// The next version of `plan` asking about `conflicts`, or `None` when each is asked already.
pub(crate) fn with_questions(plan: &Plan, conflicts: &[Conflict]) -> Option<Plan> {
    let mut next = plan.clone();
    next.version += 1;
    let mut asked = false;
    for conflict in conflicts {
        let question = question(conflict);
        if next.questions.iter().any(|q| q.id == question.id) {
            continue;
        }
        next.open_questions.push(question.text.clone());
        next.questions.push(question);
        asked = true;
    }
    asked.then_some(next)
}

/// The next version of `plan` with conflict `question` answered by `choice`: the path's
/// `on_conflict` in its host's step, the question answered. `None` when the plan has no such
/// path (the question is not this plan's).
pub(crate) fn settle(plan: &Plan, question: &Question, choice: &str) -> Option<Plan> {
    if ![KEEP_THEIRS, RESTORE_OURS].contains(&choice) {
        return None;
    }
    let (host, rest) = question
        .id
        .strip_prefix(QUESTION_PREFIX)?
        .split_once(":/")?;
    let path = format!("/{rest}");
    let mut next = plan.clone();
    next.version += 1;
    let step = next
        .steps
        .iter_mut()
        .find(|s| is_undo_step(s) && s.limit.as_deref() == Some(host))?;
    let entry = step
        .extra_vars
        .get_mut("chiffon_revert_files")?
        .as_array_mut()?
        .iter_mut()
        .find(|e| e["path"].as_str() == Some(path.as_str()))?;
    entry["on_conflict"] = json!(choice);
    for asked in &mut next.questions {
        if asked.id == question.id {
            asked.answer = Some(choice.to_owned());
        }
    }
    next.open_questions.retain(|t| t != &question.text);
    Some(next)
}

/// Why an undo plan cannot be approved yet, naming each conflict to answer and how; `None`
/// when it has no unanswered conflict.
pub(crate) fn unanswered(request: &Request) -> Option<String> {
    let open: Vec<&Question> = request
        .plan
        .questions
        .iter()
        .filter(|q| q.answer.is_none() && q.id.starts_with(QUESTION_PREFIX))
        .collect();
    if open.is_empty() {
        return None;
    }
    let each: Vec<String> = open
        .iter()
        .map(|q| {
            let place = q.id.trim_start_matches(QUESTION_PREFIX);
            format!(
                "{place} (`chiffon answer {} keep_theirs --question '{}'`, or restore_ours)",
                request.id, q.id
            )
        })
        .collect();
    Some(format!(
        "the undo cannot be approved yet: {} path{} changed since the run; answer keep_theirs or restore_ours for each first: {}",
        open.len(),
        if open.len() == 1 { "" } else { "s" },
        each.join("; ")
    ))
}

impl Core {
    /// After a dry run of an undo stopped on `conflicts`: a new plan version asking about
    /// each, with the dry run kept for it too (its steps are the same).
    pub(crate) async fn ask_about_conflicts(
        &self,
        request: &Request,
        preview: &Preview,
        conflicts: &[Conflict],
    ) -> anyhow::Result<()> {
        let Some(next) = with_questions(&request.plan, conflicts) else {
            return Ok(());
        };
        let count = next.open_questions.len();
        let change = format!(
            "the dry run found {count} path{} changed since the run: keep theirs or restore ours?",
            if count == 1 { "" } else { "s" }
        );
        if !self
            .store
            .add_plan_version(&request.id, request.plan.version, &next, &change)
            .await?
        {
            return Ok(()); // answered, approved or rejected meanwhile
        }
        let mut kept = preview.clone();
        kept.plan_version = next.version;
        self.store
            .save_preview(&request.id, next.version, &serde_json::to_value(&kept)?)
            .await?;
        tracing::info!(request = %request.id, version = next.version, conflicts = count, "the undo's dry run found conflicts to answer");
        self.emit(LiveEvent::Request {
            request_id: request.id.to_string(),
            status: RequestStatus::AwaitingApproval,
            reason: Some(format!("plan v{}: {change}", next.version)),
            at: Utc::now(),
        });
        Ok(())
    }

    /// Before an undo is approved: its dry run, when its current version has none and an
    /// infra agent is online to make it, so a conflict becomes a question rather than a run
    /// that stops at its check. The request as it is afterwards.
    pub(crate) async fn dry_run_undo_before_approval(
        &self,
        request: Request,
    ) -> anyhow::Result<Request> {
        if !is_undo_plan(&request.plan)
            || request.plan.needs_answer()
            || self
                .store
                .preview(&request.id, request.plan.version)
                .await?
                .is_some()
        {
            return Ok(request);
        }
        let online = self
            .agents()
            .iter()
            .any(|a| a.agent_type == AgentType::Infra && a.status == AgentState::Online);
        if !online {
            return Ok(request);
        }
        self.preview(&request).await?;
        Ok(self
            .store
            .get_request(&request.id)
            .await?
            .unwrap_or(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Risk, RiskLevel};

    fn undo_plan() -> Plan {
        let step: Step = serde_json::from_value(json!({
            "id": "s1", "title": "Put back", "action": "revert", "agent_type": "infra",
            "playbook": REVERT_PLAYBOOK, "service": null, "limit": "lola",
            "depends_on": [], "estimated_duration_s": 10,
            "resources": {"gpu_vram_gb": 0.0, "cpu_cores": 0.0},
            "extra_vars": {"chiffon_hosts": "lola", "chiffon_revert_files": [
                {"path": "/srv/a b.json", "action": "restore", "on_conflict": "ask"},
                {"path": "/srv/new", "action": "remove", "on_conflict": "ask"},
                {"path": "/srv/kept", "action": "restore", "on_conflict": "keep_theirs"},
            ]},
        }))
        .unwrap();
        Plan {
            version: 1,
            planner: "revert".into(),
            steps: vec![step],
            risk: Risk {
                level: RiskLevel::Medium,
                reasons: Vec::new(),
            },
            approval_required: true,
            estimated_duration_s: 10,
            open_questions: Vec::new(),
            questions: Vec::new(),
        }
    }

    fn failed(msg: &str) -> ExecEvent {
        ExecEvent {
            kind: "task_result".into(),
            play: None,
            task: Some("Stop before changing anything while a conflict is unresolved".into()),
            host: Some("lola".into()),
            status: Some("failed".into()),
            msg: Some(msg.into()),
            duration_ms: None,
            hosts: None,
        }
    }

    const MESSAGE: &str = "[chiffon-conflicts 0=file 1=directory 2=file] conflict: /srv/a b.json, /srv/new changed since the run; choose";

    #[test]
    fn the_plays_marker_names_each_conflict_by_its_entry() {
        let plan = undo_plan();
        let conflicts = found(&plan.steps[0], &[failed(MESSAGE)]);
        assert_eq!(
            conflicts,
            [
                Conflict {
                    host: "lola".into(),
                    path: "/srv/a b.json".into(),
                    action: "restore".into(),
                    now: "file".into()
                },
                Conflict {
                    host: "lola".into(),
                    path: "/srv/new".into(),
                    action: "remove".into(),
                    now: "directory".into()
                },
            ],
            "an entry already settled is not asked about"
        );
        assert_eq!(
            without_marker(MESSAGE),
            "conflict: /srv/a b.json, /srv/new changed since the run; choose"
        );
        // A message cut inside the marker keeps only the whole tokens.
        assert_eq!(
            marks("[chiffon-conflicts 0=file 12=abs"),
            [(0, "file".into())]
        );
        assert!(found(&plan.steps[0], &[failed("conflict: /srv/x changed")]).is_empty());
    }

    #[test]
    fn each_conflict_is_a_question_and_answers_settle_only_their_path() {
        let plan = undo_plan();
        let conflicts = found(&plan.steps[0], &[failed(MESSAGE)]);
        let asked = with_questions(&plan, &conflicts).unwrap();
        assert_eq!(asked.version, 2);
        assert!(asked.needs_answer());
        assert_eq!(asked.questions.len(), 2);
        assert_eq!(asked.questions[0].id, "conflict:lola:/srv/a b.json");
        assert!(
            asked.questions[1].text.contains("it is now a directory"),
            "{}",
            asked.questions[1].text
        );
        assert!(with_questions(&asked, &conflicts).is_none(), "asked once");
        let request = Request {
            id: crate::model::RequestId::generate(),
            text: "undo".into(),
            status: RequestStatus::AwaitingApproval,
            high_value: false,
            plan: asked.clone(),
            reason: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let refusal = unanswered(&request).unwrap();
        assert!(
            refusal.contains("2 paths") && refusal.contains("lola:/srv/new"),
            "{refusal}"
        );

        let first = asked.questions[0].clone();
        assert!(settle(&asked, &first, "both").is_none());
        let once = settle(&asked, &first, KEEP_THEIRS).unwrap();
        assert_eq!(once.version, 3);
        assert!(once.needs_answer(), "one conflict is still open");
        let entries = once.steps[0].extra_vars["chiffon_revert_files"]
            .as_array()
            .unwrap();
        assert_eq!(entries[0]["on_conflict"], KEEP_THEIRS);
        assert_eq!(entries[1]["on_conflict"], "ask");
        assert_eq!(entries[2]["on_conflict"], KEEP_THEIRS);
        let second = once.questions[1].clone();
        let both = settle(&once, &second, RESTORE_OURS).unwrap();
        assert!(!both.needs_answer());
        assert_eq!(
            both.steps[0].extra_vars["chiffon_revert_files"][1]["on_conflict"],
            RESTORE_OURS
        );
        assert_eq!(both.answered().len(), 2);
    }
}
