//! `nvidia-smi`, the fallback when NVML cannot be loaded: one CSV query with a time limit.

use std::path::Path;
use std::time::Duration;

/// Runs `nvidia-smi`, killing it if it has not answered within `timeout` (a wedged driver
/// makes it hang, and the heartbeat must not hang with it).
pub async fn run_smi(smi: &Path, query: &str, timeout: Duration) -> anyhow::Result<String> {
    let child = tokio::process::Command::new(smi)
        .arg(format!("--query-gpu={query}"))
        .arg("--format=csv,noheader,nounits")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} s; stopped it", timeout.as_secs()))??;
    if !output.status.success() {
        anyhow::bail!(
            "{} exited with {}: {}",
            smi.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
