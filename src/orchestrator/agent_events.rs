//! Agents' messages on the events and heartbeats queues: hello, heartbeat and goodbye go to the
//! registry; a task's ack, progress, result or error is stored first and only then
//! acknowledged to the bus, and counts only from the agent that owns the task.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::bus::{Bus, Queue};
use crate::model::{AgentId, Task, TaskId, TaskStatus};
use crate::orchestrator::live::LiveEvent;
use crate::orchestrator::{Core, finish_of, lock};
use crate::protocol::{Ack, Envelope, ErrorReply, Message, Progress, TaskResult};

/// What becomes of a delivery once its message has been looked at.
enum Settle {
    /// Done with: applied, a duplicate, or failed in-process, where there is no broker to
    /// hand it back to.
    Ack,
    /// It could not be applied now: back to the broker, to be delivered again.
    Requeue,
    /// Neither acknowledged nor handed back (its id could not be recorded): the broker
    /// delivers it again once the store is back.
    Leave,
}

impl Core {
    /// Consumes `queue` for the life of the server. A message is acknowledged only after
    /// what it says is stored; one that can never be applied goes to the dead-letter queue.
    pub(crate) async fn consume_events(self: Arc<Self>, queue: Queue) {
        let mut consumer = self.bus.consume(&queue);
        while let Some(delivery) = consumer.next().await {
            let envelope = match Envelope::decode(&delivery.body) {
                Ok(envelope) => envelope,
                Err(error) => {
                    tracing::warn!(code = ?error.code, "refused a message on the events queue: {}", error.message);
                    self.reply_error(&delivery.body, &error).await;
                    self.metrics.dead_lettered(&queue);
                    if let Err(error) = delivery.reject().await {
                        tracing::warn!("could not dead-letter a message: {error:#}");
                    }
                    continue;
                }
            };
            match self.apply_once(envelope, &queue).await {
                Settle::Ack => {
                    if let Err(error) = delivery.ack().await {
                        self.metrics.consume_failed(&queue);
                        tracing::warn!("could not acknowledge a message: {error:#}");
                    }
                }
                Settle::Requeue => {
                    if let Err(error) = delivery.requeue().await {
                        tracing::warn!("could not requeue a message: {error:#}");
                    }
                }
                Settle::Leave => {}
            }
        }
    }

