//! The desktop agent: tells the orchestrator what this machine has free (CPU, memory, GPU
//! memory) through heartbeats, so heavy work only goes where there is room.
//!
//! Capacity comes from the kernel's own files (`/proc/loadavg`, `/proc/meminfo`, and the DRM
//! sysfs tree for AMD GPUs), read through a configurable root so tests can point it at fixtures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use crate::bus::{Bus, Queue};
use crate::model::{AgentId, AgentType};
use crate::protocol::{Capacity, Envelope, Goodbye, Gpu, Heartbeat, Hello, Message, TaskResult};

#[derive(Debug, Clone)]
pub struct DesktopAgentConfig {
    pub id: AgentId,
    pub heartbeat_interval: Duration,
    /// Where `/proc` and `/sys` are read from: `/` on a real machine.
    pub system_root: PathBuf,
}

/// Runs until `shutdown` turns true.
pub async fn run(
    config: DesktopAgentConfig,
    bus: Bus,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let send = |message: Message, correlation: Option<String>| {
        let envelope = Envelope::new(config.id.as_str(), correlation, message);
        let bus = bus.clone();
        async move { bus.publish(&Queue::Events, envelope.encode()).await }
    };
    send(
        Message::Hello(Hello {
            agent_type: AgentType::Desktop,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            host: hostname(),
        }),
        None,
    )
    .await?;
    let mut work = bus.consume(&Queue::Work(AgentType::Desktop));
    loop {
        let beat = Heartbeat {
            agent_type: AgentType::Desktop,
            capacity: capacity_at(&config.system_root),
            ttl_s: config.heartbeat_interval.as_secs() * 3,
        };
        let envelope = Envelope::new(config.id.as_str(), None, Message::Heartbeat(beat));
        bus.publish_expiring(
            &Queue::Heartbeats,
            envelope.encode(),
            config.heartbeat_interval * 3,
        )
        .await?;
        tokio::select! {
            _ = tokio::time::sleep(config.heartbeat_interval) => {}
            _ = shutdown.changed() => break,
            Some(delivery) = work.next() => {
                // Desktop steps (GPU work) are not defined yet: refuse them clearly rather than drop them.
                let Ok(Envelope { message: Message::Dispatch(dispatch), .. }) = Envelope::decode(&delivery.body) else {
                    delivery.reject().await?;
                    continue;
                };
                let refusal = TaskResult::failed(
                    &dispatch.task_id,
                    format!("desktop agents do not run {:?} steps yet", dispatch.action),
                    Some(capacity_at(&config.system_root)),
                );
                send(Message::Result(refusal), Some(dispatch.task_id)).await?;
                delivery.ack().await?;
            }
        }
    }
    send(
        Message::Goodbye(Goodbye {
            reason: "shutting down".to_owned(),
        }),
        None,
    )
    .await
}

/// This machine's capacity right now.
pub fn probe_capacity() -> Capacity {
    capacity_at(Path::new("/"))
}

/// Capacity read from the kernel files under `root`. Missing files read as zero, never fail.
pub fn capacity_at(root: &Path) -> Capacity {
    let cores = std::fs::read_to_string(root.join("proc/cpuinfo"))
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count() as u32)
        .unwrap_or(0)
        .max(1);
    // Load average over cores: smooth, and a single read (no sampling interval to wait for).
    let load1: f64 = std::fs::read_to_string(root.join("proc/loadavg"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    let load_percent = (load1 / f64::from(cores) * 100.0).min(100.0);
    let meminfo = std::fs::read_to_string(root.join("proc/meminfo")).unwrap_or_default();
    let mem_kb = |key: &str| -> u64 {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Capacity {
        cpu_load_percent: (load_percent * 10.0).round() / 10.0,
        cpu_cores: cores,
        free_cpu_cores: ((f64::from(cores) * (1.0 - load_percent / 100.0)) * 10.0).round() / 10.0,
        memory_total_mb: mem_kb("MemTotal:") / 1024,
        memory_free_mb: mem_kb("MemAvailable:") / 1024,
        gpus: amd_gpus(root),
    }
}

/// AMD GPUs expose VRAM totals in sysfs; NVIDIA needs NVML (a later addition).
fn amd_gpus(root: &Path) -> Vec<Gpu> {
    let Ok(cards) = std::fs::read_dir(root.join("sys/class/drm")) else {
        return Vec::new();
    };
    let mut gpus: Vec<Gpu> = cards
        .flatten()
        .filter(|c| {
            let name = c.file_name();
            let name = name.to_string_lossy();
            name.starts_with("card") && !name.contains('-')
        })
        .filter_map(|card| {
            let device = card.path().join("device");
            let read = |file: &str| -> Option<u64> {
                std::fs::read_to_string(device.join(file))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            };
            let total = read("mem_info_vram_total")?;
            let used = read("mem_info_vram_used").unwrap_or(0);
            Some(Gpu {
                name: card.file_name().to_string_lossy().into_owned(),
                vram_total_mb: total / (1024 * 1024),
                vram_free_mb: total.saturating_sub(used) / (1024 * 1024),
            })
        })
        .collect();
    gpus.sort_by(|a, b| a.name.cmp(&b.name));
    gpus
}

/// The machine's host name, for agent registration.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_comes_from_kernel_files() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        std::fs::create_dir_all(p.join("proc")).unwrap();
        std::fs::write(
            p.join("proc/cpuinfo"),
            "processor\t: 0\nprocessor\t: 1\nprocessor\t: 2\nprocessor\t: 3\n",
        )
        .unwrap();
        std::fs::write(p.join("proc/loadavg"), "1.00 0.50 0.25 1/100 42\n").unwrap();
        std::fs::write(
            p.join("proc/meminfo"),
            "MemTotal:       16384000 kB\nMemAvailable:    8192000 kB\n",
        )
        .unwrap();
        let device = p.join("sys/class/drm/card0/device");
        std::fs::create_dir_all(&device).unwrap();
        std::fs::write(device.join("mem_info_vram_total"), "17179869184\n").unwrap();
        std::fs::write(device.join("mem_info_vram_used"), "4294967296\n").unwrap();
        std::fs::create_dir_all(p.join("sys/class/drm/card0-DP-1")).unwrap();
        let cap = capacity_at(p);
        assert_eq!(cap.cpu_cores, 4);
        assert_eq!(cap.cpu_load_percent, 25.0);
        assert_eq!(cap.free_cpu_cores, 3.0);
        assert_eq!(cap.memory_total_mb, 16000);
        assert_eq!(cap.memory_free_mb, 8000);
        assert_eq!(
            cap.gpus,
            vec![Gpu {
                name: "card0".into(),
                vram_total_mb: 16384,
                vram_free_mb: 12288
            }]
        );
    }
}
