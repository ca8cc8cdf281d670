//! `chiffon serve`: runs the orchestrator (with an infra and a desktop agent inside it unless
//! told otherwise) until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::config::{Overrides, ServeConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Require this bearer token on the API (prefer CHIFFON_API_TOKEN or --api-token-file:
    /// command-line arguments are visible to other users in `ps`).
    #[arg(long, env = "CHIFFON_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// A file holding the API's bearer token.
    #[arg(long, env = "CHIFFON_API_TOKEN_FILE")]
    api_token_file: Option<PathBuf>,
    /// A token `/metrics` accepts besides the API token, for Prometheus (prefer
    /// CHIFFON_METRICS_TOKEN or --metrics-token-file).
    #[arg(long, env = "CHIFFON_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// A file holding the metrics token.
    #[arg(long, env = "CHIFFON_METRICS_TOKEN_FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Address for the API, live events and docs.
    #[arg(long, env = "CHIFFON_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where the database, audit repository and ansible venv live. Default: ./.chiffon
    #[arg(long, env = "CHIFFON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The homelab's Ansible repository. Default: the bundled example.
    #[arg(long, env = "CHIFFON_PLAYBOOKS")]
    playbooks: Option<PathBuf>,
    /// Database URL. Default: sqlite:<data-dir>/chiffon.db
    #[arg(long, env = "CHIFFON_DATABASE_URL")]
    database_url: Option<String>,
    /// Path to ansible-playbook. Default: found on PATH, else installed into the data dir.
    #[arg(long, env = "CHIFFON_ANSIBLE_PLAYBOOK")]
    ansible_playbook: Option<PathBuf>,
    /// RabbitMQ URL for distributed mode. Default: the in-process bus.
    #[arg(long, env = "CHIFFON_AMQP_URL")]
    amqp_url: Option<String>,
    /// Run no agents inside the server (they run elsewhere with `chiffon agent`).
    #[arg(long, env = "CHIFFON_NO_LOCAL_AGENTS")]
    no_local_agents: bool,
    /// The address people use to reach Chiffon (e.g. through a reverse proxy); its host and
    /// origin are accepted besides loopback.
    #[arg(long, env = "CHIFFON_PUBLIC_URL")]
    public_url: Option<String>,
    /// Listen beyond loopback without an API token (refused otherwise).
    #[arg(long, env = "CHIFFON_INSECURE_NO_TOKEN")]
    insecure_no_token: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "CHIFFON_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "CHIFFON_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// A TOML configuration file (see `chiffon config example`).
    #[arg(long, env = "CHIFFON_CONFIG")]
    config: Option<PathBuf>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        api_token: args.api_token,
        api_token_file: args.api_token_file,
        listen: args.listen,
        data_dir: args.data_dir,
        playbooks: args.playbooks,
        database_url: args.database_url,
        ansible_playbook: args.ansible_playbook,
        amqp_url: args.amqp_url,
        no_local_agents: args.no_local_agents,
        public_url: args.public_url,
        insecure_no_token: args.insecure_no_token,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        metrics_token: args.metrics_token,
        metrics_token_file: args.metrics_token_file,
    };
    let config = ServeConfig::load(args.config.as_deref(), overrides)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another chiffon running? use --listen)",
                config.listen
            )
        })?;
    let address = listener.local_addr()?;
    let scheme = if config.http.tls.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!(
        "Chiffon {} (commit {}) starting on {scheme}://{address} (data in {}, playbooks from {})",
        env!("CARGO_PKG_VERSION"),
        env!("CHIFFON_COMMIT"),
        config.data_dir.display(),
        config.playbooks.display()
    );
    crate::server::serve(config, listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM (systemd's stop).
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
