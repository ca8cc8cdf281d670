//! The composition root of `chiffon serve`: the one place that wires the configuration, the
//! store, the audit repository, the bus, the orchestrator's background tasks, the agents that
//! run in this process and the HTTP router together, and takes them down again on shutdown.
//!
//! `serve` takes an already-bound listener and a shutdown future (the binary passes ctrl-c,
//! tests and benchmarks their own), so nothing here picks a port or sleeps.

pub mod listen;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::agent::{self, AgentConfig, ansible::Ansible};
use crate::audit::AuditLog;
use crate::bus::{Bus, Queue};
use crate::catalogue::Catalogue;
use crate::config::{Database, ServeConfig};
use crate::model::{AgentId, AgentType};
use crate::orchestrator::{self, Core};
use crate::store::Store;

/// How long an in-process agent has to stop cleanly at shutdown.
const AGENT_STOP: Duration = Duration::from_secs(5);

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
    refuse_open_without_token(&config, &listener)?;
    let tls = match &config.http.tls {
        Some(files) => Some(listen::tls_acceptor(&files.cert, &files.key)?),
        None => None,
    };
    crate::ops::doctor::warn_at_start_up(&config).await;
    let core = open_core(config, bus).await?;
    let background = Background::start(&core).await;
    core.resume_requests().await?;
    let agents = LocalAgents::start(&core).await?;
    serve_http(&core, listener, tls, shutdown).await?;
    agents.stop().await;
    core.stop_executions();
    background.abort();
    core.linter.stop();
    Ok(())
}

/// The orchestrator's state from the data directory, the database, the audit repository and
/// the playbook repository the configuration names.
async fn open_core(config: ServeConfig, bus: Bus) -> anyhow::Result<Arc<Core>> {
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
    let audit = AuditLog::open_or_init(&config.data_dir.join("audit"))?;
    let catalogue = Catalogue::discover(&config.playbooks)?;
    tracing::info!(
        playbooks = catalogue.playbooks.len(),
        repo = %config.playbooks.display(),
        "playbook catalogue loaded"
    );
    Core::restore(config, store, bus, audit, catalogue).await
}

/// Makes the secrets this server was given unprintable: its API token, secret-named extra
/// variables and the vault password (see `redact`).
fn remember_secrets(config: &ServeConfig) {
    for token in [&config.api_token, &config.http.metrics_token]
        .into_iter()
        .flatten()
    {
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

/// The orchestrator's tasks that run for the life of the server.
struct Background {
    audit_writer: JoinHandle<()>,
    events: JoinHandle<()>,
    heartbeats: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    catalogue_watch: JoinHandle<()>,
    /// ansible-lint's cache warmed for the served repository, soon after start-up.
    warm_suggestions: JoinHandle<()>,
    /// Absent when the bus cannot report dropped connections.
    departures: Option<JoinHandle<()>>,
}

impl Background {
    async fn start(core: &Arc<Core>) -> Background {
        let audit_writer = tokio::spawn(core.clone().run_audit_writer());
        let events = tokio::spawn(core.clone().consume_events(Queue::Events));
        let heartbeats = tokio::spawn(core.clone().consume_events(Queue::Heartbeats));
        let sweeper = tokio::spawn(core.clone().sweep_agents());
        let catalogue_watch = tokio::spawn(core.clone().watch_catalogue());
        let warm_suggestions = tokio::spawn(core.clone().warm_suggestions());
        let departures = match core.bus.departures().await {
            Ok(departures) => Some(tokio::spawn(core.clone().watch_departures(departures))),
            Err(error) => {
                tracing::warn!(
                    "killed agents will be noticed only when their heartbeats stop ({} s): {error:#}",
                    core.config.agent_thresholds.offline_after.as_secs()
                );
                None
            }
        };
        Background {
            audit_writer,
            events,
            heartbeats,
            sweeper,
            catalogue_watch,
            warm_suggestions,
            departures,
        }
    }

    fn abort(self) {
        self.events.abort();
        self.heartbeats.abort();
        self.audit_writer.abort();
        self.sweeper.abort();
        self.catalogue_watch.abort();
        self.warm_suggestions.abort();
        if let Some(departures) = self.departures {
            departures.abort();
        }
    }
}

/// The infra and desktop agents this process runs itself when `local_agents` is set, on the
/// server's bus.
struct LocalAgents {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl LocalAgents {
    async fn start(core: &Core) -> anyhow::Result<LocalAgents> {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
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
                    orchestrator_key: Some(core.orchestrator_key()),
                };
                tasks.push(tokio::spawn(agent::run(
                    config,
                    Some(ansible.clone()),
                    core.bus.clone(),
                    stopped.clone(),
                )));
            }
        }
        Ok(LocalAgents { stop, tasks })
    }

    /// Tells the agents to stop and waits a little for each.
    async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            match tokio::time::timeout(AGENT_STOP, task).await {
                Ok(Ok(Err(error))) => tracing::warn!("an agent stopped with an error: {error:#}"),
                Ok(_) => {}
                Err(_) => tracing::warn!("an agent did not stop within 5 s"),
            }
        }
    }
}

/// Listening beyond loopback without a token hands the API to the network: refused unless the
/// owner said `--insecure-no-token` (docs/security.md says why no token is generated).
fn refuse_open_without_token(config: &ServeConfig, listener: &TcpListener) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    if config.api_token.is_some() || address.ip().is_loopback() {
        return Ok(());
    }
    if config.http.insecure_no_token {
        tracing::warn!(
            "listening on {address} WITHOUT an API token (--insecure-no-token): anyone who can reach this address can approve and run playbooks"
        );
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {address} without an API token: anyone who can reach it could approve and run playbooks. Set one (`openssl rand -hex 24 > /etc/chiffon/api-token`, then --api-token-file /etc/chiffon/api-token or CHIFFON_API_TOKEN), listen on 127.0.0.1, or pass --insecure-no-token if the network is yours alone"
    )
}

/// Serves the REST API, the live events and the web UI on `listener` until `shutdown`.
async fn serve_http(
    core: &Arc<Core>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        data_dir = %core.config.data_dir.display(),
        "ready on {scheme}://{address} (API docs at {scheme}://{address}/docs)"
    );
    let app = orchestrator::http::router(core.clone());
    listen::serve(listener, app, &core.config.http, tls, shutdown)
        .await
        .context("the HTTP server failed")
}
