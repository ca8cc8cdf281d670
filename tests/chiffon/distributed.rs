//! Distributed mode: agents as separate processes over RabbitMQ, agents that die mid-task, and
//! messages that can never be processed. These need PostgreSQL and RabbitMQ (`.ci/run` provides
//! both); without them they say so and pass.

use std::time::Duration;

use chiffon::bus::{AmqpBus, AmqpOptions, Queue};
use chiffon::model::{RequestStatus, TaskStatus};
use chiffon::orchestrator::live::LiveEvent;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use crate::helpers::{KUMA_REQUEST, TestApp, ansible_playbook, example_repo};

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
    let Some(mut app) = TestApp::distributed_without_local_agents(Duration::from_secs(1)).await
    else {
        return;
    };
    let mut infra = spawn_agent(&app, "infra", "infra-doomed").await;
    app.wait_until_agents_online(1).await;

    let id = app.request("deploy uptime kuma").await;
    let mut stream = app.client.subscribe(&id).await.unwrap();
    app.client.approve(&id, None).await.unwrap();
    let mut killed = false;
    let outcome = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(event) = stream.next().await {
            match event {
                LiveEvent::Task {
                    status: TaskStatus::Running,
                    ..
                } if !killed => {
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
    assert!(killed);
    assert_eq!(outcome, RequestStatus::Failed);
    let view = app.client.get_request(&id).await.unwrap();
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
}

async fn dead_letters(url: &str, prefix: &str) -> u32 {
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = channel
        .queue_declare(
            format!("{prefix}.dead-letter").as_str().into(),
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
    // The consumer is not wedged: agents still register and work still runs.
    let _infra = spawn_agent(&app, "infra", "infra-lola").await;
    app.wait_until_agents_online(1).await;
    let id = app.request("deploy jellyfin on the nas").await;
    let (_, done) = app.approve_and_wait(&id).await;
    assert_eq!(done.request.status, RequestStatus::Succeeded);
    assert_eq!(dead_letters(&url, &app.amqp_prefix).await, bad.len() as u32);
}