    /// Applies a decoded message unless it was applied before, and says what becomes of its
    /// delivery.
    async fn apply_once(&self, envelope: Envelope, queue: &Queue) -> Settle {
        let kind = envelope.message.type_name();
        // A redelivered message must not count twice. Acks, results and errors are idempotent
        // already (task status moves by compare-and-set, and a finished task never moves), so
        // only progress events, which are appended, are recorded by message id.
        let tracked = matches!(envelope.message, Message::Progress(_));
        let fresh = if tracked {
            match self.store.remember_message(&envelope.message_id).await {
                Ok(fresh) => fresh,
                Err(error) => {
                    // Not acknowledged: the broker will deliver it again once the store is back.
                    tracing::error!(kind, "could not record a message id: {error:#}");
                    self.metrics.consume_failed(queue);
                    return Settle::Leave;
                }
            }
        } else {
            true
        };
        if !fresh {
            tracing::debug!(kind, message_id = %envelope.message_id, "dropped a duplicate message");
            return Settle::Ack;
        }
        let message_id = envelope.message_id.clone();
        if let Err(error) = self.handle_event(envelope).await {
            self.metrics.consume_failed(queue);
            tracing::error!(
                kind,
                "could not apply an agent message, will retry it: {error:#}"
            );
            // Forget it was seen and hand it back, after a pause so a broken database does
            // not turn into a busy loop. In-process there is no broker to hand it back to.
            if tracked {
                let _ = self.store.forget_message(&message_id).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !matches!(self.bus, Bus::InProcess(_)) {
                return Settle::Requeue;
            }
        }
        Settle::Ack
    }

    /// Applies one message from an agent. Errors are logged by the caller; the message is
    /// acknowledged only after this returns.
    async fn handle_event(&self, envelope: Envelope) -> anyhow::Result<()> {
        let sender = envelope.sender.clone();
        let kind = envelope.message.type_name();
        let correlation_id = envelope.correlation_id.clone();
        match envelope.message {
            Message::Hello(hello) => {
                let change = lock(&self.fleet.registry).hello(&sender, &hello, Utc::now());
                tracing::info!(agent = %sender, host = %hello.host, version = %hello.version, "agent said hello");
                self.agent_changed(change).await?;
            }
            Message::Heartbeat(beat) => {
                let change = lock(&self.fleet.registry).heartbeat(&sender, beat, Utc::now());
                self.fleet.capacity_changed.notify_waiters();
                self.agent_changed(change).await?;
            }
            Message::Goodbye(goodbye) => {
                let change =
                    lock(&self.fleet.registry).goodbye(&sender, &goodbye.reason, Utc::now());
                self.agent_changed(change).await?;
            }
            Message::Ack(ack) => self.on_ack(ack, sender, kind).await?,
            Message::Progress(progress) => self.on_progress(progress, &sender, kind).await?,
            Message::Result(result) => self.on_result(result, &sender, kind).await?,
            Message::Error(error) => {
                tracing::warn!(agent = %sender, code = ?error.code, "agent reported an error: {}", error.message);
                // An error about a task that is being waited for fails that task with the reason.
                if let Some(task_id) = correlation_id.as_deref().and_then(TaskId::parse) {
                    self.on_task_error(&task_id, &error, &sender, kind).await?;
                }
            }
            Message::Dispatch(_) | Message::Cancel(_) => {
                tracing::warn!(agent = %sender, "ignored a {kind} message on the events queue");
            }
        }
        Ok(())
    }

    /// An agent took a task: it is running there, and its executor stops waiting for the ack.
    async fn on_ack(&self, ack: Ack, sender: String, kind: &str) -> anyhow::Result<()> {
        let Some(task_id) = TaskId::parse(&ack.task_id) else {
            return Ok(());
        };
        if self.refuse_foreign(&task_id, &sender, kind).await? {
            return Ok(());
        }
        self.store
            .mark_task(&task_id, TaskStatus::Running, Some(&sender))
            .await?;
        if let Some(task) = self.store.get_task(&task_id).await? {
            self.emit_task(&task);
        }
        if let Some(waiter) = lock(&self.in_flight.unacked).remove(&ack.task_id) {
            lock(&self.in_flight.running).insert(ack.task_id.clone(), sender.clone());
            let _ = waiter.send(sender);
        }
        Ok(())
    }

    /// One event of a running playbook: stored and streamed, or kept with its preview.
    async fn on_progress(
        &self,
        progress: Progress,
        sender: &str,
        kind: &str,
    ) -> anyhow::Result<()> {
        let Some(task_id) = TaskId::parse(&progress.task_id) else {
            return Ok(());
        };
        // Read once: for the owner check and for the live event.
        let task = self.store.get_task(&task_id).await?;
        if self
            .refuse_foreign_to(task.as_ref(), &task_id, sender, kind)
            .await
        {
            return Ok(());
        }
        let mut event = progress.event;
        if let Some(msg) = &event.msg {
            event.msg = Some(crate::redact::text(msg).into_owned());
        }
        // A preview run's events stay with the preview, not in the task tables.
        if let Some(events) = lock(&self.in_flight.previews).get_mut(task_id.as_str()) {
            events.push(event);
            return Ok(());
        }
        self.store.append_event(&task_id, &event).await?;
        if let Some(task) = task {
            self.emit(LiveEvent::Execution {
                request_id: task.request_id.to_string(),
                task_id: task.id.to_string(),
                step_id: task.step_id,
                event,
                at: Utc::now(),
            });
        }
        Ok(())
    }

    /// A task's result: stored, then handed to its executor.
    async fn on_result(
        &self,
        mut result: TaskResult,
        sender: &str,
        kind: &str,
    ) -> anyhow::Result<()> {
        let Some(task_id) = TaskId::parse(&result.task_id) else {
            tracing::warn!(agent = %sender, "result for a malformed task id {:?}", result.task_id);
            return Ok(());
        };
        if self.refuse_foreign(&task_id, sender, kind).await? {
            return Ok(());
        }
        // What the run changed is kept before the task counts as finished, so an undo never
        // misses a change of a finished task.
        self.keep_changes(&task_id, &mut result).await?;
        self.store
            .finish_task(&task_id, &finish_of(&result))
            .await?;
        self.resolve(task_id.as_str(), sender, result);
        Ok(())
    }

    /// An agent refused a task someone waits for: the task fails with its reason.
    async fn on_task_error(
        &self,
        task_id: &TaskId,
        error: &ErrorReply,
        sender: &str,
        kind: &str,
    ) -> anyhow::Result<()> {
        let waited = lock(&self.in_flight.waiters).contains_key(task_id.as_str());
        if waited && !self.refuse_foreign(task_id, sender, kind).await? {
            let result = TaskResult::failed(
                &task_id.to_string(),
                format!("agent {sender} refused the task: {}", error.message),
                None,
            );
            self.store.finish_task(task_id, &finish_of(&result)).await?;
            self.resolve(task_id.as_str(), sender, result);
        }
        Ok(())
    }

    /// A task's `ack`, `progress`, `result` or `error` counts only from the agent the task was
    /// placed on or that acknowledged it first. Another sender is told so (`error`
    /// `rejected`) and its message changes nothing. Returns whether it was refused.
    async fn refuse_foreign(
        &self,
        task_id: &TaskId,
        sender: &str,
        kind: &str,
    ) -> anyhow::Result<bool> {
        let task = self.store.get_task(task_id).await?;
        Ok(self
            .refuse_foreign_to(task.as_ref(), task_id, sender, kind)
            .await)
    }

    /// `refuse_foreign` for a task the caller has already read.
    async fn refuse_foreign_to(
        &self,
        task: Option<&Task>,
        task_id: &TaskId,
        sender: &str,
        kind: &str,
    ) -> bool {
        let owner = task.and_then(|t| t.agent_id.clone());
        let Some(owner) = owner.filter(|owner| owner != sender) else {
            return false;
        };
        tracing::warn!(agent = %sender, task = %task_id, %owner, "refused a {kind} for a task that belongs to another agent");
        if let Some(agent) = AgentId::parse(sender) {
            let reply = Envelope::new(
                "orchestrator",
                Some(task_id.to_string()),
                Message::Error(ErrorReply {
                    code: crate::protocol::ErrorCode::Rejected,
                    message: format!("{kind} refused: task {task_id} belongs to agent {owner}"),
                    retryable: false,
                }),
            );
            if let Err(error) = self.publish(&Queue::Agent(agent), reply.encode()).await {
                tracing::warn!("could not send an error reply: {error:#}");
            }
        }
        true
    }

    /// Tells the sender of a refused message why, when the message names a sender we can reach.
    async fn reply_error(&self, body: &[u8], error: &crate::protocol::DecodeError) {
        let sender = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("sender")
                    .and_then(|s| s.as_str())
                    .and_then(AgentId::parse)
            });
        let Some(sender) = sender else { return };
        let reply = Envelope::new(
            "orchestrator",
            None,
            Message::Error(ErrorReply {
                code: error.code,
                message: error.message.clone(),
                retryable: false,
            }),
        );
        if let Err(error) = self.publish(&Queue::Agent(sender), reply.encode()).await {
            tracing::warn!("could not send an error reply: {error:#}");
        }
    }
}
