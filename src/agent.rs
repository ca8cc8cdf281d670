//! An agent: takes `dispatch` messages for its type (and ones addressed to it by id), runs
//! the step's playbook with `ansible-playbook`, streams its events back, reports the result,
//! and sends heartbeats with what its machine has free.
//!
//! Two kinds share this runtime: `infra` agents run playbooks against the homelab; `desktop`
//! agents report GPU and CPU capacity and run GPU-heavy steps when given a playbook repository.
//!
//! Invariant: an agent talks to the orchestrator only through the bus and the protocol, and
//! runs or cancels only what the orchestrator signed (`protocol::signing`): anything else is
//! refused with `unauthenticated` and dead-lettered, never run.

pub mod ansible;
pub mod heartbeat;
pub mod nvidia;
pub mod probe;
pub mod ssh_advice;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::bus::{Bus, Delivery, Queue};
use crate::model::{AgentId, AgentType};
use crate::protocol::signing::VerifyingKey;
use crate::protocol::{
    Ack, Capacity, Dispatch, Envelope, ErrorCode, ErrorReply, Goodbye, Heartbeat, Hello, Message,
    Progress, ResultStatus, TaskResult,
};
use ansible::{Ansible, RunSpec};
use probe::{Probe, ProbeConfig};

pub use probe::hostname;

/// What an agent needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub agent_type: AgentType,
    pub id: AgentId,
    /// The homelab's playbook repository; without one the agent reports capacity only and
    /// refuses work with the reason.
    pub playbooks: Option<PathBuf>,
    /// Extra variables passed to every run (`--extra-vars`).
    pub extra_vars: serde_json::Map<String, serde_json::Value>,
    pub heartbeat_interval: Duration,
    pub probe: ProbeConfig,
    /// The orchestrator's public key: only dispatches and cancels signed with it are obeyed.
    /// Without one, every dispatch is refused (`unauthenticated`) and nothing runs.
    pub orchestrator_key: Option<VerifyingKey>,
}

/// Runs until `shutdown` turns true, then says goodbye. `ansible` is needed to run
/// playbooks; an agent without it only reports capacity.
pub async fn run(
    config: AgentConfig,
    ansible: Option<Ansible>,
    bus: Bus,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let probe = Probe::new(config.probe.clone());
    tracing::info!(agent = %config.id, "{}", probe.describe());
    let agent = Arc::new(Agent {
        ansible: ansible.zip(config.playbooks.clone()),
        config,
        bus,
        running: Mutex::new(HashMap::new()),
        early_cancels: Mutex::new(HashMap::new()),
        seen_dispatches: Mutex::new(HashMap::new()),
        probe: tokio::sync::Mutex::new(probe),
        seq: AtomicU64::new(0),
        boot_id: uuid::Uuid::now_v7().simple().to_string(),
    });
    agent
        .send(
            None,
            Message::Hello(Hello {
                agent_type: agent.config.agent_type,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                host: hostname(),
            }),
        )
        .await?;
    // Stopped with this function, however it ends (returned, or the task running it aborted).
    let _heartbeat = AbortOnDrop(tokio::spawn(heartbeat_loop(
        agent.clone(),
        shutdown.clone(),
    )));
    let _control = AbortOnDrop(tokio::spawn(control_loop(agent.clone())));
    let mut work = agent.bus.consume(&Queue::Work(agent.config.agent_type));
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            delivery = work.next() => {
                let Some(delivery) = delivery else { break };
                agent.handle_work(delivery).await;
            }
        }
    }
    // Goodbye first: the orchestrator then reads the closing connection as a clean stop.
    agent
        .send(
            None,
            Message::Goodbye(Goodbye {
                reason: "shutting down".to_owned(),
            }),
        )
        .await?;
    Ok(())
}

