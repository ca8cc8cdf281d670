//! The embedded bus: one unbounded channel per queue, shared by its consumers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::bus::{Delivery, Queue};
use crate::model::AgentId;

type Watchers = Arc<Mutex<Vec<mpsc::UnboundedSender<AgentId>>>>;
type ConsumerCounts = Arc<Mutex<HashMap<AgentId, usize>>>;

type Receiver = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>>>;
type Channel = (mpsc::UnboundedSender<Vec<u8>>, Receiver);

/// Queues are created on first use, like declaring a queue on a broker.
#[derive(Debug, Clone, Default)]
pub struct InProcessBus {
    queues: Arc<Mutex<HashMap<String, Channel>>>,
    /// Told when an agent's own consumer is dropped (its task ended without a goodbye).
    departures: Watchers,
    /// Live consumers of each agent's own queue.
    agent_consumers: ConsumerCounts,
}

impl InProcessBus {
    fn queue(&self, queue: &Queue) -> Channel {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues
            .entry(queue.name())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                (tx, Arc::new(tokio::sync::Mutex::new(rx)))
            })
            .clone()
    }

    pub fn publish(&self, queue: &Queue, body: Vec<u8>) -> anyhow::Result<()> {
        let (tx, _) = self.queue(queue);
        tx.send(body)
            .map_err(|_| anyhow::anyhow!("queue {} is closed", queue.name()))
    }

    pub fn consume(&self, queue: &Queue) -> InProcessConsumer {
        InProcessConsumer {
            receiver: self.queue(queue).1,
            owner: match queue {
                Queue::Agent(id) => {
                    *self
                        .agent_consumers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(id.clone())
                        .or_default() += 1;
                    Some((
                        id.clone(),
                        self.departures.clone(),
                        self.agent_consumers.clone(),
                    ))
                }
                _ => None,
            },
        }
    }

    /// Whether anyone consumes `agent`'s own queue now.
    pub fn has_consumer(&self, agent: &AgentId) -> bool {
        self.agent_consumers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(agent)
            .is_some_and(|n| *n > 0)
    }

    pub fn departures(&self) -> mpsc::UnboundedReceiver<AgentId> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.departures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        rx
    }
}

/// Competing consumer: whoever holds the lock when a message arrives gets it.
#[derive(Debug)]
pub struct InProcessConsumer {
    receiver: Receiver,
    /// For an agent's own queue: who to tell when this consumer goes away.
    owner: Option<(AgentId, Watchers, ConsumerCounts)>,
}

impl Drop for InProcessConsumer {
    fn drop(&mut self) {
        if let Some((agent, watchers, counts)) = &self.owner {
            if let Some(n) = counts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(agent)
            {
                *n = n.saturating_sub(1);
            }
            watchers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|w| w.send(agent.clone()).is_ok());
        }
    }
}

impl InProcessConsumer {
    pub async fn next(&mut self) -> Option<Delivery> {
        let body = self.receiver.lock().await.recv().await?;
        Some(Delivery::in_process(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AgentType;

    #[tokio::test]
    async fn messages_reach_one_consumer_each_in_order() {
        let bus = InProcessBus::default();
        let queue = Queue::Work(AgentType::Infra);
        let mut a = bus.consume(&queue);
        bus.publish(&queue, b"1".to_vec()).unwrap();
        bus.publish(&queue, b"2".to_vec()).unwrap();
        assert_eq!(a.next().await.unwrap().body, b"1");
        let mut b = bus.consume(&queue);
        assert_eq!(b.next().await.unwrap().body, b"2");
    }
}
