//! Distributed mode: agents as separate processes over RabbitMQ, agents that die mid-task, and
//! messages that can never be processed. These need PostgreSQL and RabbitMQ (`.ci/run` provides
//! both); without them they say so and pass.

use std::time::Duration;

use chiffon::api::LiveEvent;
use chiffon::bus::{AmqpBus, AmqpOptions, Queue};
use chiffon::model::{RequestStatus, TaskStatus};
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use crate::helpers::{
    BROKER, Backend, KUMA_REQUEST, Options, TestApp, ansible_playbook, example_repo,
};

/// A `chiffon agent …` process, killed when dropped.
struct AgentProcess(tokio::process::Child);

async fn spawn_agent(app: &TestApp, kind: &str, id: &str) -> AgentProcess {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"));
    command
        .args(["agent", kind, "--id", id, "--amqp-url"])
        .arg(app.amqp_url.as_deref().expect("RabbitMQ"))
        .arg("--config")
        .arg(&app.agent_config)
        .kill_on_drop(true);
    if kind == "infra" {
        command
            .arg("--playbooks")
            .arg(example_repo())
            .arg("--data-dir")
            .arg(app.data_dir.join(format!("agent-{id}")))
            .arg("--ansible-playbook")
            .arg(ansible_playbook().await);
    }
    AgentProcess(command.spawn().expect("start chiffon agent"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_in_their_own_processes_run_the_kuma_request() {
    let Some(mut app) = TestApp::distributed_without_local_agents(Duration::from_secs(10)).await
    else {
        return;
    };
    let _infra = spawn_agent(&app, "infra", "infra-lola").await;
    let _desktop = spawn_agent(&app, "desktop", "desktop-gpu1").await;
    app.wait_until_agents_online(2).await;

    let (_, agents) = app.get("/api/v1/agents").await;
    let mut seen: Vec<(String, String)> = agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("desktop-gpu1".to_owned(), "desktop".to_owned()),
            ("infra-lola".to_owned(), "infra".to_owned())
        ]
    );
    for agent in agents["items"].as_array().unwrap() {
        assert_eq!(agent["version"], env!("CARGO_PKG_VERSION"));
        assert!(agent["host"].as_str().is_some_and(|h| !h.is_empty()));
        assert!(agent["last_heartbeat_at"].is_string());
    }

    let id = app.request(KUMA_REQUEST).await;
    let (_, done) = app.approve_and_wait(&id).await;
    assert_eq!(
        done.request.status,
        RequestStatus::Succeeded,
        "{:?}",
        done.request.reason
    );
    assert!(
        done.tasks
            .iter()
            .all(|t| t.agent_id.as_deref() == Some("infra-lola"))
    );
    assert_eq!(
        app.rendered_files(),
        [
            "lola/stacks/uptime-kuma/compose.yml",
            "lola/stacks/uptime-kuma/monitors.json"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_task_fails_the_task_as_agent_lost() {
    let Some(mut app) = TestApp::distributed_without_local_agents(Duration::from_secs(2)).await
    else {
        return;
    };
    let mut infra = spawn_agent(&app, "infra", "infra-doomed").await;
    app.wait_until_agents_online(1).await;

    let id = app.request("deploy uptime kuma").await;
    let mut stream = app.client.subscribe(&id).await.unwrap();
    app.client.approve(&id, None).await.unwrap();
    let mut killed = false;
    let mut seen = Vec::new();
    let outcome = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(event) = stream.next().await {
            seen.push(format!("{event:?}"));
            match event {
                // Running, or the first playbook event if the status change was missed.
                LiveEvent::Task {
                    status: TaskStatus::Running,
                    ..
                }
                | LiveEvent::Execution { .. }
                    if !killed =>
                {
                    infra.0.kill().await.unwrap();
                    killed = true;
                }
                LiveEvent::Request { status, .. } if status.is_terminal() => return status,
                _ => {}
            }
        }
        panic!("the live stream ended");
    })
    .await
    .expect("the request never finished after its agent died");
    let view = app.client.get_request(&id).await.unwrap();
    assert!(
        killed,
        "the task never ran: {:?}\nevents: {seen:#?}",
        view.tasks
    );
    assert_eq!(outcome, RequestStatus::Failed);
    let task = &view.tasks[0];
    assert_eq!(task.status, TaskStatus::Failed);
    assert!(
        task.error
            .as_deref()
            .unwrap()
            .contains("agent lost: infra-doomed"),
        "{:?}",
        task.error
    );
    assert!(task.audit_commit.is_some());
    let (_, agents) = app.get("/api/v1/agents").await;
    assert_eq!(agents["items"][0]["status"], "offline");

    // The owner retries once an agent is back: the same request, approved again, succeeds.
    let _replacement = spawn_agent(&app, "infra", "infra-replacement").await;
    app.wait_until_agents_online(1).await;
    let retry = app.request("deploy uptime kuma").await;
    let (_, view) = app.approve_and_wait(&retry).await;
    assert_eq!(
        view.request.status,
        RequestStatus::Succeeded,
        "{:?}",
        view.tasks
    );
    assert_eq!(view.tasks[0].agent_id.as_deref(), Some("infra-replacement"));
}

async fn message_count(url: &str, queue: &str) -> u32 {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = channel
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
    queue.message_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprocessable_messages_are_dead_lettered_and_the_orchestrator_carries_on() {
    let Some(mut app) = TestApp::distributed_without_local_agents(Duration::from_secs(10)).await
    else {
        return;
    };
    let url = app.amqp_url.clone().unwrap();
    let options = AmqpOptions {
        prefix: app.amqp_prefix.clone(),
        prefetch: 16,
        queue_expiry: Some(Duration::from_secs(300)),
    };
    let bus = AmqpBus::connect(&url, options).await.unwrap();
    let envelope = |version: &str, kind: &str, payload: &str| {
        format!(
            r#"{{"protocol_version":"{version}","message_id":"m-{kind}","correlation_id":null,"sent_at":"2026-11-25T00:00:00Z","sender":"infra-rogue","type":"{kind}","payload":{payload}}}"#
        )
    };
    let bad = [
        b"\xff not even text".to_vec(),
        b"{\"hello\": 1}".to_vec(),
        envelope("9.0", "ack", r#"{"task_id":"t"}"#).into_bytes(),
        envelope("1.0", "launch_missiles", "{}").into_bytes(),
        envelope("1.0", "heartbeat", r#"{"agent_type":"infra"}"#).into_bytes(),
    ];
    for body in &bad {
        bus.publish(&Queue::Events, body, None).await.unwrap();
    }
    // A stale heartbeat expires unread and is dropped, not dead-lettered.
    bus.publish(&Queue::Heartbeats, b"{}", Some(Duration::from_millis(1)))
        .await
        .unwrap();
    // The consumer is not wedged: agents still register and work still runs.
    let _infra = spawn_agent(&app, "infra", "infra-lola").await;
    app.wait_until_agents_online(1).await;
    let id = app.request("deploy jellyfin on the nas").await;
    let (_, done) = app.approve_and_wait(&id).await;
    assert_eq!(done.request.status, RequestStatus::Succeeded);
    assert_eq!(
        message_count(&url, &format!("{}.heartbeats", app.amqp_prefix)).await,
        0,
        "the stale heartbeat is gone"
    );
    assert_eq!(
        message_count(&url, &format!("{}.dead-letter", app.amqp_prefix)).await,
        bad.len() as u32
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_on_the_bus_matches_the_published_json_schema() {
    // Heartbeats every 2 s, so the run surely carries some.
    let Some(mut app) = TestApp::distributed_without_local_agents(Duration::from_secs(2)).await
    else {
        return;
    };
    // A tap: one more queue bound to the exchange under every routing key the run uses, so it
    // receives a copy of each message the orchestrator and the agents exchange.
    let url = app.amqp_url.clone().unwrap();
    let prefix = app.amqp_prefix.clone();
    let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let tap = format!("{prefix}.tap");
    channel
        .queue_declare(
            tap.as_str().into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    // The exchange exists once everyone is connected; hello messages come before the tap, the
    // rest of the run after it.
    let _infra = spawn_agent(&app, "infra", "infra-lola").await;
    let _desktop = spawn_agent(&app, "desktop", "desktop-gpu1").await;
    app.wait_until_agents_online(2).await;
    for queue in [
        "events",
        "heartbeats",
        "work.infra",
        "work.desktop",
        "agent.infra-lola",
        "agent.desktop-gpu1",
    ] {
        let key = format!("{prefix}.{queue}");
        channel
            .queue_bind(
                tap.as_str().into(),
                prefix.as_str().into(),
                key.as_str().into(),
                Default::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }
    let id = app.request(KUMA_REQUEST).await;
    let (_, done) = app.approve_and_wait(&id).await;
    assert_eq!(done.request.status, RequestStatus::Succeeded);

    let envelope_schema = chiffon::protocol::envelope_schema();
    let envelope_validator = jsonschema::validator_for(&envelope_schema).expect("a valid schema");
    let mut seen = std::collections::BTreeSet::new();
    while let Some(message) = channel
        .basic_get(
            tap.as_str().into(),
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap()
    {
        let value: serde_json::Value = serde_json::from_slice(&message.delivery.data).unwrap();
        let errors: Vec<String> = envelope_validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{value} does not match the envelope schema: {errors:?}"
        );
        let kind = value["type"].as_str().unwrap().to_owned();
        let payload_schema = chiffon::protocol::payload_schema(&kind).unwrap();
        assert!(
            jsonschema::is_valid(&payload_schema, &value["payload"]),
            "{kind} payload {}",
            value["payload"]
        );
        // The schema is strict enough to catch what the decoder refuses.
        let mut tampered = value.clone();
        tampered["payload"]["unexpected"] = serde_json::json!(1);
        assert!(
            !envelope_validator.is_valid(&tampered),
            "the schema accepted an unknown {kind} field"
        );
        seen.insert(kind);
    }
    for kind in ["heartbeat", "dispatch", "ack", "progress", "result"] {
        assert!(
            seen.contains(kind),
            "no {kind} message went over the bus: {seen:?}"
        );
    }
}

/// `rabbitmqctl stop_app` / `start_app`: bounce the broker, keep the node.
async fn rabbitmqctl(command: &str) {
    let status = tokio::process::Command::new("rabbitmqctl")
        .arg(command)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("rabbitmqctl (the broker-restart test runs on the machine that runs RabbitMQ)");
    assert!(status.success(), "rabbitmqctl {command} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_playbook_loses_nothing_and_duplicates_nothing() {
    if std::env::var_os("CHIFFON_TEST_DATABASE_URL").is_none()
        || std::env::var_os("CHIFFON_TEST_AMQP_URL").is_none()
    {
        eprintln!(
            "skipped: set CHIFFON_TEST_DATABASE_URL and CHIFFON_TEST_AMQP_URL (bash .ci/run does)"
        );
        return;
    }
    // Nobody else may use the broker while it is down.
    let _exclusive = BROKER.write().await;
    let app = TestApp::spawn_with(
        Backend::Distributed,
        Options {
            local_agents: true,
            heartbeat: Duration::from_secs(10),
            share_broker: false,
            ..Options::default()
        },
    )
    .await;
    let id = app.request("deploy uptime kuma").await;
    let mut stream = app.client.subscribe(&id).await.unwrap();
    app.client.approve(&id, None).await.unwrap();
    let mut bounced = false;
    let outcome = tokio::time::timeout(Duration::from_secs(240), async {
        while let Some(event) = stream.next().await {
            match event {
                LiveEvent::Task {
                    status: TaskStatus::Running,
                    ..
                } if !bounced => {
                    rabbitmqctl("stop_app").await;
                    rabbitmqctl("start_app").await;
                    bounced = true;
                }
                LiveEvent::Request { status, .. } if status.is_terminal() => return status,
                _ => {}
            }
        }
        panic!("the live stream ended");
    })
    .await
    .expect("the request did not finish after the broker came back");
    assert!(bounced);
    let view = app.client.get_request(&id).await.unwrap();
    assert_eq!(outcome, RequestStatus::Succeeded, "{:#?}", view.tasks);
    assert_eq!(view.tasks.len(), 1);
    assert_eq!(view.tasks[0].status, TaskStatus::Succeeded);
    // Exactly one audit commit for the task, and one stats event: nothing applied twice.
    let log = app.git(&["log", "--format=%s"]);
    assert_eq!(
        log.lines().filter(|l| l.starts_with("task ")).count(),
        1,
        "{log}"
    );
    let (_, task) = app
        .get(&format!("/api/v1/tasks/{}", view.tasks[0].id))
        .await;
    let stats = task["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["kind"] == "stats")
        .count();
    assert_eq!(stats, 1, "{task}");
    assert_eq!(
        app.rendered_files(),
        ["lola/stacks/uptime-kuma/compose.yml"]
    );
}