/// Aborts a spawned task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug)]
struct Agent {
    config: AgentConfig,
    /// Ansible and the repository it runs from, when this agent runs playbooks.
    ansible: Option<(Ansible, PathBuf)>,
    bus: Bus,
    /// Cancel handles of the runs in progress, by task id.
    running: Mutex<HashMap<String, oneshot::Sender<String>>>,
    /// Cancels that arrived before their task started here (an abort right after the ack).
    early_cancels: Mutex<HashMap<String, String>>,
    /// Signed dispatches already taken, by message id, until they expire: a replayed copy of
    /// a genuine dispatch is refused rather than run twice.
    seen_dispatches: Mutex<HashMap<String, chrono::DateTime<chrono::Utc>>>,
    probe: tokio::sync::Mutex<Probe>,
    seq: AtomicU64,
    boot_id: String,
}

/// Why `Agent::check_signed` turned a message down.
struct Refusal {
    reason: String,
    /// A genuine dispatch already taken here, received again.
    replay: bool,
}

impl Refusal {
    fn untrusted(reason: String) -> Self {
        Self {
            reason,
            replay: false,
        }
    }
}

impl Agent {
    async fn send(&self, correlation: Option<&str>, message: Message) -> anyhow::Result<()> {
        let envelope = Envelope::new(
            self.config.id.as_str(),
            correlation.map(str::to_owned),
            message,
        );
        self.bus.publish(&Queue::Events, envelope.encode()).await
    }

    async fn capacity(&self) -> Capacity {
        self.probe.lock().await.sample().await
    }

