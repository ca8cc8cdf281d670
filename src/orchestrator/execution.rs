//! Executing an approved plan: its steps in dependency order, each placed, dispatched, waited
//! for, stored and audited; a step whose dependency did not succeed is cancelled, not run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::oneshot;

use crate::audit::AuditEntry;
use crate::bus::Queue;
use crate::model::{AgentId, Request, RequestStatus, Step, Task, TaskId, TaskStatus};
use crate::orchestrator::decisions::ApprovedRequest;
use crate::orchestrator::dispatch::Purpose;
use crate::orchestrator::{Core, finish_of, lock};
use crate::protocol::{ExecEvent, TaskResult};
use crate::registry::Placement;
use crate::store::TaskFinish;

impl Core {
    /// Runs `execute` in the background; the server stops these when it shuts down.
    pub(crate) fn spawn_execution(self: &Arc<Self>, approved: ApprovedRequest, resumed: bool) {
        let core = self.clone();
        let mut executions = lock(&self.executions.tasks);
        while executions.try_join_next().is_some() {}
        executions.spawn(async move {
            let id = approved.request().id.clone();
            if let Err(error) = core.execute(approved, resumed).await {
                tracing::error!(request = %id, "execution stopped: {error:#}");
            }
        });
    }

    /// Stops every execution in progress (the server is shutting down; a restart resumes
    /// them).
    pub(crate) fn stop_executions(&self) {
        lock(&self.executions.tasks).abort_all();
    }

    /// Runs the approved plan's steps in dependency order; a step whose dependency did not
    /// succeed is cancelled, not run.
    ///
    /// `resumed`: a request that was paused waiting for capacity when the orchestrator
    /// stopped; steps that already finished keep their outcome and are not run again.
    async fn execute(&self, approved: ApprovedRequest, resumed: bool) -> anyhow::Result<()> {
        let request = approved.request();
        let mut outcome: BTreeMap<String, TaskStatus> = BTreeMap::new();
        let mut in_flight: BTreeMap<String, Task> = BTreeMap::new();
        if resumed {
            self.take_stock(request, &mut outcome, &mut in_flight)
                .await?;
        }
        if request.status == RequestStatus::Approved || !resumed {
            self.request_status(
                request,
                &[RequestStatus::Approved],
                RequestStatus::Running,
                None,
            )
            .await?;
        }
        for step in request.plan.execution_order() {
            if outcome.contains_key(&step.id) {
                continue;
            }
            let began = std::time::Instant::now();
            let status = self
                .settle_step(&approved, step, &outcome, &mut in_flight)
                .await?;
            self.metrics.record_step(status, began.elapsed());
            outcome.insert(step.id.clone(), status);
        }
        let aborted_by = lock(&self.executions.aborting).remove(request.id.as_str());
        let (status, reason) = request_outcome(&outcome, aborted_by);
        self.request_status(
            request,
            &[RequestStatus::Running, RequestStatus::Paused],
            status,
            reason.as_deref(),
        )
        .await?;
        tracing::info!(request = %request.id, %status, "request finished");
        Ok(())
    }

    /// One step not settled yet: cancelled if the request is being aborted or a dependency
    /// did not succeed, adopted if it was in flight before a restart, run otherwise.
    async fn settle_step(
        &self,
        approved: &ApprovedRequest,
        step: &Step,
        outcome: &BTreeMap<String, TaskStatus>,
        in_flight: &mut BTreeMap<String, Task>,
    ) -> anyhow::Result<TaskStatus> {
        let request = approved.request();
        let abort = lock(&self.executions.aborting)
            .get(request.id.as_str())
            .cloned();
        if let Some(reason) = abort {
            let reason = format!("not run: the request was aborted ({reason})");
            return self.cancel_step(request, step, &reason).await;
        }
        if let Some(task) = in_flight.remove(&step.id) {
            return self.adopt(request, step, task).await;
        }
        let blocked = step
            .depends_on
            .iter()
            .find(|d| outcome.get(*d) != Some(&TaskStatus::Succeeded));
        match blocked {
            Some(dependency) => {
                let reason = format!("not run: step {dependency} did not succeed");
                self.cancel_step(request, step, &reason).await
            }
            None => self.run_step(approved, step).await,
        }
    }

