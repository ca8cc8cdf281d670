//! The orchestrator (`chiffon serve`): plans requests, waits for approval, dispatches steps to
//! agents over the bus, records every state change in the store and the audit trail, and
//! serves the REST API and live events.
//!
//! Invariant: a step is dispatched only from `execute`, which only runs after an approval of
//! the exact plan version moved the request from `awaiting_approval` to `approved`.

mod audit_queue;
pub mod http;
pub mod live;
pub mod ui;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot, watch};

use crate::agent::{self, AgentConfig, ansible::Ansible};
use crate::audit::{AuditEntry, AuditLog};
use crate::bus::{Bus, Queue};
use crate::catalogue::Catalogue;
use crate::config::{Database, ServeConfig};
use crate::model::{
    AgentId, AgentState, AgentType, Request, RequestId, RequestStatus, Step, Task, TaskId,
    TaskStatus,
};
use crate::planner::{self, PlaybookHistory};
use crate::protocol::{Dispatch, Envelope, Message, ResultStatus, TaskResult};
pub use crate::registry::AgentInfo;
use crate::registry::{self, Placement, Registry, Transition};
use crate::store::{Store, TaskFinish};
use live::LiveEvent;

/// How many live events a slow WebSocket listener may fall behind before it is told so.
const LIVE_BUFFER: usize = 1024;
/// How long a dropped connection waits for the goodbye that may be on its way.
const DEPARTURE_GRACE: Duration = Duration::from_secs(1);
/// How often a step waiting for room looks again without news.
const ROOM_RECHECK: Duration = Duration::from_secs(5);
/// Past runs of a playbook kept for duration estimates.
const HISTORY_RUNS: u32 = 20;

/// State shared by the API handlers, the executor and the event consumer.
#[derive(Debug)]
pub struct Core {
    pub config: ServeConfig,
    pub store: Store,
    pub bus: Bus,
    pub audit: AuditLog,
    /// The audit trail's durable queue (see `audit_queue`).
    pub audit_queue: audit_queue::AuditQueue,
    catalogue: RwLock<Arc<Catalogue>>,
    history: Mutex<BTreeMap<String, PlaybookHistory>>,
    /// HTTP client for LLM providers.
    http: reqwest::Client,
    /// The last rate-limit headroom each provider reported (0–1), for routing.
    rate_limits: Mutex<HashMap<String, f64>>,
    pub live: broadcast::Sender<LiveEvent>,
    registry: Mutex<Registry>,
    /// Woken on every capacity report, so steps waiting for room look again.
    capacity_changed: tokio::sync::Notify,
    /// Why the dispatch queue is paused, when it is (see `wait_for_room`).
    paused: Mutex<Option<String>>,
    /// When this orchestrator started: agents' heartbeats after it tell which in-flight tasks
    /// survived a restart.
    started_at: chrono::DateTime<Utc>,
    /// Live events of check-mode preview runs, by their (unstored) task id.
    previews: Mutex<HashMap<String, Vec<crate::protocol::ExecEvent>>>,
    /// Requests a person asked to abort, with the reason.
    aborting: Mutex<HashMap<String, String>>,
    /// Requests being executed, stopped with the server.
    executions: Mutex<tokio::task::JoinSet<()>>,
    /// Executors waiting for a task's result, by task id.
    waiters: Mutex<HashMap<String, oneshot::Sender<TaskResult>>>,
    /// Tasks dispatched but not yet acknowledged, by task id.
    unacked: Mutex<HashMap<String, oneshot::Sender<String>>>,
    /// Which agent runs each task in flight, so a lost agent fails its tasks.
    running: Mutex<HashMap<String, String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the orchestrator on `listener` until `shutdown` completes.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let bus = config.bus.open().await?;
    serve_on(config, bus, listener, shutdown).await
}

/// Like [`serve`], on a bus that is already open: agents running in this process (tests,
/// benchmarks) can share an in-process bus with it.
pub async fn serve_on(
    config: ServeConfig,
    bus: Bus,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    remember_secrets(&config);
    let store = match &config.database {
        Database::Sqlite(path) => Store::open_sqlite(path).await?,
        Database::Postgres(url) => Store::open_postgres(url).await?,
    };
    let started_at = Utc::now();
    let audit = AuditLog::open_or_init(&config.data_dir.join("audit"))?;
    let catalogue = Catalogue::discover(&config.playbooks)?;
    tracing::info!(
        playbooks = catalogue.playbooks.len(),
        repo = %config.playbooks.display(),
        "playbook catalogue loaded"
    );
    store
        .forget_messages(Utc::now() - chrono::Duration::days(7))
        .await?;
    let (live, _) = broadcast::channel(LIVE_BUFFER);
    let mut registry = Registry::new(config.agent_thresholds);
    registry.restore(store.load_agents().await?, Utc::now());
    let paused = store
        .queue_events(1)
        .await?
        .into_iter()
        .find(|e| e.kind == "paused")
        .map(|e| e.reason);
    if let Some(reason) = &paused {
        tracing::warn!("the dispatch queue is still paused: {reason}");
    }
    let core = Arc::new(Core {
        store,
        bus,
        audit,
        audit_queue: Default::default(),
        catalogue: RwLock::new(Arc::new(catalogue)),
        history: Mutex::new(BTreeMap::new()),
        http: reqwest::Client::new(),
        rate_limits: Mutex::new(HashMap::new()),
        live,
        registry: Mutex::new(registry),
        capacity_changed: tokio::sync::Notify::new(),
        paused: Mutex::new(paused),
        executions: Mutex::new(tokio::task::JoinSet::new()),
        aborting: Mutex::new(HashMap::new()),
        previews: Mutex::new(HashMap::new()),
        started_at,
        waiters: Mutex::new(HashMap::new()),
        unacked: Mutex::new(HashMap::new()),
        running: Mutex::new(HashMap::new()),
        config,
    });
    core.load_history().await?;
    let audit_writer = tokio::spawn(audit_queue::run_writer(core.clone()));
    let events = tokio::spawn(consume_events(core.clone(), Queue::Events));
    let heartbeats = tokio::spawn(consume_events(core.clone(), Queue::Heartbeats));
    let sweeper = tokio::spawn(sweep_agents(core.clone()));
    let catalogue_watch = tokio::spawn(watch_catalogue(core.clone()));
    let departures = match core.bus.departures().await {
        Ok(departures) => Some(tokio::spawn(watch_departures(core.clone(), departures))),
        Err(error) => {
            tracing::warn!(
                "killed agents will be noticed only when their heartbeats stop ({} s): {error:#}",
                core.config.agent_thresholds.offline_after.as_secs()
            );
            None
        }
    };
    core.resume_requests().await?;

    let (stop_agents, agents_stopped) = watch::channel(false);
    let mut agent_tasks = Vec::new();
    if core.config.local_agents {
        let ansible = Ansible::locate_or_install(
            core.config.ansible_playbook.as_deref(),
            &core.config.data_dir,
        )
        .await?
        .with_vault_password_file(core.config.vault_password_file.as_deref())?;
        let host = agent::hostname();
        for agent_type in [AgentType::Infra, AgentType::Desktop] {
            let config = AgentConfig {
                agent_type,
                id: AgentId::parse(&format!("{agent_type}-{host}"))
                    .or_else(|| AgentId::parse(&format!("{agent_type}-local")))
                    .expect("valid id"),
                playbooks: Some(core.config.playbooks.clone()),
                extra_vars: core.config.extra_vars.clone(),
                heartbeat_interval: core.config.heartbeat_interval,
                probe: Default::default(),
            };
            agent_tasks.push(tokio::spawn(agent::run(
                config,
                Some(ansible.clone()),
                core.bus.clone(),
                agents_stopped.clone(),
            )));
        }
    }

    let address = listener.local_addr()?;
    if core.config.api_token.is_none() && !address.ip().is_loopback() {
        tracing::warn!(
            "listening on {address} WITHOUT an API token: anyone who can reach this address can approve and run playbooks; set CHIFFON_API_TOKEN or api_token_file"
        );
    }
    tracing::info!(
        data_dir = %core.config.data_dir.display(),
        "ready on http://{address} (API docs at http://{address}/docs)"
    );
    let app = http::router(core.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")?;

    let _ = stop_agents.send(true);
    for task in agent_tasks {
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Err(error))) => tracing::warn!("an agent stopped with an error: {error:#}"),
            Ok(_) => {}
            Err(_) => tracing::warn!("an agent did not stop within 5 s"),
        }
    }
    lock(&core.executions).abort_all();
    events.abort();
    heartbeats.abort();
    audit_writer.abort();
    sweeper.abort();
    catalogue_watch.abort();
    if let Some(departures) = departures {
        departures.abort();
    }
    Ok(())
}

