//! The agent registry under 10,000 simulated agents with 30 s heartbeats jittered by ±10 s, in
//! a real orchestrator (`orchestrator::serve_on`: SQLite store, in-process bus, no local agents)
//! driven through the real bus, decoding and registry code.
//!
//! - Every simulated agent says hello at a random moment of the first 30 s, then sends a
//!   heartbeat every 20–40 s (uniformly random: ±10 s around 30 s) and holds a consumer of its
//!   own queue, as a real agent does.
//! - After the warm-up, 100 agents are killed (their consumer dropped, no goodbye: what a
//!   killed process looks like on the bus) and 100 fall silent (they stop sending heartbeats but
//!   stay connected: a hung agent). Detection latency is measured from that moment to the
//!   `agent` event on the WebSocket (`offline`, and `suspect` for the silent ones).
//! - Every `suspect` or `offline` event for any other agent is a false alarm.
//! - CPU is the whole process's user + system time over the measured window, as a share of
//!   one core; it includes the simulator, whose heartbeats are encoded once up front (sending
//!   one is a copy into a channel), so nearly all of it is the orchestrator's. Memory is the
//!   process's RSS with every agent registered, minus the RSS before the first hello.
//!
//! Run: `cargo bench --bench registry`; `CHIFFON_BENCH_AGENTS` (default 10000). Takes about
//! three minutes. The figures replace the `registry` section of docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chiffon::bus::{Bus, Queue};
use chiffon::config::{BusConfig, Database, ServeConfig};
use chiffon::model::{AgentId, AgentType};
use chiffon::protocol::{Envelope, Hello, Message};
use futures_util::StreamExt;

const VICTIMS: usize = 100;
/// Everyone has said hello and sent heartbeats for a while by then.
const WARM_UP: Duration = Duration::from_secs(60);
/// Long enough after the warm-up for a silent agent to pass 75 s without a heartbeat.
const AFTER: Duration = Duration::from_secs(95);

