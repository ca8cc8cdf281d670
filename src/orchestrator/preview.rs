//! The check-mode preview of a plan before approval: each step runs with `--check --diff` on
//! an agent, nothing on the hosts changes, and the person sees per step whether it would
//! change something, the diffs, or why it would fail.

use chrono::Utc;

use crate::bus::Queue;
use crate::model::{Request, Step, TaskId};
use crate::orchestrator::dispatch::Purpose;
use crate::orchestrator::revert_conflicts::{self, Conflict};
use crate::orchestrator::{Core, lock};
use crate::protocol::{ResultStatus, TaskResult};

// The preview is a record the person reads and the store keeps as it is shown: its types are
// the API contract's.
pub use crate::api::{Preview, PreviewDiff, StepPreview};

impl Core {
    /// Runs every step of `request`'s current plan in check mode (`--check --diff`): nothing
    /// on the hosts changes, and the preview says, per step, whether it would change something,
    /// the diffs, or why it would fail. Kept with the plan version and shown with the request.
    pub async fn preview(&self, request: &Request) -> anyhow::Result<Preview> {
        let mut steps: Vec<StepPreview> = Vec::new();
        let mut conflicts = Vec::new();
        for step in request.plan.execution_order() {
            let (mut preview, found) = self.preview_step(request, step).await;
            waits_for_earlier_changes(&mut preview, step, &steps);
            steps.push(preview);
            conflicts.extend(found);
        }
        let preview = Preview {
            plan_version: request.plan.version,
            previewed_at: Utc::now(),
            steps,
        };
        self.store
            .save_preview(
                &request.id,
                request.plan.version,
                &serde_json::to_value(&preview)?,
            )
            .await?;
        // An undo that would stop on paths changed since the run asks about each first.
        if !conflicts.is_empty() {
            self.ask_about_conflicts(request, &preview, &conflicts)
                .await?;
        }
        Ok(preview)
    }

    /// One step's dry run, with the conflicts an undo step stopped on.
    async fn preview_step(&self, request: &Request, step: &Step) -> (StepPreview, Vec<Conflict>) {
        let mut preview = StepPreview {
            step_id: step.id.clone(),
            title: step.title.clone(),
            outcome: "not_previewed".to_owned(),
            after_steps: Vec::new(),
            changed: 0,
            warnings: Vec::new(),
            diffs: Vec::new(),
            error: None,
        };
        if step.action == crate::orchestrator::revert_commit::ACTION {
            return (self.preview_commit_revert(step, preview).await, Vec::new());
        }
        if step.action == crate::planner::upgrade::CHANGE_PIN {
            return (self.preview_pin_change(step, preview), Vec::new());
        }
        if step.playbook.is_none() {
            preview.error = Some("this step runs no playbook".to_owned());
            return (preview, Vec::new());
        }
        let task_id = TaskId::generate().to_string();
        let result = self.run_check_mode(request, step, &task_id).await;
        let events = lock(&self.in_flight.previews)
            .remove(&task_id)
            .unwrap_or_default();
        let conflicts = revert_conflicts::found(step, &events);
        preview.diffs = events
            .into_iter()
            .filter(|e| e.kind == "diff")
            .map(|e| PreviewDiff {
                host: e.host.unwrap_or_default(),
                task: e.task.unwrap_or_default(),
                diff: e.msg.unwrap_or_default(),
            })
            .collect();
        match result {
            Err(error) => preview.error = Some(error),
            Ok(result) => {
                preview.changed = result.hosts.values().map(|c| u64::from(c.changed)).sum();
                preview.outcome = match result.outcome {
                    ResultStatus::Succeeded if preview.changed > 0 => "would_change",
                    ResultStatus::Succeeded => "no_change",
                    _ => "would_fail",
                }
                .to_owned();
                preview.error = result.error.map(|e| crate::redact::text(&e).into_owned());
                preview.warnings = result
                    .warnings
                    .iter()
                    .map(|w| crate::redact::text(w).into_owned())
                    .collect();
            }
        }
        (revert_conflicts::shown(preview), conflicts)
    }
}

