//! The message bus between the orchestrator and agents. Messages are encoded envelopes
//! (`protocol::Envelope::encode`) addressed to named queues, so the in-process bus and a
//! broker-backed one carry exactly the same bytes and every receiver runs the same decoding.
//!
//! Invariant: the bus knows queues and bytes, never message meaning.

mod in_process;

use crate::model::{AgentId, AgentType};

pub use in_process::InProcessBus;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Queue {
    /// Work for any agent of a type (competing consumers).
    Work(AgentType),
    /// Work or control for one agent.
    Agent(AgentId),
    /// Everything agents report back; the orchestrator consumes it.
    Events,
}

impl Queue {
    /// The queue's name, the same one a broker would show.
    pub fn name(&self) -> String {
        match self {
            Queue::Work(kind) => format!("chiffon.work.{kind}"),
            Queue::Agent(id) => format!("chiffon.agent.{id}"),
            Queue::Events => "chiffon.events".to_owned(),
        }
    }
}

/// The bus in use. An enum rather than a trait object: there are few back-ends and they are
/// all known here.
#[derive(Debug, Clone)]
pub enum Bus {
    InProcess(InProcessBus),
}

impl Bus {
    pub fn in_process() -> Self {
        Bus::InProcess(InProcessBus::default())
    }

    /// Sends `body` to `queue`. Returns once the bus has accepted it.
    pub async fn publish(&self, queue: &Queue, body: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Bus::InProcess(bus) => bus.publish(queue, body),
        }
    }

    /// Starts consuming `queue`. Several consumers of one queue share its messages.
    pub fn consume(&self, queue: &Queue) -> Consumer {
        match self {
            Bus::InProcess(bus) => Consumer::InProcess(bus.consume(queue)),
        }
    }

    /// A short description for `/health`.
    pub fn describe(&self) -> &'static str {
        match self {
            Bus::InProcess(_) => "in-process",
        }
    }
}

/// A stream of messages from one queue.
#[derive(Debug)]
pub enum Consumer {
    InProcess(in_process::InProcessConsumer),
}

impl Consumer {
    /// The next message, or `None` once the bus is gone.
    pub async fn next(&mut self) -> Option<Delivery> {
        match self {
            Consumer::InProcess(consumer) => consumer.next().await,
        }
    }
}

/// One received message. Acknowledge it once what it says has been acted on.
#[derive(Debug)]
pub struct Delivery {
    pub body: Vec<u8>,
}

impl Delivery {
    /// Marks the message handled. In-process delivery is already final; a broker-backed bus
    /// acknowledges here so that an unacknowledged message is redelivered after a crash.
    pub async fn ack(self) -> anyhow::Result<()> {
        Ok(())
    }
}
