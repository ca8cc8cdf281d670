//! End-to-end benchmark of the Kuma request against bare `ansible-playbook`.
//!
//! Each round, on a fresh homelab root and a fresh data dir, alternately:
//! - bare: `ansible-playbook kuma-deployment.yml` then `kuma-config-update.yml`, timed;
//! - chiffon: POST the Kuma request, approve it, wait for `succeeded` on the live stream,
//!   timed from the POST (whole loop) and from the approval (execution only).
//!
//! Run: `cargo bench --bench kuma_loop` (rounds: `CHIFFON_BENCH_ROUNDS`, default 5). The
//! figures replace the `kuma_loop` section of docs/benchmarks.md.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chiffon::agent::ansible::Ansible;
use chiffon::client::Client;
use chiffon::config::{Database, ServeConfig};
use chiffon::model::RequestStatus;
use chiffon::orchestrator::live::LiveEvent;

const REQUEST: &str = "Deploy Kuma Uptime to homelab and add our existing portals to the config";
const PLAYBOOKS: [&str; 2] = ["kuma-deployment.yml", "kuma-config-update.yml"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra")
}

fn bare_run(ansible_playbook: &Path, root: &Path) -> Duration {
    let started = Instant::now();
    for playbook in PLAYBOOKS {
        let status = std::process::Command::new(ansible_playbook)
            .arg(playbook)
            .arg("--extra-vars")
            .arg(format!("homelab_root={}", root.display()))
            .current_dir(repo())
            .env("ANSIBLE_CONFIG", repo().join("ansible.cfg"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run ansible-playbook");
        assert!(status.success(), "bare {playbook} failed");
    }
    started.elapsed()
}

/// Returns (whole loop from the POST, execution from the approval).
async fn chiffon_run(ansible_playbook: &Path, scratch: &Path) -> (Duration, Duration) {
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
    // Ready once the infra agent has said hello.
    loop {
        if let Ok(page) = client.agents(&[]).await
            && page.items.iter().any(|a| a.id.starts_with("infra-"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let view = client
        .create_request(REQUEST, false)
        .await
        .expect("request");
    let id = view.request.id.to_string();
    let mut stream = client.subscribe(&id).await.expect("subscribe");
    let approved = Instant::now();
    client.approve(&id, None).await.expect("approve");
    while let Some(event) = stream.next().await {
        if let LiveEvent::Request { status, .. } = event
            && status.is_terminal()
        {
            assert_eq!(status, RequestStatus::Succeeded, "the Kuma request failed");
            break;
        }
    }
    let timings = (started.elapsed(), approved.elapsed());
    let _ = stop.send(());
    server.await.expect("server").expect("server stopped");
    timings
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("CHIFFON_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let shared = tempfile::tempdir().expect("temp dir");
    let ansible = runtime
        .block_on(Ansible::locate_or_install(None, shared.path()))
        .expect("ansible-playbook");
    let ansible_playbook = ansible.playbook_bin().to_owned();
    let version = std::process::Command::new(&ansible_playbook)
        .arg("--version")
        .output()
        .expect("version");
    let version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();

    let (mut bare, mut whole, mut exec) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let scratch = tempfile::tempdir().expect("temp dir");
        let b = bare_run(&ansible_playbook, &scratch.path().join("bare-root")).as_secs_f64();
        let (w, e) = runtime.block_on(chiffon_run(&ansible_playbook, scratch.path()));
        let (w, e) = (w.as_secs_f64(), e.as_secs_f64());
        eprintln!(
            "round {}: bare {b:.2}s, chiffon execution {e:.2}s, whole loop {w:.2}s",
            round + 1
        );
        bare.push(b);
        whole.push(w);
        exec.push(e);
    }
    let (b, w, e) = (median(&mut bare), median(&mut whole), median(&mut exec));
    let section = format!(
        "| measure (median of {rounds} rounds, fresh homelab root each) | seconds | vs bare |\n\
         |---|---|---|\n\
         | bare `ansible-playbook` of the two Kuma playbooks | {b:.2} | 1.00 |\n\
         | Chiffon: approval → request `succeeded` (execution) | {e:.2} | {:.2} |\n\
         | Chiffon: POST request → plan → approve → `succeeded` (whole loop) | {w:.2} | {:.2} |\n\
         | Chiffon execution overhead over bare | {:+.2} | |\n\n\
         Machine: {} cores, {}; {version}. Reproduce: `cargo bench --bench kuma_loop`.\n",
        e / b,
        w / b,
        e - b,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH,
    );
    print!("{section}");
    common::update_docs("kuma_loop", &section);
}
