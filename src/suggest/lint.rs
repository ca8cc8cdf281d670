//! ansible-lint as optional help: its findings cached per repository tree (a content hash)
//! and computed in the background, so that a repeated `lint` or `GET /suggestions` on an
//! unchanged repository answers from the cache, and Chiffon's own findings come back whatever
//! ansible-lint does (not installed, failing on the repository's own configuration, too slow).
//!
//! The server and the CLI share one [`Linter`] per cache folder: [`Linter::report`] runs the
//! own rules, looks the tree up in the cache, starts ansible-lint in the background when the
//! tree is new (once per tree, however many ask), and waits for it as long as the caller
//! allows. Failures and timeouts are cached too: the same tree fails the same way. One
//! ansible-lint runs at a time per `Linter` (it takes minutes and every core it can get on a
//! large repository): a second tree waits its turn, and [`Linter::stop`] ends them all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::suggest::report::{LintNote, LintStatus, Report};
use crate::tools::ansible::{LintError, LintFinding};

/// How long one ansible-lint run may take by default (it needs minutes on a large repository).
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(600);

/// Cached results kept per cache folder; older ones are removed.
const KEEP: usize = 32;

/// ansible-lint's configuration files, hidden from the repository walker but part of what
/// decides its answer.
const LINT_CONFIGS: &[&str] = &[
    ".ansible-lint",
    ".ansible-lint.yml",
    ".ansible-lint.yaml",
    ".ansible-lint-ignore",
    ".config/ansible-lint.yml",
    ".yamllint",
    ".yamllint.yml",
    ".yamllint.yaml",
];

/// One cached ansible-lint outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    status: LintStatus,
    message: String,
    seconds: f64,
    findings: Vec<LintFinding>,
}

/// ansible-lint runs, cached and in the background. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Linter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cache_dir: PathBuf,
    program: Option<PathBuf>,
    limit: Duration,
    /// Trees being linted (or waiting their turn) now: when it was asked for, a receiver that
    /// turns true when the result is in the cache, and the handle that stops it.
    running: Mutex<HashMap<String, Run>>,
    /// One ansible-lint at a time.
    turn: tokio::sync::Semaphore,
}

#[derive(Debug)]
struct Run {
    started: Instant,
    done: watch::Receiver<bool>,
    task: tokio::task::AbortHandle,
}

impl Linter {
    /// `program`: ansible-lint's path (`None`: Chiffon's own rules only). `limit`: how long
    /// one run may take before it is stopped (and the timeout cached).
    pub fn new(cache_dir: PathBuf, program: Option<PathBuf>, limit: Duration) -> Linter {
        Linter {
            inner: Arc::new(Inner {
                cache_dir,
                program,
                limit,
                running: Mutex::new(HashMap::new()),
                turn: tokio::sync::Semaphore::new(1),
            }),
        }
    }

    /// Stops every ansible-lint run and queued run (the server's shutdown); nothing is cached
    /// for them.
    pub fn stop(&self) {
        let mut running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
        for (_, run) in running.drain() {
            run.task.abort();
        }
    }

    /// Whether ansible-lint runs (or waits its turn) for some tree now.
    pub fn busy(&self) -> bool {
        !self
            .inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Chiffon's findings and the tree hash of `root`, off the async threads.
    async fn own(&self, root: &Path) -> (Vec<crate::suggest::Suggestion>, String) {
        let scan_root = root.to_owned();
        let program = self.inner.program.clone();
        tokio::task::spawn_blocking(move || {
            (
                crate::suggest::analyse(&scan_root),
                tree_hash(&scan_root, program.as_deref()),
            )
        })
        .await
        .unwrap_or_default()
    }

    /// The report for `root` from what is known now, never starting ansible-lint: its cached
    /// findings for this tree, else a note saying it runs or has not checked this tree yet.
    pub async fn report_cached(&self, root: &Path) -> Report {
        let (own, tree) = self.own(root).await;
        if self.inner.program.is_none() {
            return Report::build(own, None, not_installed(), tree);
        }
        if let Some(cached) = self.cached(&tree) {
            return report_from(own, cached, tree, true);
        }
        let running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tree)
            .map(|run| run.started.elapsed());
        let note = match running {
            Some(elapsed) => running_note(elapsed),
            None => LintNote {
                status: LintStatus::NotRun,
                message: "ansible-lint has not checked this version of the repository yet: Chiffon's own rules only.".to_owned(),
                seconds: None,
                cached: false,
            },
        };
        Report::build(own, None, note, tree)
    }