/// Makes the secrets this server was given unprintable: its API token, secret-named extra
/// variables and the vault password (see `redact`).
fn remember_secrets(config: &ServeConfig) {
    if let Some(token) = &config.api_token {
        crate::redact::remember(token.expose());
    }
    crate::redact::remember_secrets_in(&config.extra_vars);
    if let Some(password) = config
        .vault_password_file
        .as_ref()
        .and_then(|file| std::fs::read_to_string(file).ok())
    {
        crate::redact::remember(&password);
    }
}

impl Core {
    fn emit(&self, event: LiveEvent) {
        // No listeners is fine: events are also in the store.
        let _ = self.live.send(event);
    }

    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the playbook repository again (after Chiffon changed it).
    pub fn reload_catalogue(&self) {
        match Catalogue::discover(&self.config.playbooks) {
            Ok(catalogue) => {
                *self.catalogue.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalogue);
            }
            Err(error) => tracing::warn!("kept the previous playbook catalogue: {error:#}"),
        }
    }

    pub fn agents(&self) -> Vec<AgentInfo> {
        lock(&self.registry).list(Utc::now())
    }

    pub fn agent(&self, id: &str) -> Option<AgentInfo> {
        lock(&self.registry).get(id, Utc::now())
    }

    pub fn resources(&self) -> registry::Totals {
        lock(&self.registry).totals(Utc::now())
    }

    /// Why the dispatch queue is paused, if it is.
    pub fn paused(&self) -> Option<String> {
        lock(&self.paused).clone()
    }

    async fn load_history(&self) -> anyhow::Result<()> {
        let mut history = BTreeMap::new();
        for (playbook, runs, last_failed) in self.store.playbook_runs().await? {
            let durations_s = self
                .store
                .playbook_durations(&playbook, HISTORY_RUNS)
                .await?;
            history.insert(
                playbook,
                PlaybookHistory {
                    durations_s,
                    last_failed,
                    runs,
                },
            );
        }
        *lock(&self.history) = history;
        Ok(())
    }

    /// Plans `text` and stores the request awaiting approval.
    pub async fn create_request(&self, text: &str, high_value: bool) -> anyhow::Result<Request> {
        // Re-read the repository so a playbook added a minute ago can be planned with.
        match Catalogue::discover(&self.config.playbooks) {
            Ok(fresh) => {
                *self.catalogue.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
            }
            Err(error) => tracing::warn!("keeping the previous playbook catalogue: {error:#}"),
        }
        let id = RequestId::generate();
        let ask = crate::llm::Ask {
            text,
            current: None,
            change: None,
        };
        let plan = self.make_plan(&id, &ask, high_value, 1).await?;
        let now = Utc::now();
        let request = Request {
            id,
            text: text.to_owned(),
            status: RequestStatus::AwaitingApproval,
            high_value,
            plan,
            reason: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_request(&request).await?;
        tracing::info!(request = %request.id, steps = request.plan.steps.len(), risk = %request.plan.risk.level, "planned a request");
        self.emit(LiveEvent::Request {
            request_id: request.id.to_string(),
            status: request.status,
            reason: None,
            at: now,
        });
        Ok(request)
    }

    /// Plans version `version` of request `id`: the rules, then the configured models in the
    /// routing policy's order (`llm::route`), falling back to the rules with the reason. The
    /// routing decision is stored whoever planned.
    async fn make_plan(
        &self,
        id: &RequestId,
        ask: &crate::llm::Ask<'_>,
        high_value: bool,
        version: u32,
    ) -> anyhow::Result<crate::model::Plan> {
        // The rules read the request and the change together: "… and use staging first".
        let text = match ask.change {
            Some(change) => format!("{}. {change}", ask.text),
            None => ask.text.to_owned(),
        };
        let history = lock(&self.history).clone();
        let catalogue = self.catalogue();
        // A change that only leaves portals out ("drop pihole") keeps the steps: the rules
        // plan the request as it was, and `attach_portals` applies the change.
        // Read from the repository at most once per plan, and only when needed.
        let mut portals: Option<Vec<crate::portals::Portal>> = None;
        let drops_portals = ask.change.is_some_and(|change| {
            let found = self.portals(&mut portals, &catalogue);
            !crate::portals::dropped(change, found).is_empty()
        });
        let rules_text = if drops_portals { ask.text } else { &text };
        let deterministic = planner::plan(rules_text, &catalogue, &history, version);
        let complexity = crate::llm::complexity(&text, &deterministic);
        let now = Utc::now();
        let mut quotas = BTreeMap::new();
        for provider in &self.config.llm.providers {
            let start = provider.period.start(now);
            let (tokens, cost) = self.store.llm_usage(&provider.name, start).await?;
            let rate = lock(&self.rate_limits).get(&provider.name).copied();
            quotas.insert(
                provider.name.clone(),
                crate::llm::Quota::new(provider, start, tokens, cost, rate),
            );
        }
        let route = crate::llm::route(&self.config.llm, &quotas, &complexity, high_value);
        let decision = crate::llm::Decision {
            request_id: id.to_string(),
            plan_version: version,
            at: now,
            planner: String::new(),
            reason_code: route.reason_code.to_owned(),
            reason: route.reason.clone(),
            outcome: String::new(),
            fallback_reason: None,
            high_value,
            complexity,
            quotas: quotas.into_values().collect(),
            attempts: Vec::new(),
            tokens: 0,
            cost_usd: 0.0,
            latency_ms: 0,
        };
        let (mut plan, decision) = crate::llm::plan_with(
            &self.http,
            &self.config.llm,
            &route,
            ask,
            &catalogue,
            &history,
            deterministic,
            decision,
        )
        .await;
        for quota in &decision.quotas {
            if let Some(rate) = quota.rate_limit_left {
                lock(&self.rate_limits).insert(quota.provider.clone(), rate);
            }
        }
        self.attach_portals(&mut plan, &text, &mut portals, &catalogue);
        self.store.record_llm_decision(&decision).await?;
        tracing::info!(
            request = %id,
            version,
            planner = %decision.planner,
            reason = %decision.reason_code,
            outcome = %decision.outcome,
            fallback = decision.fallback_reason.as_deref().unwrap_or("-"),
            tokens = decision.tokens,
            "planned"
        );
        Ok(plan)
    }

    /// Steps whose playbook takes a list of portals (`portals::input_variable`) get the
    /// homelab's portals, less those `text` (the request and its changes) drops, in that
    /// variable, and their titles say which: the person sees what will be monitored.
    fn attach_portals(
        &self,
        plan: &mut crate::model::Plan,
        text: &str,
        found: &mut Option<Vec<crate::portals::Portal>>,
        catalogue: &Catalogue,
    ) {
        let repo = &self.config.playbooks;
        for step in &mut plan.steps {
            let Some(variable) = step
                .playbook
                .as_deref()
                .and_then(|p| crate::portals::input_variable(repo, p))
            else {
                continue;
            };
            let all = self.portals(found, catalogue);
            let dropped = crate::portals::dropped(text, all);
            let chosen: Vec<&crate::portals::Portal> = all
                .iter()
                .filter(|p| !dropped.contains(p.stack.as_str()))
                .collect();
            step.extra_vars.insert(
                variable,
                serde_json::json!(chosen.iter().map(|p| &p.stack).collect::<Vec<_>>()),
            );
            let listed: Vec<String> = chosen
                .iter()
                .map(|p| format!("{} ({})", p.name, p.url))
                .collect();
            step.title = format!(
                "{} — {} portal{}: {}",
                step.title,
                chosen.len(),
                if chosen.len() == 1 { "" } else { "s" },
                if listed.is_empty() {
                    "none".to_owned()
                } else {
                    listed.join(", ")
                }
            );
        }
    }

    /// The repository's portals, discovered on first use and kept in `cache`.
    fn portals<'a>(
        &self,
        cache: &'a mut Option<Vec<crate::portals::Portal>>,
        catalogue: &Catalogue,
    ) -> &'a [crate::portals::Portal] {
        cache.get_or_insert_with(|| {
            crate::portals::discover(&self.config.playbooks, &catalogue.groups)
        })
    }

    /// Re-plans `request` with the change a person asked for: a new plan version with the
    /// original request, the current plan and the change as context. `None` when the request
    /// no longer awaits approval on the version it was read at (nothing changes).
    pub async fn modify(
        &self,
        request: &Request,
        change: &str,
        actor: &str,
    ) -> anyhow::Result<Option<Request>> {
        if request.status != RequestStatus::AwaitingApproval {
            return Ok(None);
        }
        // Earlier changes are part of the context too.
        let mut so_far = request.text.clone();
        for version in self.store.plan_versions(&request.id).await? {
            if let Some(earlier) = version.change {
                so_far.push_str(". ");
                so_far.push_str(&earlier);
            }
        }
        let ask = crate::llm::Ask {
            text: &so_far,
            current: Some(&request.plan),
            change: Some(change),
        };
        let version = request.plan.version + 1;
        let plan = self
            .make_plan(&request.id, &ask, request.high_value, version)
            .await?;
        if !self
            .store
            .add_plan_version(&request.id, request.plan.version, &plan, change)
            .await?
        {
            return Ok(None);
        }
        let decision = crate::store::Decision {
            kind: "modified".to_owned(),
            plan_version: version,
            actor: actor.to_owned(),
            reason: Some(crate::redact::text(change).into_owned()),
            at: Utc::now(),
        };
        self.store.record_decision(&request.id, &decision).await?;
        tracing::info!(request = %request.id, version, "plan modified: {change}");
        self.emit(LiveEvent::Request {
            request_id: request.id.to_string(),
            status: RequestStatus::AwaitingApproval,
            reason: Some(format!("plan v{version}: {change}")),
            at: Utc::now(),
        });
        self.store.get_request(&request.id).await
    }

    /// Records a status change of a request: store first, then audit (for decisions), then live.
    async fn request_status(
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

    /// Approves `request` (already checked executable by the API) and starts executing it.
    /// Returns false if it was no longer awaiting approval.
    pub async fn approve(self: &Arc<Self>, request: &Request, actor: &str) -> anyhow::Result<bool> {
        if !self
            .request_status(
                request,
                &[RequestStatus::AwaitingApproval],
                RequestStatus::Approved,
                None,
            )
            .await?
        {
            return Ok(false);
        }
        self.decide(request, "approved", actor, None).await?;
        self.record_audit(AuditEntry {
            kind: "approval",
            subject: format!(
                "approve request {} (plan v{}) by {actor}",
                request.id, request.plan.version
            ),
            subject_id: request.id.to_string(),
            recorded_at: Utc::now(),
            details: serde_json::json!({
                "request": {"id": request.id, "text": request.text},
                "plan": request.plan,
                "by": actor,
            }),
        })
        .await?;
        self.spawn_execution(request.clone(), false);
        Ok(true)
    }

    pub async fn reject(
        &self,
        request: &Request,
        reason: &str,
        actor: &str,
    ) -> anyhow::Result<bool> {
        if !self
            .request_status(
                request,
                &[RequestStatus::AwaitingApproval],
                RequestStatus::Rejected,
                Some(reason),
            )
            .await?
        {
            return Ok(false);
        }
        self.decide(request, "rejected", actor, Some(reason))
            .await?;
        self.record_audit(AuditEntry {
            kind: "rejection",
            subject: format!("reject request {} by {actor}: {reason}", request.id),
            subject_id: request.id.to_string(),
            recorded_at: Utc::now(),
            details: serde_json::json!({
                "request": {"id": request.id, "text": request.text},
                "plan": request.plan,
                "reason": reason,
                "by": actor,
            }),
        })
        .await?;
        Ok(true)
    }

    /// Stores who decided what about `request` (its current plan version).
    async fn decide(
        &self,
        request: &Request,
        kind: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> anyhow::Result<()> {
        let decision = crate::store::Decision {
            kind: kind.to_owned(),
            plan_version: request.plan.version,
            actor: actor.to_owned(),
            reason: reason.map(|r| crate::redact::text(r).into_owned()),
            at: Utc::now(),
        };
        self.store.record_decision(&request.id, &decision).await
    }

    /// Runs the approved plan's steps in dependency order; a step whose dependency did not
    /// succeed is cancelled, not run.
    ///
    /// `resumed`: a request that was paused waiting for capacity when the orchestrator
    /// stopped; steps that already finished keep their outcome and are not run again.
    async fn execute(&self, request: Request, resumed: bool) -> anyhow::Result<()> {
        let mut outcome: BTreeMap<String, TaskStatus> = BTreeMap::new();
        let mut in_flight: BTreeMap<String, Task> = BTreeMap::new();
        if resumed {
            self.take_stock(&request, &mut outcome, &mut in_flight)
                .await?;
        }
        if request.status == RequestStatus::Approved || !resumed {
            self.request_status(
                &request,
                &[RequestStatus::Approved],
                RequestStatus::Running,
                None,
            )
            .await?;
        }
        for step in request.plan.execution_order() {
            if outcome.contains_key(&step.id) {
                continue;
            }
            let abort = lock(&self.aborting).get(request.id.as_str()).cloned();
            if let Some(reason) = abort {
                let status = self
                    .cancel_step(
                        &request,
                        step,
                        &format!("not run: the request was aborted ({reason})"),
                    )
                    .await?;
                outcome.insert(step.id.clone(), status);
                continue;
            }
            if let Some(task) = in_flight.remove(&step.id) {
                let status = self.adopt(&request, step, task).await?;
                outcome.insert(step.id.clone(), status);
                continue;
            }
            let blocked = step
                .depends_on
                .iter()
                .find(|d| outcome.get(*d) != Some(&TaskStatus::Succeeded));
            let status = match blocked {
                Some(dependency) => {
                    self.cancel_step(
                        &request,
                        step,
                        &format!("not run: step {dependency} did not succeed"),
                    )
                    .await?
                }
                None => self.run_step(&request, step).await?,
            };
            outcome.insert(step.id.clone(), status);
        }
        let aborted_by = lock(&self.aborting).remove(request.id.as_str());
        let (status, reason) = if let Some(why) = aborted_by {
            (RequestStatus::Aborted, Some(format!("aborted: {why}")))
        } else if outcome.values().all(|s| *s == TaskStatus::Succeeded) {
            (RequestStatus::Succeeded, None)
        } else if outcome.values().any(|s| *s == TaskStatus::Aborted) {
            (
                RequestStatus::Aborted,
                Some("a step was aborted".to_owned()),
            )
        } else {
            let failed: Vec<&str> = outcome
                .iter()
                .filter(|(_, s)| **s == TaskStatus::Failed)
                .map(|(id, _)| id.as_str())
                .collect();
            (
                RequestStatus::Failed,
                Some(format!("step {} failed", failed.join(", "))),
            )
        };
        self.request_status(
            &request,
            &[RequestStatus::Running, RequestStatus::Paused],
            status,
            reason.as_deref(),
        )
        .await?;
        tracing::info!(request = %request.id, %status, "request finished");
        Ok(())
    }

    /// After a restart: what each step of `request` already did. Finished steps keep their
    /// outcome (audited now if the stop came between the two); steps sent to an agent are
    /// adopted; a task created but never sent is closed and its step runs again.
    async fn take_stock(
        &self,
        request: &Request,
        outcome: &mut BTreeMap<String, TaskStatus>,
        in_flight: &mut BTreeMap<String, Task>,
    ) -> anyhow::Result<()> {
        let filter = crate::store::TaskFilter {
            request_id: Some(request.id.clone()),
            limit: 1000,
            ..Default::default()
        };
        // Oldest first: the last task of a step is its current one.
        let mut latest: BTreeMap<String, Task> = BTreeMap::new();
        for task in self.store.list_tasks(&filter).await? {
            if task.plan_version == request.plan.version {
                latest.insert(task.step_id.clone(), task);
            }
        }
        for (step_id, task) in latest {
            let Some(step) = request.plan.steps.iter().find(|s| s.id == step_id) else {
                continue;
            };
            match task.status {
                status if status.is_terminal() => {
                    if !self.has_audit_entry(task.id.as_str()).await? {
                        self.audit_task(request, step, &task, None).await?;
                    }
                    outcome.insert(step_id, status);
                }
                TaskStatus::Queued => {
                    let reason = "not sent before the orchestrator stopped; sent again";
                    let finish = TaskFinish {
                        status: TaskStatus::Cancelled,
                        outcome: format!("cancelled: {reason}"),
                        resource_usage: serde_json::json!({}),
                        error: Some(reason.to_owned()),
                        resource_state_at_failure: None,
                    };
                    self.store.finish_task(&task.id, &finish).await?;
                    if let Some(closed) = self.store.get_task(&task.id).await? {
                        self.audit_task(request, step, &closed, None).await?;
                    }
                }
                _ => {
                    in_flight.insert(step_id, task);
                }
            }
        }
        Ok(())
    }

    /// Waits for a task that was in flight when the orchestrator stopped. Its agent confirms
    /// it still runs it by listing it in a heartbeat after this restart; its result may also
    /// be waiting in the events queue. A task no agent owns up to within `agent_offline_s`
    /// fails with the reason; one whose agent goes offline fails as "agent lost".
    async fn adopt(
        &self,
        request: &Request,
        step: &Step,
        mut task: Task,
    ) -> anyhow::Result<TaskStatus> {
        tracing::info!(task = %task.id, agent = ?task.agent_id, "adopting a task that was in flight before the restart");
        let (result_tx, mut result_rx) = oneshot::channel();
        lock(&self.waiters).insert(task.id.to_string(), result_tx);
        if let Some(agent) = &task.agent_id {
            lock(&self.running).insert(task.id.to_string(), agent.clone());
        }
        let window = self.config.agent_thresholds.offline_after;
        let task_id = task.id.to_string();
        let failure = |error: String| TaskResult::failed(&task_id, error, None);
        let mut not_listed_since: Option<std::time::Instant> = None;
        let result = loop {
            let stored = self.store.get_task(&task.id).await?;
            if let Some(stored) = stored.as_ref().filter(|t| t.status.is_terminal()) {
                // Its result was applied from the queue before we got here.
                lock(&self.waiters).remove(task.id.as_str());
                lock(&self.running).remove(task.id.as_str());
                if !self.has_audit_entry(stored.id.as_str()).await? {
                    self.audit_task(request, step, stored, None).await?;
                }
                return Ok(stored.status);
            }
            match tokio::time::timeout(Duration::from_secs(1), &mut result_rx).await {
                Ok(Ok(result)) => break result,
                Ok(Err(_)) => break failure("the task's waiter was dropped".to_owned()),
                Err(_) => {}
            }
            let owner = stored.and_then(|t| t.agent_id);
            let report = owner
                .as_deref()
                .and_then(|agent| self.agent(agent))
                .filter(|info| {
                    info.last_heartbeat_at
                        .is_some_and(|at| at >= self.started_at)
                });
            match (&owner, report) {
                (Some(agent), Some(info)) if info.running_tasks.contains(&task_id) => {
                    tracing::info!(task = %task.id, %agent, "the agent still runs it");
                    task.agent_id = Some(agent.clone());
                    lock(&self.running).insert(task_id.clone(), agent.clone());
                    let wait = self.config.execution_deadline + Duration::from_secs(30);
                    break match tokio::time::timeout(wait, &mut result_rx).await {
                        Ok(Ok(result)) => result,
                        _ => failure(format!(
                            "no result from agent {agent} within the {} s execution deadline",
                            self.config.execution_deadline.as_secs()
                        )),
                    };
                }
                (Some(agent), Some(_)) => {
                    // It reported after the restart without this task: its result may still
                    // be on its way; give it a few seconds.
                    let since = *not_listed_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > Duration::from_secs(5) {
                        break failure(format!(
                            "agent {agent} no longer runs this task after the orchestrator restarted, and its result never arrived"
                        ));
                    }
                }
                _ if (Utc::now() - self.started_at).to_std().unwrap_or_default() > window => {
                    break failure(format!(
                        "no agent reported running this task within {} s of the orchestrator restarting",
                        window.as_secs()
                    ));
                }
                _ => {}
            }
        };
        lock(&self.running).remove(task.id.as_str());
        self.conclude(request, step, &mut task, result).await
    }

    /// Waits until an agent has room for `step`, pausing the dispatch queue (and the
    /// request) meanwhile; see `registry` for the formula. A paused queue resumes only when
    /// an agent fits the step on two consecutive reports.
    async fn wait_for_room(
        &self,
        request: &Request,
        step: &Step,
        passed_over: &[String],
    ) -> anyhow::Result<Option<Placement>> {
        let mut request_paused = request.status == RequestStatus::Paused;
        loop {
            // Registered before looking, so a report that arrives in between still wakes us.
            let notified = self.capacity_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let abort = lock(&self.aborting).get(request.id.as_str()).cloned();
            if abort.is_some() {
                return Ok(None);
            }
            let queue_paused = self.paused().is_some();
            let decision = {
                let registry = lock(&self.registry);
                let now = Utc::now();
                registry
                    .place(
                        step.agent_type,
                        &step.resources,
                        passed_over,
                        queue_paused,
                        now,
                    )
                    .map_err(|why| {
                        if registry.all_full(step.agent_type, &step.resources, now) {
                            format!(
                                "every online {} agent is below {:.0} % free; {why}",
                                step.agent_type,
                                registry::FULL_BELOW * 100.0
                            )
                        } else {
                            why
                        }
                    })
            };
            match decision {
                Ok(placement) => {
                    if queue_paused {
                        self.set_queue(None, &format!("room again on {}", placement.reason))
                            .await?;
                    }
                    if request_paused {
                        self.request_status(
                            request,
                            &[RequestStatus::Paused],
                            RequestStatus::Running,
                            None,
                        )
                        .await?;
                    }
                    return Ok(Some(placement));
                }
                Err(why) => {
                    let reason = format!(
                        "waiting for room: step {} ({}) needs {}; {why}",
                        step.id,
                        step.title,
                        describe_needs(&step.resources)
                    );
                    // The request first: whoever sees the queue paused sees why it waits.
                    if !request_paused {
                        self.request_status(
                            request,
                            &[RequestStatus::Running],
                            RequestStatus::Paused,
                            Some(&reason),
                        )
                        .await?;
                        request_paused = true;
                    }
                    if !queue_paused {
                        self.set_queue(Some(&reason), &reason).await?;
                    }
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(ROOM_RECHECK) => {}
                    }
                }
            }
        }
    }

    /// Pauses (`Some(reason)`) or resumes (`None`) the dispatch queue: stored, audited,
    /// streamed and logged. A no-op when it already is in that state.
    async fn set_queue(&self, pause: Option<&str>, reason: &str) -> anyhow::Result<()> {
        {
            let mut paused = lock(&self.paused);
            if paused.is_some() == pause.is_some() {
                return Ok(());
            }
            *paused = pause.map(str::to_owned);
        }
        let kind = if pause.is_some() { "paused" } else { "resumed" };
        let now = Utc::now();
        if pause.is_some() {
            tracing::warn!("dispatch queue paused: {reason}");
        } else {
            tracing::info!("dispatch queue resumed: {reason}");
        }
        let id = self.store.record_queue_event(kind, reason, now).await?;
        self.record_audit(AuditEntry {
            kind: "queue",
            subject: format!("queue {kind}: {reason}"),
            subject_id: format!("queue-{id}"),
            recorded_at: now,
            details: serde_json::json!({"event": kind, "reason": reason, "agents": self.agents()}),
        })
        .await?;
        self.emit(LiveEvent::Queue {
            paused: pause.is_some(),
            reason: reason.to_owned(),
            at: now,
        });
        Ok(())
    }

    /// Runs every step of `request`'s current plan in check mode (`--check --diff`): nothing
    /// on the hosts changes, and the preview says, per step, whether it would change something,
    /// the diffs, or why it would fail. Kept with the plan version and shown with the request.
    pub async fn preview(&self, request: &Request) -> anyhow::Result<Preview> {
        let mut steps = Vec::new();
        for step in request.plan.execution_order() {
            steps.push(self.preview_step(request, step).await);
        }
        let preview = Preview {
            plan_version: request.plan.version,
            previewed_at: Utc::now(),
            steps,
        };
        self.store
            .save_preview(
                &request.id,
                request.plan.version,
                &serde_json::to_value(&preview)?,
            )
            .await?;
        Ok(preview)
    }

    async fn preview_step(&self, request: &Request, step: &Step) -> StepPreview {
        let mut preview = StepPreview {
            step_id: step.id.clone(),
            title: step.title.clone(),
            outcome: "not_previewed".to_owned(),
            changed: 0,
            diffs: Vec::new(),
            error: None,
        };
        if step.playbook.is_none() {
            preview.error = Some("this step runs no playbook".to_owned());
            return preview;
        }
        let task_id = TaskId::generate().to_string();
        let (result_tx, result_rx) = oneshot::channel();
        let (ack_tx, ack_rx) = oneshot::channel();
        lock(&self.waiters).insert(task_id.clone(), result_tx);
        lock(&self.unacked).insert(task_id.clone(), ack_tx);
        lock(&self.previews).insert(task_id.clone(), Vec::new());
        let dispatch = Dispatch {
            task_id: task_id.clone(),
            request_id: request.id.to_string(),
            step_id: step.id.clone(),
            title: format!("Preview: {}", step.title),
            action: step.action.clone(),
            playbook: step.playbook.clone(),
            limit: step.limit.clone(),
            check_mode: true,
            resources: Default::default(),
            tags: step.tags.clone(),
            extra_vars: step.extra_vars.clone(),
            deadline_s: self.config.execution_deadline.as_secs(),
            expires_at: Utc::now() + self.config.ack_timeout,
        };
        let envelope = Envelope::new(
            "orchestrator",
            Some(task_id.clone()),
            Message::Dispatch(dispatch),
        );
        let sent = self
            .bus
            .publish(&Queue::Work(step.agent_type), envelope.encode())
            .await;
        let result = match sent {
            Err(error) => Err(format!("could not send the preview: {error:#}")),
            Ok(()) => match tokio::time::timeout(self.config.ack_timeout, ack_rx).await {
                Err(_) | Ok(Err(_)) => Err(format!(
                    "no {} agent took the preview within {} s",
                    step.agent_type,
                    self.config.ack_timeout.as_secs()
                )),
                Ok(Ok(_)) => tokio::time::timeout(self.config.execution_deadline, result_rx)
                    .await
                    .map_err(|_| "the preview did not finish in time".to_owned())
                    .and_then(|r| r.map_err(|_| "the preview was lost".to_owned())),
            },
        };
        lock(&self.waiters).remove(&task_id);
        lock(&self.unacked).remove(&task_id);
        lock(&self.running).remove(&task_id);
        let events = lock(&self.previews).remove(&task_id).unwrap_or_default();
        preview.diffs = events
            .into_iter()
            .filter(|e| e.kind == "diff")
            .map(|e| PreviewDiff {
                host: e.host.unwrap_or_default(),
                task: e.task.unwrap_or_default(),
                diff: e.msg.unwrap_or_default(),
            })
            .collect();
        match result {
            Err(error) => preview.error = Some(error),
            Ok(result) => {
                preview.changed = result.hosts.values().map(|c| u64::from(c.changed)).sum();
                preview.outcome = match result.outcome {
                    ResultStatus::Succeeded if preview.changed > 0 => "would_change",
                    ResultStatus::Succeeded => "no_change",
                    _ => "would_fail",
                }
                .to_owned();
                preview.error = result.error.map(|e| crate::redact::text(&e).into_owned());
            }
        }
        preview
    }

    /// Stops a running request: the step in progress is cancelled on its agent (SIGTERM to
    /// the playbook, then SIGKILL) and ends `aborted`; steps not started are not run. Returns
    /// false when the request is not approved, running or paused.
    pub async fn abort(
        &self,
        request: &Request,
        reason: &str,
        actor: &str,
    ) -> anyhow::Result<bool> {
        if !matches!(
            request.status,
            RequestStatus::Approved | RequestStatus::Running | RequestStatus::Paused
        ) {
            return Ok(false);
        }
        self.decide(request, "aborted", actor, Some(reason)).await?;
        lock(&self.aborting).insert(request.id.to_string(), reason.to_owned());
        tracing::warn!(request = %request.id, "abort requested: {reason}");
        // The task in progress, if an agent has it.
        let running: Vec<(String, String)> = lock(&self.running)
            .iter()
            .map(|(task, agent)| (task.clone(), agent.clone()))
            .collect();
        for (task_id, agent) in running {
            let Some(id) = TaskId::parse(&task_id) else {
                continue;
            };
            let ours = self
                .store
                .get_task(&id)
                .await?
                .is_some_and(|t| t.request_id == request.id);
            if ours {
                self.send_cancel(&task_id, &agent, reason).await;
            }
        }
        // A step waiting for room looks again, and sees the abort.
        self.capacity_changed.notify_waiters();
        Ok(true)
    }

    async fn send_cancel(&self, task_id: &str, agent: &str, reason: &str) {
        let Some(agent) = AgentId::parse(agent) else {
            return;
        };
        let envelope = Envelope::new(
            "orchestrator",
            Some(task_id.to_owned()),
            Message::Cancel(crate::protocol::Cancel {
                task_id: task_id.to_owned(),
                reason: reason.to_owned(),
            }),
        );
        if let Err(error) = self
            .bus
            .publish(&Queue::Agent(agent), envelope.encode())
            .await
        {
            tracing::error!(task = %task_id, "could not send the cancel: {error:#}");
        }
    }

    /// Requests that were approved, running or waiting for capacity when the orchestrator
    /// stopped carry on from where they were (see `execute`).
    async fn resume_requests(self: &Arc<Self>) -> anyhow::Result<()> {
        for status in [
            RequestStatus::Approved,
            RequestStatus::Running,
            RequestStatus::Paused,
        ] {
            for request in self.store.requests_in(status).await? {
                tracing::info!(request = %request.id, %status, "resuming a request after a restart");
                self.spawn_execution(request, true);
            }
        }
        Ok(())
    }

    /// Runs `execute` in the background; the server stops these when it shuts down.
    fn spawn_execution(self: &Arc<Self>, request: Request, resumed: bool) {
        let core = self.clone();
        let mut executions = lock(&self.executions);
        while executions.try_join_next().is_some() {}
        executions.spawn(async move {
            let id = request.id.clone();
            if let Err(error) = core.execute(request, resumed).await {
                tracing::error!(request = %id, "execution stopped: {error:#}");
            }
        });
    }

    fn new_task(request: &Request, step: &Step, status: TaskStatus) -> Task {
        let now = Utc::now();
        Task {
            id: TaskId::generate(),
            request_id: request.id.clone(),
            step_id: step.id.clone(),
            plan_version: request.plan.version,
            title: step.title.clone(),
            status,
            outcome: None,
            resource_usage: serde_json::json!({}),
            service_touched: step.service.clone(),
            agent_id: None,
            playbook: step.playbook.clone(),
            error: None,
            resource_state_at_failure: None,
            suggestions: serde_json::json!([]),
            audit_commit: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        }
    }

    fn emit_task(&self, task: &Task) {
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

    async fn cancel_step(
        &self,
        request: &Request,
        step: &Step,
        reason: &str,
    ) -> anyhow::Result<TaskStatus> {
        let mut task = Self::new_task(request, step, TaskStatus::Queued);
        self.store.insert_task(&task).await?;
        let finish = TaskFinish {
            status: TaskStatus::Cancelled,
            outcome: format!("cancelled: {reason}"),
            resource_usage: serde_json::json!({}),
            error: Some(reason.to_owned()),
            resource_state_at_failure: None,
        };
        self.store.finish_task(&task.id, &finish).await?;
        task.status = TaskStatus::Cancelled;
        task.outcome = Some(finish.outcome.clone());
        task.error = finish.error.clone();
        self.audit_task(request, step, &task, None).await?;
        Ok(TaskStatus::Cancelled)
    }

    /// Dispatches one step and waits for its result (or a timeout), then audits it.
    async fn run_step(&self, request: &Request, step: &Step) -> anyhow::Result<TaskStatus> {
        let needs_room = step.resources.gpu_vram_gb > 0.0 || step.resources.cpu_cores > 0.0;
        // Agents that let a placed task down (no ack in time, or a refusal): the step is sent
        // to the next agent with room, at most twice.
        let mut passed_over: Vec<String> = Vec::new();
        loop {
            let placement = if needs_room {
                match self.wait_for_room(request, step, &passed_over).await? {
                    Some(placement) => Some(placement),
                    None => {
                        let reason = "not run: the request was aborted while it waited for room";
                        return self.cancel_step(request, step, reason).await;
                    }
                }
            } else {
                None
            };
            let mut task = Self::new_task(request, step, TaskStatus::Queued);
            self.store.insert_task(&task).await?;
            self.emit_task(&task);
            if let Some(placement) = &placement {
                lock(&self.registry).book(task.id.as_str(), placement, &step.resources);
                tracing::info!(task = %task.id, agent = %placement.agent_id, "placed by capacity: {}", placement.reason);
                let event = crate::protocol::ExecEvent {
                    kind: "placement".to_owned(),
                    msg: Some(format!("sent to {}", placement.reason)),
                    ..Default::default()
                };
                self.store.append_event(&task.id, &event).await?;
            }
            let status = self
                .dispatch_and_wait(request, step, &mut task, placement.as_ref())
                .await;
            lock(&self.registry).release(task.id.as_str());
            let status = status?;
            let Some(placement) = placement else {
                return Ok(status);
            };
            let never_started = self
                .store
                .get_task(&task.id)
                .await?
                .is_some_and(|t| t.started_at.is_none());
            if status != TaskStatus::Failed || !never_started || passed_over.len() >= 2 {
                return Ok(status);
            }
            passed_over.push(placement.agent_id.clone());
            let elsewhere = lock(&self.registry).place(
                step.agent_type,
                &step.resources,
                &passed_over,
                false,
                Utc::now(),
            );
            match elsewhere {
                Ok(next) => tracing::warn!(
                    task = %task.id,
                    "agent {} did not take the task; sending the step to {}",
                    placement.agent_id,
                    next.agent_id
                ),
                Err(_) => return Ok(status),
            }
        }
    }

    /// Sends the task to its agent (the placed one, or any of the step's type) and waits for
    /// the result, then stores and audits it.
    async fn dispatch_and_wait(
        &self,
        request: &Request,
        step: &Step,
        task: &mut Task,
        placement: Option<&Placement>,
    ) -> anyhow::Result<TaskStatus> {
        let (result_tx, result_rx) = oneshot::channel();
        let (ack_tx, ack_rx) = oneshot::channel();
        lock(&self.waiters).insert(task.id.to_string(), result_tx);
        lock(&self.unacked).insert(task.id.to_string(), ack_tx);
        let dispatch = Dispatch {
            task_id: task.id.to_string(),
            request_id: request.id.to_string(),
            step_id: step.id.clone(),
            title: step.title.clone(),
            action: step.action.clone(),
            playbook: step.playbook.clone(),
            limit: step.limit.clone(),
            check_mode: false,
            resources: step.resources.clone(),
            tags: step.tags.clone(),
            extra_vars: step.extra_vars.clone(),
            deadline_s: self.config.execution_deadline.as_secs(),
            expires_at: Utc::now() + self.config.ack_timeout,
        };
        let envelope = Envelope::new(
            "orchestrator",
            Some(task.id.to_string()),
            Message::Dispatch(dispatch),
        );
        let task_id = task.id.to_string();
        let failure = move |error: String| TaskResult::failed(&task_id, error, None);
        // Marked before publishing: a fast agent's ack can arrive before a later write would,
        // and the status must only move forward (queued → dispatched → running).
        // A placed task belongs to its agent from the start: only it may acknowledge it.
        self.store
            .mark_task(
                &task.id,
                TaskStatus::Dispatched,
                placement.map(|p| p.agent_id.as_str()),
            )
            .await?;
        task.status = TaskStatus::Dispatched;
        self.emit_task(task);
        // A dispatch the bus will not take fails the task with the reason rather than leaving
        // the request `running` until a restart.
        let queue = match placement.and_then(|p| AgentId::parse(&p.agent_id)) {
            Some(agent) => Queue::Agent(agent),
            None => Queue::Work(step.agent_type),
        };
        let published = self.bus.publish(&queue, envelope.encode()).await;
        let result = match published {
            Err(error) => failure(format!(
                "could not send the task to the {} agents: {error:#}",
                step.agent_type
            )),
            Ok(()) => {
                self.await_result(task, step, ack_rx, result_rx, failure)
                    .await
            }
        };
        lock(&self.waiters).remove(task.id.as_str());
        lock(&self.unacked).remove(task.id.as_str());
        self.conclude(request, step, task, result).await
    }

    /// Stores (once), records and audits a task's result.
    async fn conclude(
        &self,
        request: &Request,
        step: &Step,
        task: &mut Task,
        result: TaskResult,
    ) -> anyhow::Result<TaskStatus> {
        lock(&self.waiters).remove(task.id.as_str());
        // The event consumer normally stored the result already; this covers timeouts.
        let finish = finish_of(&result);
        self.store.finish_task(&task.id, &finish).await?;
        task.status = finish.status;
        task.outcome = Some(finish.outcome.clone());
        task.error = finish.error.clone();
        task.resource_usage = finish.resource_usage.clone();
        if finish.status == TaskStatus::Failed {
            // What the failure usually means, at the failed task's line (never secrets: the
            // messages were redacted by the agent and again here).
            let failures: Vec<crate::protocol::Failure> = result
                .failures
                .iter()
                .map(|f| crate::protocol::Failure {
                    msg: crate::redact::text(&f.msg).into_owned(),
                    ..f.clone()
                })
                .collect();
            let found = crate::suggest::runs::from_failures(
                &self.config.playbooks,
                step.playbook.as_deref(),
                &failures,
                finish.error.as_deref(),
            );
            if !found.is_empty() {
                let value = serde_json::to_value(&found)?;
                self.store.set_task_suggestions(&task.id, &value).await?;
                task.suggestions = value;
            }
        }
        self.record_history(step, &result, finish.status);
        self.audit_task(request, step, task, Some(&result)).await?;
        Ok(task.status)
    }

    /// Waits for the agent's ack, then for its result, each within its timeout.
    async fn await_result(
        &self,
        task: &mut Task,
        step: &Step,
        ack_rx: oneshot::Receiver<String>,
        result_rx: oneshot::Receiver<TaskResult>,
        failure: impl Fn(String) -> TaskResult,
    ) -> TaskResult {
        let ack = tokio::time::timeout(self.config.ack_timeout, ack_rx).await;
        match ack {
            Err(_) | Ok(Err(_)) => failure(format!(
                "no {} agent took the task within {} s (ack timeout); check `chiffon agents`",
                step.agent_type,
                self.config.ack_timeout.as_secs()
            )),
            Ok(Ok(agent)) => {
                let abort = lock(&self.aborting).get(task.request_id.as_str()).cloned();
                if let Some(reason) = abort {
                    self.send_cancel(task.id.as_str(), &agent, &reason).await;
                }
                task.agent_id = Some(agent);
                // The agent enforces the deadline itself; the margin covers its clean-up.
                let wait = self.config.execution_deadline + Duration::from_secs(30);
                match tokio::time::timeout(wait, result_rx).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_)) | Err(_) => failure(format!(
                        "no result from agent {} within the {} s execution deadline",
                        task.agent_id.as_deref().unwrap_or("?"),
                        self.config.execution_deadline.as_secs()
                    )),
                }
            }
        }
    }

    fn record_history(&self, step: &Step, result: &TaskResult, status: TaskStatus) {
        let Some(playbook) = &step.playbook else {
            return;
        };
        let mut history = lock(&self.history);
        let entry = history.entry(playbook.clone()).or_default();
        entry.runs += 1;
        entry.last_failed = status == TaskStatus::Failed;
        if status == TaskStatus::Succeeded {
            entry
                .durations_s
                .insert(0, result.duration_ms as f64 / 1000.0);
            entry.durations_s.truncate(HISTORY_RUNS as usize);
        }
    }

    /// One commit per finished task, naming the task, the request, the plan, the dispatch
    /// and the result; the commit id goes back on the task row.
    async fn audit_task(
        &self,
        request: &Request,
        step: &Step,
        task: &Task,
        result: Option<&TaskResult>,
    ) -> anyhow::Result<()> {
        let stored = self
            .store
            .get_task(&task.id)
            .await?
            .unwrap_or_else(|| task.clone());
        let entry = AuditEntry {
            kind: "task",
            subject: format!("task {} {}: {}", task.id, task.status, step.title),
            subject_id: task.id.to_string(),
            recorded_at: Utc::now(),
            details: serde_json::json!({
                "task": {
                    "id": task.id,
                    "status": task.status,
                    "outcome": task.outcome,
                    "error": task.error,
                    "created_at": stored.created_at,
                    "started_at": stored.started_at,
                    "finished_at": stored.finished_at,
                },
                "request": {"id": request.id, "text": request.text},
                "plan": {"version": request.plan.version, "step": step, "risk": request.plan.risk},
                "dispatch": {
                    "agent_type": step.agent_type,
                    "agent_id": stored.agent_id,
                    "playbook": step.playbook,
                    "limit": step.limit,
                },
                "result": result,
                "suggestions": stored.suggestions,
            }),
        };
        // The writer puts the commit on the task row (now, or once the repository is back).
        let commit = self.record_audit(entry).await?;
        let mut task = stored;
        task.audit_commit = commit.or(task.audit_commit);
        self.emit_task(&task);
        Ok(())
    }

    /// Applies one message from an agent. Errors are logged by the caller; the message is
    /// acknowledged only after this returns.
    async fn handle_event(&self, envelope: Envelope) -> anyhow::Result<()> {
        let sender = envelope.sender.clone();
        let kind = envelope.message.type_name();
        let correlation_id = envelope.correlation_id.clone();
        match envelope.message {
            Message::Hello(hello) => {
                let change = lock(&self.registry).hello(&sender, &hello, Utc::now());
                tracing::info!(agent = %sender, host = %hello.host, version = %hello.version, "agent said hello");
                self.agent_changed(change).await?;
            }
            Message::Heartbeat(beat) => {
                let change = lock(&self.registry).heartbeat(&sender, beat, Utc::now());
                self.capacity_changed.notify_waiters();
                self.agent_changed(change).await?;
            }
            Message::Goodbye(goodbye) => {
                let change = lock(&self.registry).goodbye(&sender, &goodbye.reason, Utc::now());
                self.agent_changed(change).await?;
            }
            Message::Ack(ack) => {
                let Some(task_id) = TaskId::parse(&ack.task_id) else {
                    return Ok(());
                };
                if self.refuse_foreign(&task_id, &sender, kind).await? {
                    return Ok(());
                }
                self.store
                    .mark_task(&task_id, TaskStatus::Running, Some(&sender))
                    .await?;
                if let Some(task) = self.store.get_task(&task_id).await? {
                    self.emit_task(&task);
                }
                if let Some(waiter) = lock(&self.unacked).remove(&ack.task_id) {
                    lock(&self.running).insert(ack.task_id.clone(), sender.clone());
                    let _ = waiter.send(sender);
                }
            }
            Message::Progress(progress) => {
                let Some(task_id) = TaskId::parse(&progress.task_id) else {
                    return Ok(());
                };
                // Read once: for the owner check and for the live event.
                let task = self.store.get_task(&task_id).await?;
                if self
                    .refuse_foreign_to(task.as_ref(), &task_id, &sender, kind)
                    .await
                {
                    return Ok(());
                }
                let mut event = progress.event;
                if let Some(msg) = &event.msg {
                    event.msg = Some(crate::redact::text(msg).into_owned());
                }
                // A preview run's events stay with the preview, not in the task tables.
                if let Some(events) = lock(&self.previews).get_mut(task_id.as_str()) {
                    events.push(event);
                    return Ok(());
                }
                self.store.append_event(&task_id, &event).await?;
                if let Some(task) = task {
                    self.emit(LiveEvent::Execution {
                        request_id: task.request_id.to_string(),
                        task_id: task.id.to_string(),
                        step_id: task.step_id,
                        event,
                        at: Utc::now(),
                    });
                }
            }
            Message::Result(result) => {
                let Some(task_id) = TaskId::parse(&result.task_id) else {
                    tracing::warn!(agent = %sender, "result for a malformed task id {:?}", result.task_id);
                    return Ok(());
                };
                if self.refuse_foreign(&task_id, &sender, kind).await? {
                    return Ok(());
                }
                self.store
                    .finish_task(&task_id, &finish_of(&result))
                    .await?;
                self.resolve(task_id.as_str(), &sender, result);
            }
            Message::Error(error) => {
                tracing::warn!(agent = %sender, code = ?error.code, "agent reported an error: {}", error.message);
                // An error about a task that is being waited for fails that task with the reason.
                if let Some(task_id) = correlation_id.as_deref().and_then(TaskId::parse) {
                    let waited = lock(&self.waiters).contains_key(task_id.as_str());
                    if waited && !self.refuse_foreign(&task_id, &sender, kind).await? {
                        let result = TaskResult::failed(
                            &task_id.to_string(),
                            format!("agent {sender} refused the task: {}", error.message),
                            None,
                        );
                        self.store
                            .finish_task(&task_id, &finish_of(&result))
                            .await?;
                        self.resolve(task_id.as_str(), &sender, result);
                    }
                }
            }
            Message::Dispatch(_) | Message::Cancel(_) => {
                tracing::warn!(agent = %sender, "ignored a {kind} message on the events queue");
            }
        }
        Ok(())
    }
}

