//! Every external program Chiffon starts goes through this module: `ansible-playbook` (runs,
//! syntax checks), `ansible-lint`, `python3`/`pip` (the one-time ansible-core install), `git`
//! (pushing the audit trail) and `nvidia-smi`. Nothing else in the crate spawns a process (the
//! tidy test checks it), so the rules below hold everywhere:
//! - no shell: a program and an argument list;
//! - a clean environment: what the caller lists, nothing inherited by accident (secrets in the
//!   server's environment stay out of children);
//! - its own process group, so stopping it stops everything it started (SIGTERM, then SIGKILL);
//! - killed when its handle is dropped, and a time limit where a caller waits for it.

pub mod ansible;
pub mod git;
pub mod nvidia;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;

/// A long-running program to start: `ansible-playbook` for a run.
#[derive(Debug, Clone)]
pub struct Program {
    pub bin: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// The whole environment of the child.
    pub env: Vec<(String, String)>,
}

/// Starts `program` with stdin closed and stdout/stderr piped, in its own process group,
/// killed when the returned child is dropped.
pub fn start(program: &Program) -> anyhow::Result<tokio::process::Child> {
    tokio::process::Command::new(&program.bin)
        .args(&program.args)
        .current_dir(&program.cwd)
        .env_clear()
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", program.bin.display()))
}

/// `name` in one of PATH's directories.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// SIGTERM to the whole process group, then SIGKILL if it is still there after the grace time.
pub fn terminate_group(pid: Option<rustix::process::Pid>, grace: Duration) {
    let Some(pid) = pid else { return };
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    });
}
