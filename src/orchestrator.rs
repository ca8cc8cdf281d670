//! The orchestrator's logic: plans requests, waits for approval, dispatches steps to agents
//! over the bus, records every state change in the store and the audit trail, and serves the
//! REST API and live events. `server` wires it to a listener, the bus and in-process agents.
//!
//! `Core` (here) is the state all of that shares; each file under `orchestrator/` is one thing
//! it does: `planning` (plans and plan versions), `answering` (a plan's question answered: a
//! new version), `decisions` (approve, reject, abort),
//! `execution` (running an approved plan step by step), `resume` (carrying on after a
//! restart), `dispatch` (the one place a step is sent to an agent), `preview` (the check-mode
//! dry run before approval), `agent_events` (agents' messages: store first, then acknowledge),
//! `agent_watch` (agents going online, suspect and offline), `capacity` (placement and the
//! paused dispatch queue), `catalogue_watch` (re-reading the playbook repository),
//! `findings` (suggestions on a run's summary, the ansible-lint cache warmed),
//! `audit_queue` (the audit trail's writer) and `metrics` (what `/metrics` shows).
//!
//! Invariant: every `Dispatch` is built by `Core::build_dispatch` (`dispatch`). A real run
//! (`check_mode: false`) can only be built for an `ApprovedRequest`, which only `approve` (after
//! the store moved that plan version from `awaiting_approval` to `approved`) and
//! `resume_requests` (requests already approved when the server stopped) make; the only other
//! dispatch is a preview, always `check_mode: true`.

mod agent_events;
mod agent_watch;
mod answering;
mod audit_queue;
mod capacity;
mod catalogue_watch;
mod decisions;
mod dispatch;
mod execution;
mod findings;
pub mod http;
pub mod live;
mod metrics;
mod pin_change;
mod pin_edit;
mod pin_registry;
mod planning;
mod preview;
mod resume;
pub mod revert;
pub mod revert_commit;
mod revert_conflicts;
mod revert_containers;
mod revert_resources;
pub mod ui;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use chrono::Utc;
use tokio::sync::{Notify, broadcast, oneshot};

use crate::audit::AuditLog;
use crate::bus::Bus;
use crate::catalogue::Catalogue;
use crate::config::ServeConfig;
use crate::model::{Request, RequestStatus, Task, TaskStatus};
pub use crate::orchestrator::answering::{AnswerError, Given, TemplateFields};
use crate::orchestrator::live::LiveEvent;
pub use crate::orchestrator::preview::{Preview, PreviewDiff, StepPreview};
pub(crate) use crate::orchestrator::revert_conflicts::unanswered as unanswered_conflicts;
use crate::planner::PlaybookHistory;
use crate::protocol::{ExecEvent, ResultStatus, TaskResult};
pub use crate::registry::AgentInfo;
use crate::registry::Registry;
use crate::store::{Store, TaskFinish};

/// How many live events a slow WebSocket listener may fall behind before it is told so.
const LIVE_BUFFER: usize = 1024;

/// State shared by the API handlers, the executors, the agent-event consumers and the
/// background watchers.
///
/// Every lock is a `std` mutex held only for an in-memory read or write, never across an
/// `await`; the state is split over several locks so that, say, a heartbeat updating the
/// registry never waits behind an executor registering a task.
#[derive(Debug)]
pub struct Core {
    pub config: ServeConfig,
    pub store: Store,
    pub bus: Bus,
    pub audit: AuditLog,
    /// The audit trail's durable queue (see `audit_queue`).
    pub audit_queue: audit_queue::AuditQueue,
    /// Live events for WebSocket listeners (see `live`).
    pub live: broadcast::Sender<LiveEvent>,
    /// ansible-lint for suggestions: cached per repository tree, run in the background.
    pub linter: crate::suggest::lint::Linter,
    planning: Planning,
    fleet: Fleet,
    in_flight: InFlight,
    executions: Executions,
    /// Signs every dispatch and cancel (see `dispatch`).
    signer: crate::protocol::signing::SigningKey,
    /// What `/metrics` shows (see `metrics`).
    metrics: metrics::Metrics,
}

