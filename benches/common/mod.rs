//! What the benchmarks share: writing their section of docs/benchmarks.md, reading a process's
//! CPU time and memory from /proc, and a realistic heartbeat body.
//!
//! Each benchmark is its own binary and uses a part of this module.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

use std::path::Path;

use chiffon::model::AgentType;
use chiffon::protocol::{Capacity, Envelope, Gpu, Heartbeat, Message};

/// Replaces the `name` section of docs/benchmarks.md (between `<!-- name:begin -->` and
/// `<!-- name:end -->`), or appends it.
pub fn update_docs(name: &str, section: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let (begin, end) = (
        format!("<!-- {name}:begin -->"),
        format!("<!-- {name}:end -->"),
    );
    let block = format!("{begin}\n{section}{end}");
    let updated = match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) => format!("{}{block}{}", &text[..b], &text[e + end.len()..]),
        _ => format!("{}\n\n{block}\n", text.trim_end()),
    };
    std::fs::write(&path, updated).expect("write docs/benchmarks.md");
}

/// utime + stime of a process (`"self"` or a pid), in clock ticks (100 per second).
pub fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after `state`.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Resident memory of a process (`"self"` or a pid), in KiB.
pub fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A desktop agent's heartbeat with one GPU, encoded as agents send it.
pub fn heartbeat(id: &str, seq: u64) -> Vec<u8> {
    let beat = Heartbeat {
        agent_type: AgentType::Desktop,
        capacity: Capacity {
            cpu_load_percent: 12.0,
            load_average_1m: 0.9,
            cpu_cores: 8,
            free_cpu_cores: 7.0,
            memory_total_mb: 32000,
            memory_free_mb: 20000,
            gpus: vec![Gpu {
                index: 0,
                vendor: "nvidia".into(),
                name: "NVIDIA GeForce RTX 3060".into(),
                uuid: Some("GPU-0b2e9a44-77aa-4e0c-8f3e-3c1d2e4f5a66".into()),
                vram_total_mb: 12288,
                vram_free_mb: 9000,
                utilization_percent: Some(5.0),
                source: "nvml".into(),
            }],
        },
        ttl_s: 75,
        seq,
        boot_id: "0190f39e11aa7b3c8d4e5f6a7b8c9d0e".into(),
        interval_s: 30,
        running_tasks: Vec::new(),
    };
    Envelope::new(id, None, Message::Heartbeat(beat)).encode()
}
