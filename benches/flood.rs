//! A connection flood against a real `chiffon serve` (a child process, defaults but for no
//! local agents): 20,000 idle connections on loopback, half of them a request whose headers
//! never end, half nothing at all. It records the server's resident memory (VmRSS) before,
//! at its peak during and after the flood, and the latency of `GET /api/v1/health` probed
//! every 20 ms while the flood is held, then writes the `flood` section of docs/benchmarks.md.
//!
//! Run: `cargo bench --bench flood` (`CHIFFON_FLOOD_CONNECTIONS`, default 20000;
//! `CHIFFON_FLOOD_HOLD_SECONDS`, default 10). Loopback only; it raises its own open-file limit
//! (the server inherits it), and stops by itself.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One `GET /api/v1/health`: its status line and how long it took.
fn health(port: u16) -> Result<(String, Duration), String> {
    let started = Instant::now();
    let mut socket = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        socket,
        "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let status = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok((status, started.elapsed()))
}

/// Raises this process's open-file limit (children inherit it) to at least `want`.
fn raise_file_limit(want: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let hard = now.maximum.unwrap_or(u64::MAX);
    let raised = Rlimit {
        current: Some(want),
        maximum: Some(want.max(hard)),
    };
    if setrlimit(Resource::Nofile, raised).is_ok() {
        return want;
    }
    let capped = want.min(hard);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(capped),
            maximum: now.maximum,
        },
    );
    capped
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let connections: usize = std::env::var("CHIFFON_FLOOD_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let hold = Duration::from_secs(
        std::env::var("CHIFFON_FLOOD_HOLD_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10),
    );
    // The flood's sockets are this process's; the server (a child, the same limit) holds at
    // most `max_connections` of them.
    let limit = raise_file_limit(connections as u64 + 1024);
    let connections = connections.min(limit.saturating_sub(512) as usize);
    let scratch = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_chiffon"))
        .args(["serve", "--no-local-agents", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(scratch.path().join("data"))
        .arg("--playbooks")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra"))
        .env_remove("CHIFFON_API_TOKEN")
        .env_remove("CHIFFON_CONFIG")
        .env_remove("CHIFFON_DATABASE_URL")
        .env_remove("CHIFFON_AMQP_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = server.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while health(port).is_err() {
        assert!(
            Instant::now() < deadline,
            "serve did not answer within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..50 {
        health(port).unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));
    let before = common::rss_kb(&pid);

    // Probe /health every 20 ms from the start of the flood to its end.
    let flooding = Arc::new(AtomicBool::new(true));
    let probes = Arc::new(Mutex::new((Vec::new(), 0usize, 0usize)));
    let prober = {
        let (flooding, probes) = (flooding.clone(), probes.clone());
        std::thread::spawn(move || {
            while flooding.load(Ordering::Relaxed) {
                let outcome = health(port);
                let mut probes = probes.lock().unwrap();
                match outcome {
                    Ok((status, took)) if status.starts_with("HTTP/1.1 200") => probes.0.push(took),
                    Ok(_) => probes.1 += 1,
                    Err(_) => probes.2 += 1,
                }
                drop(probes);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let mut peak = before;
    let mut flood = Vec::with_capacity(connections);
    let mut refused = 0usize;
    for n in 0..connections {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut socket) => {
                if n % 2 == 0 {
                    let _ = socket
                        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
                }
                flood.push(socket);
            }
            Err(_) => refused += 1,
        }
        if n % 500 == 0 {
            peak = peak.max(common::rss_kb(&pid));
        }
    }
    let opened_in = started.elapsed();
    let held = Instant::now();
    while held.elapsed() < hold {
        peak = peak.max(common::rss_kb(&pid));
        std::thread::sleep(Duration::from_millis(250));
    }
    flooding.store(false, Ordering::Relaxed);
    prober.join().unwrap();
    drop(flood);
    // The server's header-read timeout (10 s) has closed whatever it still held by now.
    std::thread::sleep(Duration::from_secs(12));
    for _ in 0..20 {
        health(port).unwrap();
    }
    let after = common::rss_kb(&pid);
    let _ = server.kill();
    let _ = server.wait();

    let (mut latencies, failed, unanswered) = {
        let probes = probes.lock().unwrap();
        (probes.0.clone(), probes.1, probes.2)
    };
    latencies.sort();
    let mib = |kb: u64| format!("{:.1}", kb as f64 / 1024.0);
    let section = format!(
        "## Connection flood (`cargo bench --bench flood`)\n\n\
         {connections} idle connections to a `chiffon serve` child process on loopback (defaults: \
         `max_connections` 1000, `header_read_timeout_s` 10; no local agents), opened in {:.1} s \
         and held {} s; half send a request whose headers never end, half nothing. `/health` \
         probed every 20 ms from the first connection to the end of the hold.\n\n\
         | server RSS before | peak during | after (12 s later) |\n|---|---|---|\n\
         | {} MiB | {} MiB | {} MiB |\n\n\
         | `/health` during the flood | answered 200 | p50 | p99 | max | other status | no answer |\n\
         |---|---|---|---|---|---|---|\n\
         | | {} | {} ms | {} ms | {} ms | {failed} | {unanswered} |\n\n\
         Connections the kernel refused outright: {refused}. Past the cap the server closes the \
         oldest idle connection to make room, so a request that sends its headers is served \
         (docs/security.md, \"Resource limits\").\n\n",
        opened_in.as_secs_f64(),
        hold.as_secs(),
        mib(before),
        mib(peak),
        mib(after),
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    print!("{section}");
    common::update_docs("flood", &section);
}