    /// One message from a work queue. A message that is not a valid dispatch is answered
    /// with an `error` and dead-lettered; a dispatch is acknowledged on the bus as soon as this
    /// agent has taken it, so a crash mid-run does not hand the same work to another agent
    /// behind a person's back (the orchestrator fails it as "agent lost" instead).
    async fn handle_work(&self, delivery: Delivery) {
        let envelope = match Envelope::decode(&delivery.body) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(code = ?error.code, "refused a work message: {}", error.message);
                let _ = self
                    .send(
                        None,
                        Message::Error(ErrorReply {
                            code: error.code,
                            message: error.message,
                            retryable: false,
                        }),
                    )
                    .await;
                let _ = delivery.reject().await;
                return;
            }
        };
        let correlation = envelope.correlation_id.clone();
        let Some(delivery) = self.admit(&envelope, delivery).await else {
            return;
        };
        match envelope.message {
            Message::Dispatch(dispatch) => {
                if let Err(error) = self.execute(dispatch, delivery).await {
                    tracing::error!("could not report a task: {error:#}");
                }
            }
            other => {
                let _ = self
                    .send(
                        correlation.as_deref(),
                        Message::Error(ErrorReply {
                            code: ErrorCode::InvalidPayload,
                            message: format!(
                                "an agent's work queue takes dispatch messages, not {}",
                                other.type_name()
                            ),
                            retryable: false,
                        }),
                    )
                    .await;
                let _ = delivery.reject().await;
            }
        }
    }

    /// Whether a `dispatch` or `cancel` comes from the orchestrator: signed with its key, and
    /// (a dispatch) not a replay of one already taken. Other message types pass.
    fn check_signed(&self, envelope: &Envelope) -> Result<(), Refusal> {
        let (Message::Dispatch(_) | Message::Cancel(_)) = &envelope.message else {
            return Ok(());
        };
        let Some(key) = &self.config.orchestrator_key else {
            return Err(Refusal::untrusted(
                "this agent has no orchestrator key configured (--orchestrator-key-file), so it obeys no one"
                    .to_owned(),
            ));
        };
        key.verify(envelope)
            .map_err(|error| Refusal::untrusted(error.to_string()))?;
        if let Message::Dispatch(dispatch) = &envelope.message {
            let now = chrono::Utc::now();
            let mut seen = self
                .seen_dispatches
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            seen.retain(|_, expires| *expires > now);
            if seen
                .insert(envelope.message_id.clone(), dispatch.expires_at)
                .is_some()
            {
                return Err(Refusal {
                    reason: format!(
                        "message {} was already received: a replayed dispatch is not run again",
                        envelope.message_id
                    ),
                    replay: true,
                });
            }
        }
        Ok(())
    }

    /// The delivery back when `check_signed` passes the message. Otherwise it is refused
    /// (`refuse_unsigned`) — unless it is the broker's own second copy of a dispatch taken here
    /// whose ack was lost in a broker restart (the flag is the broker's, no sender can set it):
    /// that one is already running, so it is dropped quietly.
    async fn admit(&self, envelope: &Envelope, delivery: Delivery) -> Option<Delivery> {
        match self.check_signed(envelope) {
            Ok(()) => Some(delivery),
            Err(refusal) if refusal.replay && delivery.redelivered => {
                tracing::info!(
                    agent = %self.config.id,
                    "dropped the broker's redelivery of message {}: this agent already took it",
                    envelope.message_id
                );
                let _ = delivery.ack().await;
                None
            }
            Err(refusal) => {
                self.refuse_unsigned(envelope, refusal.reason, delivery)
                    .await;
                None
            }
        }
    }

    /// Refuses a dispatch or cancel that `check_signed` turned down: logged, answered with an
    /// `error` `unauthenticated` (no correlation: a forged task id must not touch the real
    /// task), and dead-lettered. Nothing runs.
    async fn refuse_unsigned(&self, envelope: &Envelope, reason: String, delivery: Delivery) {
        let claimed = envelope.correlation_id.as_deref().unwrap_or("none");
        let message = format!(
            "refused a {} from {:?} (message {}, task {claimed}): {reason}",
            envelope.message.type_name(),
            envelope.sender,
            envelope.message_id
        );
        tracing::warn!(agent = %self.config.id, "{message}");
        let _ = self
            .send(
                None,
                Message::Error(ErrorReply {
                    code: ErrorCode::Unauthenticated,
                    message,
                    retryable: false,
                }),
            )
            .await;
        let _ = delivery.reject().await;
    }

    async fn execute(&self, dispatch: Dispatch, delivery: Delivery) -> anyhow::Result<()> {
        let task = dispatch.task_id.clone();
        if dispatch.expires_at < chrono::Utc::now() {
            delivery.ack().await?;
            // The orchestrator has already failed this task for want of an ack: running it
            // now would change the homelab behind everyone's back.
            tracing::warn!(task = %task, "dropping a dispatch that expired before it was received");
            return self
                .send(
                    Some(&task),
                    Message::Error(ErrorReply {
                        code: ErrorCode::Rejected,
                        message: format!(
                            "dispatch for {task} expired at {} before this agent received it",
                            dispatch.expires_at
                        ),
                        retryable: false,
                    }),
                )
                .await;
        }
        let Some((ansible, playbooks)) = &self.ansible else {
            // Refused before the ack: the orchestrator fails the task with this reason at once.
            delivery.ack().await?;
            return self
                .send(
                    Some(&task),
                    Message::Error(ErrorReply {
                        code: ErrorCode::Rejected,
                        message: format!(
                            "{} agent {} runs no playbooks: start it with --playbooks DIR to take steps like {:?}",
                            self.config.agent_type, self.config.id, dispatch.title
                        ),
                        retryable: false,
                    }),
                )
                .await;
        };
        self.send(
            Some(&task),
            Message::Ack(Ack {
                task_id: task.clone(),
            }),
        )
        .await?;
        // The orchestrator now knows this agent took the task, so it runs even when the bus
        // ack is lost (the broker bounced in between): the broker then redelivers the message,
        // and `handle_work` drops that copy as one already taken.
        if let Err(error) = delivery.ack().await {
            tracing::warn!(task = %task, "the work message's ack was lost, running the task anyway: {error:#}");
        }
        let Some(playbook) = dispatch.playbook.clone() else {
            return self
                .fail(
                    &task,
                    format!("step {:?} has no playbook to run", dispatch.title),
                )
                .await;
        };
        // The step's own variables (a unit's on/off switch) come first; what this agent's
        // operator configured wins on a clash.
        let mut extra_vars = dispatch.extra_vars.clone();
        extra_vars.extend(self.config.extra_vars.clone());
        let spec = RunSpec {
            playbook,
            limit: dispatch.limit.clone(),
            check_mode: dispatch.check_mode,
            tags: dispatch.tags.clone(),
            extra_vars,
            deadline: Duration::from_secs(dispatch.deadline_s.max(1)),
        };
        if let Err(invalid) = Ansible::validate(playbooks, &spec) {
            return self.fail(&task, invalid.to_string()).await;
        }
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let cancelled = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            let early = self
                .early_cancels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&task);
            if early.is_none() {
                running.insert(task.clone(), cancel_tx);
            }
            early
        };
        if let Some(reason) = cancelled {
            // Cancelled between the ack and now: nothing ran.
            let mut result =
                TaskResult::failed(&task, format!("aborted before it started: {reason}"), None);
            result.outcome = ResultStatus::Aborted;
            return self.send(Some(&task), Message::Result(result)).await;
        }

        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let run = ansible.run(playbooks, &spec, events_tx, cancel_rx);
        tokio::pin!(run);
        let outcome = loop {
            tokio::select! {
                Some(event) = events_rx.recv() => self.progress(&task, event).await,
                outcome = &mut run => break outcome,
            }
        };
        while let Ok(event) = events_rx.try_recv() {
            self.progress(&task, event).await;
        }
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&task);
        let capacity = match &outcome {
            Ok(outcome) if outcome.error.is_none() => None,
            _ => Some(self.capacity().await),
        };
        let result = match outcome {
            Ok(outcome) => TaskResult {
                task_id: task.clone(),
                outcome: if outcome.aborted {
                    ResultStatus::Aborted
                } else if outcome.error.is_none() {
                    ResultStatus::Succeeded
                } else {
                    ResultStatus::Failed
                },
                exit_code: outcome.exit_code,
                duration_ms: outcome.duration.as_millis() as u64,
                hosts: outcome.hosts,
                failures: outcome.failures,
                capacity,
                error: outcome.error,
                changes: outcome.changes,
                warnings: outcome.warnings,
            },
            Err(error) => return self.fail(&task, format!("{error:#}")).await,
        };
        self.send(Some(&task), Message::Result(result)).await
    }

    /// One progress event. One the bus would not take within its patience is dropped with a
    /// warning rather than ending the run: the result still has to be sent.
    async fn progress(&self, task: &str, event: crate::protocol::ExecEvent) {
        let message = Message::Progress(Progress {
            task_id: task.to_owned(),
            event,
        });
        if let Err(error) = self.send(Some(task), message).await {
            tracing::warn!(task = %task, "a progress event was dropped: {error:#}");
        }
    }

    async fn fail(&self, task: &str, error: String) -> anyhow::Result<()> {
        self.send(
            Some(task),
            Message::Result(TaskResult::failed(task, error, Some(self.capacity().await))),
        )
        .await
    }
}