impl Core {
    /// An agent stopped answering: the tasks it was running end `failed` ("agent lost") rather
    /// than stay `running` forever. They are not re-dispatched: a playbook that stopped half way
    /// may have changed things, and a person should decide whether to run it again.
    async fn agent_lost(&self, agent_id: &str, why: &str) {
        let tasks: Vec<String> = lock(&self.running)
            .iter()
            .filter(|(_, agent)| agent.as_str() == agent_id)
            .map(|(task, _)| task.clone())
            .collect();
        for task_id in tasks {
            let Some(id) = TaskId::parse(&task_id) else {
                continue;
            };
            let result = TaskResult::failed(
                &task_id.clone(),
                format!("agent lost: {agent_id} went offline while running this task ({why})"),
                None,
            );
            if let Err(error) = self.store.finish_task(&id, &finish_of(&result)).await {
                tracing::error!(task = %task_id, "could not record the lost agent's task: {error:#}");
            }
            self.resolve(&task_id, agent_id, result);
        }
    }

    /// Stores, streams and logs an agent's status change; an agent gone offline fails the
    /// tasks it was running.
    async fn agent_changed(&self, change: Option<Transition>) -> anyhow::Result<()> {
        let Some(change) = change else {
            return Ok(());
        };
        let info = self.agent(&change.agent_id);
        match change.to {
            AgentState::Online => {
                tracing::info!(agent = %change.agent_id, "agent online: {}", change.reason);
            }
            _ => {
                tracing::warn!(agent = %change.agent_id, status = %change.to, "agent {}: {}", change.to, change.reason);
            }
        }
        if let Some(info) = &info {
            self.store.record_agent_transition(info, &change).await?;
        }
        if change.to == AgentState::Offline {
            self.agent_lost(&change.agent_id, &change.reason).await;
        }
        self.emit(LiveEvent::Agent {
            agent_id: change.agent_id,
            status: change.to,
            reason: change.reason,
            at: change.at,
        });
        self.capacity_changed.notify_waiters();
        Ok(())
    }

