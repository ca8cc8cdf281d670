//! Desktop agents with recorded GPUs (NVML-shaped fixture files read through the real probe):
//! listed with their own resources, filtered by capacity, a GPU step routed to the one GPU that
//! fits, a killed agent offline within seconds and back on a fresh heartbeat, a full fleet
//! pausing the queue (across an orchestrator restart) and freed capacity resuming it. Run on
//! both back-ends: agents as tasks on the in-process bus, and as `chiffon agent desktop`
//! processes over RabbitMQ.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chiffon::model::{RequestStatus, TaskStatus};
use chiffon::registry::Thresholds;
use serde_json::Value;

use crate::helpers::{Backend, Options, TestAgent, TestApp, backends};

pub(crate) const GIB: u64 = 1024 * 1024 * 1024;

/// Writes an `nvml.json` with one GPU of `total_gib`, `free_gib` free.
pub(crate) fn record_gpu(dir: &Path, name: &str, total_gib: u64, free_gib: f64) {
    let free = (free_gib * GIB as f64) as u64;
    let json = serde_json::json!([{
        "index": 0,
        "name": name,
        "uuid": format!("GPU-{}", uuid::Uuid::now_v7()),
        "memory": {"total": total_gib * GIB, "free": free, "used": total_gib * GIB - free},
        "utilization": {"gpu": 3, "memory": 1},
    }]);
    // Written whole then renamed, as a probe must never read half a file.
    let temp = dir.join("nvml.json.tmp");
    std::fs::write(&temp, json.to_string()).unwrap();
    std::fs::rename(temp, dir.join("nvml.json")).unwrap();
}

async fn agent(app: &TestApp, id: &str) -> Value {
    let (code, body) = app.get(&format!("/api/v1/agents/{id}")).await;
    assert_eq!(code, 200, "{body}");
    body["agent"].clone()
}

