//! Runs `ansible-playbook` for the infra agent (started through `crate::tools`).
//!
//! A run is a child process started without a shell, from an argument list, with a clean
//! environment, in its own process group (so abort stops everything it started: SIGTERM, then
//! SIGKILL). Structured events come from Chiffon's callback plugin over a Unix socket; the
//! human log on stdout/stderr is kept as a redacted tail for error messages.
//!
//! This module also finds `ansible-playbook`, or has `tools::ansible` install ansible-core into
//! a venv in the data dir on first run.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};

use crate::model::HostCounts;
use crate::model::change::Change;
use crate::protocol::{ExecEvent, Failure};
use crate::repo::project::Project;

/// The callback plugin, shipped inside the binary.
const CALLBACK_PLUGIN: &str = include_str!("../../assets/ansible/chiffon_events.py");
const CALLBACK_NAME: &str = "chiffon_events";
/// How long a terminated run gets to exit before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(5);
/// Lines of human output kept for error messages.
const LOG_TAIL_LINES: usize = 40;
/// The most file content one run keeps for undo, all changes together; past it, changes are
/// still recorded, without content.
const MAX_RUN_CONTENT: usize = 16 * 1024 * 1024;

/// A ready-to-use Ansible installation plus Chiffon's callback plugin.
#[derive(Debug, Clone)]
pub struct Ansible {
    playbook_bin: PathBuf,
    callback_dir: PathBuf,
    /// Handed to ansible-playbook as `--vault-password-file`; never read by Chiffon.
    vault_password_file: Option<PathBuf>,
    /// Whether real runs record what they change (`--diff` and the plugin's `change`
    /// records); on unless a benchmark turns it off to measure what it costs.
    capture: bool,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Playbook path relative to the repository.
    pub playbook: String,
    pub limit: Option<String>,
    pub check_mode: bool,
    /// `--tags`: only the tasks tagged so.
    pub tags: Vec<String>,
    pub extra_vars: serde_json::Map<String, serde_json::Value>,
    pub deadline: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub exit_code: Option<i32>,
    pub duration: Duration,
    pub hosts: BTreeMap<String, HostCounts>,
    pub failures: Vec<Failure>,
    /// Hosts Ansible reported unreachable (their failures get SSH advice in `error`).
    pub unreachable_hosts: BTreeSet<String>,
    /// Set when the run was stopped because it was cancelled (a deadline is a failure).
    pub aborted: bool,
    /// Why it did not succeed, in plain words; `None` on success.
    pub error: Option<String>,
    /// What a real run changed, per task and host, in the order it happened.
    pub changes: Vec<Change>,
    /// What the person must read even on success (`protocol::TaskResult::warnings`).
    pub warnings: Vec<String>,
}

/// A playbook path or limit that must not reach `ansible-playbook`.
#[derive(Debug, thiserror::Error)]
pub enum InvalidRun {
    #[error("playbook {0:?} must be a relative path inside the playbook repository")]
    PlaybookOutsideRepo(String),
    #[error("playbook {0:?} does not exist in the playbook repository")]
    NoSuchPlaybook(String),
    #[error("host limit {0:?} may only contain letters, digits and . _ - : , ! & *")]
    BadLimit(String),
    #[error("tag {0:?} may only contain letters, digits and . _ -")]
    BadTag(String),
    #[error("variable name {0:?} is not a valid Ansible variable name")]
    BadVariable(String),
}

/// One line from the callback plugin.
#[derive(Debug, Deserialize)]
struct CallbackLine {
    kind: String,
    play: Option<String>,
    task: Option<String>,
    host: Option<String>,
    status: Option<String>,
    msg: Option<String>,
    duration_ms: Option<u64>,
    hosts: Option<BTreeMap<String, HostCounts>>,
    change: Option<Change>,
}

