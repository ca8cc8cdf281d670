//! NVIDIA GPUs, one by one: through NVML (`libnvidia-ml.so.1`, loaded at run time so the
//! binary starts and works on machines without the driver), else `nvidia-smi` with a timeout.
//!
//! Both sources, live or recorded, go through the same conversion: NVML answers become
//! [`NvmlDevice`] records (the NVML structs' fields, in bytes and percent), `nvidia-smi`
//! answers are its CSV text. A fixture directory holds `nvml.json` (a list of records) and/or
//! `nvidia-smi.csv`, so tests run the real parsing code on recorded data.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::protocol::Gpu;

/// How long `nvidia-smi` may take before its answer is given up.
const SMI_TIMEOUT: Duration = Duration::from_secs(3);
/// `nvidia-smi`'s query: one CSV line per GPU, sizes in MiB.
const SMI_QUERY: &str = "index,uuid,name,memory.total,memory.free,utilization.gpu";

/// Where NVIDIA GPU data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NvidiaSource {
    /// NVML if the library loads, else `nvidia-smi` if it is on PATH, else no NVIDIA GPUs.
    Auto,
    /// Recorded data: `nvml.json` and/or `nvidia-smi.csv` in this directory.
    Fixture(PathBuf),
    /// Do not look for NVIDIA GPUs.
    Off,
}

