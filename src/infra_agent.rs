//! The infrastructure agent: takes `dispatch` messages for `infra` steps, runs the step's
//! playbook with `ansible-playbook`, streams its events back and reports the result.
//!
//! Invariant: it talks to the orchestrator only through the bus and the protocol.

pub mod ansible;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::bus::{Bus, Delivery, Queue};
use crate::model::{AgentId, AgentType};
use crate::protocol::{
    Ack, Dispatch, Envelope, ErrorCode, ErrorReply, Goodbye, Heartbeat, Hello, Message, Progress,
    ResultStatus, TaskResult,
};
use ansible::{Ansible, RunSpec};

/// What an infra agent needs to run.
#[derive(Debug, Clone)]
pub struct InfraAgentConfig {
    pub id: AgentId,
    /// The homelab's playbook repository.
    pub playbooks: PathBuf,
    /// Extra variables passed to every run (`--extra-vars`).
    pub extra_vars: serde_json::Map<String, serde_json::Value>,
    pub heartbeat_interval: Duration,
}

/// Runs until `shutdown` turns true, then says goodbye.
pub async fn run(
    config: InfraAgentConfig,
    ansible: Ansible,
    bus: Bus,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let agent = Arc::new(Agent {
        config,
        ansible,
        bus,
        running: Mutex::new(HashMap::new()),
    });
    agent
        .send(
            None,
            Message::Hello(Hello {
                agent_type: AgentType::Infra,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                host: crate::desktop_agent::hostname(),
            }),
        )
        .await?;
    let heartbeat = tokio::spawn(heartbeat_loop(agent.clone(), shutdown.clone()));
    let control = tokio::spawn(control_loop(agent.clone()));
    let mut work = agent.bus.consume(&Queue::Work(AgentType::Infra));
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            delivery = work.next() => {
                let Some(delivery) = delivery else { break };
                agent.handle_work(delivery).await;
            }
        }
    }
    heartbeat.abort();
    control.abort();
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

#[derive(Debug)]
struct Agent {
    config: InfraAgentConfig,
    ansible: Ansible,
    bus: Bus,
    /// Cancel handles of the runs in progress, by task id.
    running: Mutex<HashMap<String, oneshot::Sender<String>>>,
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

    /// One message from the work queue. A message that is not a valid dispatch is answered
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
                                "an infra agent's work queue takes dispatch messages, not {}",
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
        self.send(
            Some(&task),
            Message::Ack(Ack {
                task_id: task.clone(),
            }),
        )
        .await?;
        delivery.ack().await?;
        let Some(playbook) = dispatch.playbook.clone() else {
            return self
                .fail(
                    &task,
                    format!(
                        "step {:?} has no playbook for an infra agent to run",
                        dispatch.title
                    ),
                )
                .await;
        };
        let spec = RunSpec {
            playbook,
            limit: dispatch.limit.clone(),
            check_mode: dispatch.check_mode,
            extra_vars: self.config.extra_vars.clone(),
            deadline: Duration::from_secs(dispatch.deadline_s.max(1)),
        };
        if let Err(invalid) = Ansible::validate(&self.config.playbooks, &spec) {
            return self.fail(&task, invalid.to_string()).await;
        }
        let (cancel_tx, cancel_rx) = oneshot::channel();
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(task.clone(), cancel_tx);

        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let run = self
            .ansible
            .run(&self.config.playbooks, &spec, events_tx, cancel_rx);
        tokio::pin!(run);
        let outcome = loop {
            tokio::select! {
                Some(event) = events_rx.recv() => {
                    self.send(Some(&task), Message::Progress(Progress { task_id: task.clone(), event })).await?;
                }
                outcome = &mut run => break outcome,
            }
        };
        while let Ok(event) = events_rx.try_recv() {
            self.send(
                Some(&task),
                Message::Progress(Progress {
                    task_id: task.clone(),
                    event,
                }),
            )
            .await?;
        }
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&task);
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
                capacity: outcome
                    .error
                    .as_ref()
                    .map(|_| crate::desktop_agent::probe_capacity()),
                error: outcome.error,
            },
            Err(error) => return self.fail(&task, format!("{error:#}")).await,
        };
        self.send(Some(&task), Message::Result(result)).await
    }

    async fn fail(&self, task: &str, error: String) -> anyhow::Result<()> {
        self.send(
            Some(task),
            Message::Result(TaskResult::failed(
                task,
                error,
                Some(crate::desktop_agent::probe_capacity()),
            )),
        )
        .await
    }
}

async fn heartbeat_loop(agent: Arc<Agent>, mut shutdown: watch::Receiver<bool>) {
    let interval = agent.config.heartbeat_interval;
    loop {
        let beat = Heartbeat {
            agent_type: AgentType::Infra,
            capacity: crate::desktop_agent::probe_capacity(),
            ttl_s: interval.as_secs() * 3,
        };
        let envelope = Envelope::new(agent.config.id.as_str(), None, Message::Heartbeat(beat));
        let ttl = interval * 3;
        if let Err(error) = agent
            .bus
            .publish_expiring(&Queue::Heartbeats, envelope.encode(), ttl)
            .await
        {
            tracing::warn!("heartbeat not sent: {error:#}");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Control messages addressed to this agent: cancel a running task.
async fn control_loop(agent: Arc<Agent>) {
    let mut control = agent.bus.consume(&Queue::Agent(agent.config.id.clone()));
    while let Some(delivery) = control.next().await {
        match Envelope::decode(&delivery.body) {
            Ok(Envelope {
                message: Message::Cancel(cancel),
                ..
            }) => {
                let handle = agent
                    .running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&cancel.task_id);
                match handle {
                    Some(handle) => {
                        let _ = handle.send(cancel.reason);
                    }
                    None => {
                        tracing::info!(task = %cancel.task_id, "cancel for a task that is not running here");
                    }
                }
            }
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