    /// The report for `root`: own findings always; ansible-lint's from the cache, or after
    /// waiting up to `wait` for a background run (`progress` is called about once a second
    /// while waiting, with the time since the run started).
    pub async fn report(
        &self,
        root: &Path,
        wait: Duration,
        progress: &(dyn Fn(Duration) + Send + Sync),
    ) -> Report {
        let (own, tree) = self.own(root).await;
        if self.inner.program.is_none() {
            return Report::build(own, None, not_installed(), tree);
        }
        if let Some(cached) = self.cached(&tree) {
            return report_from(own, cached, tree, true);
        }
        let (started, mut done) = self.start(root, &tree);
        let deadline = Instant::now() + wait;
        while !*done.borrow() && Instant::now() < deadline {
            let step = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1));
            if let Ok(Err(_)) = tokio::time::timeout(step, done.changed()).await {
                break; // stopped (`Linter::stop`): nothing more will come
            }
            if !*done.borrow() {
                progress(started.elapsed());
            }
        }
        match self.cached(&tree) {
            Some(cached) => report_from(own, cached, tree, false),
            None => Report::build(own, None, running_note(started.elapsed()), tree),
        }
    }

    fn cache_file(&self, tree: &str) -> PathBuf {
        self.inner.cache_dir.join(format!("{tree}.json"))
    }

    fn cached(&self, tree: &str) -> Option<Cached> {
        let text = std::fs::read_to_string(self.cache_file(tree)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Starts ansible-lint over `root` for `tree` unless it already runs (or waits its turn).
    fn start(&self, root: &Path, tree: &str) -> (Instant, watch::Receiver<bool>) {
        let mut running = self.inner.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(run) = running.get(tree) {
            return (run.started, run.done.clone());
        }
        let (tx, rx) = watch::channel(false);
        let started = Instant::now();
        let (linter, root, key) = (self.clone(), root.to_owned(), tree.to_owned());
        let task = tokio::spawn(async move {
            let cached = {
                // Closed only never: the semaphore lives as long as the linter.
                let _turn = linter.inner.turn.acquire().await;
                linter.run(&root).await
            };
            if let Err(error) = linter.store(&key, &cached) {
                tracing::warn!(%error, "cannot cache ansible-lint's result");
            }
            linter
                .inner
                .running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            let _ = tx.send(true);
        });
        running.insert(
            tree.to_owned(),
            Run {
                started,
                done: rx.clone(),
                task: task.abort_handle(),
            },
        );
        (started, rx)
    }

    async fn run(&self, root: &Path) -> Cached {
        let Some(program) = &self.inner.program else {
            unreachable!("started only with a program");
        };
        let started = Instant::now();
        let result =
            crate::tools::ansible::ansible_lint_within(program, root, self.inner.limit).await;
        let seconds = started.elapsed().as_secs_f64();
        let (status, message, findings) = match result {
            Ok(findings) => (
                LintStatus::Done,
                match findings.len() {
                    0 => format!("ansible-lint found nothing in {seconds:.1} s."),
                    1 => format!("ansible-lint found one thing in {seconds:.1} s."),
                    n => format!("ansible-lint found {n} things in {seconds:.1} s."),
                },
                findings,
            ),
            Err(LintError::TimedOut(limit)) => (
                LintStatus::TimedOut,
                format!(
                    "ansible-lint took longer than {limit} s and was stopped: Chiffon's own rules only."
                ),
                Vec::new(),
            ),
            Err(error) => (
                LintStatus::Failed,
                format!("{error} — Chiffon's own rules only."),
                Vec::new(),
            ),
        };
        Cached {
            status,
            message,
            seconds,
            findings,
        }
    }

    fn store(&self, tree: &str, cached: &Cached) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.inner.cache_dir)?;
        let path = self.cache_file(tree);
        let scratch = path.with_extension("json.tmp");
        std::fs::write(&scratch, serde_json::to_vec(cached)?)?;
        std::fs::rename(&scratch, &path)?;
        // Keep the newest few.
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(&self.inner.cache_dir)?
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .collect();
        entries.sort();
        let excess = entries.len().saturating_sub(KEEP);
        for (_, old) in entries.into_iter().take(excess) {
            let _ = std::fs::remove_file(old);
        }
        Ok(())
    }
}

fn not_installed() -> LintNote {
    LintNote {
        status: LintStatus::NotRun,
        message: "ansible-lint is not installed: Chiffon's own rules only.".to_owned(),
        seconds: None,
        cached: false,
    }
}