    /// Hands a task's result to its executor. A result can arrive without an ack (an agent
    /// that refuses work straight away), so it settles the ack wait too.
    fn resolve(&self, task_id: &str, agent: &str, result: TaskResult) {
        lock(&self.running).remove(task_id);
        if let Some(waiter) = lock(&self.unacked).remove(task_id) {
            let _ = waiter.send(agent.to_owned());
        }
        if let Some(waiter) = lock(&self.waiters).remove(task_id) {
            let _ = waiter.send(result);
        }
    }
}

/// A check-mode run of a plan version (`Core::preview`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub plan_version: u32,
    pub previewed_at: chrono::DateTime<Utc>,
    pub steps: Vec<StepPreview>,
}

/// What one step would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepPreview {
    pub step_id: String,
    pub title: String,
    /// `would_change`, `no_change`, `would_fail` or `not_previewed`.
    pub outcome: String,
    /// Changes Ansible reported, summed over hosts.
    pub changed: u64,
    pub diffs: Vec<PreviewDiff>,
    pub error: Option<String>,
}

/// One file or state change a task would make, as Ansible's `--diff` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewDiff {
    pub host: String,
    pub task: String,
    pub diff: String,
}

/// "8 GB of GPU memory and 2 cores", for messages.
fn describe_needs(needs: &crate::model::Resources) -> String {
    let mut parts = Vec::new();
    if needs.gpu_vram_gb > 0.0 {
        parts.push(format!("{} GB of GPU memory on one GPU", needs.gpu_vram_gb));
    }
    if needs.cpu_cores > 0.0 {
        parts.push(format!("{} CPU cores", needs.cpu_cores));
    }
    parts.join(" and ")
}