impl Ansible {
    /// Uses `configured` if given, else a venv in `data_dir`, else `ansible-playbook` on PATH,
    /// else installs ansible-core into `<data_dir>/ansible-venv` (printing pip's progress).
    /// Writes the callback plugin under `<data_dir>/ansible/callback_plugins`.
    pub async fn locate_or_install(
        configured: Option<&Path>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let venv = data_dir.join("ansible-venv");
        let playbook_bin = match configured {
            Some(path) if path.is_file() => path.to_owned(),
            Some(path) => anyhow::bail!(
                "ansible-playbook was configured as {} but that file does not exist; fix ansible.playbook_bin (CHIFFON_ANSIBLE_PLAYBOOK) or unset it",
                path.display()
            ),
            // The same search as every other user of ansible-playbook (an applied suggestion's
            // check), so the server never finds one program for runs and another for checks.
            None => match crate::tools::ansible::locate_ansible_playbook(None, data_dir) {
                Some(found) => found,
                None => crate::tools::ansible::install_ansible_core(&venv).await?,
            },
        };
        // Runs start in the playbook repository, so relative paths (the default data dir is
        // `./.chiffon`) would point somewhere else there.
        let playbook_bin = std::path::absolute(&playbook_bin)?;
        let callback_dir = std::path::absolute(data_dir.join("ansible/callback_plugins"))?;
        tokio::fs::create_dir_all(&callback_dir).await?;
        tokio::fs::write(
            callback_dir.join(format!("{CALLBACK_NAME}.py")),
            CALLBACK_PLUGIN,
        )
        .await
        .context("cannot write the Ansible callback plugin")?;
        tracing::info!(ansible_playbook = %playbook_bin.display(), "using ansible-playbook");
        Ok(Self {
            playbook_bin,
            callback_dir,
            vault_password_file: None,
            capture: true,
        })
    }

    /// Runs get `--vault-password-file file` (absolute), so encrypted variables decrypt.
    pub fn with_vault_password_file(mut self, file: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(file) = file {
            let absolute = std::path::absolute(file)?;
            if !absolute.is_file() {
                anyhow::bail!(
                    "the vault password file {} does not exist; fix ansible.vault_password_file (CHIFFON_VAULT_PASSWORD_FILE) or unset it",
                    absolute.display()
                );
            }
            // An executable vault file is a script, not the password: nothing to hide.
            if let Ok(password) = std::fs::read_to_string(&absolute) {
                crate::redact::remember(&password);
            }
            self.vault_password_file = Some(absolute);
        }
        Ok(self)
    }

    /// Real runs no longer record what they change (for the capture benchmark only).
    pub fn without_capture(mut self) -> Self {
        self.capture = false;
        self
    }

    pub fn playbook_bin(&self) -> &Path {
        &self.playbook_bin
    }

    /// Checks a run's playbook and limit before anything starts.
    pub fn validate(repo: &Path, spec: &RunSpec) -> Result<PathBuf, InvalidRun> {
        // Chiffon's own built-in actions (restart, stop, …) are embedded, not in the repository.
        if crate::resolve::builtin_action_text(&spec.playbook).is_some() {
            return Self::validate_arguments(spec).map(|()| PathBuf::from(&spec.playbook));
        }
        let relative = Path::new(&spec.playbook);
        let inside = !spec.playbook.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !inside {
            return Err(InvalidRun::PlaybookOutsideRepo(spec.playbook.clone()));
        }
        let path = repo.join(relative);
        let canonical_repo = repo
            .canonicalize()
            .map_err(|_| InvalidRun::NoSuchPlaybook(spec.playbook.clone()))?;
        match path.canonicalize() {
            Ok(real) if real.starts_with(&canonical_repo) && real.is_file() => {}
            Ok(_) => return Err(InvalidRun::PlaybookOutsideRepo(spec.playbook.clone())),
            Err(_) => return Err(InvalidRun::NoSuchPlaybook(spec.playbook.clone())),
        }
        Self::validate_arguments(spec)?;
        Ok(path)
    }

