//! What recording a run's changes costs (docs/revert.md), side by side in one run:
//!
//! - capture overhead: the two Kuma playbooks through the infra agent's runner
//!   (`agent::ansible::Ansible::run`), on a fresh homelab root each time, with capture (the
//!   default: `--diff` and the callback's change records) and without, alternating which goes
//!   first; PRODUCT.md's target is ≤ 5 % over the run without it;
//! - storage per changed file: the `task_changes` rows the real server keeps after the Kuma
//!   request and the same request changed (a portal left out), so one file is overwritten;
//! - the `changes` answer: `GET /api/v1/tasks/{id}/changes` on that server, p50 and p99 over
//!   200 calls (target ≤ 50 ms).
//!
//! Run: `cargo bench --bench revert` (rounds: `CHIFFON_BENCH_ROUNDS`, default 5). The figures
//! replace the `revert` section of docs/benchmarks.md.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chiffon::agent::ansible::{Ansible, RunSpec};
use chiffon::client::Client;
use chiffon::config::{Database, ServeConfig};
use chiffon::model::RequestStatus;
use chiffon::orchestrator::live::LiveEvent;

const REQUEST: &str = "Deploy Kuma Uptime to homelab and add our existing portals to the config";
const PLAYBOOKS: [&str; 2] = ["kuma-deployment.yml", "kuma-config-update.yml"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra")
}

/// Both playbooks through the agent's runner on a fresh `root`: (seconds, changes recorded).
async fn agent_run(ansible: &Ansible, root: &Path) -> (f64, usize) {
    let started = Instant::now();
    let mut changes = 0;
    for playbook in PLAYBOOKS {
        let mut extra_vars = serde_json::Map::new();
        extra_vars.insert("homelab_root".into(), root.display().to_string().into());
        let spec = RunSpec {
            playbook: playbook.to_owned(),
            limit: None,
            check_mode: false,
            tags: Vec::new(),
            extra_vars,
            deadline: Duration::from_secs(300),
        };
        let (events, mut drain) = tokio::sync::mpsc::unbounded_channel();
        let (_cancel, cancel) = tokio::sync::oneshot::channel();
        let outcome = ansible
            .run(&repo(), &spec, events, cancel)
            .await
            .expect("run");
        drain.close();
        assert!(outcome.error.is_none(), "{playbook}: {:?}", outcome.error);
        changes += outcome.changes.len();
    }
    (started.elapsed().as_secs_f64(), changes)
}