fn running_note(elapsed: Duration) -> LintNote {
    LintNote {
        status: LintStatus::Running,
        message: format!(
            "ansible-lint is checking the repository in the background ({} s so far); its findings are added to the next answer once it is done.",
            elapsed.as_secs()
        ),
        seconds: None,
        cached: false,
    }
}

fn report_from(
    own: Vec<crate::suggest::Suggestion>,
    cached: Cached,
    tree: String,
    hit: bool,
) -> Report {
    let note = LintNote {
        status: cached.status,
        message: if hit {
            format!("{} (cached for this repository tree)", cached.message)
        } else {
            cached.message
        },
        seconds: Some(cached.seconds),
        cached: hit,
    };
    let lint = (cached.status == LintStatus::Done).then_some(cached.findings);
    Report::build(own, lint, note, tree)
}

/// The SHA-256 of the repository tree: every file the walker yields (path and content; path,
/// size and modification time for a file that is not text), ansible-lint's configuration
/// files, and the ansible-lint program itself (an upgrade invalidates the cache).
pub fn tree_hash(root: &Path, program: Option<&Path>) -> String {
    let mut hash = Sha256::new();
    let files = crate::repo::files(root, root, |_| true);
    let configs = LINT_CONFIGS
        .iter()
        .map(|c| root.join(c))
        .filter(|p| crate::repo::is_regular_file(p));
    for path in files.into_iter().chain(configs) {
        hash.update(crate::repo::relative(root, &path).as_bytes());
        hash.update([0]);
        match crate::repo::read_text(&path) {
            Some(text) => hash.update(text.as_bytes()),
            None => hash.update(metadata_stamp(&path).as_bytes()),
        }
        hash.update([0]);
    }
    if let Some(program) = program {
        hash.update(program.to_string_lossy().as_bytes());
        hash.update(metadata_stamp(program).as_bytes());
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn metadata_stamp(path: &Path) -> String {
    std::fs::metadata(path).map_or_else(
        |_| "?".to_owned(),
        |m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{modified}", m.len())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for ansible-lint that notes when two of it run at once.
    fn fake_lint(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let program = dir.join("ansible-lint");
        let (lock, log) = (dir.join("running"), dir.join("log"));
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\nif [ -e {lock} ]; then echo overlap >> {log}; fi\ntouch {lock}\nsleep 0.3\nrm -f {lock}\necho ran >> {log}\necho '[]'\n",
                lock = lock.display(),
                log = log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        program
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ansible_lint_runs_one_at_a_time_in_the_background_and_its_answer_is_cached() {
        let tools = tempfile::tempdir().unwrap();
        let program = fake_lint(tools.path());
        let cache = tempfile::tempdir().unwrap();
        let linter = Linter::new(cache.path().to_owned(), Some(program), DEFAULT_LIMIT);
        let repos: Vec<tempfile::TempDir> = (0..3)
            .map(|n| {
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("site.yml"), format!("# {n}\n")).unwrap();
                dir
            })
            .collect();
        // Asked at once for three trees: answered at once, each with a `running` note.
        for repo in &repos {
            let report = linter.report(repo.path(), Duration::ZERO, &|_| {}).await;
            assert_eq!(report.lint.status, LintStatus::Running, "{:?}", report.lint);
        }
        assert!(linter.busy());
        // Waited for, each is done; never two at the same time.
        for repo in &repos {
            let report = linter
                .report(repo.path(), Duration::from_secs(30), &|_| {})
                .await;
            assert_eq!(report.lint.status, LintStatus::Done, "{:?}", report.lint);
        }
        let log = std::fs::read_to_string(tools.path().join("log")).unwrap();
        assert_eq!(log, "ran\nran\nran\n");
        // Asked again: from the cache, without a run, also when only what is known is asked.
        let again = linter.report_cached(repos[0].path()).await;
        assert!(again.lint.cached, "{:?}", again.lint);
        assert!(!linter.busy());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_summary_never_starts_ansible_lint() {
        let tools = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let linter = Linter::new(
            cache.path().to_owned(),
            Some(fake_lint(tools.path())),
            DEFAULT_LIMIT,
        );
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("site.yml"), "---\n").unwrap();
        let report = linter.report_cached(repo.path()).await;
        assert_eq!(report.lint.status, LintStatus::NotRun, "{:?}", report.lint);
        assert!(!linter.busy());
        assert!(!tools.path().join("log").exists());
    }
}