/// What planning reads besides the request itself (see `planning`).
#[derive(Debug)]
struct Planning {
    /// The playbook repository as last read. A read-write lock because every plan and many
    /// API reads share it while a reload (a repository change, a new template) replaces it
    /// whole; readers clone the `Arc` and plan without holding the lock.
    catalogue: RwLock<Arc<Catalogue>>,
    /// Each playbook's recent durations and last outcome, for estimates: read by every plan,
    /// updated by `execution` whenever a task finishes.
    history: Mutex<BTreeMap<String, PlaybookHistory>>,
    /// HTTP client for LLM providers, so plans share its connections.
    http: reqwest::Client,
    /// The last rate-limit headroom each provider reported (0–1), for routing: written after
    /// a model answers, read when the next plan is routed, possibly concurrently.
    rate_limits: Mutex<HashMap<String, f64>>,
}

/// The agents this orchestrator knows, and whether work may be placed on them (see
/// `agent_watch` and `capacity`).
#[derive(Debug)]
struct Fleet {
    /// The agent registry (status, last report, capacity, bookings). Heartbeats, the sweeper,
    /// departures and placements all read-modify-write it, so it is one lock.
    registry: Mutex<Registry>,
    /// Woken on every capacity report, agent status change and abort, so steps waiting for
    /// room look again.
    capacity_changed: Notify,
    /// Why the dispatch queue is paused, when it is. Its own lock: the API reads it while
    /// executors waiting for room set and clear it.
    queue_paused: Mutex<Option<String>>,
    /// When this orchestrator started: agents' heartbeats after it tell which in-flight tasks
    /// survived a restart.
    started_at: chrono::DateTime<Utc>,
}

/// Tasks sent to an agent and not settled yet: how an agent's message on the events queue
/// finds the executor (or preview) waiting for it (see `dispatch` and `agent_events`). Each
/// entry is registered before the dispatch is published, so a fast agent's answer finds it.
#[derive(Debug)]
struct InFlight {
    /// Executors waiting for a task's result, by task id.
    waiters: Mutex<HashMap<String, oneshot::Sender<TaskResult>>>,
    /// Tasks dispatched but not yet acknowledged, by task id; the sender gets the agent's id.
    unacked: Mutex<HashMap<String, oneshot::Sender<String>>>,
    /// Which agent runs each task in flight, so a lost agent fails its tasks and an abort can
    /// cancel the step in progress.
    running: Mutex<HashMap<String, String>>,
    /// Live events of check-mode preview runs, by their (unstored) task id: they stay with the
    /// preview rather than go to the task tables.
    previews: Mutex<HashMap<String, Vec<ExecEvent>>>,
}

/// Requests being executed (see `execution` and `decisions`).
#[derive(Debug)]
struct Executions {
    /// Requests a person asked to abort, with the reason: set by the API, read by their
    /// executor between steps and while a step waits for room or its ack.
    aborting: Mutex<HashMap<String, String>>,
    /// The executors themselves, stopped with the server.
    tasks: Mutex<tokio::task::JoinSet<()>>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    /// The orchestrator's state at start-up: the agents, the paused queue and the playbook
    /// history as the store last knew them. Nothing runs yet (see `server`).
    pub async fn restore(
        config: ServeConfig,
        store: Store,
        bus: Bus,
        audit: AuditLog,
        catalogue: Catalogue,
    ) -> anyhow::Result<Arc<Core>> {
        let started_at = Utc::now();
        store
            .forget_messages(Utc::now() - chrono::Duration::days(7))
            .await?;
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let mut registry = Registry::new(config.agent_thresholds);
        registry.restore(store.load_agents().await?, Utc::now());
        let queue_paused = store
            .queue_events(1)
            .await?
            .into_iter()
            .find(|e| e.kind == "paused")
            .map(|e| e.reason);
        if let Some(reason) = &queue_paused {
            tracing::warn!("the dispatch queue is still paused: {reason}");
        }
        let linter = crate::suggest::lint::Linter::new(
            config.data_dir.join("cache").join("ansible-lint"),
            // ansible-lint from the venv of the ansible-playbook the agents use, else PATH.
            crate::tools::ansible::find_ansible_lint(
                crate::tools::ansible::locate_ansible_playbook(
                    config.ansible_playbook.as_deref(),
                    &config.data_dir,
                )
                .as_deref(),
            ),
            crate::suggest::lint::DEFAULT_LIMIT,
        );
        let core = Arc::new(Core {
            linter,
            store,
            bus,
            audit,
            audit_queue: Default::default(),
            live,
            planning: Planning {
                catalogue: RwLock::new(Arc::new(catalogue)),
                history: Mutex::new(BTreeMap::new()),
                http: crate::llm::http_client(&config.llm)?,
                rate_limits: Mutex::new(HashMap::new()),
            },
            fleet: Fleet {
                registry: Mutex::new(registry),
                capacity_changed: Notify::new(),
                queue_paused: Mutex::new(queue_paused),
                started_at,
            },
            in_flight: InFlight {
                waiters: Mutex::new(HashMap::new()),
                unacked: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                previews: Mutex::new(HashMap::new()),
            },
            executions: Executions {
                aborting: Mutex::new(HashMap::new()),
                tasks: Mutex::new(tokio::task::JoinSet::new()),
            },
            signer: dispatch::load_or_create_signing_key(&config.data_dir)?,
            metrics: Default::default(),
            config,
        });
        core.load_history().await?;
        Ok(core)
    }

