//! `chiffon probe`: what a desktop agent on this machine would report, and where each figure
//! comes from. `ProbeArgs` is shared with `chiffon agent desktop`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Where capacity is read from: the real machine by default, recorded files for tests and
/// bug reports.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Read /proc and /sys under this directory instead of /.
    #[arg(long, env = "CHIFFON_SYSTEM_ROOT", default_value = "/")]
    system_root: PathBuf,
    /// Read NVIDIA GPUs from recorded data (nvml.json or nvidia-smi.csv) in this directory
    /// instead of NVML.
    #[arg(long, env = "CHIFFON_GPU_FIXTURE")]
    gpu_fixture: Option<PathBuf>,
}

impl ProbeArgs {
    pub fn config(&self) -> crate::agent::probe::ProbeConfig {
        crate::agent::probe::ProbeConfig {
            system_root: self.system_root.clone(),
            nvidia: match &self.gpu_fixture {
                Some(dir) => crate::agent::nvidia::NvidiaSource::Fixture(dir.clone()),
                None => crate::agent::nvidia::NvidiaSource::Auto,
            },
        }
    }
}

pub async fn run(probe: &ProbeArgs) -> anyhow::Result<ExitCode> {
    let mut probe = crate::agent::probe::Probe::new(probe.config());
    eprintln!("{}", probe.describe());
    let capacity = probe.sample().await;
    println!("{}", serde_json::to_string_pretty(&capacity)?);
    Ok(ExitCode::SUCCESS)
}
