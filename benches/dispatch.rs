//! Dispatch round trip over RabbitMQ, against a bare publish/consume round trip on the same
//! broker in the same run.
//!
//! - bare: lapin publishes to a queue (confirmed), a consumer answers on a second queue
//!   (confirmed), and the first side receives and acknowledges the answer;
//! - chiffon: the orchestrator's path — a `dispatch` envelope published on `AmqpBus` to the infra
//!   work queue, an agent loop that decodes it and publishes its `ack` envelope to the events
//!   queue, and the orchestrator side that decodes the ack and marks the task running in the
//!   store (SQLite) before acknowledging the delivery, as `orchestrator::consume_events` does.
//!
//! Run: `cargo bench --bench dispatch` with RabbitMQ on 127.0.0.1:5672 (or
//! `CHIFFON_BENCH_AMQP_URL`); `CHIFFON_BENCH_ROUNDS` (default 1000). The figures replace the
//! `dispatch` section of docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;

use std::time::{Duration, Instant};

use chiffon::bus::{AmqpBus, AmqpOptions, Queue};
use chiffon::model::{AgentType, Resources, TaskId, TaskStatus};
use chiffon::protocol::{Ack, Dispatch, Envelope, Message};
use chiffon::store::Store;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn bare(url: &str, prefix: &str, rounds: usize) -> Vec<f64> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let (ping, pong) = (format!("{prefix}.bare.ping"), format!("{prefix}.bare.pong"));
    let publisher = connection.create_channel().await.unwrap();
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for queue in [&ping, &pong] {
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-expires".into(),
            lapin::types::AMQPValue::LongLongInt(60_000),
        );
        publisher
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                arguments,
            )
            .await
            .unwrap();
    }
    let properties = BasicProperties::default().with_delivery_mode(2);
    // The answering side, on its own channels, like an agent.
    let answer_in = connection.create_channel().await.unwrap();
    let answer_out = connection.create_channel().await.unwrap();
    answer_out
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let mut pings = answer_in
        .basic_consume(
            ping.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let pong_key = pong.clone();
    let answer_properties = properties.clone();
    tokio::spawn(async move {
        while let Some(Ok(delivery)) = pings.next().await {
            answer_out
                .basic_publish(
                    "".into(),
                    pong_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &delivery.data,
                    answer_properties.clone(),
                )
                .await
                .unwrap()
                .await
                .unwrap();
            delivery.ack(BasicAckOptions::default()).await.unwrap();
        }
    });
    let replies = connection.create_channel().await.unwrap();
    let mut pongs = replies
        .basic_consume(
            pong.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let body = vec![b'x'; 400]; // about a dispatch envelope's size
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        publisher
            .basic_publish(
                "".into(),
                ping.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                properties.clone(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let delivery = pongs.next().await.unwrap().unwrap();
        delivery.ack(BasicAckOptions::default()).await.unwrap();
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples
}

async fn chiffon(url: &str, prefix: &str, store: &Store, rounds: usize) -> Vec<f64> {
    let options = AmqpOptions {
        prefix: prefix.to_owned(),
        prefetch: 16,
        queue_expiry: Some(Duration::from_secs(60)),
        ca_file: None,
    };
    let orchestrator = AmqpBus::connect(url, options.clone())
        .await
        .expect("connect");
    let agent = AmqpBus::connect(url, options).await.expect("connect");
    let mut work = agent.consume(&Queue::Work(AgentType::Infra));
    let agent_side = agent.clone();
    tokio::spawn(async move {
        while let Some(delivery) = work.next().await {
            let envelope = Envelope::decode(&delivery.body).expect("a dispatch");
            let Message::Dispatch(dispatch) = envelope.message else {
                panic!("not a dispatch")
            };
            let ack = Envelope::new(
                "infra-bench",
                Some(dispatch.task_id.clone()),
                Message::Ack(Ack {
                    task_id: dispatch.task_id,
                }),
            );
            agent_side
                .publish(&Queue::Events, &ack.encode(), None)
                .await
                .unwrap();
            delivery.ack().await.unwrap();
        }
    });
    let mut events = orchestrator.consume(&Queue::Events);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // A fresh dispatched task each round (not timed), so the ack's write is a real one.
        let task = &seed_task(store).await;
        let dispatch = Dispatch {
            task_id: task.to_string(),
            request_id: "req_0190f3a1b2c37e4f8a9b0c1d2e3f4a5b".into(),
            step_id: "s1".into(),
            title: "Deploy Uptime Kuma".into(),
            action: "deploy".into(),
            playbook: Some("kuma-deployment.yml".into()),
            limit: None,
            check_mode: false,
            resources: Resources {
                gpu_vram_gb: 0.0,
                cpu_cores: 1.0,
            },
            tags: Vec::new(),
            extra_vars: serde_json::Map::new(),
            deadline_s: 3600,
            expires_at: chrono::Utc::now() + chrono::Duration::seconds(30),
        };
        let started = Instant::now();
        let envelope = Envelope::new(
            "orchestrator",
            Some(task.to_string()),
            Message::Dispatch(dispatch),
        );
        orchestrator
            .publish(&Queue::Work(AgentType::Infra), &envelope.encode(), None)
            .await
            .unwrap();
        let delivery = events.next().await.unwrap();
        let ack = Envelope::decode(&delivery.body).unwrap();
        store
            .mark_task(task, TaskStatus::Running, Some(&ack.sender))
            .await
            .unwrap();
        delivery.ack().await.unwrap();
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples
}

fn main() {
    let url = std::env::var("CHIFFON_BENCH_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let rounds: usize = std::env::var("CHIFFON_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let scratch = tempfile::tempdir().expect("temp dir");
    let prefix = format!("chiffon-bench-{}", uuid::Uuid::now_v7().simple());
    let (mut bare, mut ours) = runtime.block_on(async {
        let store = Store::open_sqlite(&scratch.path().join("bench.db"))
            .await
            .expect("store");
        // Warm both paths, then measure them alternately in blocks to share any drift.
        let _ = bare(&url, &format!("{prefix}-warm"), 50).await;
        let _ = chiffon(&url, &format!("{prefix}-warm"), &store, 50).await;
        let mut bare_all = Vec::new();
        let mut ours_all = Vec::new();
        for block in 0..4 {
            bare_all.extend(bare(&url, &format!("{prefix}-{block}"), rounds / 4).await);
            ours_all.extend(chiffon(&url, &format!("{prefix}-{block}"), &store, rounds / 4).await);
        }
        (bare_all, ours_all)
    });
    bare.sort_by(f64::total_cmp);
    ours.sort_by(f64::total_cmp);
    let (b50, b99) = (percentile(&bare, 0.5), percentile(&bare, 0.99));
    let (c50, c99) = (percentile(&ours, 0.5), percentile(&ours, 0.99));
    let section = format!(
        "| round trip ({} each, persistent messages, publisher confirms) | p50 ms | p99 ms | p50 vs bare |\n\
         |---|---|---|---|\n\
         | bare lapin publish → consume → answer → consume | {b50:.2} | {b99:.2} | 1.00 |\n\
         | Chiffon dispatch → agent ack → ack stored (SQLite) | {c50:.2} | {c99:.2} | {:.2} |\n\n\
         Target: p50 within 1.5× bare. RabbitMQ on 127.0.0.1, 2 cores. Reproduce: `cargo bench --bench dispatch`.\n",
        bare.len(),
        c50 / b50,
    );
    print!("{section}");
    common::update_docs("dispatch", &section);
}

/// A request and the task the acks are stored against, as the orchestrator would have them.
async fn seed_task(store: &Store) -> TaskId {
    let now = chrono::Utc::now();
    let request = chiffon::model::Request {
        id: chiffon::model::RequestId::generate(),
        text: "deploy uptime kuma".into(),
        status: chiffon::model::RequestStatus::Running,
        high_value: false,
        plan: chiffon::model::Plan {
            version: 1,
            planner: "bench".into(),
            steps: Vec::new(),
            risk: chiffon::model::Risk {
                level: chiffon::model::RiskLevel::Low,
                reasons: Vec::new(),
            },
            approval_required: true,
            estimated_duration_s: 0,
            open_questions: Vec::new(),
            questions: Vec::new(),
        },
        reason: None,
        created_at: now,
        updated_at: now,
    };
    store.create_request(&request).await.expect("request");
    let task = chiffon::model::Task {
        id: TaskId::generate(),
        request_id: request.id.clone(),
        step_id: "s1".into(),
        plan_version: 1,
        title: "Deploy Uptime Kuma".into(),
        status: TaskStatus::Dispatched,
        outcome: None,
        resource_usage: serde_json::json!({}),
        service_touched: Some("kuma".into()),
        agent_id: None,
        playbook: Some("kuma-deployment.yml".into()),
        error: None,
        resource_state_at_failure: None,
        suggestions: serde_json::json!([]),
        audit_commit: None,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        warnings: Vec::new(),
    };
    store.insert_task(&task).await.expect("task");
    task.id
}
