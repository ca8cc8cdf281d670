//! Heartbeat ingestion from RabbitMQ with 10,000 simulated agents, beside the broker's bare
//! consume rate in the same run.
//!
//! - bare: a lapin consumer (prefetch 16, manual ack after each message, as the orchestrator
//!   consumes) drains a queue pre-filled with the same heartbeat bodies;
//! - chiffon: a real orchestrator (`orchestrator::serve_on`, SQLite, no local agents) drains
//!   `<prefix>.heartbeats` pre-filled with two heartbeats from each of 10,000 agents: the first
//!   from an agent registers it (a status change, stored in the database), the second only
//!   updates the registry in memory. Each pass is timed from the orchestrator's start (or the
//!   consumer's) until the queue is empty and every heartbeat is applied.
//!
//! Messages are persistent and published with confirms before timing starts, so both sides
//! read the same kind of backlog from the broker.
//!
//! Run: `cargo bench --bench heartbeats` with RabbitMQ on 127.0.0.1:5672 (or
//! `CHIFFON_BENCH_AMQP_URL`); `CHIFFON_BENCH_AGENTS` (default 10000). The figures replace the
//! `heartbeats` section of docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chiffon::bus::{AmqpBus, AmqpOptions, Bus, Queue};
use chiffon::config::{BusConfig, Database, ServeConfig};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

/// Publishes `bodies` to the queue `queue` through the default exchange, persistent, with
/// confirms awaited in batches.
async fn fill(connection: &Connection, queue: &str, bodies: &[Vec<u8>]) {
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for batch in bodies.chunks(500) {
        let mut confirms = Vec::with_capacity(batch.len());
        for body in batch {
            confirms.push(
                channel
                    .basic_publish(
                        "".into(),
                        queue.into(),
                        BasicPublishOptions::default(),
                        body,
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await
                    .unwrap(),
            );
        }
        for confirm in confirms {
            confirm.await.unwrap();
        }
    }
}

async fn depth(connection: &Connection, queue: &str) -> u32 {
    let channel = connection.create_channel().await.unwrap();
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let _ = channel.close(200, "".into()).await;
    declared.message_count()
}

async fn bare(connection: &Connection, queue: &str, bodies: &[Vec<u8>]) -> f64 {
    let channel = connection.create_channel().await.unwrap();
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    fill(connection, queue, bodies).await;
    channel
        .basic_qos(16, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    for _ in 0..bodies.len() {
        let delivery = consumer.next().await.unwrap().unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
    }
    bodies.len() as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("CHIFFON_BENCH_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let agents: usize = std::env::var("CHIFFON_BENCH_AGENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let prefix = format!("chiffon-hb-{}", uuid::Uuid::now_v7().simple());
    let ids: Vec<String> = (0..agents).map(|i| format!("sim-{i:05}")).collect();
    let first: Vec<Vec<u8>> = ids.iter().map(|id| common::heartbeat(id, 0)).collect();
    let second: Vec<Vec<u8>> = ids.iter().map(|id| common::heartbeat(id, 1)).collect();
    let body_size = first[0].len();

    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ");
    let bare_rate = bare(&connection, &format!("{prefix}.bare"), &first).await;

    // Declare Chiffon's topology and the heartbeats queue, then fill it before the
    // orchestrator starts.
    let options = AmqpOptions {
        prefix: prefix.clone(),
        prefetch: 16,
        queue_expiry: Some(Duration::from_secs(600)),
        ca_file: None,
    };
    let bus = AmqpBus::connect(&url, options.clone()).await.unwrap();
    let heartbeats = bus.queue_name(&Queue::Heartbeats);
    // Publishing through the bus declares the heartbeats queue as the orchestrator expects it.
    bus.publish(
        &Queue::Heartbeats,
        &common::heartbeat("sim-warm-up", 0),
        None,
    )
    .await
    .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        llm: Default::default(),
        bus: BusConfig::Amqp {
            url: url.clone(),
            options,
        },
        listen: "127.0.0.1:0".parse().unwrap(),
        database: Database::Sqlite(scratch.path().join("chiffon.db")),
        data_dir: scratch.path().to_owned(),
        playbooks: Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra"),
        ansible_playbook: None,
        extra_vars: serde_json::Map::new(),
        vault_password_file: None,
        api_token: None,
        ack_timeout: Duration::from_secs(30),
        execution_deadline: Duration::from_secs(3600),
        heartbeat_interval: Duration::from_secs(30),
        agent_thresholds: Default::default(),
        local_agents: false,
        registry_lookup: false,
        http: Default::default(),
    };
    // Pass 1 registers every agent; pass 2, after a restart that reloads them, only updates
    // the registry. The orchestrator starts after its backlog is queued, so each pass times
    // draining it (start-up included, about 0.1 s).
    let mut rates = Vec::new();
    let http = reqwest::Client::new();
    for bodies in [&first, &second] {
        fill(&connection, &heartbeats, bodies).await;
        assert!(depth(&connection, &heartbeats).await >= bodies.len() as u32);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let server = tokio::spawn(chiffon::server::serve_on(
            config.clone(),
            Bus::Amqp(bus.clone()),
            listener,
            async {
                let _ = stopped.await;
            },
        ));
        // Drained and applied: the queue is empty and every agent is online.
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if depth(&connection, &heartbeats).await > 0 {
                continue;
            }
            let Ok(response) = http
                .get(format!("http://{address}/api/v1/resources"))
                .send()
                .await
            else {
                continue;
            };
            let totals: serde_json::Value = response.json().await.unwrap_or_default();
            if totals["agents"]["online"].as_u64() >= Some(agents as u64) {
                break;
            }
        }
        rates.push(bodies.len() as f64 / started.elapsed().as_secs_f64());
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
    let section = format!(
        "## Heartbeat ingestion from RabbitMQ (`cargo bench --bench heartbeats`)\n\n\
         {agents} simulated agents, heartbeats of {body_size} bytes (one GPU), persistent, \
         queued before timing; consumers take 16 at a time and acknowledge each after applying \
         it. Same broker, same run, 2 cores.\n\n\
         | consumer | heartbeats/s | vs bare |\n|---|---|---|\n\
         | bare lapin consume + ack | {bare_rate:.0} | 1.00 |\n\
         | orchestrator, first heartbeat of each agent (registers it: a stored status change) | {:.0} | {:.2} |\n\
         | orchestrator, later heartbeats (registry in memory) | {:.0} | {:.2} |\n\n\
         At 30 s per agent, 10,000 agents send about 333 heartbeats/s.\n\n",
        rates[0],
        rates[0] / bare_rate,
        rates[1],
        rates[1] / bare_rate,
    );
    print!("{section}");
    common::update_docs("heartbeats", &section);
    std::process::exit(0);
}