/// The task row's end state from an agent's result, with secrets redacted.
fn finish_of(result: &TaskResult) -> TaskFinish {
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
    let outcome = match (&error, recap.is_empty()) {
        (None, false) => format!("{status}: {}", recap.join(", ")),
        (None, true) => status.to_string(),
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
    }
}

/// Consumes the events queue for the life of the server. A message is acknowledged only after
/// what it says is stored; one that can never be applied goes to the dead-letter queue.
async fn consume_events(core: Arc<Core>, queue: Queue) {
    let mut consumer = core.bus.consume(&queue);
    while let Some(delivery) = consumer.next().await {
        let envelope = match Envelope::decode(&delivery.body) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(code = ?error.code, "refused a message on the events queue: {}", error.message);
                core.reply_error(&delivery.body, &error).await;
                if let Err(error) = delivery.reject().await {
                    tracing::warn!("could not dead-letter a message: {error:#}");
                }
                continue;
            }
        };
        let kind = envelope.message.type_name();
        // A redelivered message must not count twice. Acks, results and errors are idempotent
        // already (task status moves by compare-and-set, and a finished task never moves), so
        // only progress events, which are appended, are recorded by message id.
        let tracked = matches!(envelope.message, Message::Progress(_));
        let fresh = if tracked {
            match core.store.remember_message(&envelope.message_id).await {
                Ok(fresh) => fresh,
                Err(error) => {
                    // Not acknowledged: the broker will deliver it again once the store is back.
                    tracing::error!(kind, "could not record a message id: {error:#}");
                    continue;
                }
            }
        } else {
            true
        };
        if !fresh {
            tracing::debug!(kind, message_id = %envelope.message_id, "dropped a duplicate message");
        } else {
            let message_id = envelope.message_id.clone();
            if let Err(error) = core.handle_event(envelope).await {
                tracing::error!(
                    kind,
                    "could not apply an agent message, will retry it: {error:#}"
                );
                // Forget it was seen and hand it back, after a pause so a broken database does
                // not turn into a busy loop. In-process there is no broker to hand it back to.
                if tracked {
                    let _ = core.store.forget_message(&message_id).await;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                if !matches!(core.bus, Bus::InProcess(_)) {
                    if let Err(error) = delivery.requeue().await {
                        tracing::warn!("could not requeue a message: {error:#}");
                    }
                    continue;
                }
            }
        }
        if let Err(error) = delivery.ack().await {
            tracing::warn!("could not acknowledge a message: {error:#}");
        }
    }
}

