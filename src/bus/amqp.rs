//! The RabbitMQ bus (distributed mode), with lapin.
//!
//! Topology, all durable: a direct exchange `<prefix>` routes each message to the queue of the
//! same name (`<prefix>.work.infra`, `<prefix>.agent.<id>`, `<prefix>.events`, …); those queues
//! dead-letter to the fanout exchange `<prefix>.dead-letter`, whose queue of the same name keeps
//! refused messages for a person. Heartbeats have a queue of their own, `<prefix>.heartbeats`,
//! without dead-lettering: a heartbeat that expires unread is simply dropped. Messages are persistent; every publish waits
//! for the broker's confirm; consumers acknowledge by hand after acting and take at most
//! `prefetch` unacknowledged messages at a time. A lost connection is re-opened with back-off by
//! whoever needs it next; unacknowledged messages are redelivered by the broker, so receivers
//! must be idempotent (the orchestrator drops duplicates by `message_id`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};

use crate::bus::{Acker, Delivery, Queue};
use crate::model::AgentId;

/// How long a publish keeps retrying through a broker outage before it reports failure.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(60);
/// How long one publish attempt (connect, declare, publish, the broker's confirm) may take. A
/// broker that blocks publishers (a memory or disk alarm) or a connection that died without
/// closing would otherwise hold the publish past its patience, unnoticed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Where the `rabbitmq_event_exchange` plugin publishes broker events.
const EVENT_EXCHANGE: &str = "amq.rabbitmq.event";

/// Settings of the RabbitMQ bus.
#[derive(Debug, Clone)]
pub struct AmqpOptions {
    /// Names of the exchanges and queues start with this (default `chiffon`), so several
    /// installations, or parallel tests, can share a broker.
    pub prefix: String,
    /// Unacknowledged messages a consumer holds at once.
    pub prefetch: u16,
    /// Delete queues unused for this long (tests only: in production a queue must outlive an
    /// orchestrator that is down for a while).
    pub queue_expiry: Option<Duration>,
    /// Extra root certificates (a PEM file) trusted for an `amqps://` broker, on top of the
    /// system's roots (the platform verifier).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for AmqpOptions {
    fn default() -> Self {
        Self {
            prefix: "chiffon".to_owned(),
            prefetch: 16,
            queue_expiry: None,
            ca_file: None,
        }
    }
}

/// A connection to RabbitMQ shared by every publisher and consumer of this process.
#[derive(Clone)]
pub struct AmqpBus {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    /// The extra roots for `amqps://`, read once at start-up (a missing file is an error then,
    /// not at the first reconnect).
    tls: OwnedTLSConfig,
    options: AmqpOptions,
    link: tokio::sync::Mutex<Option<Link>>,
    /// Queues declared on the current connection.
    declared: Mutex<HashSet<String>>,
}

struct Link {
    connection: Arc<Connection>,
    publisher: Channel,
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL holds the password: show only the host part.
        let host = self.inner.url.rsplit('@').next().unwrap_or_default();
        f.debug_struct("AmqpBus")
            .field("host", &host)
            .field("prefix", &self.inner.options.prefix)
            .finish()
    }
}

/// lapin keeps send and receive buffers of 32 frames each; at RabbitMQ's default frame size
/// (128 KiB) that is 8 MiB resident per connection, most of an idle agent's memory. Chiffon's
/// messages are a few KiB, so frames of 16 KiB cost nothing in speed and keep the buffers at
/// 1 MiB. A `frame_max` already in the URL wins.
const FRAME_MAX: u32 = 16 * 1024;

fn with_small_frames(url: &str) -> String {
    if url.contains("frame_max=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}frame_max={FRAME_MAX}")
}

