//! The `git` command, for what `gix` does not do for Chiffon: pushing the audit trail.

use std::path::Path;

use anyhow::Context;

/// Pushes `HEAD` of the repository at `repo` to `branch` on `remote` (a URL or a configured
/// remote name), fast-forward only: a remote whose history differs refuses the push.
pub fn push(repo: &Path, remote: &str, branch: &str) -> anyhow::Result<()> {
    let git = crate::tools::find_on_path("git")
        .context("`git` is not installed; install git to push the audit trail")?;
    let output = std::process::Command::new(git)
        .arg("-C")
        .arg(repo)
        .args(["push", "--quiet", remote])
        .arg(format!("HEAD:refs/heads/{branch}"))
        .stdin(std::process::Stdio::null())
        .output()
        .context("cannot run git push")?;
    anyhow::ensure!(
        output.status.success(),
        "git push to {} failed: {}",
        crate::redact::text(remote),
        crate::redact::text(String::from_utf8_lossy(&output.stderr).trim())
    );
    Ok(())
}