/// A dry run changes nothing, so a step that needs an earlier step's changes (the directory
/// it writes, the network it creates) stumbles in check mode although the real run would
/// work: when a step it depends on would change something (or waits itself), its stumble is
/// `checked_after` those steps, not `would_fail`. A failure with nothing changing before it
/// stays a failure.
fn waits_for_earlier_changes(preview: &mut StepPreview, step: &Step, earlier: &[StepPreview]) {
    if preview.outcome != "would_fail" {
        return;
    }
    let after: Vec<String> = earlier
        .iter()
        .filter(|e| step.depends_on.contains(&e.step_id))
        .filter(|e| matches!(e.outcome.as_str(), "would_change" | "checked_after"))
        .map(|e| e.step_id.clone())
        .collect();
    if !after.is_empty() {
        preview.outcome = "checked_after".to_owned();
        preview.after_steps = after;
    }
}

impl Core {
    /// Sends `step` in check mode to any agent of its type and waits for its ack, then its
    /// result. The run's events collect under `task_id` in the preview table, which the
    /// caller empties.
    async fn run_check_mode(
        &self,
        request: &Request,
        step: &Step,
        task_id: &str,
    ) -> Result<TaskResult, String> {
        let (ack_rx, result_rx) = self.expect_answers(task_id);
        lock(&self.in_flight.previews).insert(task_id.to_owned(), Vec::new());
        let envelope = self.build_dispatch(step, Purpose::Preview { request, task_id });
        let sent = self
            .publish(&Queue::Work(step.agent_type), envelope.encode())
            .await;
        let result = match sent {
            Err(error) => Err(format!("could not send the preview: {error:#}")),
            Ok(()) => match tokio::time::timeout(self.config.ack_timeout, ack_rx).await {
                Err(_) | Ok(Err(_)) => Err(format!(
                    "no {} agent took the preview within {} s",
                    step.agent_type,
                    self.config.ack_timeout.as_secs()
                )),
                Ok(Ok(_)) => tokio::time::timeout(self.config.execution_deadline, result_rx)
                    .await
                    .map_err(|_| "the preview did not finish in time".to_owned())
                    .and_then(|r| r.map_err(|_| "the preview was lost".to_owned())),
            },
        };
        self.stop_expecting(task_id);
        lock(&self.in_flight.running).remove(task_id);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn previewed(id: &str, outcome: &str) -> StepPreview {
        StepPreview {
            step_id: id.to_owned(),
            title: id.to_owned(),
            outcome: outcome.to_owned(),
            after_steps: Vec::new(),
            changed: 0,
            warnings: Vec::new(),
            diffs: Vec::new(),
            error: Some("Uptime Kuma is not deployed".to_owned()),
        }
    }

    fn step(id: &str, depends_on: &[&str]) -> Step {
        serde_json::from_value(serde_json::json!({
            "id": id, "title": id, "action": "configure", "agent_type": "infra",
            "playbook": "kuma-config-update.yml", "service": "kuma", "limit": null,
            "depends_on": depends_on, "estimated_duration_s": 10,
            "resources": {"gpu_vram_gb": 0.0, "cpu_cores": 0.0},
        }))
        .unwrap()
    }

    #[test]
    fn a_step_that_needs_an_earlier_steps_changes_is_checked_after_it_not_failed() {
        let earlier = [previewed("s1", "would_change")];
        let mut second = previewed("s2", "would_fail");
        waits_for_earlier_changes(&mut second, &step("s2", &["s1"]), &earlier);
        assert_eq!(second.outcome, "checked_after");
        assert_eq!(second.after_steps, ["s1"]);
        assert!(second.error.is_some(), "what the dry run saw is kept");
    }

    #[test]
    fn a_failure_with_nothing_changing_before_it_stays_a_failure() {
        for (earlier, depends_on) in [
            (vec![previewed("s1", "no_change")], vec!["s1"]),
            (vec![previewed("s1", "would_change")], vec![]),
        ] {
            let mut second = previewed("s2", "would_fail");
            waits_for_earlier_changes(&mut second, &step("s2", &depends_on), &earlier);
            assert_eq!(second.outcome, "would_fail");
            assert!(second.after_steps.is_empty());
        }
    }
}