    pub(crate) fn emit(&self, event: LiveEvent) {
        // No listeners is fine: events are also in the store.
        let _ = self.live.send(event);
    }

    pub(crate) fn emit_task(&self, task: &Task) {
        self.emit(LiveEvent::Task {
            request_id: task.request_id.to_string(),
            task_id: task.id.to_string(),
            step_id: task.step_id.clone(),
            title: task.title.clone(),
            status: task.status,
            outcome: task.outcome.clone(),
            agent_id: task.agent_id.clone(),
            audit_commit: task.audit_commit.clone(),
            at: Utc::now(),
        });
    }

    /// Records a status change of a request: store first, then live. False when the request
    /// was in none of the `from` states (nothing changes).
    pub(crate) async fn request_status(
        &self,
        request: &Request,
        from: &[RequestStatus],
        to: RequestStatus,
        reason: Option<&str>,
    ) -> anyhow::Result<bool> {
        if !self
            .store
            .transition_request(&request.id, from, to, reason)
            .await?
        {
            return Ok(false);
        }
        self.emit(LiveEvent::Request {
            request_id: request.id.to_string(),
            status: to,
            reason: reason.map(str::to_owned),
            at: Utc::now(),
        });
        Ok(true)
    }
}

/// The task row's end state from an agent's result, with secrets redacted.
pub(crate) fn finish_of(result: &TaskResult) -> TaskFinish {
    let status = match result.outcome {
        ResultStatus::Succeeded => TaskStatus::Succeeded,
        ResultStatus::Failed => TaskStatus::Failed,
        ResultStatus::Aborted => TaskStatus::Aborted,
    };
    let recap: Vec<String> = result
        .hosts
        .iter()
        .map(|(host, c)| {
            format!(
                "{host} ok={} changed={} failed={}",
                c.ok,
                c.changed,
                c.failed + c.unreachable
            )
        })
        .collect();
    let error = result
        .error
        .as_deref()
        .map(|e| crate::redact::text(e).into_owned());
    let warnings: Vec<String> = result
        .warnings
        .iter()
        .map(|w| crate::redact::text(w).into_owned())
        .collect();
    // "succeeded with 2 warnings: …" so a list of outcomes does not read as plain success.
    let label = match (status, warnings.len()) {
        (TaskStatus::Succeeded, 1) => "succeeded with 1 warning".to_owned(),
        (TaskStatus::Succeeded, n) if n > 1 => format!("succeeded with {n} warnings"),
        _ => status.to_string(),
    };
    let outcome = match (&error, recap.is_empty()) {
        (None, false) => format!("{label}: {}", recap.join(", ")),
        (None, true) => label,
        (Some(error), _) => format!("{status}: {}", error.chars().take(300).collect::<String>()),
    };
    TaskFinish {
        status,
        outcome,
        resource_usage: serde_json::json!({
            "duration_ms": result.duration_ms,
            "exit_code": result.exit_code,
            "hosts": result.hosts,
        }),
        error,
        resource_state_at_failure: result
            .capacity
            .as_ref()
            .filter(|_| status != TaskStatus::Succeeded)
            .and_then(|c| serde_json::to_value(c).ok()),
        warnings,
    }
}
