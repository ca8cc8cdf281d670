//! The message bus between the orchestrator and agents. Messages are encoded envelopes
//! (`protocol::Envelope::encode`) addressed to named queues, so the in-process bus and the
//! RabbitMQ bus carry exactly the same bytes and every receiver runs the same decoding.
//!
//! Invariant: the bus knows queues and bytes, never message meaning.

pub mod amqp;
mod in_process;

use std::time::Duration;

use crate::model::{AgentId, AgentType};

pub use amqp::{AmqpBus, AmqpOptions};
pub use in_process::InProcessBus;

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Queue {
    /// Work for any agent of a type (competing consumers).
    Work(AgentType),
    /// Work or control for one agent.
    Agent(AgentId),
    /// Everything agents report back but heartbeats; the orchestrator consumes it.
    Events,
    /// Agents' heartbeats, kept apart: frequent, and worthless once stale.
    Heartbeats,
}

impl Queue {
    /// The queue's name under the default prefix, as a broker shows it.
    pub fn name(&self) -> String {
        self.name_with("chiffon")
    }

    pub fn name_with(&self, prefix: &str) -> String {
        match self {
            Queue::Work(kind) => format!("{prefix}.work.{kind}"),
            Queue::Agent(id) => format!("{prefix}.agent.{id}"),
            Queue::Events => format!("{prefix}.events"),
            Queue::Heartbeats => format!("{prefix}.heartbeats"),
        }
    }
}

/// The bus in use. An enum rather than a trait object: there are few back-ends and they are
/// all known here.
#[derive(Debug, Clone)]
pub enum Bus {
    InProcess(InProcessBus),
    Amqp(AmqpBus),
}

impl Bus {
    pub fn in_process() -> Self {
        Bus::InProcess(InProcessBus::default())
    }

    /// Sends `body` to `queue`. Returns once the bus has accepted it (for RabbitMQ: confirmed).
    pub async fn publish(&self, queue: &Queue, body: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Bus::InProcess(bus) => bus.publish(queue, body),
            Bus::Amqp(bus) => bus.publish(queue, &body, None).await,
        }
    }

    /// Like `publish`, but the message is dropped unread after `ttl` (a stale heartbeat must
    /// not make a dead agent look alive). In-process delivery is immediate, so it has no TTL.
    pub async fn publish_expiring(
        &self,
        queue: &Queue,
        body: Vec<u8>,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        match self {
            Bus::InProcess(bus) => bus.publish(queue, body),
            Bus::Amqp(bus) => bus.publish(queue, &body, Some(ttl)).await,
        }
    }

    /// Starts consuming `queue`. Several consumers of one queue share its messages.
    pub fn consume(&self, queue: &Queue) -> Consumer {
        match self {
            Bus::InProcess(bus) => Consumer::InProcess(bus.consume(queue)),
            Bus::Amqp(bus) => Consumer::Amqp(bus.consume(queue)),
        }
    }

    /// Agents whose consumer of their own queue (`Queue::Agent`) went away: the process died
    /// or its connection dropped. RabbitMQ reports it through the `rabbitmq_event_exchange`
    /// plugin; an error here means the plugin is off and only heartbeat expiry detects a
    /// killed agent.
    pub async fn departures(
        &self,
    ) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<AgentId>> {
        match self {
            Bus::InProcess(bus) => Ok(bus.departures()),
            Bus::Amqp(bus) => bus.departures().await,
        }
    }

    /// Whether `agent`'s own queue has a consumer now: `None` when the bus cannot tell (the
    /// broker is down), which must not be read as "gone".
    pub async fn agent_connected(&self, agent: &AgentId) -> Option<bool> {
        match self {
            Bus::InProcess(bus) => Some(bus.has_consumer(agent)),
            Bus::Amqp(bus) => bus.has_consumer(&Queue::Agent(agent.clone())).await.ok(),
        }
    }

    /// A short description for `/health`.
    pub fn describe(&self) -> &'static str {
        match self {
            Bus::InProcess(_) => "in-process",
            Bus::Amqp(_) => "rabbitmq",
        }
    }

    /// Whether the bus can carry messages now, for `/health`.
    pub async fn healthy(&self) -> bool {
        match self {
            Bus::InProcess(_) => true,
            Bus::Amqp(bus) => bus.connected().await,
        }
    }
}

/// A stream of messages from one queue.
#[derive(Debug)]
pub enum Consumer {
    InProcess(in_process::InProcessConsumer),
    Amqp(amqp::AmqpConsumer),
}

impl Consumer {
    /// The next message, or `None` once the bus is gone.
    pub async fn next(&mut self) -> Option<Delivery> {
        match self {
            Consumer::InProcess(consumer) => consumer.next().await,
            Consumer::Amqp(consumer) => consumer.next().await,
        }
    }
}

/// One received message. Acknowledge it once what it says has been acted on; reject it when
/// it can never be processed (it goes to the dead-letter queue).
#[derive(Debug)]
pub struct Delivery {
    pub body: Vec<u8>,
    /// The broker delivered it before and it was not acknowledged (a crash or reconnect).
    pub redelivered: bool,
    acker: Acker,
}

#[derive(Debug)]
enum Acker {
    /// In-process delivery is final when received.
    None,
    Amqp(lapin::Acker),
}

impl Delivery {
    fn in_process(body: Vec<u8>) -> Self {
        Self {
            body,
            redelivered: false,
            acker: Acker::None,
        }
    }

    /// Marks the message handled. Unacknowledged broker messages are redelivered after a crash.
    pub async fn ack(self) -> anyhow::Result<()> {
        match self.acker {
            Acker::None => Ok(()),
            Acker::Amqp(acker) => {
                if !acker
                    .ack(lapin::options::BasicAckOptions::default())
                    .await?
                {
                    anyhow::bail!(
                        "the channel this message came on is gone; the broker will redeliver it"
                    );
                }
                Ok(())
            }
        }
    }

    /// Hands the message back to the broker to be delivered again (it could not be applied
    /// now, for example because the database is down).
    pub async fn requeue(self) -> anyhow::Result<()> {
        match self.acker {
            Acker::None => anyhow::bail!("in-process messages cannot be requeued"),
            Acker::Amqp(acker) => {
                acker
                    .nack(lapin::options::BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    })
                    .await?;
                Ok(())
            }
        }
    }

    /// Refuses the message for good: the broker moves it to the dead-letter queue.
    pub async fn reject(self) -> anyhow::Result<()> {
        match self.acker {
            Acker::None => Ok(()),
            Acker::Amqp(acker) => {
                if !acker
                    .nack(lapin::options::BasicNackOptions {
                        requeue: false,
                        multiple: false,
                    })
                    .await?
                {
                    anyhow::bail!(
                        "the channel this message came on is gone; the broker will redeliver it"
                    );
                }
                Ok(())
            }
        }
    }
}