fn random() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let agents: usize = std::env::var("CHIFFON_BENCH_AGENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let scratch = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        llm: Default::default(),
        bus: BusConfig::InProcess,
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
    let bus = Bus::in_process();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(chiffon::server::serve_on(
        config,
        bus.clone(),
        listener,
        std::future::pending(),
    ));
    // The live stream: every agent event, stamped on arrival.
    let (socket, _) = loop {
        match tokio_tungstenite::connect_async(format!("ws://{address}/api/v1/ws")).await {
            Ok(socket) => break socket,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let events = Arc::new(std::sync::Mutex::new(
        Vec::<(Instant, String, String)>::new(),
    ));
    let lagged = Arc::new(AtomicBool::new(false));
    {
        let (events, lagged) = (events.clone(), lagged.clone());
        tokio::spawn(async move {
            let mut socket = socket;
            while let Some(Ok(message)) = socket.next().await {
                let Ok(text) = message.into_text() else {
                    continue;
                };
                let event: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                match event["type"].as_str() {
                    Some("agent") => events.lock().unwrap().push((
                        Instant::now(),
                        event["agent_id"].as_str().unwrap_or("").to_owned(),
                        event["status"].as_str().unwrap_or("").to_owned(),
                    )),
                    Some("lagged") => lagged.store(true, Ordering::Relaxed),
                    _ => {}
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = common::rss_kb("self") as f64 / 1024.0;

    // The simulated fleet.
    let ids: Vec<String> = (0..agents).map(|i| format!("sim-{i:05}")).collect();
    let killed: HashSet<&str> = ids.iter().take(VICTIMS).map(String::as_str).collect();
    let silenced: HashSet<&str> = ids
        .iter()
        .skip(VICTIMS)
        .take(VICTIMS)
        .map(String::as_str)
        .collect();
    let mut consumers: HashMap<String, chiffon::bus::Consumer> = ids
        .iter()
        .map(|id| {
            let queue = Queue::Agent(AgentId::parse(id).unwrap());
            (id.clone(), bus.consume(&queue))
        })
        .collect();
    let silent = Arc::new(AtomicBool::new(false));
    let last_beat: Arc<std::sync::Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    for id in &ids {
        let (bus, id) = (bus.clone(), id.clone());
        let is_silenced = silenced.contains(id.as_str());
        let (silent, last_beat) = (silent.clone(), last_beat.clone());
        tokio::spawn(async move {
            let beat = common::heartbeat(&id, 0);
            tokio::time::sleep(Duration::from_millis(random() % 30_000)).await;
            let hello = Envelope::new(
                &id,
                None,
                Message::Hello(Hello {
                    agent_type: AgentType::Desktop,
                    version: "bench".into(),
                    host: id.clone(),
                }),
            );
            bus.publish(&Queue::Events, hello.encode()).await.unwrap();
            loop {
                if is_silenced && silent.load(Ordering::Relaxed) {
                    return;
                }
                bus.publish(&Queue::Heartbeats, beat.clone()).await.unwrap();
                if is_silenced {
                    last_beat.lock().unwrap().insert(id.clone(), Instant::now());
                }
                let jittered = 20_000 + random() % 20_001; // 30 s ± 10 s
                tokio::time::sleep(Duration::from_millis(jittered)).await;
            }
        });
    }
    tokio::time::sleep(WARM_UP.saturating_sub(started.elapsed())).await;
    let registered = common::rss_kb("self") as f64 / 1024.0;

    // Measured window: kill and silence the victims, then wait past the offline threshold.
    let cpu_start = common::cpu_ticks("self") as f64 / 100.0;
    let window = Instant::now();
    silent.store(true, Ordering::Relaxed);
    for id in &killed {
        consumers.remove(*id);
    }
    tokio::time::sleep(AFTER).await;
    let cpu = (common::cpu_ticks("self") as f64 / 100.0 - cpu_start)
        / window.elapsed().as_secs_f64()
        * 100.0;
    let rss_end = common::rss_kb("self") as f64 / 1024.0;

    let events = events.lock().unwrap().clone();
    let last_beat = last_beat.lock().unwrap().clone();
    let mut kill_latency = Vec::new();
    let mut silent_suspect = Vec::new();
    let mut silent_offline = Vec::new();
    let mut false_alarms = 0;
    for (at, id, status) in &events {
        if *at < window || !matches!(status.as_str(), "offline" | "suspect") {
            continue;
        }
        if killed.contains(id.as_str()) && status == "offline" {
            kill_latency.push(at.duration_since(window).as_secs_f64());
        } else if silenced.contains(id.as_str()) {
            let from = last_beat.get(id).copied().unwrap_or(window);
            let seconds = at.duration_since(from).as_secs_f64();
            match status.as_str() {
                "suspect" => silent_suspect.push(seconds),
                _ => silent_offline.push(seconds),
            }
        } else {
            false_alarms += 1;
        }
    }
    // Alarms before the window are false too (nobody was killed or silenced yet).
    false_alarms += events
        .iter()
        .filter(|(at, _, status)| *at < window && matches!(status.as_str(), "offline" | "suspect"))
        .count();
    for list in [&mut kill_latency, &mut silent_suspect, &mut silent_offline] {
        list.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_owned())
        .unwrap_or_default();
    let section = format!(
        "## Agent registry at {agents} agents (`cargo bench --bench registry`)\n\n\
         A real orchestrator (SQLite, in-process bus) with {agents} simulated desktop agents, \
         each sending a heartbeat every 30 s ± 10 s (uniform) and holding a consumer of its own \
         queue. After a {}-s warm-up, {VICTIMS} agents are killed (consumer dropped, no goodbye) \
         and {VICTIMS} fall silent (connected, no heartbeats); measured over the next {} s. \
         Default thresholds: suspect 45 s, offline 75 s, 1 s grace after a dropped connection. \
         {machine}, {} cores.\n\n\
         | figure | value |\n|---|---|\n\
         | CPU, whole process (orchestrator + pre-encoded simulator), share of one core | {cpu:.1} % |\n\
         | RSS: before the fleet / with {agents} agents registered / at the end | {rss_before:.1} / {registered:.1} / {rss_end:.1} MiB ({:.1} KiB per agent) |\n\
         | killed → `offline` event, p50 / p99 (n = {}) | {:.2} s / {:.2} s |\n\
         | silent: last heartbeat → `suspect`, p50 / p99 (n = {}) | {:.1} s / {:.1} s |\n\
         | silent: last heartbeat → `offline`, p50 / p99 (n = {}) | {:.1} s / {:.1} s |\n\
         | false `suspect`/`offline` among the other {} agents | {false_alarms} |\n\
         | live stream fell behind (lagged) | {} |\n\n\
         Targets (issue 5): killed agents offline within 5 s; silent ones suspect at 45 s and \
         offline at 75 s; no false offline under ±10 s jitter.\n\n",
        WARM_UP.as_secs(),
        AFTER.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        (registered - rss_before) * 1024.0 / agents as f64,
        kill_latency.len(),
        percentile(&kill_latency, 0.5),
        percentile(&kill_latency, 0.99),
        silent_suspect.len(),
        percentile(&silent_suspect, 0.5),
        percentile(&silent_suspect, 0.99),
        silent_offline.len(),
        percentile(&silent_offline, 0.5),
        percentile(&silent_offline, 0.99),
        agents - 2 * VICTIMS,
        if lagged.load(Ordering::Relaxed) {
            "yes"
        } else {
            "no"
        },
    );
    print!("{section}");
    common::update_docs("registry", &section);
    std::process::exit(0);
}