    /// The limit, tags and extra variable names of a run.
    fn validate_arguments(spec: &RunSpec) -> Result<(), InvalidRun> {
        if let Some(limit) = &spec.limit {
            let ok = !limit.is_empty()
                && limit.len() <= 512
                && limit.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'.' | b'_' | b'-' | b':' | b',' | b'!' | b'&' | b'*')
                });
            if !ok {
                return Err(InvalidRun::BadLimit(limit.clone()));
            }
        }
        for tag in &spec.tags {
            let ok = !tag.is_empty()
                && tag.len() <= 100
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !ok {
                return Err(InvalidRun::BadTag(tag.clone()));
            }
        }
        for name in spec.extra_vars.keys() {
            let ok = name.len() <= 100
                && name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(InvalidRun::BadVariable(name.clone()));
            }
        }
        Ok(())
    }

    /// Runs `spec` in `repo`, sending live events to `events` until it ends, is cancelled
    /// through `cancel`, or passes its deadline.
    pub async fn run(
        &self,
        repo: &Path,
        spec: &RunSpec,
        events: mpsc::UnboundedSender<ExecEvent>,
        cancel: oneshot::Receiver<String>,
    ) -> anyhow::Result<RunOutcome> {
        Self::validate(repo, spec)?;
        let started = Instant::now();
        // A private directory for the socket and the extra-vars file (0700 by tempfile).
        let scratch = tempfile::Builder::new().prefix("chiffon-run-").tempdir()?;
        let socket_path = scratch.path().join("events.sock");
        let listener = UnixListener::bind(&socket_path)
            .with_context(|| format!("cannot listen on {}", socket_path.display()))?;
        // A built-in action is written to the private folder and runs in the project whose
        // inventory names its hosts; a repository playbook runs in its own project, with the
        // path its owner would type there.
        let action_hosts = crate::resolve::builtin_action_text(&spec.playbook).map(|_| {
            spec.extra_vars
                .get("chiffon_hosts")
                .and_then(|h| h.as_str())
                .unwrap_or_default()
                .to_owned()
        });
        let (project, playbook): (Project, std::ffi::OsString) =
            match crate::resolve::builtin_action_text(&spec.playbook) {
                Some(text) => {
                    let path = scratch.path().join("chiffon-action.yml");
                    std::fs::write(&path, text)?;
                    let hosts = action_hosts.as_deref().unwrap_or_default();
                    (Project::of_hosts(repo, hosts)?, path.into_os_string())
                }
                None => {
                    let project = Project::of_playbook(repo, &spec.playbook)?;
                    let path = repo.join(&spec.playbook);
                    let shown = path.strip_prefix(&project.dir).unwrap_or(&path).to_owned();
                    (project, shown.into_os_string())
                }
            };
        let vars_path = scratch.path().join("extra-vars.json");
        std::fs::write(&vars_path, serde_json::to_vec(&spec.extra_vars)?)?;
        // Whatever the run prints, these values stay out of events and errors.
        crate::redact::remember_secrets_in(&spec.extra_vars);

        let mut child = crate::tools::start(&crate::tools::Program {
            bin: self.playbook_bin.clone(),
            args: self.arguments(spec, &project, playbook, &vars_path),
            cwd: project.dir.clone(),
            env: self.environment(&project, &socket_path, scratch.path(), spec.check_mode),
        })?;
        let pid = child
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32));

        let mut log_rx = stream_output(&mut child);

        let mut outcome = RunOutcome::default();
        let (reader, mut line_rx) = read_callback(listener);

        let mut tail: VecDeque<String> = VecDeque::with_capacity(LOG_TAIL_LINES);
        let deadline = tokio::time::sleep(spec.deadline);
        tokio::pin!(deadline);
        let mut cancel = cancel;
        // Why the run was stopped early, and whether a person asked for it (abort) rather
        // than the deadline (a failure).
        let mut stop_reason: Option<String> = None;
        let mut cancelled = false;
        let status = loop {
            tokio::select! {
                Some(line) = line_rx.recv() => self.absorb(line, &mut outcome, &events),
                Some(line) = log_rx.recv() => {
                    note_ansible_warning(&mut outcome, &line);
                    keep_tail(&mut tail, &line);
                }
                status = child.wait() => break status?,
                reason = &mut cancel, if stop_reason.is_none() => {
                    let reason = reason.unwrap_or_else(|_| "the agent is shutting down".to_owned());
                    stop_reason = Some(format!("aborted: {reason}"));
                    cancelled = true;
                    crate::tools::terminate_group(pid, TERM_GRACE);
                }
                () = &mut deadline, if stop_reason.is_none() => {
                    stop_reason = Some(format!("stopped: the run passed its deadline of {} s", spec.deadline.as_secs()));
                    crate::tools::terminate_group(pid, TERM_GRACE);
                }
            }
        };
        // The process is gone: drain whatever events are still buffered. A run stopped before
        // the plugin connected leaves the reader waiting for a connection that never comes,
        // so it gets a moment, not forever.
        let reader_abort = reader.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), reader)
            .await
            .is_err()
        {
            reader_abort.abort();
        }
        while let Ok(line) = line_rx.try_recv() {
            self.absorb(line, &mut outcome, &events);
        }
        while let Ok(line) = log_rx.try_recv() {
            note_ansible_warning(&mut outcome, &line);
            keep_tail(&mut tail, &line);
        }
        outcome.duration = started.elapsed();
        outcome.exit_code = status.code();
        outcome.aborted = cancelled;
        outcome.error = run_error(stop_reason, status, &outcome, &tail);
        // A built-in action that reached no host did nothing the person asked for.
        if let Some(hosts) = action_hosts
            && outcome.error.is_none()
            && outcome.hosts.is_empty()
        {
            outcome.error = Some(format!(
                "no host in the repository's inventory matched {hosts:?}, so nothing ran; check that the inventory names this host or group"
            ));
        }
        Ok(outcome)
    }

    /// `ansible-playbook`'s arguments for `spec`, with the extra variables in a file.
    fn arguments(
        &self,
        spec: &RunSpec,
        project: &Project,
        playbook: std::ffi::OsString,
        vars_path: &Path,
    ) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![playbook];
        if let Some(inventory) = &project.inventory {
            args.extend(["-i".into(), inventory.into()]);
        }
        if let Some(limit) = &spec.limit {
            args.extend(["--limit".into(), limit.into()]);
        }
        if spec.check_mode {
            args.extend(["--check".into(), "--diff".into()]);
        } else if self.capture {
            // The diff carries a file's content before and after, which undo needs.
            args.push("--diff".into());
        }
        if !spec.tags.is_empty() {
            args.extend(["--tags".into(), spec.tags.join(",").into()]);
        }
        if let Some(file) = &self.vault_password_file {
            args.extend(["--vault-password-file".into(), file.into()]);
        }
        args.extend([
            "--extra-vars".into(),
            format!("@{}", vars_path.display()).into(),
        ]);
        args
    }

    fn absorb(
        &self,
        line: CallbackLine,
        outcome: &mut RunOutcome,
        events: &mpsc::UnboundedSender<ExecEvent>,
    ) {
        if let Some(hosts) = &line.hosts {
            outcome.hosts = hosts.clone();
        }
        if line.kind == "change" {
            if let Some(change) = line.change {
                keep_change(outcome, change);
            }
            return;
        }
        let msg = line.msg.map(|m| crate::redact::text(&m).into_owned());
        if line.kind == "task_result" && line.status.as_deref() == Some("unreachable") {
            outcome
                .unreachable_hosts
                .insert(line.host.clone().unwrap_or_default());
        }
        if line.kind == "warning"
            && let Some(text) = &msg
        {
            add_warning(outcome, text);
        }
        if line.kind == "task_result"
            && matches!(line.status.as_deref(), Some("failed" | "unreachable"))
        {
            outcome.failures.push(Failure {
                host: line.host.clone().unwrap_or_default(),
                task: line.task.clone().unwrap_or_default(),
                msg: msg.clone().unwrap_or_else(|| "no message".to_owned()),
            });
        }
        let _ = events.send(ExecEvent {
            hosts: line.hosts,
            kind: line.kind,
            play: line.play,
            task: line.task,
            host: line.host,
            status: line.status,
            msg,
            duration_ms: line.duration_ms,
        });
    }

    /// Only what ansible-playbook needs: no inherited secrets, no stray ANSIBLE_* settings.
    fn environment(
        &self,
        project: &Project,
        socket: &Path,
        scratch: &Path,
        check_mode: bool,
    ) -> Vec<(String, String)> {
        let mut path = Vec::new();
        if let Some(bin_dir) = self.playbook_bin.parent() {
            path.push(bin_dir.to_path_buf());
        }
        path.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
        let path = std::env::join_paths(path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let home = std::env::var("HOME").unwrap_or_else(|_| scratch.to_string_lossy().into_owned());
        let mut env = vec![
            ("PATH".to_owned(), path),
            ("HOME".to_owned(), home),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            (
                "ANSIBLE_CALLBACK_PLUGINS".to_owned(),
                self.callback_dir.to_string_lossy().into_owned(),
            ),
            (
                "ANSIBLE_CALLBACKS_ENABLED".to_owned(),
                CALLBACK_NAME.to_owned(),
            ),
            ("ANSIBLE_NOCOLOR".to_owned(), "1".to_owned()),
            ("ANSIBLE_RETRY_FILES_ENABLED".to_owned(), "0".to_owned()),
            (
                "CHIFFON_EVENTS_SOCKET".to_owned(),
                socket.to_string_lossy().into_owned(),
            ),
        ];
        if self.capture && !check_mode {
            env.push(("CHIFFON_CAPTURE".to_owned(), "1".to_owned()));
        }
        if let Some(cfg) = &project.config {
            env.push((
                "ANSIBLE_CONFIG".to_owned(),
                cfg.to_string_lossy().into_owned(),
            ));
        }
        // Remote hosts need the user's SSH agent; it holds keys, not secrets in clear.
        for name in ["USER", "LOGNAME", "SSH_AUTH_SOCK", "TZ"] {
            if let Ok(value) = std::env::var(name) {
                env.push((name.to_owned(), value));
            }
        }
        env
    }
}

