//! The `git` command, for what `gix` does not do for Chiffon: pushing and bundling the audit
//! trail, and reverting a commit of the playbook repository as a new commit (`git revert`).

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

/// Runs `git -C repo` with `args` (no shell, stdin closed, no prompt), as Chiffon for any
/// commit it makes (never signed, no hooks asked for), and returns its exit code, stdout and
/// stderr: for the commands whose non-zero exit is an answer, not a failure.
fn in_repo(repo: &Path, args: &[&str], what: &str) -> anyhow::Result<(i32, String, String)> {
    let git = crate::tools::find_on_path("git")
        .with_context(|| format!("`git` is not installed; install git to {what}"))?;
    let output = std::process::Command::new(git)
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=Chiffon",
            "-c",
            "user.email=chiffon@localhost",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run git to {what}"))?;
    Ok((
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        crate::redact::text(String::from_utf8_lossy(&output.stderr).trim()).into_owned(),
    ))
}

/// Like `in_repo`, for a command that must succeed; returns its stdout.
fn in_repo_ok(repo: &Path, args: &[&str], what: &str) -> anyhow::Result<String> {
    let (code, out, err) = in_repo(repo, args, what)?;
    anyhow::ensure!(code == 0, "git could not {what}: {err}");
    Ok(out)
}

/// A commit of the playbook repository, as `revert_commit` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The full id.
    pub id: String,
    pub subject: String,
    /// The whole message.
    pub message: String,
    /// The files it changed.
    pub files: Vec<String>,
    /// Whether the current `HEAD` contains it.
    pub on_head: bool,
    /// The commit that already reverts it on `HEAD` ("This reverts commit <id>."), if any.
    pub reverted_by: Option<String>,
}

/// Looks `commit` (a full or abbreviated id, hex only) up in the repository at `repo`; `None`
/// when there is no such commit.
pub fn commit_info(repo: &Path, commit: &str) -> anyhow::Result<Option<CommitInfo>> {
    anyhow::ensure!(
        (4..=64).contains(&commit.len()) && commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{commit:?} is not a commit id (4 to 64 hex digits)"
    );
    let what = "read the playbook repository's history";
    let spec = format!("{commit}^{{commit}}");
    let (code, id, _) = in_repo(repo, &["rev-parse", "--verify", "--quiet", &spec], what)?;
    if code != 0 || id.is_empty() {
        return Ok(None);
    }
    let message = in_repo_ok(repo, &["log", "-1", "--format=%B", &id], what)?;
    let files = in_repo_ok(
        repo,
        &["diff-tree", "--no-commit-id", "--name-only", "-r", &id],
        what,
    )?;
    let (code, _, _) = in_repo(repo, &["merge-base", "--is-ancestor", &id, "HEAD"], what)?;
    let grep = format!("--grep=This reverts commit {id}.");
    let reverted_by = in_repo_ok(repo, &["log", "-F", &grep, "--format=%H", "HEAD"], what)?;
    Ok(Some(CommitInfo {
        subject: message.lines().next().unwrap_or_default().to_owned(),
        message,
        files: files.lines().map(str::to_owned).collect(),
        on_head: code == 0,
        reverted_by: reverted_by.lines().next().map(str::to_owned),
        id,
    }))
}

/// The files where undoing commit `id` on top of `HEAD` clashes with a later change (a
/// three-way merge of `HEAD` and `id`'s parent, based on `id`, as `git revert` does); empty
/// when it applies cleanly. Touches neither the working tree nor the index.
pub fn revert_conflicts(repo: &Path, id: &str) -> anyhow::Result<Vec<String>> {
    let base = format!("--merge-base={id}");
    let parent = format!("{id}^");
    let args = [
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        &base,
        "HEAD",
        &parent,
    ];
    let (code, out, err) = in_repo(repo, &args, "check whether the revert applies")?;
    match code {
        0 => Ok(Vec::new()),
        // The first line is the merged tree; the conflicted files follow.
        1 => Ok(out.lines().skip(1).map(str::to_owned).collect()),
        _ => anyhow::bail!("git could not check whether the revert applies: {err}"),
    }
}

/// The change that reverting commit `id` makes, as a unified diff (for the preview).
pub fn revert_diff(repo: &Path, id: &str) -> anyhow::Result<String> {
    let parent = format!("{id}^");
    in_repo_ok(repo, &["diff", id, &parent], "show the revert's change")
}

/// Reverts commit `id` as a new commit on `HEAD` with `message` (history is never
/// rewritten), authored by Chiffon; returns the new commit. Refused, and the repository left
/// as it was, when the index holds staged changes or the revert does not apply cleanly.
pub fn revert(repo: &Path, id: &str, message: &str) -> anyhow::Result<String> {
    let what = "revert the commit";
    let (staged, _, _) = in_repo(repo, &["diff", "--cached", "--quiet"], what)?;
    anyhow::ensure!(
        staged == 0,
        "the playbook repository has staged changes; commit or unstage them first"
    );
    let (code, _, err) = in_repo(repo, &["revert", "--no-commit", id], what)?;
    if code != 0 {
        // Puts the index and files back as they were; nothing to abort when git refused
        // before starting (local changes in the same files).
        let _ = in_repo(repo, &["revert", "--abort"], what);
        anyhow::bail!("git could not revert {id}: {err}");
    }
    let (code, _, err) = in_repo(repo, &["commit", "--quiet", "-m", message], what)?;
    if code != 0 {
        let _ = in_repo(repo, &["revert", "--abort"], what);
        anyhow::bail!("git could not commit the revert of {id}: {err}");
    }
    in_repo_ok(repo, &["rev-parse", "HEAD"], what)
}