impl Core {
    /// A task's `ack`, `progress`, `result` or `error` counts only from the agent the task was
    /// placed on or that acknowledged it first. Another sender is told so (`error`
    /// `rejected`) and its message changes nothing. Returns whether it was refused.
    async fn refuse_foreign(
        &self,
        task_id: &TaskId,
        sender: &str,
        kind: &str,
    ) -> anyhow::Result<bool> {
        let task = self.store.get_task(task_id).await?;
        Ok(self
            .refuse_foreign_to(task.as_ref(), task_id, sender, kind)
            .await)
    }

    /// `refuse_foreign` for a task the caller has already read.
    async fn refuse_foreign_to(
        &self,
        task: Option<&Task>,
        task_id: &TaskId,
        sender: &str,
        kind: &str,
    ) -> bool {
        let owner = task.and_then(|t| t.agent_id.clone());
        let Some(owner) = owner.filter(|owner| owner != sender) else {
            return false;
        };
        tracing::warn!(agent = %sender, task = %task_id, %owner, "refused a {kind} for a task that belongs to another agent");
        if let Some(agent) = AgentId::parse(sender) {
            let reply = Envelope::new(
                "orchestrator",
                Some(task_id.to_string()),
                Message::Error(crate::protocol::ErrorReply {
                    code: crate::protocol::ErrorCode::Rejected,
                    message: format!("{kind} refused: task {task_id} belongs to agent {owner}"),
                    retryable: false,
                }),
            );
            if let Err(error) = self.bus.publish(&Queue::Agent(agent), reply.encode()).await {
                tracing::warn!("could not send an error reply: {error:#}");
            }
        }
        true
    }

