//! The embedded bus: one unbounded channel per queue, shared by its consumers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::bus::{Delivery, Queue};

type Receiver = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>>>;
type Channel = (mpsc::UnboundedSender<Vec<u8>>, Receiver);

/// Queues are created on first use, like declaring a queue on a broker.
#[derive(Debug, Clone, Default)]
pub struct InProcessBus {
    queues: Arc<Mutex<HashMap<String, Channel>>>,
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
        }
    }
}

/// Competing consumer: whoever holds the lock when a message arrives gets it.
#[derive(Debug)]
pub struct InProcessConsumer {
    receiver: Receiver,
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