impl AmqpBus {
    /// Connects and declares the topology, so a wrong URL or a missing broker is reported at
    /// start-up rather than at the first dispatch.
    pub async fn connect(url: &str, options: AmqpOptions) -> anyhow::Result<Self> {
        let cert_chain =
            match &options.ca_file {
                Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the broker's CA file {}", path.display())
                })?),
                None => None,
            };
        let bus = Self {
            inner: Arc::new(Inner {
                url: with_small_frames(url),
                tls: OwnedTLSConfig {
                    identity: None,
                    cert_chain,
                },
                options,
                link: tokio::sync::Mutex::new(None),
                declared: Mutex::new(HashSet::new()),
            }),
        };
        bus.publisher().await?;
        Ok(bus)
    }

    pub fn queue_name(&self, queue: &Queue) -> String {
        queue.name_with(&self.inner.options.prefix)
    }

    fn exchange(&self) -> String {
        self.inner.options.prefix.clone()
    }

    fn dead_letter(&self) -> String {
        format!("{}.dead-letter", self.inner.options.prefix)
    }

    /// The publishing channel, opening the connection (and the topology) if it is gone.
    async fn publisher(&self) -> anyhow::Result<Channel> {
        Ok(self.link().await?.0)
    }

    /// (publisher channel, connection), re-opened if the connection dropped.
    async fn link(&self) -> anyhow::Result<(Channel, Arc<Connection>)> {
        let mut link = self.inner.link.lock().await;
        if let Some(current) = link.as_ref()
            && current.connection.status().connected()
            && current.publisher.status().connected()
        {
            return Ok((current.publisher.clone(), current.connection.clone()));
        }
        // For `amqps://` the TLS handshake verifies the broker's certificate against the
        // system's roots plus `ca_file`; an `amqp://` URL ignores the TLS settings.
        let connection = Connection::connect_with_config(
            &self.inner.url,
            ConnectionProperties::default().with_connection_name("chiffon".into()),
            self.inner.tls.clone(),
            lapin::runtime::default_runtime()?,
        )
        .await
        .with_context(|| format!("cannot connect to RabbitMQ at {:?}", self))?;
        let connection = Arc::new(connection);
        let publisher = connection.create_channel().await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        // Test installations (queues that expire) also let their exchanges go when unused.
        let temporary = self.inner.options.queue_expiry.is_some();
        let durable = ExchangeDeclareOptions {
            durable: true,
            auto_delete: temporary,
            ..Default::default()
        };
        publisher
            .exchange_declare(
                self.exchange().into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await?;
        publisher
            .exchange_declare(
                self.dead_letter().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;
        let dead_letter_arguments = self.queue_arguments(false);
        publisher
            .queue_declare(
                self.dead_letter().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                dead_letter_arguments,
            )
            .await?;
        publisher
            .queue_bind(
                self.dead_letter().into(),
                self.dead_letter().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.inner
            .declared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        tracing::info!(bus = ?self, "connected to RabbitMQ");
        *link = Some(Link {
            connection: connection.clone(),
            publisher: publisher.clone(),
        });
        Ok((publisher, connection))
    }

    /// Arguments of a queue: dead-lettering unless told otherwise, and the test-only expiry.
    fn queue_arguments(&self, dead_letter: bool) -> FieldTable {
        let mut arguments = FieldTable::default();
        if dead_letter {
            arguments.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(self.dead_letter().into()),
            );
        }
        if let Some(expiry) = self.inner.options.queue_expiry {
            arguments.insert(
                "x-expires".into(),
                AMQPValue::LongLongInt(expiry.as_millis() as i64),
            );
        }
        arguments
    }

    /// Drops the connection so the next use opens a new one, and with it what was declared on
    /// it: a queue deleted meanwhile (expired, or removed by an operator) is declared again.
    async fn forget_link(&self) {
        *self.inner.link.lock().await = None;
        self.inner
            .declared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Declares `name` (durable, dead-lettering) and binds it to the exchange by its name.
    async fn declare(&self, channel: &Channel, name: &str) -> anyhow::Result<()> {
        if self
            .inner
            .declared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name)
        {
            return Ok(());
        }
        // Heartbeats are not worth keeping once refused or stale.
        let arguments = self.queue_arguments(!name.ends_with(".heartbeats"));
        channel
            .queue_declare(
                name.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                arguments,
            )
            .await
            .with_context(|| format!("cannot declare queue {name}"))?;
        channel
            .queue_bind(
                name.into(),
                self.exchange().into(),
                name.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.inner
            .declared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned());
        Ok(())
    }

    /// Publishes and waits for the broker's confirm, retrying through a broker outage for up
    /// to a minute. `ttl` makes the message expire unread (heartbeats).
    pub async fn publish(
        &self,
        queue: &Queue,
        body: &[u8],
        ttl: Option<Duration>,
    ) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, self.try_publish(queue, body, ttl))
                .await
                .unwrap_or_else(|_| {
                    Err(anyhow::anyhow!(
                        "no confirm from RabbitMQ within {ATTEMPT_TIMEOUT:?}"
                    ))
                });
            match attempt {
                Ok(()) => return Ok(()),
                Err(error) if started.elapsed() < PUBLISH_PATIENCE => {
                    tracing::warn!(queue = %self.queue_name(queue), "publish failed, retrying: {error:#}");
                    self.forget_link().await;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(error) => {
                    return Err(error.context(format!(
                        "publishing to {} failed for {PUBLISH_PATIENCE:?}",
                        self.queue_name(queue)
                    )));
                }
            }
        }
    }

    async fn try_publish(
        &self,
        queue: &Queue,
        body: &[u8],
        ttl: Option<Duration>,
    ) -> anyhow::Result<()> {
        let channel = self.publisher().await?;
        let name = self.queue_name(queue);
        self.declare(&channel, &name).await?;
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        if let Some(ttl) = ttl {
            properties = properties.with_expiration(ttl.as_millis().to_string().into());
        }
        let confirm = channel
            .basic_publish(
                self.exchange().into(),
                name.clone().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                properties,
            )
            .await?
            .await?;
        match confirm {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(_)) => bail!("RabbitMQ could not route the message to {name}"),
            Confirmation::Nack(_) => bail!("RabbitMQ refused the message for {name}"),
        }
    }

    /// Consumes `queue`. Work queues hand an agent one task at a time (prefetch 1), so
    /// queued work waits in the broker for whichever agent is free instead of in a busy
    /// agent's buffer.
    pub fn consume(&self, queue: &Queue) -> AmqpConsumer {
        let prefetch = match queue {
            Queue::Work(_) => 1,
            Queue::Agent(_) | Queue::Events | Queue::Heartbeats => self.inner.options.prefetch,
        };
        AmqpConsumer {
            bus: self.clone(),
            queue: self.queue_name(queue),
            prefetch,
            stream: None,
        }
    }

    /// Agents whose own queue lost its consumer, from the broker's `consumer.deleted` events
    /// (plugin `rabbitmq_event_exchange`). Fails at once when the plugin is off; after that,
    /// re-subscribes through outages like any consumer.
    pub async fn departures(
        &self,
    ) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<AgentId>> {
        let (_, connection) = self.link().await?;
        let probe = connection.create_channel().await?;
        probe
            .exchange_declare(
                EVENT_EXCHANGE.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .context("RabbitMQ's event exchange is missing: enable it with `rabbitmq-plugins enable rabbitmq_event_exchange`")?;
        let _ = probe.close(200, "checked".into()).await;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let bus = self.clone();
        let agent_queue = format!("{}.agent.", self.inner.options.prefix);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match bus.watch_consumer_events(&agent_queue, &tx).await {
                    Ok(()) => return, // nobody listens any more
                    Err(error) => {
                        tracing::warn!(
                            "lost RabbitMQ's consumer events, retrying in {backoff:?}: {error:#}"
                        );
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        });
        Ok(rx)
    }

    /// Whether `queue` has a consumer now (a passive declare); an error when the broker cannot
    /// say (it is down or restarting).
    pub async fn has_consumer(&self, queue: &Queue) -> anyhow::Result<bool> {
        let (_, connection) = self.link().await?;
        let channel = connection.create_channel().await?;
        let declared = channel
            .queue_declare(
                self.queue_name(queue).as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await;
        let _ = channel.close(200, "checked".into()).await;
        Ok(declared?.consumer_count() > 0)
    }

    /// Follows `consumer.deleted` events until the connection drops (error) or `tx` closes.
    async fn watch_consumer_events(
        &self,
        agent_queue: &str,
        tx: &tokio::sync::mpsc::UnboundedSender<AgentId>,
    ) -> anyhow::Result<()> {
        let (_, connection) = self.link().await?;
        let channel = connection.create_channel().await?;
        // A private queue that goes with this connection: events are only useful live.
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                queue.name().clone(),
                EVENT_EXCHANGE.into(),
                "consumer.deleted".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut events = channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        while let Some(event) = events.next().await {
            let event = event?;
            let queue = event
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("queue").cloned());
            let name = match queue {
                Some(AMQPValue::LongString(name)) => name.to_string(),
                Some(AMQPValue::ShortString(name)) => name.to_string(),
                _ => continue,
            };
            if let Some(agent) = name.strip_prefix(agent_queue).and_then(AgentId::parse)
                && tx.send(agent).is_err()
            {
                return Ok(());
            }
        }
        anyhow::bail!("the event subscription ended")
    }

    /// Whether the connection is up, for `/health`.
    pub async fn connected(&self) -> bool {
        self.link().await.is_ok()
    }
}