    /// Tells the sender of a refused message why, when the message names a sender we can reach.
    async fn reply_error(&self, body: &[u8], error: &crate::protocol::DecodeError) {
        let sender = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("sender")
                    .and_then(|s| s.as_str())
                    .and_then(AgentId::parse)
            });
        let Some(sender) = sender else { return };
        let reply = Envelope::new(
            "orchestrator",
            None,
            Message::Error(crate::protocol::ErrorReply {
                code: error.code,
                message: error.message.clone(),
                retryable: false,
            }),
        );
        if let Err(error) = self
            .bus
            .publish(&Queue::Agent(sender), reply.encode())
            .await
        {
            tracing::warn!("could not send an error reply: {error:#}");
        }
    }
}

/// How often the playbook repository is looked at for changes.
const CATALOGUE_CHECK: Duration = Duration::from_secs(30);
/// The catalogue is read again at least this often, changed or not.
const CATALOGUE_MAX_AGE: Duration = Duration::from_secs(3600);

/// Reads the playbook repository again when its files change (checked every 30 s) and at
/// least hourly, so new or edited playbooks are planned with without a restart.
async fn watch_catalogue(core: Arc<Core>) {
    let root = core.config.playbooks.clone();
    let look = move || fingerprint(&root);
    let mut last = tokio::task::spawn_blocking(look.clone()).await.ok();
    let mut read_at = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(CATALOGUE_CHECK).await;
        let now = tokio::task::spawn_blocking(look.clone()).await.ok();
        if now != last || read_at.elapsed() >= CATALOGUE_MAX_AGE {
            if now != last {
                tracing::info!("the playbook repository changed; reading it again");
            }
            core.reload_catalogue();
            last = now;
            read_at = tokio::time::Instant::now();
        }
    }
}