    fn new_task(request: &Request, step: &Step, status: TaskStatus) -> Task {
        let now = Utc::now();
        Task {
            id: TaskId::generate(),
            request_id: request.id.clone(),
            step_id: step.id.clone(),
            plan_version: request.plan.version,
            title: step.title.clone(),
            status,
            outcome: None,
            resource_usage: serde_json::json!({}),
            service_touched: step.service.clone(),
            agent_id: None,
            playbook: step.playbook.clone(),
            error: None,
            resource_state_at_failure: None,
            suggestions: serde_json::json!([]),
            audit_commit: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            warnings: Vec::new(),
        }
    }

    /// Records `step` as cancelled for `reason` without running it, and audits that.
    async fn cancel_step(
        &self,
        request: &Request,
        step: &Step,
        reason: &str,
    ) -> anyhow::Result<TaskStatus> {
        let mut task = Self::new_task(request, step, TaskStatus::Queued);
        self.store.insert_task(&task).await?;
        let finish = TaskFinish::cancelled(reason);
        self.store.finish_task(&task.id, &finish).await?;
        task.status = TaskStatus::Cancelled;
        task.outcome = Some(finish.outcome.clone());
        task.error = finish.error.clone();
        self.audit_task(request, step, &task, None).await?;
        Ok(TaskStatus::Cancelled)
    }

    /// Dispatches one step and waits for its result (or a timeout), then audits it.
    async fn run_step(
        &self,
        approved: &ApprovedRequest,
        step: &Step,
    ) -> anyhow::Result<TaskStatus> {
        let request = approved.request();
        if step.action == crate::orchestrator::revert_commit::ACTION {
            let task = Self::new_task(request, step, TaskStatus::Queued);
            return self.run_commit_revert(request, step, task).await;
        }
        if step.action == crate::planner::upgrade::CHANGE_PIN {
            let task = Self::new_task(request, step, TaskStatus::Queued);
            return self.run_pin_change(request, step, task).await;
        }
        let needs_room = step.resources.gpu_vram_gb > 0.0 || step.resources.cpu_cores > 0.0;
        // Agents that let a placed task down (no ack in time, or a refusal): the step is sent
        // to the next agent with room, at most twice.
        let mut passed_over: Vec<String> = Vec::new();
        loop {
            let placement = if needs_room {
                match self.wait_for_room(request, step, &passed_over).await? {
                    Some(placement) => Some(placement),
                    None => {
                        let reason = "not run: the request was aborted while it waited for room";
                        return self.cancel_step(request, step, reason).await;
                    }
                }
            } else {
                None
            };
            let mut task = Self::new_task(request, step, TaskStatus::Queued);
            self.store.insert_task(&task).await?;
            self.emit_task(&task);
            if let Some(placement) = &placement {
                self.book(&task, step, placement).await?;
            }
            let status = self
                .dispatch_and_wait(approved, step, &mut task, placement.as_ref())
                .await;
            lock(&self.fleet.registry).release(task.id.as_str());
            let status = status?;
            let Some(placement) = placement else {
                return Ok(status);
            };
            let never_started = self
                .store
                .get_task(&task.id)
                .await?
                .is_some_and(|t| t.started_at.is_none());
            if status != TaskStatus::Failed || !never_started || passed_over.len() >= 2 {
                return Ok(status);
            }
            passed_over.push(placement.agent_id.clone());
            if !self.placeable_elsewhere(&task, step, &placement, &passed_over) {
                return Ok(status);
            }
        }
    }

    /// Books `step`'s resources on the placed agent for `task`, and says where it went.
    async fn book(&self, task: &Task, step: &Step, placement: &Placement) -> anyhow::Result<()> {
        lock(&self.fleet.registry).book(task.id.as_str(), placement, &step.resources);
        tracing::info!(task = %task.id, agent = %placement.agent_id, "placed by capacity: {}", placement.reason);
        let event = ExecEvent {
            kind: "placement".to_owned(),
            msg: Some(format!("sent to {}", placement.reason)),
            ..Default::default()
        };
        self.store.append_event(&task.id, &event).await?;
        Ok(())
    }

