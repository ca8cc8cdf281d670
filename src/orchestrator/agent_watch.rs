//! Watching the agents: the registry's view of them, their status changes (stored, streamed,
//! logged), the once-a-second sweep that notices silent ones, dropped bus connections, and
//! failing the tasks of an agent that went offline.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::model::{AgentId, AgentState, TaskId};
use crate::orchestrator::live::LiveEvent;
use crate::orchestrator::{Core, finish_of, lock};
use crate::protocol::TaskResult;
use crate::registry::{self, AgentInfo, Transition};

/// How long a dropped connection waits for the goodbye that may be on its way.
const DEPARTURE_GRACE: Duration = Duration::from_secs(1);

impl Core {
    pub fn agents(&self) -> Vec<AgentInfo> {
        lock(&self.fleet.registry).list(Utc::now())
    }

    pub fn agent(&self, id: &str) -> Option<AgentInfo> {
        lock(&self.fleet.registry).get(id, Utc::now())
    }

    pub fn resources(&self) -> registry::Totals {
        lock(&self.fleet.registry).totals(Utc::now())
    }

    /// Stores, streams and logs an agent's status change; an agent gone offline fails the
    /// tasks it was running.
    pub(crate) async fn agent_changed(&self, change: Option<Transition>) -> anyhow::Result<()> {
        let Some(change) = change else {
            return Ok(());
        };
        let info = self.agent(&change.agent_id);
        match change.to {
            AgentState::Online => {
                tracing::info!(agent = %change.agent_id, "agent online: {}", change.reason);
            }
            _ => {
                tracing::warn!(agent = %change.agent_id, status = %change.to, "agent {}: {}", change.to, change.reason);
            }
        }
        if let Some(info) = &info {
            self.store.record_agent_transition(info, &change).await?;
        }
        if change.to == AgentState::Offline {
            self.agent_lost(&change.agent_id, &change.reason).await;
        }
        self.emit(LiveEvent::Agent {
            agent_id: change.agent_id,
            status: change.to,
            reason: change.reason,
            at: change.at,
        });
        self.fleet.capacity_changed.notify_waiters();
        Ok(())
    }

    /// An agent stopped answering: the tasks it was running end `failed` ("agent lost") rather
    /// than stay `running` forever. They are not re-dispatched: a playbook that stopped half way
    /// may have changed things, and a person should decide whether to run it again.
    async fn agent_lost(&self, agent_id: &str, why: &str) {
        let tasks: Vec<String> = lock(&self.in_flight.running)
            .iter()
            .filter(|(_, agent)| agent.as_str() == agent_id)
            .map(|(task, _)| task.clone())
            .collect();
        for task_id in tasks {
            let Some(id) = TaskId::parse(&task_id) else {
                continue;
            };
            let result = TaskResult::failed(
                &task_id.clone(),
                format!("agent lost: {agent_id} went offline while running this task ({why})"),
                None,
            );
            if let Err(error) = self.store.finish_task(&id, &finish_of(&result)).await {
                tracing::error!(task = %task_id, "could not record the lost agent's task: {error:#}");
            }
            self.resolve(&task_id, agent_id, result);
        }
    }

    /// Moves silent agents to suspect and offline, once a second, for the life of the server.
    pub(crate) async fn sweep_agents(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let changes = lock(&self.fleet.registry).sweep(Utc::now());
            for change in changes {
                if let Err(error) = self.agent_changed(Some(change)).await {
                    tracing::error!("could not record an agent status change: {error:#}");
                }
            }
        }
    }

    /// Agents whose bus connection dropped: offline at once, unless a goodbye arrives within a
    /// second (a clean stop closes the connection right after saying goodbye) or their queue has
    /// a consumer again (a broker restart, a reconnect).
    pub(crate) async fn watch_departures(
        self: Arc<Self>,
        mut departures: tokio::sync::mpsc::UnboundedReceiver<AgentId>,
    ) {
        while let Some(agent) = departures.recv().await {
            let core = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(DEPARTURE_GRACE).await;
                // Only a queue nobody consumes any more means the agent is gone: a broker that
                // is restarting drops every consumer at once, and they come back by themselves.
                match core.bus.agent_connected(&agent).await {
                    Some(false) => {}
                    Some(true) => return,
                    None => {
                        tracing::info!(agent = %agent, "the broker cannot say whether the agent is still connected; leaving it to heartbeats");
                        return;
                    }
                }
                let change = lock(&core.fleet.registry).connection_lost(agent.as_str(), Utc::now());
                if let Err(error) = core.agent_changed(change).await {
                    tracing::error!("could not record an agent status change: {error:#}");
                }
            });
        }
    }
}