/// (files, total size, newest modification) of the repository's YAML and config files.
fn fingerprint(root: &std::path::Path) -> (u64, u64, Option<std::time::SystemTime>) {
    let mut stack = vec![root.to_owned()];
    let (mut files, mut size, mut newest) = (0, 0, None);
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if [".yml", ".yaml", ".cfg", ".j2"]
                .iter()
                .any(|e| name.ends_with(e))
            {
                files += 1;
                size += meta.len();
                newest = newest.max(meta.modified().ok());
            }
        }
    }
    (files, size, newest)
}

/// Moves silent agents to suspect and offline, once a second.
async fn sweep_agents(core: Arc<Core>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let changes = lock(&core.registry).sweep(Utc::now());
        for change in changes {
            if let Err(error) = core.agent_changed(Some(change)).await {
                tracing::error!("could not record an agent status change: {error:#}");
            }
        }
    }
}

/// Agents whose bus connection dropped: offline at once, unless a goodbye arrives within a
/// second (a clean stop closes the connection right after saying goodbye) or their queue has
/// a consumer again (a broker restart, a reconnect).
async fn watch_departures(
    core: Arc<Core>,
    mut departures: tokio::sync::mpsc::UnboundedReceiver<AgentId>,
) {
    while let Some(agent) = departures.recv().await {
        let core = core.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DEPARTURE_GRACE).await;
            // Only a queue nobody consumes any more means the agent is gone: a broker that is
            // restarting drops every consumer at once, and they come back by themselves.
            match core.bus.agent_connected(&agent).await {
                Some(false) => {}
                Some(true) => return,
                None => {
                    tracing::info!(agent = %agent, "the broker cannot say whether the agent is still connected; leaving it to heartbeats");
                    return;
                }
            }
            let change = lock(&core.registry).connection_lost(agent.as_str(), Utc::now());
            if let Err(error) = core.agent_changed(change).await {
                tracing::error!("could not record an agent status change: {error:#}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn a_new_or_edited_playbook_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), "- hosts: all\n").unwrap();
        let before = fingerprint(dir.path());
        std::fs::write(dir.path().join("README.md"), "not a playbook").unwrap();
        assert_eq!(fingerprint(dir.path()), before, "other files do not count");
        std::fs::create_dir_all(dir.path().join("roles/x/tasks")).unwrap();
        std::fs::write(dir.path().join("roles/x/tasks/main.yml"), "- debug: {}\n").unwrap();
        assert_ne!(fingerprint(dir.path()), before);
    }
}