/// Heartbeats: one at once, then every interval with jitter, and early when a GPU's free
/// memory moves (checked every [`heartbeat::MIN_GAP`], only on machines with a GPU).
async fn heartbeat_loop(agent: Arc<Agent>, mut shutdown: watch::Receiver<bool>) {
    let interval = agent.config.heartbeat_interval;
    let mut reported = agent.beat().await;
    let mut last_beat = Instant::now();
    let mut next_beat = tokio::time::Instant::now() + heartbeat::jittered(interval);
    let mut gpu_check = tokio::time::interval(heartbeat::MIN_GAP);
    gpu_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next_beat) => {}
            _ = gpu_check.tick(), if !reported.gpus.is_empty() => {
                let gpus = agent.probe.lock().await.gpus().await;
                if !heartbeat::vram_moved(&reported.gpus, &gpus) || last_beat.elapsed() < heartbeat::MIN_GAP {
                    continue;
                }
                tracing::debug!("free GPU memory moved: reporting early");
            }
            _ = shutdown.changed() => return,
        }
        reported = agent.beat().await;
        last_beat = Instant::now();
        next_beat = tokio::time::Instant::now() + heartbeat::jittered(interval);
    }
}

impl Agent {
    /// Samples the machine and sends one heartbeat; returns what it reported.
    async fn beat(&self) -> Capacity {
        let interval = self.config.heartbeat_interval;
        let capacity = self.capacity().await;
        // Stale after two and a half intervals: by then the orchestrator counts the agent
        // offline anyway, and an old heartbeat must not revive it.
        let ttl = interval.mul_f64(2.5);
        let beat = Heartbeat {
            agent_type: self.config.agent_type,
            capacity: capacity.clone(),
            ttl_s: ttl.as_secs().max(1),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            boot_id: self.boot_id.clone(),
            interval_s: interval.as_secs(),
            running_tasks: {
                let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
                let mut ids: Vec<String> = running.keys().cloned().collect();
                ids.sort();
                ids
            },
        };
        let envelope = Envelope::new(self.config.id.as_str(), None, Message::Heartbeat(beat));
        if let Err(error) = self
            .bus
            .publish_expiring(&Queue::Heartbeats, envelope.encode(), ttl)
            .await
        {
            tracing::warn!("heartbeat not sent: {error:#}");
        }
        capacity
    }
}