/// One device as NVML describes it: `nvmlDeviceGetName`, `nvmlDeviceGetUUID`,
/// `nvmlDeviceGetMemoryInfo_v2` (bytes) and `nvmlDeviceGetUtilizationRates` (percent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlDevice {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    pub memory: NvmlMemory,
    /// Absent when the device does not support the query.
    pub utilization: Option<NvmlUtilization>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlMemory {
    pub total: u64,
    pub free: u64,
    pub used: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmlUtilization {
    pub gpu: u32,
    pub memory: u32,
}

/// The NVIDIA half of the capacity probe.
#[derive(Debug)]
pub struct NvidiaProbe {
    source: NvidiaSource,
    nvml: Option<nvml_wrapper::Nvml>,
    /// Why NVML is not in use, for the start-up log line.
    nvml_unavailable: Option<String>,
    smi: Option<PathBuf>,
}

impl NvidiaProbe {
    pub fn new(source: NvidiaSource) -> Self {
        let mut probe = Self {
            source,
            nvml: None,
            nvml_unavailable: None,
            smi: None,
        };
        if probe.source == NvidiaSource::Auto {
            match nvml_wrapper::Nvml::init() {
                Ok(nvml) => probe.nvml = Some(nvml),
                Err(error) => {
                    probe.nvml_unavailable = Some(error.to_string());
                    probe.smi = crate::tools::find_on_path("nvidia-smi");
                }
            }
        }
        probe
    }

    /// Which source is in use, in words.
    pub fn describe(&self) -> String {
        match (&self.source, &self.nvml, &self.smi) {
            (NvidiaSource::Off, ..) => "NVIDIA: not probed".to_owned(),
            (NvidiaSource::Fixture(dir), ..) => {
                format!("NVIDIA: recorded data in {}", dir.display())
            }
            (NvidiaSource::Auto, Some(nvml), _) => format!(
                "NVIDIA: NVML {} (driver {})",
                nvml.sys_nvml_version().unwrap_or_else(|_| "?".into()),
                nvml.sys_driver_version().unwrap_or_else(|_| "?".into())
            ),
            (NvidiaSource::Auto, None, Some(smi)) => format!(
                "NVIDIA: {} (NVML unavailable: {})",
                smi.display(),
                self.nvml_unavailable.as_deref().unwrap_or("?")
            ),
            (NvidiaSource::Auto, None, None) => format!(
                "NVIDIA: none (NVML unavailable: {}; no nvidia-smi on PATH)",
                self.nvml_unavailable.as_deref().unwrap_or("?")
            ),
        }
    }

    /// Every NVIDIA GPU now. A failing source logs and reports no GPUs: a GPU that cannot be
    /// read must not look free.
    pub async fn gpus(&self) -> Vec<Gpu> {
        match &self.source {
            NvidiaSource::Off => Vec::new(),
            NvidiaSource::Fixture(dir) => {
                if let Ok(json) = std::fs::read_to_string(dir.join("nvml.json")) {
                    match serde_json::from_str::<Vec<NvmlDevice>>(&json) {
                        Ok(devices) => devices.iter().map(gpu_from_nvml).collect(),
                        Err(error) => {
                            tracing::warn!("{}/nvml.json is not NVML data: {error}", dir.display());
                            Vec::new()
                        }
                    }
                } else {
                    let csv =
                        std::fs::read_to_string(dir.join("nvidia-smi.csv")).unwrap_or_default();
                    parse_smi(&csv)
                }
            }
            NvidiaSource::Auto => {
                if let Some(nvml) = &self.nvml {
                    match read_nvml(nvml) {
                        Ok(devices) => return devices.iter().map(gpu_from_nvml).collect(),
                        Err(error) => tracing::warn!("NVML query failed: {error}"),
                    }
                }
                match &self.smi {
                    Some(smi) => {
                        match crate::tools::nvidia::run_smi(smi, SMI_QUERY, SMI_TIMEOUT).await {
                            Ok(csv) => parse_smi(&csv),
                            Err(error) => {
                                tracing::warn!("nvidia-smi gave no answer: {error:#}");
                                Vec::new()
                            }
                        }
                    }
                    None => Vec::new(),
                }
            }
        }
    }
}

/// Asks NVML for every device. The whole answer or an error: a half-read GPU list would make
/// the missing GPUs look gone.
pub fn read_nvml(
    nvml: &nvml_wrapper::Nvml,
) -> Result<Vec<NvmlDevice>, nvml_wrapper::error::NvmlError> {
    let count = nvml.device_count()?;
    (0..count)
        .map(|index| {
            let device = nvml.device_by_index(index)?;
            let memory = device.memory_info()?;
            Ok(NvmlDevice {
                index,
                name: device.name()?,
                uuid: device.uuid()?,
                memory: NvmlMemory {
                    total: memory.total,
                    free: memory.free,
                    used: memory.used,
                },
                utilization: device.utilization_rates().ok().map(|u| NvmlUtilization {
                    gpu: u.gpu,
                    memory: u.memory,
                }),
            })
        })
        .collect()
}

/// NVML's record as the protocol reports a GPU.
pub fn gpu_from_nvml(device: &NvmlDevice) -> Gpu {
    const MIB: u64 = 1024 * 1024;
    Gpu {
        index: device.index,
        vendor: "nvidia".to_owned(),
        name: device.name.clone(),
        uuid: Some(device.uuid.clone()).filter(|u| !u.is_empty()),
        vram_total_mb: device.memory.total / MIB,
        vram_free_mb: device.memory.free.min(device.memory.total) / MIB,
        utilization_percent: device.utilization.map(|u| f64::from(u.gpu)),
        source: "nvml".to_owned(),
    }
}

/// `nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.free,utilization.gpu
/// --format=csv,noheader,nounits`: sizes in MiB; `[N/A]` or `[Not Supported]` where a value is
/// unknown. Lines that do not parse are skipped (and logged), never guessed at.
pub fn parse_smi(csv: &str) -> Vec<Gpu> {
    csv.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let parsed = (|| {
                let [index, uuid, name, total, free, util] = fields.as_slice() else {
                    return None;
                };
                Some(Gpu {
                    index: index.parse().ok()?,
                    vendor: "nvidia".to_owned(),
                    name: (*name).to_owned(),
                    uuid: Some((*uuid).to_owned()).filter(|u| u.starts_with("GPU-")),
                    vram_total_mb: total.parse().ok()?,
                    vram_free_mb: free.parse().ok()?,
                    utilization_percent: util.parse().ok(),
                    source: "nvidia-smi".to_owned(),
                })
            })();
            if parsed.is_none() {
                tracing::warn!("could not read an nvidia-smi line: {line:?}");
            }
            parsed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from `nvmlDeviceGetMemoryInfo_v2` / `nvmlDeviceGetUtilizationRates` shapes.
    const NVML: &str = r#"[
      {"index": 0, "name": "NVIDIA GeForce RTX 3090", "uuid": "GPU-5f1c7a7e-2c1d-4d59-9d0e-5b1f6c0a1e11",
       "memory": {"total": 25769803776, "free": 21474836480, "used": 4294967296},
       "utilization": {"gpu": 12, "memory": 4}},
      {"index": 1, "name": "NVIDIA GeForce RTX 3060", "uuid": "GPU-0b2e9a44-77aa-4e0c-8f3e-3c1d2e4f5a66",
       "memory": {"total": 12884901888, "free": 1073741824, "used": 11811160064},
       "utilization": null}
    ]"#;

    #[tokio::test]
    async fn recorded_nvml_data_reports_each_gpu_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nvml.json"), NVML).unwrap();
        let probe = NvidiaProbe::new(NvidiaSource::Fixture(dir.path().to_owned()));
        let gpus = probe.gpus().await;
        assert_eq!(gpus.len(), 2, "never summed");
        assert_eq!(gpus[0].name, "NVIDIA GeForce RTX 3090");
        assert_eq!(
            (gpus[0].vram_total_mb, gpus[0].vram_free_mb),
            (24576, 20480)
        );
        assert_eq!(gpus[0].utilization_percent, Some(12.0));
        assert_eq!(gpus[0].source, "nvml");
        assert_eq!((gpus[1].index, gpus[1].vram_free_mb), (1, 1024));
        assert_eq!(gpus[1].utilization_percent, None);
    }

    #[test]
    fn nvidia_smi_csv_is_read_and_bad_lines_are_skipped() {
        let csv = "0, GPU-5f1c7a7e-2c1d-4d59-9d0e-5b1f6c0a1e11, NVIDIA GeForce RTX 3090, 24576, 20480, 12\n\
                   1, GPU-0b2e9a44-77aa-4e0c-8f3e-3c1d2e4f5a66, NVIDIA GeForce RTX 3060, 12288, 1024, [N/A]\n\
                   garbage line\n";
        let gpus = parse_smi(csv);
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].vram_free_mb, 20480);
        assert_eq!(gpus[1].utilization_percent, None);
        assert_eq!(gpus[1].source, "nvidia-smi");
    }

    #[test]
    fn a_real_nvidia_smi_answer_reads_like_nvml() {
        // Recorded on an NVIDIA H200 (driver 580.159.04); NVML said 143771 MiB total and
        // 143155 MiB free in the same minute.
        let gpus = parse_smi(
            "0, GPU-7b2c127e-1725-dfdf-5032-78bcb2ffa37d, NVIDIA H200, 143771, 143156, 0\n",
        );
        assert_eq!(gpus.len(), 1);
        assert_eq!(gpus[0].name, "NVIDIA H200");
        assert_eq!(gpus[0].vram_total_mb, 143771);
        assert_eq!(gpus[0].vram_free_mb, 143156);
        assert_eq!(
            gpus[0].uuid.as_deref(),
            Some("GPU-7b2c127e-1725-dfdf-5032-78bcb2ffa37d")
        );
    }

    #[tokio::test]
    async fn a_hung_nvidia_smi_is_stopped_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let smi = dir.path().join("nvidia-smi");
        std::fs::write(&smi, "#!/bin/sh\nexec sleep 30\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&smi, std::fs::Permissions::from_mode(0o755)).unwrap();
        let started = std::time::Instant::now();
        let error = crate::tools::nvidia::run_smi(&smi, SMI_QUERY, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(error.to_string().contains("no answer"), "{error:#}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn without_the_nvidia_library_the_probe_still_works() {
        // This machine has no NVIDIA driver: NVML fails to load and the probe says why.
        let probe = NvidiaProbe::new(NvidiaSource::Auto);
        if probe.nvml.is_none() {
            assert!(
                probe.describe().contains("NVML unavailable"),
                "{}",
                probe.describe()
            );
        }
        let _ = probe.gpus().await;
    }
}