/// Keeps a change the plugin reported: secrets withheld, content within the run's budget.
fn keep_change(outcome: &mut RunOutcome, mut change: Change) {
    change.withhold_secrets(|text| crate::redact::text(text).into_owned());
    let kept: usize = outcome.changes.iter().map(Change::kept_bytes).sum();
    if kept + change.kept_bytes() > MAX_RUN_CONTENT {
        change.drop_content("the run changed more file content than Chiffon keeps (16 MiB): content not kept, so it cannot be restored");
    }
    outcome.changes.push(change);
}

/// The child's stdout and stderr, line by line, on one channel.
fn stream_output(child: &mut tokio::process::Child) -> mpsc::UnboundedReceiver<String> {
    let (log_tx, log_rx) = mpsc::unbounded_channel::<String>();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let log_tx = log_tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if log_tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    log_rx
}

/// The callback plugin's events: it connects once, when ansible-playbook loads it, and writes
/// one JSON object a line.
fn read_callback(
    listener: UnixListener,
) -> (
    tokio::task::JoinHandle<()>,
    mpsc::UnboundedReceiver<CallbackLine>,
) {
    let (line_tx, line_rx) = mpsc::unbounded_channel::<CallbackLine>();
    let reader = tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<CallbackLine>(&line) {
                Ok(parsed) => {
                    if line_tx.send(parsed).is_err() {
                        break;
                    }
                }
                Err(error) => tracing::warn!("unreadable callback event: {error}"),
            }
        }
    });
    (reader, line_rx)
}

