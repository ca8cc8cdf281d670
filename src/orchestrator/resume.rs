//! Carrying on after a restart: what each step of a resumed request already did, and waiting
//! for the tasks that were in flight when the orchestrator stopped (their agents kept running
//! them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::oneshot;

use crate::model::{Request, Step, Task, TaskStatus};
use crate::orchestrator::{Core, lock};
use crate::protocol::TaskResult;
use crate::store::TaskFinish;

/// How long an agent that reported after the restart without a task has for that task's
/// result to arrive.
const RESULT_GRACE: Duration = Duration::from_secs(5);

impl Core {
    /// After a restart: what each step of `request` already did. Finished steps keep their
    /// outcome (audited now if the stop came between the two); steps sent to an agent are
    /// adopted; a task created but never sent is closed and its step runs again.
    pub(crate) async fn take_stock(
        &self,
        request: &Request,
        outcome: &mut BTreeMap<String, TaskStatus>,
        in_flight: &mut BTreeMap<String, Task>,
    ) -> anyhow::Result<()> {
        let filter = crate::store::TaskFilter {
            request_id: Some(request.id.clone()),
            limit: 1000,
            ..Default::default()
        };
        // Oldest first: the last task of a step is its current one.
        let mut latest: BTreeMap<String, Task> = BTreeMap::new();
        for task in self.store.list_tasks(&filter).await? {
            if task.plan_version == request.plan.version {
                latest.insert(task.step_id.clone(), task);
            }
        }
        for (step_id, task) in latest {
            let Some(step) = request.plan.steps.iter().find(|s| s.id == step_id) else {
                continue;
            };
            match task.status {
                status if status.is_terminal() => {
                    if !self.has_audit_entry(task.id.as_str()).await? {
                        self.audit_task(request, step, &task, None).await?;
                    }
                    outcome.insert(step_id, status);
                }
                TaskStatus::Queued => {
                    let reason = "not sent before the orchestrator stopped; sent again";
                    let finish = TaskFinish::cancelled(reason);
                    self.store.finish_task(&task.id, &finish).await?;
                    if let Some(closed) = self.store.get_task(&task.id).await? {
                        self.audit_task(request, step, &closed, None).await?;
                    }
                }
                _ => {
                    in_flight.insert(step_id, task);
                }
            }
        }
        Ok(())
    }

    /// Waits for a task that was in flight when the orchestrator stopped. Its agent confirms
    /// it still runs it by listing it in a heartbeat after this restart; its result may also
    /// be waiting in the events queue. A task no agent owns up to within `agent_offline_s`
    /// fails with the reason; one whose agent goes offline fails as "agent lost".
    pub(crate) async fn adopt(
        &self,
        request: &Request,
        step: &Step,
        mut task: Task,
    ) -> anyhow::Result<TaskStatus> {
        tracing::info!(task = %task.id, agent = ?task.agent_id, "adopting a task that was in flight before the restart");
        let (result_tx, mut result_rx) = oneshot::channel();
        lock(&self.in_flight.waiters).insert(task.id.to_string(), result_tx);
        if let Some(agent) = &task.agent_id {
            lock(&self.in_flight.running).insert(task.id.to_string(), agent.clone());
        }
        let mut not_listed_since: Option<Instant> = None;
        let result = loop {
            let stored = self.store.get_task(&task.id).await?;
            if let Some(stored) = stored.as_ref().filter(|t| t.status.is_terminal()) {
                // Its result was applied from the queue before we got here.
                lock(&self.in_flight.waiters).remove(task.id.as_str());
                lock(&self.in_flight.running).remove(task.id.as_str());
                if !self.has_audit_entry(stored.id.as_str()).await? {
                    self.audit_task(request, step, stored, None).await?;
                }
                return Ok(stored.status);
            }
            match tokio::time::timeout(Duration::from_secs(1), &mut result_rx).await {
                Ok(Ok(result)) => break result,
                Ok(Err(_)) => break failed(&task, "the task's waiter was dropped".to_owned()),
                Err(_) => {}
            }
            let owner = stored.and_then(|t| t.agent_id);
            if let Some(result) = self
                .check_owner(&mut task, owner, &mut result_rx, &mut not_listed_since)
                .await
            {
                break result;
            }
        };
        lock(&self.in_flight.running).remove(task.id.as_str());
        self.conclude(request, step, &mut task, result).await
    }

    /// One look at whether the adopted `task`'s `owner` still runs it: when its heartbeat
    /// since the restart lists it, waits for the result; otherwise returns the failure once
    /// the agent (or every agent) had long enough to say so, and `None` to look again.
    async fn check_owner(
        &self,
        task: &mut Task,
        owner: Option<String>,
        result_rx: &mut oneshot::Receiver<TaskResult>,
        not_listed_since: &mut Option<Instant>,
    ) -> Option<TaskResult> {
        let task_id = task.id.to_string();
        let window = self.config.agent_thresholds.offline_after;
        let report = owner
            .as_deref()
            .and_then(|agent| self.agent(agent))
            .filter(|info| {
                info.last_heartbeat_at
                    .is_some_and(|at| at >= self.fleet.started_at)
            });
        match (&owner, report) {
            (Some(agent), Some(info)) if info.running_tasks.contains(&task_id) => {
                tracing::info!(task = %task.id, %agent, "the agent still runs it");
                task.agent_id = Some(agent.clone());
                lock(&self.in_flight.running).insert(task_id.clone(), agent.clone());
                let wait = self.config.execution_deadline + Duration::from_secs(30);
                Some(match tokio::time::timeout(wait, result_rx).await {
                    Ok(Ok(result)) => result,
                    _ => failed(
                        task,
                        format!(
                            "no result from agent {agent} within the {} s execution deadline",
                            self.config.execution_deadline.as_secs()
                        ),
                    ),
                })
            }
            (Some(agent), Some(_)) => {
                // It reported after the restart without this task: its result may still
                // be on its way; give it a few seconds.
                let since = *not_listed_since.get_or_insert_with(Instant::now);
                (since.elapsed() > RESULT_GRACE).then(|| {
                    failed(task, format!(
                        "agent {agent} no longer runs this task after the orchestrator restarted, and its result never arrived"
                    ))
                })
            }
            _ if (Utc::now() - self.fleet.started_at)
                .to_std()
                .unwrap_or_default()
                > window =>
            {
                Some(failed(
                    task,
                    format!(
                        "no agent reported running this task within {} s of the orchestrator restarting",
                        window.as_secs()
                    ),
                ))
            }
            _ => None,
        }
    }
}

/// `task` failed for `error`, as if its agent had said so.
fn failed(task: &Task, error: String) -> TaskResult {
    TaskResult::failed(task.id.as_str(), error, None)
}
