//! What a machine has free right now: CPU (busy share from `/proc/stat` over the interval
//! since the last sample, plus `/proc/loadavg`), memory (`/proc/meminfo`) and every GPU one by
//! one (NVIDIA through [`super::nvidia`], AMD through the kernel's DRM sysfs files).
//!
//! Invariant: every source is read through a configurable root or fixture directory, so tests
//! run the same parsing code on recorded files; a missing or unreadable source reads as
//! "nothing there", never as an error that stops heartbeats.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::nvidia::{NvidiaProbe, NvidiaSource};
use crate::protocol::{Capacity, Gpu};

/// Where the probe reads from.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Where `/proc` and `/sys` are read from: `/` on a real machine.
    pub system_root: PathBuf,
    pub nvidia: NvidiaSource,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            system_root: PathBuf::from("/"),
            nvidia: NvidiaSource::Auto,
        }
    }
}

/// CPU time counters from the first line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

/// A capacity probe. Keeps the previous CPU sample so the busy share covers the time between
/// two heartbeats, and the NVIDIA library loaded once.
#[derive(Debug)]
pub struct Probe {
    root: PathBuf,
    nvidia: NvidiaProbe,
    last_cpu: Option<CpuTimes>,
}

/// How long the very first CPU sample looks at the counters when there is no earlier one.
const FIRST_SAMPLE: Duration = Duration::from_millis(250);

impl Probe {
    pub fn new(config: ProbeConfig) -> Self {
        Self {
            nvidia: NvidiaProbe::new(config.nvidia),
            root: config.system_root,
            last_cpu: None,
        }
    }

    /// Which GPU sources answered, for the agent's start-up log line.
    pub fn describe(&self) -> String {
        self.nvidia.describe()
    }

    /// A full sample: CPU, memory and GPUs.
    pub async fn sample(&mut self) -> Capacity {
        let cores = cpu_cores(&self.root);
        let mut now = read_cpu_times(&self.root);
        if self.last_cpu.is_none() && now.is_some() {
            self.last_cpu = now;
            tokio::time::sleep(FIRST_SAMPLE).await;
            now = read_cpu_times(&self.root);
        }
        let busy_share = match (self.last_cpu, now) {
            (Some(before), Some(after)) if after.total > before.total => {
                (after.busy.saturating_sub(before.busy)) as f64
                    / (after.total - before.total) as f64
            }
            // No progress in the counters (a fixture, or two reads in the same tick): fall
            // back to the load average, which is a single read.
            _ => (load_average(&self.root) / f64::from(cores)).min(1.0),
        };
        self.last_cpu = now.or(self.last_cpu);
        let busy_share = busy_share.clamp(0.0, 1.0);
        let meminfo = std::fs::read_to_string(self.root.join("proc/meminfo")).unwrap_or_default();
        Capacity {
            cpu_load_percent: round1(busy_share * 100.0),
            load_average_1m: load_average(&self.root),
            cpu_cores: cores,
            free_cpu_cores: round1(f64::from(cores) * (1.0 - busy_share)),
            memory_total_mb: meminfo_kb(&meminfo, "MemTotal:") / 1024,
            memory_free_mb: meminfo_kb(&meminfo, "MemAvailable:") / 1024,
            gpus: self.gpus().await,
        }
    }

    /// Only the GPUs: cheap enough to check every few seconds for a VRAM change.
    pub async fn gpus(&mut self) -> Vec<Gpu> {
        let mut gpus = self.nvidia.gpus().await;
        gpus.extend(amd_gpus(&self.root));
        gpus
    }
}

/// The capacity `root` describes, in one call (tests, `chiffon probe`).
pub async fn capacity_at(root: &Path) -> Capacity {
    Probe::new(ProbeConfig {
        system_root: root.to_owned(),
        nvidia: NvidiaSource::Off,
    })
    .sample()
    .await
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn cpu_cores(root: &Path) -> u32 {
    std::fs::read_to_string(root.join("proc/cpuinfo"))
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count() as u32)
        .unwrap_or(0)
        .max(1)
}