    /// Whether another agent than those `passed_over` has room for `step` now, after the
    /// placed one did not take `task`.
    fn placeable_elsewhere(
        &self,
        task: &Task,
        step: &Step,
        placement: &Placement,
        passed_over: &[String],
    ) -> bool {
        let elsewhere = lock(&self.fleet.registry).place(
            step.agent_type,
            &step.resources,
            passed_over,
            false,
            Utc::now(),
        );
        match elsewhere {
            Ok(next) => {
                tracing::warn!(
                    task = %task.id,
                    "agent {} did not take the task; sending the step to {}",
                    placement.agent_id,
                    next.agent_id
                );
                true
            }
            Err(_) => false,
        }
    }

    /// Sends the task to its agent (the placed one, or any of the step's type) and waits for
    /// the result, then stores and audits it.
    async fn dispatch_and_wait(
        &self,
        approved: &ApprovedRequest,
        step: &Step,
        task: &mut Task,
        placement: Option<&Placement>,
    ) -> anyhow::Result<TaskStatus> {
        let (ack_rx, result_rx) = self.expect_answers(task.id.as_str());
        let envelope = self.build_dispatch(
            step,
            Purpose::Run {
                request: approved,
                task,
            },
        );
        let task_id = task.id.to_string();
        let failure = move |error: String| TaskResult::failed(&task_id, error, None);
        // Marked before publishing: a fast agent's ack can arrive before a later write would,
        // and the status must only move forward (queued → dispatched → running).
        // A placed task belongs to its agent from the start: only it may acknowledge it.
        self.store
            .mark_task(
                &task.id,
                TaskStatus::Dispatched,
                placement.map(|p| p.agent_id.as_str()),
            )
            .await?;
        task.status = TaskStatus::Dispatched;
        self.emit_task(task);
        // A dispatch the bus will not take fails the task with the reason rather than leaving
        // the request `running` until a restart.
        let queue = match placement.and_then(|p| AgentId::parse(&p.agent_id)) {
            Some(agent) => Queue::Agent(agent),
            None => Queue::Work(step.agent_type),
        };
        let published = self.publish(&queue, envelope.encode()).await;
        let result = match published {
            Err(error) => failure(format!(
                "could not send the task to the {} agents: {error:#}",
                step.agent_type
            )),
            Ok(()) => {
                self.await_result(task, step, ack_rx, result_rx, failure)
                    .await
            }
        };
        self.stop_expecting(task.id.as_str());
        self.conclude(approved.request(), step, task, result).await
    }