/// A warning the playbook or Ansible gave, kept once (a role run on three hosts warns thrice
/// only when the texts differ).
fn add_warning(outcome: &mut RunOutcome, text: &str) {
    let text = text.trim();
    // Bounded: a looping playbook must not grow the result without end.
    if !text.is_empty()
        && outcome.warnings.len() < 50
        && !outcome.warnings.iter().any(|w| w == text)
    {
        outcome.warnings.push(text.to_owned());
    }
}

/// Ansible's own `[WARNING]: …` lines on its output (a host pattern that matched nothing, a
/// deprecated setting) are warnings too, redacted like every line.
fn note_ansible_warning(outcome: &mut RunOutcome, line: &str) {
    if let Some(text) = line.trim_start().strip_prefix("[WARNING]:") {
        add_warning(outcome, &crate::redact::text(text));
    }
}

/// Keeps the last lines of the human log, redacted, for error messages.
fn keep_tail(tail: &mut VecDeque<String>, line: &str) {
    if tail.len() == LOG_TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(crate::redact::text(line).into_owned());
}

/// Why the run failed, if it did: stopped early, the failed tasks, or the exit status with the
/// log's last error lines.
fn run_error(
    stop_reason: Option<String>,
    status: std::process::ExitStatus,
    outcome: &RunOutcome,
    tail: &VecDeque<String>,
) -> Option<String> {
    match (stop_reason, status.success()) {
        (Some(reason), _) => Some(reason),
        (None, true) => None,
        (None, false) if !outcome.failures.is_empty() => Some(
            outcome
                .failures
                .iter()
                .map(|f| {
                    let unreachable = outcome.unreachable_hosts.contains(&f.host);
                    crate::agent::ssh_advice::describe(&f.host, &f.task, &f.msg, unreachable)
                        .unwrap_or_else(|| format!("{} on {}: {}", f.task, f.host, f.msg))
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        (None, false) => Some(format!(
            "ansible-playbook exited with {}: {}",
            status
                .code()
                .map_or("a signal".to_owned(), |c| format!("code {c}")),
            last_error_lines(tail)
        )),
    }
}

fn last_error_lines(tail: &VecDeque<String>) -> String {
    let errors: Vec<&str> = tail
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("ERROR") || l.contains("error"))
        .collect();
    let pick: Vec<&str> = if errors.is_empty() {
        tail.iter()
            .rev()
            .take(3)
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    } else {
        errors
    };
    pick.join(" ").chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(playbook: &str, limit: Option<&str>) -> RunSpec {
        RunSpec {
            playbook: playbook.into(),
            limit: limit.map(Into::into),
            check_mode: false,
            tags: Vec::new(),
            extra_vars: serde_json::Map::new(),
            deadline: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn paths_handed_to_ansible_are_absolute() {
        // The default data dir is relative, but runs start in the playbook repository.
        let data = tempfile::tempdir_in(".").unwrap();
        let relative = data.path().file_name().unwrap();
        let ansible =
            Ansible::locate_or_install(Some(Path::new("Cargo.toml")), Path::new(relative))
                .await
                .unwrap();
        assert!(ansible.playbook_bin().is_absolute());
        assert!(ansible.callback_dir.is_absolute());
        assert!(ansible.callback_dir.join("chiffon_events.py").is_file());
    }

    #[test]
    fn playbooks_outside_the_repo_and_odd_limits_are_refused() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("site.yml"), "- hosts: all\n").unwrap();
        assert!(Ansible::validate(repo.path(), &spec("site.yml", Some("lola:nas"))).is_ok());
        for bad in ["../etc/passwd", "/etc/passwd", "", "a/../../x.yml"] {
            assert!(
                matches!(
                    Ansible::validate(repo.path(), &spec(bad, None)),
                    Err(InvalidRun::PlaybookOutsideRepo(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Ansible::validate(repo.path(), &spec("missing.yml", None)),
            Err(InvalidRun::NoSuchPlaybook(_))
        ));
        assert!(matches!(
            Ansible::validate(repo.path(), &spec("site.yml", Some("lola; rm -rf /"))),
            Err(InvalidRun::BadLimit(_))
        ));
    }

    #[test]
    fn only_the_embedded_built_in_actions_run_from_outside_the_repository() {
        let repo = tempfile::tempdir().unwrap();
        let restart = spec("chiffon:ansible/actions/restart.yml", None);
        assert!(Ansible::validate(repo.path(), &restart).is_ok());
        assert!(
            Ansible::validate(repo.path(), &spec("chiffon:ansible/actions/evil.yml", None))
                .is_err()
        );
        assert!(Ansible::validate(repo.path(), &spec("chiffon:../../etc/passwd", None)).is_err());
        let bad_limit = spec("chiffon:ansible/actions/stop.yml", Some("a;b"));
        assert!(matches!(
            Ansible::validate(repo.path(), &bad_limit),
            Err(InvalidRun::BadLimit(_))
        ));
    }
}