/// The embedded server on `scratch`, with its client once the infra agent is up.
async fn start_server(
    ansible_playbook: &Path,
    scratch: &Path,
) -> (
    Client,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let mut extra_vars = serde_json::Map::new();
    extra_vars.insert(
        "homelab_root".into(),
        scratch.join("homelab").display().to_string().into(),
    );
    let config = ServeConfig {
        llm: Default::default(),
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: scratch.join("data"),
        playbooks: repo(),
        database: Database::Sqlite(scratch.join("data/chiffon.db")),
        ansible_playbook: Some(ansible_playbook.to_owned()),
        extra_vars,
        vault_password_file: None,
        api_token: None,
        ack_timeout: Duration::from_secs(30),
        execution_deadline: Duration::from_secs(300),
        heartbeat_interval: Duration::from_secs(10),
        agent_thresholds: Default::default(),
        local_agents: true,
        registry_lookup: false,
        http: Default::default(),
        bus: chiffon::config::BusConfig::InProcess,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chiffon::server::serve(config, listener, async {
        let _ = stopped.await;
    }));
    let client = Client::new(&address).expect("client");
    loop {
        if let Ok(page) = client.agents(&[]).await
            && page.items.iter().any(|a| a.id.starts_with("infra-"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (client, stop, server)
}

/// Runs the Kuma request (changed by `modify` first, when given); returns its config task id.
async fn kuma(client: &Client, modify: Option<&str>) -> String {
    let id = client
        .create_request(REQUEST, false)
        .await
        .expect("request")
        .request
        .id
        .to_string();
    if let Some(change) = modify {
        client.modify(&id, change).await.expect("modify");
    }
    let mut stream = client.subscribe(&id).await.expect("subscribe");
    client.approve(&id, None).await.expect("approve");
    while let Some(event) = stream.next().await {
        if let LiveEvent::Request { status, .. } = event
            && status.is_terminal()
        {
            assert_eq!(status, RequestStatus::Succeeded, "the Kuma request failed");
            break;
        }
    }
    let view = client.get_request(&id).await.expect("request");
    view.tasks
        .iter()
        .find(|t| t.playbook.as_deref() == Some("kuma-config-update.yml"))
        .expect("the config task")
        .id
        .to_string()
}

/// One row per stored change: (kind, target's file name, record bytes, previous, new content).
async fn stored_rows(db: &Path) -> Vec<(String, String, i64, i64, i64)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .expect("open the database");
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT kind, target, length(change), COALESCE(length(before_content), 0),
                COALESCE(length(after_content), 0)
         FROM task_changes ORDER BY created_at, task_id, seq",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    pool.close().await;
    rows.into_iter()
        .map(|(kind, target, record, before, after)| {
            let name = Path::new(&target)
                .file_name()
                .map_or(target.clone(), |n| n.to_string_lossy().into_owned());
            (kind, name, record, before, after)
        })
        .collect()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let rounds: usize = std::env::var("CHIFFON_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let shared = tempfile::tempdir().expect("temp dir");
    let with = runtime
        .block_on(Ansible::locate_or_install(None, shared.path()))
        .expect("ansible-playbook");
    let without = with.clone().without_capture();

    let (mut on, mut off, mut recorded) = (Vec::new(), Vec::new(), 0);
    for round in 0..rounds {
        let scratch = tempfile::tempdir().expect("temp dir");
        let (a, b) = (scratch.path().join("on"), scratch.path().join("off"));
        let ((t_on, n), (t_off, none)) = runtime.block_on(async {
            if round % 2 == 0 {
                let on = agent_run(&with, &a).await;
                (on, agent_run(&without, &b).await)
            } else {
                let off = agent_run(&without, &b).await;
                (agent_run(&with, &a).await, off)
            }
        });
        assert_eq!(none, 0, "a run without capture recorded changes");
        assert!(n > 0, "the capture recorded nothing");
        recorded = n;
        eprintln!(
            "round {}: with capture {t_on:.2}s, without {t_off:.2}s",
            round + 1
        );
        on.push(t_on);
        off.push(t_off);
    }
    let (m_on, m_off) = (median(&mut on), median(&mut off));

    let scratch = tempfile::tempdir().expect("temp dir");
    let (client, stop, server) =
        runtime.block_on(start_server(with.playbook_bin(), scratch.path()));
    let (rows, mut calls) = runtime.block_on(async {
        kuma(&client, None).await;
        let task = kuma(&client, Some("leave out the Ollama API")).await;
        let mut calls = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            let answer = client.task_changes(&task).await.expect("changes");
            calls.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(!answer.hosts.is_empty());
        }
        (
            stored_rows(&scratch.path().join("data/chiffon.db")).await,
            calls,
        )
    });
    let _ = stop.send(());
    runtime
        .block_on(server)
        .expect("server")
        .expect("server stopped");
    calls.sort_by(f64::total_cmp);

    let mut storage = String::from(
        "| stored change (Kuma request, then changed) | kind | record bytes | previous content | new content |\n|---|---|---|---|---|\n",
    );
    for (kind, name, record, before, after) in &rows {
        storage.push_str(&format!(
            "| {name} | {kind} | {record} | {before} | {after} |\n"
        ));
    }
    let section = format!(
        "| measure (median of {rounds} rounds, fresh homelab root each, alternating order) | seconds | vs without |\n\
         |---|---|---|\n\
         | the two Kuma playbooks through the agent, without capture | {m_off:.2} | 1.00 |\n\
         | the same with capture (`--diff`, {recorded} change records) | {m_on:.2} | {:.3} |\n\n\
         {storage}\n\
         `GET /api/v1/tasks/{{id}}/changes` (the overwritten monitors file, 200 calls): p50 {:.2} ms, p99 {:.2} ms (target ≤ 50 ms).\n\n\
         Machine: {} cores, {}. Reproduce: `cargo bench --bench revert`.\n",
        m_on / m_off,
        percentile(&calls, 0.5),
        percentile(&calls, 0.99),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH,
    );
    print!("{section}");
    common::update_docs("revert", &section);
}