    /// Waits for the agent's ack, then for its result, each within its timeout.
    async fn await_result(
        &self,
        task: &mut Task,
        step: &Step,
        ack_rx: oneshot::Receiver<String>,
        result_rx: oneshot::Receiver<TaskResult>,
        failure: impl Fn(String) -> TaskResult,
    ) -> TaskResult {
        let ack = tokio::time::timeout(self.config.ack_timeout, ack_rx).await;
        match ack {
            Err(_) | Ok(Err(_)) => failure(format!(
                "no {} agent took the task within {} s (ack timeout); check `chiffon agents`",
                step.agent_type,
                self.config.ack_timeout.as_secs()
            )),
            Ok(Ok(agent)) => {
                let abort = lock(&self.executions.aborting)
                    .get(task.request_id.as_str())
                    .cloned();
                if let Some(reason) = abort {
                    self.send_cancel(task.id.as_str(), &agent, &reason).await;
                }
                task.agent_id = Some(agent);
                // The agent enforces the deadline itself; the margin covers its clean-up.
                let wait = self.config.execution_deadline + Duration::from_secs(30);
                match tokio::time::timeout(wait, result_rx).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) | Err(_) => failure(format!(
                        "no result from agent {} within the {} s execution deadline",
                        task.agent_id.as_deref().unwrap_or("?"),
                        self.config.execution_deadline.as_secs()
                    )),
                }
            }
        }
    }

    /// Stores (once), records and audits a task's result.
    pub(crate) async fn conclude(
        &self,
        request: &Request,
        step: &Step,
        task: &mut Task,
        result: TaskResult,
    ) -> anyhow::Result<TaskStatus> {
        lock(&self.in_flight.waiters).remove(task.id.as_str());
        // The event consumer normally stored the result already; this covers timeouts.
        let finish = finish_of(&result);
        self.store.finish_task(&task.id, &finish).await?;
        task.status = finish.status;
        task.outcome = Some(finish.outcome.clone());
        task.error = finish.error.clone();
        task.resource_usage = finish.resource_usage.clone();
        task.warnings = finish.warnings.clone();
        if finish.status == TaskStatus::Failed {
            self.suggest_fixes(step, task, &result, &finish).await?;
        }
        self.attach_findings(step, task).await;
        self.record_history(step, &result, finish.status);
        self.metrics
            .record_task(step.agent_type, finish.status, task.created_at);
        self.audit_task(request, step, task, Some(&result)).await?;
        Ok(task.status)
    }

    /// What the failure usually means, at the failed task's line (never secrets: the messages
    /// were redacted by the agent and again here), kept on the task.
    async fn suggest_fixes(
        &self,
        step: &Step,
        task: &mut Task,
        result: &TaskResult,
        finish: &TaskFinish,
    ) -> anyhow::Result<()> {
        let failures: Vec<crate::protocol::Failure> = result
            .failures
            .iter()
            .map(|f| crate::protocol::Failure {
                msg: crate::redact::text(&f.msg).into_owned(),
                ..f.clone()
            })
            .collect();
        let found = crate::suggest::runs::from_failures(
            &self.config.playbooks,
            step.playbook.as_deref(),
            &failures,
            finish.error.as_deref(),
        );
        if !found.is_empty() {
            let value = serde_json::to_value(&found)?;
            self.store.set_task_suggestions(&task.id, &value).await?;
            task.suggestions = value;
        }
        Ok(())
    }

    /// One commit per finished task, naming the task, the request, the plan, the dispatch
    /// and the result; the commit id goes back on the task row.
    pub(crate) async fn audit_task(
        &self,
        request: &Request,
        step: &Step,
        task: &Task,
        result: Option<&TaskResult>,
    ) -> anyhow::Result<()> {
        let stored = self
            .store
            .get_task(&task.id)
            .await?
            .unwrap_or_else(|| task.clone());
        let entry = AuditEntry {
            kind: "task",
            subject: format!("task {} {}: {}", task.id, task.status, step.title),
            subject_id: task.id.to_string(),
            recorded_at: Utc::now(),
            details: serde_json::json!({
                "task": {
                    "id": task.id,
                    "status": task.status,
                    "outcome": task.outcome,
                    "error": task.error,
                    "created_at": stored.created_at,
                    "started_at": stored.started_at,
                    "finished_at": stored.finished_at,
                },
                "request": {"id": request.id, "text": request.text},
                "plan": {"version": request.plan.version, "step": step, "risk": request.plan.risk},
                "dispatch": {
                    "agent_type": step.agent_type,
                    "agent_id": stored.agent_id,
                    "playbook": step.playbook,
                    "limit": step.limit,
                },
                "result": result,
                "suggestions": stored.suggestions,
            }),
        };
        // The writer puts the commit on the task row (now, or once the repository is back).
        let commit = self.record_audit(entry).await?;
        let mut task = stored;
        task.audit_commit = commit.or(task.audit_commit);
        self.emit_task(&task);
        Ok(())
    }
}

/// How a request ended, from its steps' outcomes and whether a person aborted it.
fn request_outcome(
    outcome: &BTreeMap<String, TaskStatus>,
    aborted_by: Option<String>,
) -> (RequestStatus, Option<String>) {
    if let Some(why) = aborted_by {
        (RequestStatus::Aborted, Some(format!("aborted: {why}")))
    } else if outcome.values().all(|s| *s == TaskStatus::Succeeded) {
        (RequestStatus::Succeeded, None)
    } else if outcome.values().any(|s| *s == TaskStatus::Aborted) {
        (
            RequestStatus::Aborted,
            Some("a step was aborted".to_owned()),
        )
    } else {
        let failed: Vec<&str> = outcome
            .iter()
            .filter(|(_, s)| **s == TaskStatus::Failed)
            .map(|(id, _)| id.as_str())
            .collect();
        (
            RequestStatus::Failed,
            Some(format!("step {} failed", failed.join(", "))),
        )
    }
}
