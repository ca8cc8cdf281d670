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

/// Runs `git` with `args` (no shell, stdin closed) and returns its stdout; a failure names
/// what was being done and git's own words.
fn run(args: &[&std::ffi::OsStr], what: &str) -> anyhow::Result<String> {
    let git = crate::tools::find_on_path("git")
        .with_context(|| format!("`git` is not installed; install git to {what}"))?;
    let output = std::process::Command::new(git)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run git to {what}"))?;
    anyhow::ensure!(
        output.status.success(),
        "git could not {what}: {}",
        crate::redact::text(String::from_utf8_lossy(&output.stderr).trim())
    );
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Writes every ref of the repository at `repo` and the objects they reach into the bundle
/// file `out` (`git bundle create --all`): one file that `git clone` reads back.
pub fn bundle_create(repo: &Path, out: &Path) -> anyhow::Result<()> {
    run(
        &[
            "-C".as_ref(),
            repo.as_os_str(),
            "bundle".as_ref(),
            "create".as_ref(),
            "--quiet".as_ref(),
            out.as_os_str(),
            "--all".as_ref(),
        ],
        "bundle the audit repository",
    )?;
    Ok(())
}

/// Makes the bare repository `dest` from the bundle file `bundle`, with no remote pointing
/// back at the bundle, and moves its current branch back to `commit` when given (commits
/// after it are dropped from the branch).
pub fn clone_bundle(bundle: &Path, dest: &Path, commit: Option<&str>) -> anyhow::Result<()> {
    let what = "restore the audit repository from its bundle";
    run(
        &[
            "clone".as_ref(),
            "--bare".as_ref(),
            "--quiet".as_ref(),
            bundle.as_os_str(),
            dest.as_os_str(),
        ],
        what,
    )?;
    let in_dest = |args: &[&str]| {
        let mut all: Vec<&std::ffi::OsStr> = vec!["-C".as_ref(), dest.as_os_str()];
        all.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
        run(&all, what)
    };
    in_dest(&["remote", "remove", "origin"])?;
    if let Some(commit) = commit {
        anyhow::ensure!(
            commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()),
            "the backup names a malformed audit commit {commit:?}"
        );
        let branch = in_dest(&["symbolic-ref", "HEAD"])?;
        in_dest(&["update-ref", &branch, commit])?;
    }
    Ok(())
}

/// Whether `dir` is inside a git working tree (`git rev-parse --is-inside-work-tree`).
pub fn is_work_tree(dir: &Path) -> anyhow::Result<bool> {
    let answer = run(
        &[
            "-C".as_ref(),
            dir.as_os_str(),
            "rev-parse".as_ref(),
            "--is-inside-work-tree".as_ref(),
        ],
        "inspect the playbook repository",
    );
    match answer {
        Ok(text) => Ok(text == "true"),
        Err(error) if error.to_string().contains("not a git repository") => Ok(false),
        Err(error) => Err(error),
    }
}
