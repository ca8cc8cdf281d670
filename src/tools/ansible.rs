//! The Ansible tools Chiffon starts besides a playbook run: `ansible-playbook --syntax-check`,
//! `ansible-lint`, and the one-time install of ansible-core into a venv in the data dir.
//!
//! Each runs from an argument list with a clean environment (its own venv and the system on
//! PATH, a scratch HOME), in its own process group, with a time limit, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// An Ansible tool run in `repo` with a clean environment (its own venv and the system on PATH,
/// a scratch HOME), output captured, in its own process group, killed when dropped.
fn tool_command(bin: &Path, repo: &Path, scratch: &Path) -> Command {
    tool_command_via(None, bin, repo, scratch)
}

/// [`tool_command`], started through `launcher` (`nice -n 10`) when given.
fn tool_command_via(
    launcher: Option<(&Path, &[&str])>,
    bin: &Path,
    repo: &Path,
    scratch: &Path,
) -> Command {
    let mut command = match launcher {
        Some((launcher, args)) => {
            let mut command = Command::new(launcher);
            command.args(args).arg(bin);
            command
        }
        None => Command::new(bin),
    };
    command
        .current_dir(repo)
        .env_clear()
        .env(
            "PATH",
            bin.parent().map_or_else(
                || "/usr/bin:/bin".to_owned(),
                |dir| format!("{}:/usr/bin:/bin", dir.display()),
            ),
        )
        .env("HOME", scratch)
        .env("LANG", "C.UTF-8")
        .env("ANSIBLE_LOCAL_TEMP", scratch)
        .env("ANSIBLE_NOCOLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// `ansible-playbook --syntax-check` over `playbooks` (relative to `repo`): `Ok(Err(output))`
/// when Ansible refuses them, `Err` when it could not be run at all.
pub async fn syntax_check(
    ansible_playbook: &Path,
    repo: &Path,
    playbooks: &[String],
) -> anyhow::Result<Result<(), String>> {
    if playbooks.is_empty() {
        return Ok(Ok(()));
    }
    let scratch = tempfile::tempdir()?;
    let mut command = tool_command(ansible_playbook, repo, scratch.path());
    command.arg("--syntax-check").args(playbooks);
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", ansible_playbook.display()))?;
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("the syntax check took longer than 120 s; stopped it"))??;
    if output.status.success() {
        return Ok(Ok(()));
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(Err(crate::redact::text(text.trim())
        .chars()
        .take(2000)
        .collect()))
}

/// One finding of `ansible-lint -f json` (its Code Climate format).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LintFinding {
    pub check: String,
    /// Relative to the repository, as ansible-lint prints it.
    pub file: String,
    pub line: usize,
    /// `info`, `minor`, `major`, `critical` or `blocker`.
    pub severity: String,
    pub message: String,
}

/// The `ansible-playbook` Chiffon runs, found the same way wherever it is needed (the agents'
/// runs, the syntax check of an applied suggestion): the configured path, else the venv in
/// the data dir (where Chiffon installs ansible-core on first start), else on PATH. `None`
/// when none of these has one (or the configured file is missing: the agent refuses that).
pub fn locate_ansible_playbook(configured: Option<&Path>, data_dir: &Path) -> Option<PathBuf> {
    if let Some(path) = configured {
        return path.is_file().then(|| path.to_owned());
    }
    let in_venv = data_dir.join("ansible-venv/bin/ansible-playbook");
    if in_venv.is_file() {
        return Some(in_venv);
    }
    crate::tools::find_on_path("ansible-playbook")
}

/// `ansible-lint` next to `ansible_playbook` (the same venv), else on PATH.
pub fn find_ansible_lint(ansible_playbook: Option<&Path>) -> Option<PathBuf> {
    ansible_playbook
        .and_then(Path::parent)
        .map(|dir| dir.join("ansible-lint"))
        .filter(|p| p.is_file())
        .or_else(|| crate::tools::find_on_path("ansible-lint"))
}

/// How long ansible-lint may take over a repository before it is stopped.
const LINT_TIMEOUT: Duration = Duration::from_secs(180);

/// Why ansible-lint gave no findings.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("ansible-lint took longer than {0} s; stopped it")]
    TimedOut(u64),
    #[error("ansible-lint failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Runs `ansible-lint -f json --offline` over `repo` (argument list, clean environment,
/// stopped after 3 minutes). ansible-lint exits 2 when it finds something; that is a result,
/// not a failure.
pub async fn ansible_lint(lint: &Path, repo: &Path) -> anyhow::Result<Vec<LintFinding>> {
    ansible_lint_within(lint, repo, LINT_TIMEOUT)
        .await
        .map_err(anyhow::Error::from)
}

/// [`ansible_lint`] with its own time limit, telling a timeout and a failure apart.
pub async fn ansible_lint_within(
    lint: &Path,
    repo: &Path,
    limit: Duration,
) -> Result<Vec<LintFinding>, LintError> {
    let scratch = tempfile::tempdir().map_err(anyhow::Error::from)?;
    // Background help: at a low priority, so that it never slows a playbook run or the API
    // (it takes every core it can for minutes on a large repository).
    let nice = ["/usr/bin/nice", "/bin/nice"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file());
    let launcher = nice.map(|nice| (nice, &["-n", "10"][..]));
    let mut command = tool_command_via(launcher, lint, repo, scratch.path());
    command.args(["-f", "json", "--offline", "-q"]);
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", lint.display()))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| LintError::TimedOut(limit.as_secs()))?
        .map_err(anyhow::Error::from)?;
    if !matches!(output.status.code(), Some(0 | 2)) {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        return Err(LintError::Failed {
            status: output.status.to_string(),
            stderr: crate::redact::text(
                &text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
            .chars()
            .take(600)
            .collect(),
        });
    }
    Ok(parse_lint(&String::from_utf8_lossy(&output.stdout))?)
}

/// Reads ansible-lint's JSON: `location` is `{"path", "lines": {"begin"}}` or
/// `{"path", "positions": {"begin": {"line"}}}`.
pub fn parse_lint(json: &str) -> anyhow::Result<Vec<LintFinding>> {
    let json = json.trim();
    if json.is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<serde_json::Value> =
        serde_json::from_str(json).context("ansible-lint did not print a JSON array")?;
    Ok(items
        .iter()
        .map(|item| {
            let location = &item["location"];
            let line = location["lines"]["begin"]
                .as_u64()
                .or_else(|| location["positions"]["begin"]["line"].as_u64())
                .unwrap_or(1);
            LintFinding {
                check: item["check_name"].as_str().unwrap_or("unknown").to_owned(),
                file: location["path"].as_str().unwrap_or_default().to_owned(),
                line: line as usize,
                severity: item["severity"].as_str().unwrap_or("minor").to_owned(),
                message: item["description"].as_str().unwrap_or_default().to_owned(),
            }
        })
        .collect())
}

/// Creates `<venv>` and installs ansible-core into it, printing progress on stderr.
pub async fn install_ansible_core(venv: &Path) -> anyhow::Result<PathBuf> {
    const HOW_TO_FIX: &str = "Install ansible-core yourself (for example `python3 -m pip install --user ansible-core`, or `pipx install ansible-core`) so that ansible-playbook is on PATH, or set CHIFFON_ANSIBLE_PLAYBOOK to its path, then start chiffon again.";
    let python = ["python3", "python"]
        .iter()
        .find_map(|name| crate::tools::find_on_path(name))
        .with_context(|| format!("ansible-playbook is not installed and no python3 was found to install it. {HOW_TO_FIX}"))?;
    eprintln!(
        "chiffon: ansible-playbook not found; installing ansible-core into {} (one time, about a minute)…",
        venv.display()
    );
    let status = Command::new(&python)
        .args(["-m", "venv"])
        .arg(venv)
        .stdin(Stdio::null())
        .status()
        .await
        .context("cannot run python3 -m venv")?;
    if !status.success() {
        let _ = tokio::fs::remove_dir_all(venv).await;
        anyhow::bail!(
            "`{} -m venv` failed (on Debian/Ubuntu install the python3-venv package). {HOW_TO_FIX}",
            python.display()
        );
    }
    let mut pip = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "ansible-core",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run pip in the new venv")?;
    let mut lines = BufReader::new(pip.stdout.take().context("pip has no stdout")?).lines();
    while let Some(line) = lines.next_line().await? {
        eprintln!("chiffon: pip: {line}");
    }
    let output = pip.wait_with_output().await?;
    if !output.status.success() {
        let _ = tokio::fs::remove_dir_all(venv).await;
        anyhow::bail!(
            "installing ansible-core failed: {}. {HOW_TO_FIX}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    eprintln!("chiffon: ansible-core installed.");
    Ok(venv.join("bin/ansible-playbook"))
}

/// The first line of `ansible-playbook --version` (`ansible-playbook [core 2.19.4]`).
pub async fn version(ansible_playbook: &Path) -> anyhow::Result<String> {
    let scratch = tempfile::tempdir()?;
    let mut command = tool_command(ansible_playbook, scratch.path(), scratch.path());
    command.arg("--version");
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", ansible_playbook.display()))?;
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .map_err(|_| anyhow::anyhow!("`ansible-playbook --version` took longer than 30 s"))??;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "`{} --version` failed: {}",
        ansible_playbook.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// One inventory host's answer to `ansible -m ping`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingAnswer {
    pub host: String,
    pub reachable: bool,
    /// Ansible's words when it is not (redacted, shortened).
    pub message: String,
}

/// `ansible all -m ansible.builtin.ping` in `project` (so its `ansible.cfg` applies), with
/// `-i inventory` when given, `connect_timeout` per host and the whole run stopped after
/// `limit`. The `ansible` program is the one next to `ansible_playbook`.
pub async fn ping_all(
    ansible_playbook: &Path,
    project: &Path,
    inventory: Option<&Path>,
    connect_timeout: Duration,
    limit: Duration,
) -> anyhow::Result<Vec<PingAnswer>> {
    let ansible = ansible_playbook.with_file_name("ansible");
    anyhow::ensure!(
        ansible.is_file(),
        "no `ansible` program next to {}",
        ansible_playbook.display()
    );
    let scratch = tempfile::tempdir()?;
    let mut command = tool_command(&ansible, project, scratch.path());
    if let Some(inventory) = inventory {
        command.arg("-i").arg(inventory);
    }
    command
        .args(["all", "-m", "ansible.builtin.ping", "-o", "-T"])
        .arg(connect_timeout.as_secs().max(1).to_string());
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", ansible.display()))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "`ansible -m ping` took longer than {} s; stopped it",
                limit.as_secs()
            )
        })??;
    Ok(parse_ping(&String::from_utf8_lossy(&output.stdout)))
}

/// Reads `ansible -o` lines: `lola | SUCCESS => {…}`, `pi | UNREACHABLE! => {…}`.
pub fn parse_ping(stdout: &str) -> Vec<PingAnswer> {
    stdout
        .lines()
        .filter_map(|line| {
            let (host, rest) = line.split_once(" | ")?;
            let (status, detail) = rest.split_once(" => ").unwrap_or((rest, ""));
            let reachable = status.trim() == "SUCCESS";
            let detail: serde_json::Value =
                serde_json::from_str(detail.trim()).unwrap_or(serde_json::Value::Null);
            let message = detail["msg"].as_str().unwrap_or(status.trim()).to_owned();
            Some(PingAnswer {
                host: host.trim().to_owned(),
                reachable,
                message: crate::redact::text(&message).chars().take(300).collect(),
            })
        })
        .collect()
}