/// Consumes one queue, re-subscribing with back-off whenever the connection drops.
pub struct AmqpConsumer {
    bus: AmqpBus,
    queue: String,
    prefetch: u16,
    stream: Option<lapin::Consumer>,
}

impl std::fmt::Debug for AmqpConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConsumer")
            .field("queue", &self.queue)
            .finish()
    }
}

impl AmqpConsumer {
    async fn subscribe(&mut self) -> anyhow::Result<()> {
        let (_, connection) = self.bus.link().await?;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await?;
        self.bus.declare(&channel, &self.queue).await?;
        let consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.stream = Some(consumer);
        Ok(())
    }

    /// The next message. Waits through broker outages; never ends on its own.
    pub async fn next(&mut self) -> Option<Delivery> {
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.stream.is_none() {
                if let Err(error) = self.subscribe().await {
                    tracing::warn!(queue = %self.queue, "cannot consume, retrying in {backoff:?}: {error:#}");
                    self.bus.forget_link().await;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
                backoff = Duration::from_millis(100);
            }
            let stream = self.stream.as_mut()?;
            match stream.next().await {
                Some(Ok(delivery)) => {
                    return Some(Delivery {
                        body: delivery.data,
                        redelivered: delivery.redelivered,
                        acker: Acker::Amqp(delivery.acker),
                    });
                }
                Some(Err(error)) => {
                    tracing::warn!(queue = %self.queue, "lost the subscription: {error}");
                    self.stream = None;
                }
                None => {
                    tracing::warn!(queue = %self.queue, "the subscription ended");
                    self.stream = None;
                }
            }
        }
    }
}

