//! Idle footprint of `chiffon agent desktop` beside Prometheus' `node_exporter`, measured in the
//! same run on the same machine: resident memory (VmRSS, sampled every second; mean and peak)
//! and CPU time (utime + stime from `/proc/<pid>/stat`, as a share of one core over the run),
//! plus the largest number of child processes either had at any sample.
//!
//! The desktop agent runs with its defaults (30 s heartbeat with jitter, GPU check every 5 s
//! when it has a GPU) against RabbitMQ, with no playbook repository (capacity only).
//! `node_exporter` runs with its defaults, idle (nothing scrapes it), as a reference for "a
//! light host agent".
//!
//! Run: `cargo bench --bench footprint` with RabbitMQ on 127.0.0.1:5672 (or
//! `CHIFFON_BENCH_AMQP_URL`) and `prometheus-node-exporter` installed (Debian package);
//! `CHIFFON_FOOTPRINT_SECONDS` (default 600). The figures replace the `footprint` section of
//! docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Clock ticks per second for `/proc/<pid>/stat` times (100 on every Linux Chiffon targets).
const TICKS: f64 = 100.0;

#[derive(Debug, Default)]
struct Sampled {
    rss_kb: Vec<u64>,
    max_children: usize,
    cpu_ticks_start: u64,
    cpu_ticks_end: u64,
}

fn children(pid: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = &s[s.rfind(')')? + 2..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .count()
}

fn mean(values: &[u64]) -> f64 {
    values.iter().sum::<u64>() as f64 / values.len().max(1) as f64
}

fn main() {
    let url = std::env::var("CHIFFON_BENCH_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let seconds: u64 = std::env::var("CHIFFON_FOOTPRINT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let exporter = [
        "/usr/bin/prometheus-node-exporter",
        "/usr/bin/node_exporter",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("install node_exporter: apt-get install prometheus-node-exporter");
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("agent.toml");
    let prefix = format!("chiffon-footprint-{}", std::process::id());
    std::fs::write(
        &config,
        format!("[amqp]\nprefix = \"{prefix}\"\nqueue_expiry_s = 900\n"),
    )
    .unwrap();
    let mut agent: Child = Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args([
            "agent",
            "desktop",
            "--id",
            "footprint",
            "--amqp-url",
            &url,
            "--orchestrator-key",
            // This agent only reports capacity here: no dispatch is sent, any key will do.
            "0000000000000000000000000000000000000000000000000000000000000000",
            "--config",
        ])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut node: Child = Command::new(exporter)
        .args(["--web.listen-address=127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Start-up (connecting, the first CPU sample) is not the steady state being measured.
    std::thread::sleep(Duration::from_secs(10));
    let pids = [agent.id(), node.id()];
    let mut sampled: [Sampled; 2] = Default::default();
    for (s, pid) in sampled.iter_mut().zip(pids) {
        s.cpu_ticks_start = common::cpu_ticks(&pid.to_string());
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        for (s, pid) in sampled.iter_mut().zip(pids) {
            s.rss_kb.push(common::rss_kb(&pid.to_string()));
            s.max_children = s.max_children.max(children(pid));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let wall = started.elapsed().as_secs_f64();
    for (s, pid) in sampled.iter_mut().zip(pids) {
        s.cpu_ticks_end = common::cpu_ticks(&pid.to_string());
    }
    let _ = agent.kill();
    let _ = node.kill();
    let _ = agent.wait();
    let _ = node.wait();

    let row = |name: &str, s: &Sampled| {
        let cpu = (s.cpu_ticks_end - s.cpu_ticks_start) as f64 / TICKS / wall * 100.0;
        let peak = *s.rss_kb.iter().max().unwrap() as f64 / 1024.0;
        (
            format!(
                "| {name} | {:.1} | {peak:.1} | {cpu:.3} % | {} |\n",
                mean(&s.rss_kb) / 1024.0,
                s.max_children
            ),
            peak,
            cpu,
        )
    };
    let (agent_row, agent_peak, agent_cpu) = row("chiffon agent desktop", &sampled[0]);
    let (node_row, node_peak, node_cpu) = row(
        "node_exporter (Debian prometheus-node-exporter)",
        &sampled[1],
    );
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_owned())
        .unwrap_or_default();
    let section = format!(
        "## Desktop agent footprint (`cargo bench --bench footprint`)\n\n\
         Idle for {wall:.0} s after a 10 s start-up, sampled every second, same run, same machine \
         ({machine}, {} cores). The agent: 30 s heartbeats to RabbitMQ on this host, no GPU on \
         this machine (the 5 s GPU check only runs where a GPU was found), no playbook \
         repository. CPU is utime + stime over the run as a share of one core.\n\n\
         | process | mean RSS (MiB) | peak RSS (MiB) | CPU (of one core) | child processes (max) |\n\
         |---|---|---|---|---|\n{agent_row}{node_row}\n\
         Target: ≤ 15 MiB RSS and ≤ 0.05 % of a core, no child processes. Ratios to node_exporter: \
         peak RSS {:.2}×, CPU {}.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        agent_peak / node_peak,
        if node_cpu > 0.0 {
            format!("{:.2}×", agent_cpu / node_cpu)
        } else {
            "not comparable (node_exporter used less than one 10 ms clock tick in the whole run)"
                .to_owned()
        },
    );
    print!("{section}");
    common::update_docs("footprint", &section);
}