/// Messages addressed to this agent by id: targeted work (a step the orchestrator placed
/// here for its capacity), cancels, and the orchestrator's error replies.
async fn control_loop(agent: Arc<Agent>) {
    let mut control = agent.bus.consume(&Queue::Agent(agent.config.id.clone()));
    while let Some(delivery) = control.next().await {
        let envelope = Envelope::decode(&delivery.body);
        let delivery = match &envelope {
            Ok(envelope) => match agent.admit(envelope, delivery).await {
                Some(delivery) => delivery,
                None => continue,
            },
            Err(_) => delivery,
        };
        match envelope {
            Ok(Envelope {
                message: Message::Dispatch(dispatch),
                ..
            }) => {
                // Runs beside this loop, so a cancel can still reach it.
                let agent = agent.clone();
                tokio::spawn(async move {
                    if let Err(error) = agent.execute(dispatch, delivery).await {
                        tracing::error!("could not report a task: {error:#}");
                    }
                });
                continue;
            }
            Ok(Envelope {
                message: Message::Cancel(cancel),
                ..
            }) => {
                // Both maps under the `running` lock, in the order `execute` takes them, so a
                // cancel cannot slip between "not running yet" and "started".
                let mut running = agent.running.lock().unwrap_or_else(|e| e.into_inner());
                match running.remove(&cancel.task_id) {
                    Some(handle) => {
                        let _ = handle.send(cancel.reason);
                    }
                    None => {
                        // Perhaps acknowledged but not started yet: remembered for a while.
                        tracing::info!(task = %cancel.task_id, "cancel for a task that is not running here (yet)");
                        let mut early = agent
                            .early_cancels
                            .lock()
                            .unwrap_or_else(|e| e.into_inner());
                        if early.len() >= 1000 {
                            early.clear();
                        }
                        early.insert(cancel.task_id, cancel.reason);
                    }
                }
            }
            Ok(Envelope {
                message: Message::Error(error),
                ..
            }) => tracing::warn!(
                code = ?error.code,
                "the orchestrator refused a message from this agent: {}",
                error.message
            ),
            Ok(other) => tracing::warn!(
                kind = other.message.type_name(),
                "ignored a control message"
            ),
            Err(error) => {
                tracing::warn!(code = ?error.code, "refused a control message: {}", error.message);
            }
        }
        let _ = delivery.ack().await;
    }
}