/// Connects to the broker at `url` without declaring anything and answers whether its event
/// exchange exists (the `rabbitmq_event_exchange` plugin is on), for `chiffon doctor`. Fails
/// when the broker cannot be reached or refuses the credentials.
pub async fn probe_event_exchange(
    url: &str,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<bool> {
    let cert_chain = match ca_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the broker's CA file {}", path.display()))?,
        ),
        None => None,
    };
    let host = url.rsplit('@').next().unwrap_or_default().to_owned();
    let connection = Connection::connect_with_config(
        &with_small_frames(url),
        ConnectionProperties::default().with_connection_name("chiffon-doctor".into()),
        OwnedTLSConfig {
            identity: None,
            cert_chain,
        },
        lapin::runtime::default_runtime()?,
    )
    .await
    .with_context(|| format!("cannot connect to RabbitMQ at {host}"))?;
    let channel = connection.create_channel().await?;
    let found = channel
        .exchange_declare(
            EVENT_EXCHANGE.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .is_ok();
    let _ = connection.close(200, "checked".into()).await;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_small_unless_the_url_says_otherwise() {
        assert_eq!(
            with_small_frames("amqp://u:p@mq:5672/%2f"),
            "amqp://u:p@mq:5672/%2f?frame_max=16384"
        );
        assert_eq!(
            with_small_frames("amqp://mq/%2f?heartbeat=10"),
            "amqp://mq/%2f?heartbeat=10&frame_max=16384"
        );
        assert_eq!(
            with_small_frames("amqp://mq/%2f?frame_max=131072"),
            "amqp://mq/%2f?frame_max=131072"
        );
    }
}