async fn ids(app: &TestApp, query: &str) -> Vec<String> {
    let (code, body) = app.get(&format!("/api/v1/agents{query}")).await;
    assert_eq!(code, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls until `check` holds, failing with `what` after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < within {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {within:?}");
}

async fn free_vram_mb(app: &TestApp, id: &str) -> Option<u64> {
    agent(app, id).await["capacity"]["gpus"][0]["vram_free_mb"].as_u64()
}

/// `chiffon agents …` against the test server, as a user runs it.
async fn chiffon_agents(app: &TestApp, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["--server", &app.address, "agents"])
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

async fn request_status(app: &TestApp, id: &str) -> RequestStatus {
    app.client.get_request(id).await.unwrap().request.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_work_goes_where_vram_is_free_and_waits_when_none_is() {
    for backend in backends() {
        if backend == Backend::Distributed && std::env::var_os("CHIFFON_TEST_AMQP_URL").is_none() {
            continue;
        }
        scenario(backend).await;
    }
}

async fn scenario(backend: Backend) {
    let mut app = TestApp::spawn_with(
        backend,
        Options {
            local_agents: false,
            heartbeat: Duration::from_secs(1),
            share_broker: true,
            // Silence alone takes 30 s to mark an agent offline here, so an agent seen offline
            // within 5 s of being killed was detected by its dropped connection.
            thresholds: Some(Thresholds {
                suspect_after: Duration::from_secs(20),
                offline_after: Duration::from_secs(30),
                stale_after: Duration::from_secs(60),
            }),
            ..Options::default()
        },
    )
    .await;
    let fixtures = tempfile::tempdir().unwrap();
    let dir = |name: &str| -> PathBuf {
        let dir = fixtures.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let (big, mid, small) = (dir("big"), dir("mid"), dir("small"));
    // big: 24 GiB card nearly full; mid: 12 GiB card with 11 free; small: 8 GiB card.
    record_gpu(&big, "NVIDIA GeForce RTX 4090", 24, 3.0);
    record_gpu(&mid, "NVIDIA GeForce RTX 3060", 12, 11.0);
    record_gpu(&small, "NVIDIA GeForce RTX 3070", 8, 6.0);
    let mut agents = vec![
        TestAgent::desktop(&app, "desk-big", &big).await,
        TestAgent::desktop(&app, "desk-mid", &mid).await,
        TestAgent::desktop(&app, "desk-small", &small).await,
    ];
    app.wait_until_agents_online(3).await;
    eventually(Duration::from_secs(10), "all three report", || async {
        ids(&app, "?min_free_vram_gb=0").await.len() == 3
    })
    .await;

    // Each listed with its own GPU, never summed.
    let listed = agent(&app, "desk-big").await;
    assert_eq!(listed["type"], "desktop");
    assert_eq!(listed["capacity"]["gpus"].as_array().unwrap().len(), 1);
    assert_eq!(
        listed["capacity"]["gpus"][0]["name"],
        "NVIDIA GeForce RTX 4090"
    );
    assert_eq!(listed["capacity"]["gpus"][0]["vram_total_mb"], 24 * 1024);
    assert_eq!(listed["capacity"]["gpus"][0]["source"], "nvml");
    // Filters: 8 GB free on one GPU is only the 3060; nobody has a thousand free cores.
    assert_eq!(
        ids(&app, "?online=true&min_free_vram_gb=8").await,
        ["desk-mid"]
    );
    assert!(ids(&app, "?min_free_cores=1000").await.is_empty());
    let table = chiffon_agents(&app, &["--online", "--min-free-vram-gb", "8"]).await;
    assert!(table.contains("desk-mid"), "{table}");
    assert!(!table.contains("desk-big"), "{table}");
    assert!(
        table.contains("GPU 0 NVIDIA GeForce RTX 3060 11264/12288 MB VRAM free"),
        "{table}"
    );
    assert!(table.contains("Queue: running"), "{table}");
    let (code, bad) = app.get("/api/v1/agents?min_free_vram_gb=-1").await;
    assert_eq!(
        (code, bad["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
    let (_, capacity) = app.get("/api/v1/agents/desk-mid/capacity").await;
    assert_eq!(capacity["known"], true);
    assert_eq!(capacity["capacity"]["gpus"][0]["vram_free_mb"], 11 * 1024);
    let (_, totals) = app.get("/api/v1/resources").await;
    assert_eq!(totals["gpus"], 3);
    assert_eq!(totals["largest_free_vram_mb"], 11 * 1024);

    // A GPU step goes to the one GPU that fits: 11 GiB − 0.6 GiB headroom ≥ 8 GiB.
    let id = app.request("deploy ollama").await;
    let (_, view) = app.approve_and_wait(&id).await;
    assert_eq!(
        view.request.status,
        RequestStatus::Succeeded,
        "{:?}",
        view.tasks
    );
    let task = &view.tasks[0];
    assert_eq!(task.agent_id.as_deref(), Some("desk-mid"));
    let (_, detail) = app.get(&format!("/api/v1/tasks/{}", task.id)).await;
    let placement = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["kind"] == "placement")
        .unwrap_or_else(|| panic!("no placement event: {detail}"));
    assert!(
        placement["event"]["msg"]
            .as_str()
            .unwrap()
            .contains("desk-mid"),
        "{placement}"
    );

    // Killed: offline within 5 s, from the dropped connection (not silence, which takes 30 s).
    agents[1].kill().await;
    let took = eventually(
        Duration::from_secs(5),
        "killed agent shown offline",
        || async { agent(&app, "desk-mid").await["status"] == "offline" },
    )
    .await;
    let gone = agent(&app, "desk-mid").await;
    assert!(
        gone["status_reason"]
            .as_str()
            .unwrap()
            .contains("connection"),
        "{gone}"
    );
    assert!(
        gone["capacity"].is_null(),
        "an offline agent has no free capacity"
    );
    eprintln!("{backend:?}: killed agent offline after {took:?}");
    // Back: online again on its first heartbeat.
    agents[1] = TestAgent::desktop(&app, "desk-mid", &mid).await;
    eventually(
        Duration::from_secs(15),
        "restarted agent online",
        || async { agent(&app, "desk-mid").await["status"] == "online" },
    )
    .await;
    // Both changes are stored, with their reasons (newest first).
    eventually(Duration::from_secs(5), "status changes stored", || async {
        let (_, history) = app.get("/api/v1/agents/desk-mid").await;
        let changes: Vec<String> = history["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["to"].as_str().unwrap().to_owned())
            .collect();
        changes.len() >= 2 && changes[..2] == ["online", "offline"]
    })
    .await;

    // Fill every GPU: the next GPU step waits and the queue pauses, with the reason.
    record_gpu(&big, "NVIDIA GeForce RTX 4090", 24, 1.0);
    record_gpu(&mid, "NVIDIA GeForce RTX 3060", 12, 0.5);
    record_gpu(&small, "NVIDIA GeForce RTX 3070", 8, 0.5);
    eventually(Duration::from_secs(15), "full GPUs reported", || async {
        free_vram_mb(&app, "desk-mid")
            .await
            .is_some_and(|mb| mb < 1024)
            && free_vram_mb(&app, "desk-big")
                .await
                .is_some_and(|mb| mb < 2048)
            && free_vram_mb(&app, "desk-small")
                .await
                .is_some_and(|mb| mb < 1024)
    })
    .await;
    let waiting = app.request("deploy ollama").await;
    app.client.approve(&waiting, None).await.unwrap();
    eventually(Duration::from_secs(15), "queue paused", || async {
        app.get("/api/v1/queue").await.1["paused"] == true
    })
    .await;
    let (_, queue) = app.get("/api/v1/queue").await;
    let reason = queue["reason"].as_str().unwrap();
    assert!(reason.contains("8 GB of GPU memory"), "{reason}");
    assert!(reason.contains("below 10 % free"), "{reason}");
    assert_eq!(request_status(&app, &waiting).await, RequestStatus::Paused);
    let table = chiffon_agents(&app, &[]).await;
    assert!(
        table.contains("Queue: PAUSED — waiting for room"),
        "{table}"
    );

    // Still paused after an orchestrator restart; the waiting request is still waiting.
    app.restart().await;
    app.wait_until_agents_online(3).await;
    let (_, queue) = app.get("/api/v1/queue").await;
    assert_eq!(queue["paused"], true, "{queue}");
    assert_eq!(request_status(&app, &waiting).await, RequestStatus::Paused);

    // Free one: it resumes by itself once that GPU has room on two reports in a row.
    record_gpu(&big, "NVIDIA GeForce RTX 4090", 24, 20.0);
    let (_, view) = app.approve_and_wait_after_approval(&waiting).await;
    assert_eq!(
        view.request.status,
        RequestStatus::Succeeded,
        "{:?}",
        view.tasks
    );
    assert_eq!(view.tasks[0].status, TaskStatus::Succeeded);
    assert_eq!(view.tasks[0].agent_id.as_deref(), Some("desk-big"));
    let (_, queue) = app.get("/api/v1/queue").await;
    assert_eq!(queue["paused"], false);
    let kinds: Vec<&str> = queue["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[..2], ["resumed", "paused"]);
    assert!(queue["history"][0]["audit_commit"].is_string());
    let log = app.git(&["log", "--format=%s"]);
    assert!(log.contains("queue paused: waiting for room"), "{log}");
    assert!(
        log.contains("queue resumed: room again on desk-big"),
        "{log}"
    );

    for mut desktop in agents {
        desktop.kill().await;
    }
    app.stop().await;
}

/// A desktop agent with a long heartbeat interval still reports at once when it starts, early
/// when a GPU's free memory moves by more than 1 GiB, not for a small move, and says goodbye
/// when stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpu_memory_change_is_reported_before_the_next_heartbeat_is_due() {
    use chiffon::agent::{AgentConfig, nvidia::NvidiaSource, probe::ProbeConfig};
    use chiffon::bus::{Bus, Queue};
    use chiffon::model::{AgentId, AgentType};
    use chiffon::protocol::{Envelope, Heartbeat, Message};

    let fixture = tempfile::tempdir().unwrap();
    record_gpu(fixture.path(), "NVIDIA GeForce RTX 4090", 24, 20.0);
    let bus = Bus::in_process();
    let mut beats = bus.consume(&Queue::Heartbeats);
    let mut events = bus.consume(&Queue::Events);
    let config = AgentConfig {
        agent_type: AgentType::Desktop,
        id: AgentId::parse("desk-early").unwrap(),
        playbooks: None,
        extra_vars: serde_json::Map::new(),
        heartbeat_interval: Duration::from_secs(600),
        probe: ProbeConfig {
            system_root: "/".into(),
            nvidia: NvidiaSource::Fixture(fixture.path().to_owned()),
        },
        orchestrator_key: None,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(chiffon::agent::run(config, None, bus.clone(), stopped));
    let mut next_beat = async |within: Duration| -> Option<Heartbeat> {
        let delivery = tokio::time::timeout(within, beats.next()).await.ok()??;
        match Envelope::decode(&delivery.body).unwrap().message {
            Message::Heartbeat(beat) => Some(beat),
            other => panic!("not a heartbeat: {other:?}"),
        }
    };
    let first = next_beat(Duration::from_secs(5))
        .await
        .expect("a heartbeat at start-up");
    assert_eq!(first.seq, 0);
    assert_eq!(first.capacity.gpus[0].vram_free_mb, 20 * 1024);

    // 10 GiB taken: reported within one GPU check (5 s), not at the 10-minute interval.
    record_gpu(fixture.path(), "NVIDIA GeForce RTX 4090", 24, 10.0);
    let early = next_beat(Duration::from_secs(8))
        .await
        .expect("an early heartbeat");
    assert_eq!(early.seq, 1);
    assert_eq!(early.capacity.gpus[0].vram_free_mb, 10 * 1024);
    assert_eq!(early.boot_id, first.boot_id);

    // 200 MiB is noise: no heartbeat for it.
    record_gpu(fixture.path(), "NVIDIA GeForce RTX 4090", 24, 9.8);
    assert!(next_beat(Duration::from_secs(7)).await.is_none());

    stop.send(true).unwrap();
    agent.await.unwrap().unwrap();
    let mut kinds = Vec::new();
    while let Ok(Some(delivery)) =
        tokio::time::timeout(Duration::from_millis(200), events.next()).await
    {
        kinds.push(
            Envelope::decode(&delivery.body)
                .unwrap()
                .message
                .type_name(),
        );
    }
    assert_eq!(kinds, ["hello", "goodbye"]);
}

/// A placed step whose agent will not take it goes to the next agent with room: here the
/// emptiest GPU belongs to a capacity-only agent, which refuses, and the step runs on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_placement_is_sent_to_the_next_agent_with_room() {
    for backend in backends() {
        if backend == Backend::Distributed && std::env::var_os("CHIFFON_TEST_AMQP_URL").is_none() {
            continue;
        }
        eprintln!("scenario on {backend:?}");
        let mut app = TestApp::spawn_with(
            backend,
            Options {
                local_agents: false,
                heartbeat: Duration::from_secs(1),
                ..Options::default()
            },
        )
        .await;
        let fixtures = tempfile::tempdir().unwrap();
        let (roomy, mid) = (fixtures.path().join("roomy"), fixtures.path().join("mid"));
        for dir in [&roomy, &mid] {
            std::fs::create_dir_all(dir).unwrap();
        }
        record_gpu(&roomy, "NVIDIA GeForce RTX 4090", 24, 23.0);
        record_gpu(&mid, "NVIDIA GeForce RTX 3060", 12, 11.0);
        let mut agents = vec![
            TestAgent::capacity_only(&app, "desk-report-only", &roomy).await,
            TestAgent::desktop(&app, "desk-mid", &mid).await,
        ];
        app.wait_until_agents_online(2).await;
        eventually(Duration::from_secs(10), "both report", || async {
            ids(&app, "?min_free_vram_gb=8").await.len() == 2
        })
        .await;
        let id = app.request("deploy ollama").await;
        let (_, view) = app.approve_and_wait(&id).await;
        assert_eq!(
            view.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            view.tasks
        );
        let (refused, ran) = (&view.tasks[0], &view.tasks[1]);
        assert_eq!(refused.status, TaskStatus::Failed);
        assert_eq!(refused.agent_id.as_deref(), Some("desk-report-only"));
        assert!(
            refused
                .error
                .as_deref()
                .unwrap()
                .contains("runs no playbooks"),
            "{:?}",
            refused.error
        );
        assert_eq!(ran.status, TaskStatus::Succeeded);
        assert_eq!(ran.agent_id.as_deref(), Some("desk-mid"));
        for agent in &mut agents {
            agent.kill().await;
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desktop_agent_vanishing_while_a_gpu_step_waits_loses_nothing() {
    for backend in backends() {
        if backend == Backend::Distributed && std::env::var_os("CHIFFON_TEST_AMQP_URL").is_none() {
            continue;
        }
        eprintln!("scenario on {backend:?}");
        let mut app = TestApp::spawn_with(
            backend,
            Options {
                local_agents: false,
                heartbeat: Duration::from_secs(1),
                ..Options::default()
            },
        )
        .await;
        let fixtures = tempfile::tempdir().unwrap();
        let (full, roomy) = (fixtures.path().join("full"), fixtures.path().join("roomy"));
        for dir in [&full, &roomy] {
            std::fs::create_dir_all(dir).unwrap();
        }
        // The only desktop has 1 GiB free: the 8 GB Ollama step waits, the queue pauses.
        record_gpu(&full, "NVIDIA GeForce RTX 3070", 8, 1.0);
        let mut vanishing = TestAgent::desktop(&app, "desk-vanishing", &full).await;
        app.wait_until_agents_online(1).await;
        let id = app.request("deploy ollama").await;
        app.client.approve(&id, None).await.unwrap();
        eventually(Duration::from_secs(30), "the GPU step waits", || async {
            request_status(&app, &id).await == RequestStatus::Paused
        })
        .await;

        // The agent it waits on vanishes (killed, no goodbye): the step keeps waiting.
        vanishing.kill().await;
        eventually(Duration::from_secs(15), "the agent is offline", || async {
            agent(&app, "desk-vanishing").await["status"] == "offline"
        })
        .await;
        assert_eq!(request_status(&app, &id).await, RequestStatus::Paused);
        let (_, queue) = app.get("/api/v1/queue").await;
        assert_eq!(queue["paused"], true, "{queue}");

        // A desktop with room arrives: the step runs there, once.
        record_gpu(&roomy, "NVIDIA GeForce RTX 4090", 24, 23.0);
        let mut arriving = TestAgent::desktop(&app, "desk-arriving", &roomy).await;
        eventually(Duration::from_secs(60), "the request finishes", || async {
            request_status(&app, &id).await.is_terminal()
        })
        .await;
        let view = app.client.get_request(&id).await.unwrap();
        assert_eq!(
            view.request.status,
            RequestStatus::Succeeded,
            "{:?}",
            view.tasks
        );
        let ran: Vec<_> = view
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Succeeded)
            .collect();
        assert_eq!(ran.len(), 1, "{:?}", view.tasks);
        assert_eq!(ran[0].agent_id.as_deref(), Some("desk-arriving"));
        assert!(
            view.tasks
                .iter()
                .all(|t| t.agent_id.as_deref() != Some("desk-vanishing")),
            "nothing was sent to the vanished agent: {:?}",
            view.tasks
        );
        let (_, queue) = app.get("/api/v1/queue").await;
        assert_eq!(queue["paused"], false, "{queue}");
        arriving.kill().await;
        app.stop().await;
    }
}