fn load_average(root: &Path) -> f64 {
    std::fs::read_to_string(root.join("proc/loadavg"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`: idle and iowait
/// are the idle time; guest time is already inside user and nice.
fn read_cpu_times(root: &Path) -> Option<CpuTimes> {
    let stat = std::fs::read_to_string(root.join("proc/stat")).ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    if fields.len() < 4 {
        return None;
    }
    let total: u64 = fields.iter().sum();
    let idle = fields[3] + fields.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

fn meminfo_kb(meminfo: &str, key: &str) -> u64 {
    meminfo
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// AMD GPUs: `/sys/class/drm/cardN/device/mem_info_vram_{total,used}` (bytes) and
/// `gpu_busy_percent`. Connector entries (`card0-DP-1`) are skipped.
fn amd_gpus(root: &Path) -> Vec<Gpu> {
    let Ok(cards) = std::fs::read_dir(root.join("sys/class/drm")) else {
        return Vec::new();
    };
    let mut cards: Vec<(u32, PathBuf)> = cards
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let index = name.strip_prefix("card")?.parse().ok()?;
            Some((index, entry.path()))
        })
        .collect();
    cards.sort();
    cards
        .into_iter()
        .filter_map(|(index, card)| {
            let device = card.join("device");
            let read = |file: &str| -> Option<String> {
                Some(
                    std::fs::read_to_string(device.join(file))
                        .ok()?
                        .trim()
                        .to_owned(),
                )
            };
            let number = |file: &str| -> Option<u64> { read(file)?.parse().ok() };
            let total = number("mem_info_vram_total")?;
            let used = number("mem_info_vram_used").unwrap_or(0);
            let name = read("product_name")
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("AMD GPU card{index}"));
            Some(Gpu {
                index,
                vendor: "amd".to_owned(),
                name,
                uuid: read("unique_id").filter(|u| !u.is_empty()),
                vram_total_mb: total / (1024 * 1024),
                vram_free_mb: total.saturating_sub(used) / (1024 * 1024),
                utilization_percent: number("gpu_busy_percent").map(|p| p as f64),
                source: "sysfs".to_owned(),
            })
        })
        .collect()
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

    fn write(root: &Path, file: &str, text: &str) {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn machine(root: &Path) {
        write(
            root,
            "proc/cpuinfo",
            "processor\t: 0\nprocessor\t: 1\nprocessor\t: 2\nprocessor\t: 3\n",
        );
        write(root, "proc/loadavg", "1.00 0.50 0.25 1/100 42\n");
        write(
            root,
            "proc/meminfo",
            "MemTotal:       16384000 kB\nMemFree:  100 kB\nMemAvailable:    8192000 kB\n",
        );
    }

    #[tokio::test]
    async fn memory_cores_and_amd_gpus_come_from_kernel_files() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        machine(p);
        write(
            p,
            "sys/class/drm/card1/device/mem_info_vram_total",
            "17179869184\n",
        );
        write(
            p,
            "sys/class/drm/card1/device/mem_info_vram_used",
            "4294967296\n",
        );
        write(p, "sys/class/drm/card1/device/gpu_busy_percent", "37\n");
        write(
            p,
            "sys/class/drm/card1/device/product_name",
            "Radeon RX 7800 XT\n",
        );
        // A connector and an integrated GPU without VRAM files are not GPUs to report.
        write(p, "sys/class/drm/card1-DP-1/status", "connected\n");
        write(p, "sys/class/drm/card0/device/vendor", "0x8086\n");
        let cap = capacity_at(p).await;
        assert_eq!(cap.cpu_cores, 4);
        // No /proc/stat: the load average stands in (1.0 over 4 cores).
        assert_eq!(cap.cpu_load_percent, 25.0);
        assert_eq!(cap.load_average_1m, 1.0);
        assert_eq!(cap.free_cpu_cores, 3.0);
        assert_eq!(cap.memory_total_mb, 16000);
        assert_eq!(cap.memory_free_mb, 8000);
        assert_eq!(
            cap.gpus,
            vec![Gpu {
                index: 1,
                vendor: "amd".into(),
                name: "Radeon RX 7800 XT".into(),
                uuid: None,
                vram_total_mb: 16384,
                vram_free_mb: 12288,
                utilization_percent: Some(37.0),
                source: "sysfs".into(),
            }]
        );
    }

    #[tokio::test]
    async fn cpu_busy_share_is_measured_between_two_samples() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        machine(p);
        write(
            p,
            "proc/stat",
            "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n",
        );
        let mut probe = Probe::new(ProbeConfig {
            system_root: p.to_owned(),
            nvidia: NvidiaSource::Off,
        });
        // The first sample has nothing to compare with and the counters do not move in a
        // fixture: it falls back to the load average.
        assert_eq!(probe.sample().await.cpu_load_percent, 25.0);
        // 300 more busy ticks out of 400: 75 % busy, one core free of four.
        write(p, "proc/stat", "cpu  250 0 250 900 0 0 0 0 0 0\n");
        let cap = probe.sample().await;
        assert_eq!(cap.cpu_load_percent, 75.0);
        assert_eq!(cap.free_cpu_cores, 1.0);
        // iowait counts as idle.
        write(p, "proc/stat", "cpu  250 0 250 900 400 0 0 0 0 0\n");
        assert_eq!(probe.sample().await.cpu_load_percent, 0.0);
    }

    #[tokio::test]
    async fn the_real_machine_reads_without_fixtures() {
        let cap = Probe::new(ProbeConfig::default()).sample().await;
        assert!(cap.cpu_cores >= 1);
        assert!(cap.memory_total_mb > 0, "{cap:?}");
        assert!((0.0..=100.0).contains(&cap.cpu_load_percent));
    }
}
