//! Configuration for `chiffon serve`, in layers: built-in defaults, then the TOML file
//! (`--config`), then `CHIFFON_…` environment variables and flags (clap reads both; a flag
//! wins over its variable). `chiffon config example` prints a commented file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::bus::{AmqpBus, AmqpOptions, Bus};
use crate::model::AgentId;

/// The file layer. Every key is optional; unknown keys are an error, so typos are caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub playbooks: Option<PathBuf>,
    pub database_url: Option<String>,
    pub amqp_url: Option<String>,
    pub local_agents: Option<bool>,
    /// Ask an image's registry for its newest tag when an upgrade names no version.
    pub registry_lookup: Option<bool>,
    /// A file holding the API's bearer token.
    pub api_token_file: Option<PathBuf>,
    #[serde(default)]
    pub amqp: AmqpFileConfig,
    #[serde(default)]
    pub ansible: AnsibleFileConfig,
    #[serde(default)]
    pub timeouts: TimeoutsFileConfig,
    #[serde(default)]
    pub llm: crate::llm::LlmFileConfig,
    #[serde(default)]
    pub http: HttpFileConfig,
}

/// The `[http]` section: who may reach the API and UI, TLS, and the server's limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFileConfig {
    /// The address people use to reach Chiffon (`https://chiffon.home.arpa`): its host is
    /// accepted in `Host` and its origin in `Origin`.
    pub public_url: Option<String>,
    /// More host names (`chiffon.lan`, `chiffon.lan:8080`) the server answers to.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// More origins (`https://dash.home.arpa`) allowed to change state and open the live stream.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Listen beyond loopback without an API token (refused otherwise).
    pub insecure_no_token: Option<bool>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub header_read_timeout_s: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_websockets: Option<usize>,
    pub websocket_max_message_bytes: Option<usize>,
    pub websocket_idle_s: Option<u64>,
    /// A file holding the token `/metrics` accepts besides the API token.
    pub metrics_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpFileConfig {
    /// Exchange and queue names start with this.
    pub prefix: Option<String>,
    /// Unacknowledged messages a consumer may hold.
    pub prefetch: Option<u16>,
    /// Delete queues (and their exchanges) unused for this many seconds. For throw-away
    /// installations such as tests; every process on one prefix must agree on it.
    pub queue_expiry_s: Option<u64>,
    /// Extra root certificates (PEM) for an `amqps://` broker, on top of the system's.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnsibleFileConfig {
    /// Path to `ansible-playbook`; found on PATH or installed when unset.
    pub playbook_bin: Option<PathBuf>,
    /// Variables passed to every run with `--extra-vars`.
    #[serde(default)]
    pub extra_vars: serde_json::Map<String, serde_json::Value>,
    /// A file holding the ansible-vault password, for repositories with encrypted files.
    pub vault_password_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsFileConfig {
    pub ack_s: Option<u64>,
    pub execution_s: Option<u64>,
    pub heartbeat_s: Option<u64>,
    pub agent_suspect_s: Option<u64>,
    pub agent_offline_s: Option<u64>,
}

/// Everything `chiffon serve` runs with, after all layers are applied.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub playbooks: PathBuf,
    pub database: Database,
    pub ansible_playbook: Option<PathBuf>,
    pub extra_vars: serde_json::Map<String, serde_json::Value>,
    /// Passed to every run as `--vault-password-file`.
    pub vault_password_file: Option<PathBuf>,
    /// When set, every API call but `/api/v1/health` needs `Authorization: Bearer <token>`.
    pub api_token: Option<ApiToken>,
    /// A dispatched task must be taken by an agent within this time.
    pub ack_timeout: Duration,
    /// A running task must finish within this time.
    pub execution_deadline: Duration,
    pub heartbeat_interval: Duration,
    /// When a silent agent becomes suspect and offline, and a report stale.
    pub agent_thresholds: crate::registry::Thresholds,
    /// Run the infra and desktop agents inside the server.
    pub local_agents: bool,
    /// An upgrade that names no version asks the image's registry for its newest tag
    /// (`orchestrator::pin_registry`); off, the plan asks the person.
    pub registry_lookup: bool,
    pub bus: BusConfig,
    /// LLM providers for planning; none: the rules plan alone.
    pub llm: crate::llm::LlmConfig,
    /// Who may reach the API and UI, TLS, and the HTTP server's limits.
    pub http: HttpConfig,
}

pub const DEFAULT_HEADER_READ_TIMEOUT_S: u64 = 10;
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;
pub const DEFAULT_MAX_WEBSOCKETS: usize = 64;
pub const DEFAULT_WEBSOCKET_MAX_MESSAGE_BYTES: usize = 64 * 1024;
pub const DEFAULT_WEBSOCKET_IDLE_S: u64 = 120;

/// The browser-facing defences and the server's resource limits (docs/security.md).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Host names (lower case, with an optional `:port`) accepted in `Host` besides loopback
    /// names and IP addresses: `allowed_hosts` and the host of `public_url`.
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`, lower case) accepted besides the server's own:
    /// `allowed_origins` and the origin of `public_url`.
    pub allowed_origins: Vec<String>,
    /// The owner said to listen beyond loopback without a token.
    pub insecure_no_token: bool,
    /// Serve HTTPS with this certificate chain and key (PEM).
    pub tls: Option<TlsFiles>,
    /// A connection must send its request headers (and a TLS handshake) within this time.
    pub header_read_timeout: Duration,
    /// Open connections at most; past it the oldest idle one is closed, or the new one refused.
    pub max_connections: usize,
    /// Live event streams open at once at most.
    pub max_websockets: usize,
    /// The largest WebSocket message (and frame) a client may send.
    pub websocket_max_message_bytes: usize,
    /// A live stream whose client answers no ping for this long is closed.
    pub websocket_idle: Duration,
    /// A token for `/metrics` alone, so Prometheus need not hold the API token. `/metrics`
    /// takes it or the API token; with neither set it is open.
    pub metrics_token: Option<ApiToken>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            insecure_no_token: false,
            tls: None,
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_S),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_websockets: DEFAULT_MAX_WEBSOCKETS,
            websocket_max_message_bytes: DEFAULT_WEBSOCKET_MAX_MESSAGE_BYTES,
            websocket_idle: Duration::from_secs(DEFAULT_WEBSOCKET_IDLE_S),
            metrics_token: None,
        }
    }
}

/// The PEM files `serve` terminates TLS with.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl HttpConfig {
    fn from_layers(file: HttpFileConfig, overrides: &Overrides) -> anyhow::Result<Self> {
        let defaults = Self::default();
        let mut allowed_hosts: Vec<String> = file
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let mut allowed_origins: Vec<String> = file
            .allowed_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        if let Some(url) = overrides
            .public_url
            .as_deref()
            .or(file.public_url.as_deref())
        {
            let (origin, host) = origin_of(url)?;
            allowed_origins.push(origin);
            allowed_hosts.push(host);
        }
        let tls = match (
            overrides.tls_cert.clone().or(file.tls_cert),
            overrides.tls_key.clone().or(file.tls_key),
        ) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => anyhow::bail!(
                "TLS needs both a certificate and its key: give --tls-cert and --tls-key (or tls_cert and tls_key under [http])"
            ),
        };
        let positive = |value: Option<usize>, default: usize| value.unwrap_or(default).max(1);
        Ok(Self {
            allowed_hosts,
            allowed_origins,
            insecure_no_token: overrides.insecure_no_token
                || file.insecure_no_token.unwrap_or(false),
            tls,
            header_read_timeout: file
                .header_read_timeout_s
                .map_or(defaults.header_read_timeout, |s| {
                    Duration::from_secs(s.max(1))
                }),
            max_connections: positive(file.max_connections, defaults.max_connections),
            max_websockets: positive(file.max_websockets, defaults.max_websockets),
            websocket_max_message_bytes: positive(
                file.websocket_max_message_bytes,
                defaults.websocket_max_message_bytes,
            ),
            websocket_idle: file
                .websocket_idle_s
                .map_or(defaults.websocket_idle, |s| Duration::from_secs(s.max(1))),
            metrics_token: ApiToken::from_layers(
                overrides.metrics_token.clone(),
                overrides
                    .metrics_token_file
                    .clone()
                    .or(file.metrics_token_file),
            )
            .context("the metrics token")?,
        })
    }
}

/// `https://Chiffon.home.arpa/` → (`https://chiffon.home.arpa`, `chiffon.home.arpa`).
fn origin_of(url: &str) -> anyhow::Result<(String, String)> {
    let url = url.trim().to_ascii_lowercase();
    let Some((scheme, rest)) = url.split_once("://") else {
        anyhow::bail!("public_url {url:?} must be a URL such as https://chiffon.home.arpa");
    };
    if scheme != "http" && scheme != "https" {
        anyhow::bail!("public_url {url:?} must start with http:// or https://");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if authority.is_empty() {
        anyhow::bail!("public_url {url:?} names no host");
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => format!("[{}]", v6.split(']').next().unwrap_or_default()),
        None => authority.split(':').next().unwrap_or_default().to_owned(),
    };
    Ok((format!("{scheme}://{authority}"), host))
}

/// Which message bus carries agent traffic.
#[derive(Clone)]
pub enum BusConfig {
    /// The embedded default: channels inside this process.
    InProcess,
    /// RabbitMQ at `url` (`amqp://user:password@host:5672/%2f`).
    Amqp { url: String, options: AmqpOptions },
}

impl std::fmt::Debug for BusConfig {
    // The URL holds a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BusConfig::InProcess => f.write_str("InProcess"),
            BusConfig::Amqp { options, .. } => write!(f, "Amqp(prefix {})", options.prefix),
        }
    }
}

impl BusConfig {
    /// Opens the bus this describes.
    pub async fn open(&self) -> anyhow::Result<Bus> {
        Ok(match self {
            BusConfig::InProcess => Bus::in_process(),
            BusConfig::Amqp { url, options } => {
                Bus::Amqp(AmqpBus::connect(url, options.clone()).await?)
            }
        })
    }

    fn from_layers(url: Option<String>, file: &AmqpFileConfig) -> anyhow::Result<Self> {
        let Some(url) = url else {
            return Ok(BusConfig::InProcess);
        };
        if !url.starts_with("amqp://") && !url.starts_with("amqps://") {
            anyhow::bail!(
                "the AMQP URL must start with amqps:// (TLS) or amqp:// (for example amqps://chiffon:secret@mq.home.arpa:5671/%2f)"
            );
        }
        let mut options = AmqpOptions::default();
        if let Some(prefix) = &file.prefix {
            options.prefix.clone_from(prefix);
        }
        if let Some(prefetch) = file.prefetch {
            options.prefetch = prefetch.max(1);
        }
        options.queue_expiry = file.queue_expiry_s.map(Duration::from_secs);
        options.ca_file = std::env::var_os("CHIFFON_AMQP_CA_FILE")
            .map(PathBuf::from)
            .or(file.ca_file.clone());
        Ok(BusConfig::Amqp { url, options })
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = ".chiffon";
pub const DEFAULT_ACK_TIMEOUT_S: u64 = 30;
pub const DEFAULT_EXECUTION_S: u64 = 3600;
pub const DEFAULT_HEARTBEAT_S: u64 = 30;
pub const DEFAULT_AGENT_SUSPECT_S: u64 = 45;
pub const DEFAULT_AGENT_OFFLINE_S: u64 = 75;

/// Values from flags or the environment; `None` where neither was given.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--api-token` (prefer the environment variable or a file: arguments show in `ps`).
    pub api_token: Option<String>,
    pub api_token_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub playbooks: Option<PathBuf>,
    pub database_url: Option<String>,
    pub ansible_playbook: Option<PathBuf>,
    pub amqp_url: Option<String>,
    /// `--no-local-agents`.
    pub no_local_agents: bool,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--insecure-no-token`.
    pub insecure_no_token: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `--metrics-token` / `CHIFFON_METRICS_TOKEN`.
    pub metrics_token: Option<String>,
    pub metrics_token_file: Option<PathBuf>,
}

impl ServeConfig {
    /// Applies the layers. `config_file` is read when given.
    pub fn load(config_file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Self> {
        let mut file = read_file(config_file)?;
        let http = HttpConfig::from_layers(std::mem::take(&mut file.http), &overrides)?;
        let data_dir = overrides
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let playbooks = match overrides.playbooks.or(file.playbooks) {
            Some(dir) => dir,
            None => default_playbooks()?,
        };
        let database = match overrides.database_url.or(file.database_url) {
            None => Database::Sqlite(data_dir.join("chiffon.db")),
            Some(url) => Database::parse(&url)?,
        };
        let seconds =
            |value: Option<u64>, default: u64| Duration::from_secs(value.unwrap_or(default).max(1));
        Ok(Self {
            listen: overrides
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address")),
            data_dir,
            playbooks,
            database,
            ansible_playbook: overrides.ansible_playbook.or(file.ansible.playbook_bin),
            vault_password_file: std::env::var_os("CHIFFON_VAULT_PASSWORD_FILE")
                .map(PathBuf::from)
                .or(file.ansible.vault_password_file.clone()),
            api_token: ApiToken::from_layers(
                overrides.api_token,
                overrides.api_token_file.or(file.api_token_file.clone()),
            )?,
            extra_vars: file.ansible.extra_vars,
            ack_timeout: seconds(file.timeouts.ack_s, DEFAULT_ACK_TIMEOUT_S),
            execution_deadline: seconds(file.timeouts.execution_s, DEFAULT_EXECUTION_S),
            heartbeat_interval: seconds(file.timeouts.heartbeat_s, DEFAULT_HEARTBEAT_S),
            agent_thresholds: crate::registry::Thresholds {
                suspect_after: seconds(file.timeouts.agent_suspect_s, DEFAULT_AGENT_SUSPECT_S),
                offline_after: seconds(file.timeouts.agent_offline_s, DEFAULT_AGENT_OFFLINE_S),
                stale_after: Duration::from_secs(60),
            },
            local_agents: !overrides.no_local_agents && file.local_agents.unwrap_or(true),
            registry_lookup: file.registry_lookup.unwrap_or(true),
            bus: BusConfig::from_layers(overrides.amqp_url.or(file.amqp_url), &file.amqp)?,
            llm: crate::llm::LlmConfig::from_file(file.llm)?,
            http,
        })
    }
}

/// What `chiffon agent infra|desktop` runs with.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub id: AgentId,
    pub bus: BusConfig,
    pub ansible_playbook: Option<PathBuf>,
    pub extra_vars: serde_json::Map<String, serde_json::Value>,
    pub vault_password_file: Option<PathBuf>,
    pub heartbeat_interval: Duration,
}

impl AgentSettings {
    /// The agent's layers: its flags, then the shared file format.
    pub fn load(
        config_file: Option<&Path>,
        amqp_url: &str,
        id: Option<&str>,
        agent_type: &str,
    ) -> anyhow::Result<Self> {
        let file = read_file(config_file)?;
        let id = match id {
            Some(id) => AgentId::parse(id).with_context(|| {
                format!("agent id {id:?} may only use letters, digits, . _ - (at most 64)")
            })?,
            None => AgentId::parse(&format!("{agent_type}-{}", crate::agent::hostname()))
                .context("the host name does not make a valid agent id: pass --id")?,
        };
        Ok(Self {
            id,
            bus: BusConfig::from_layers(Some(amqp_url.to_owned()), &file.amqp)?,
            ansible_playbook: file.ansible.playbook_bin,
            vault_password_file: std::env::var_os("CHIFFON_VAULT_PASSWORD_FILE")
                .map(PathBuf::from)
                .or(file.ansible.vault_password_file),
            extra_vars: file.ansible.extra_vars,
            heartbeat_interval: Duration::from_secs(
                file.timeouts
                    .heartbeat_s
                    .unwrap_or(DEFAULT_HEARTBEAT_S)
                    .max(1),
            ),
        })
    }
}

fn read_file(config_file: Option<&Path>) -> anyhow::Result<FileConfig> {
    match config_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config file {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{} is not a valid Chiffon config", path.display()))
        }
        None => Ok(FileConfig::default()),
    }
}

/// The API's bearer token. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken([redacted])")
    }
}

impl ApiToken {
    /// At least 16 characters, so a guessable word is refused.
    pub fn new(token: &str) -> anyhow::Result<Self> {
        let token = token.trim();
        if token.chars().count() < 16 || token.chars().any(char::is_whitespace) {
            anyhow::bail!(
                "the API token must be at least 16 characters without spaces (e.g. `openssl rand -hex 24`)"
            );
        }
        Ok(Self(token.to_owned()))
    }

    /// The flag or `CHIFFON_API_TOKEN`, else the token file (`--api-token-file`, `api_token_file`).
    fn from_layers(token: Option<String>, file: Option<PathBuf>) -> anyhow::Result<Option<Self>> {
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            return Self::new(&token).map(Some);
        }
        match file {
            None => Ok(None),
            Some(path) => {
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("cannot read the API token file {}", path.display())
                })?;
                Self::new(&text).map(Some)
            }
        }
    }

    /// The token itself, for `redact::remember` (never print it).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the first difference is.
    pub fn matches(&self, offered: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), offered.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Where the state lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// The embedded default: a SQLite file.
    Sqlite(PathBuf),
    /// `postgres://user:password@host/db`: for distributed mode.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    // The URL may hold a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            Database::Postgres(_) => f.write_str("Postgres(…)"),
        }
    }
}

impl Database {
    /// `sqlite:PATH`, `sqlite://PATH`, a plain path, or `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.contains("://") {
            anyhow::bail!(
                "database URL scheme {:?} is not supported: use sqlite:PATH or postgres://USER:PASSWORD@HOST/DATABASE",
                url.split("://").next().unwrap_or_default()
            );
        }
        Ok(Database::Sqlite(PathBuf::from(url)))
    }

    /// Back-end name for `/health`.
    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }
}

/// The example homelab repository: next to the current directory when run from a checkout,
/// else where the source tree was built.
pub fn example_playbooks() -> anyhow::Result<PathBuf> {
    default_playbooks()
}

fn default_playbooks() -> anyhow::Result<PathBuf> {
    let relative = PathBuf::from("examples/homelab-infra");
    if relative.is_dir() {
        return Ok(relative);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra");
    if built.is_dir() {
        return Ok(built);
    }
    anyhow::bail!("no playbook repository given: pass --playbooks DIR (or set CHIFFON_PLAYBOOKS)")
}

/// A commented configuration file with every key at its default.
pub const EXAMPLE: &str = r#"# Chiffon configuration. Every key is optional; flags and CHIFFON_* variables override it.

# Where the API and web UI listen.                       (--listen, CHIFFON_LISTEN)
listen = "127.0.0.1:8080"
# SQLite database, audit repository and ansible venv.   (--data-dir, CHIFFON_DATA_DIR)
data_dir = ".chiffon"
# The homelab's Ansible repository.                      (--playbooks, CHIFFON_PLAYBOOKS)
playbooks = "examples/homelab-infra"
# Default: sqlite:<data_dir>/chiffon.db                  (--database-url, CHIFFON_DATABASE_URL)
# database_url = "postgres://chiffon:secret@db.home.arpa/chiffon"
# Default: the in-process bus. RabbitMQ for agents on other hosts. (--amqp-url, CHIFFON_AMQP_URL)
# amqp_url = "amqp://chiffon:secret@mq.home.arpa:5672/%2f"
# Run an infra and a desktop agent inside the server.    (--no-local-agents, CHIFFON_NO_LOCAL_AGENTS)
local_agents = true
# "upgrade <app>" without a version: ask the image's registry (anonymously, 4 s at most) for its
# newest release of the same form and propose it; off, the plan asks which version.
registry_lookup = true
# Require `Authorization: Bearer <token>` on the API (not on /api/v1/health). The file holds the
# token (16+ characters).             (--api-token-file; or the token itself in CHIFFON_API_TOKEN)
# api_token_file = "/etc/chiffon/api-token"

# Who may reach the API and UI, and the HTTP server's limits (docs/security.md).
[http]
# The address people use to reach Chiffon (through a reverse proxy, say); its host is accepted
# in the Host header and its origin may change state.                       (--public-url)
# public_url = "https://chiffon.home.arpa"
# More host names this server answers to (loopback names and IP addresses always work).
# allowed_hosts = ["chiffon.lan"]
# More origins (web pages) allowed to change state and open the live event stream.
# allowed_origins = ["https://dash.home.arpa"]
# Listening beyond loopback needs an API token; set this to run without one anyway.
# insecure_no_token = false                                      (--insecure-no-token)
# Serve HTTPS with this certificate chain and key (PEM).       (--tls-cert, --tls-key)
# tls_cert = "/etc/chiffon/tls/cert.pem"
# tls_key = "/etc/chiffon/tls/key.pem"
# A connection must send its request headers within this many seconds.
header_read_timeout_s = 10
# Open connections at most: past it the oldest idle one is closed (or the new one refused).
max_connections = 1000
# Live event streams (WebSockets) open at once at most; one more is refused with 503.
max_websockets = 64
# The largest message a WebSocket client may send.
websocket_max_message_bytes = 65536
# A live event stream whose client answers no ping for this many seconds is closed.
websocket_idle_s = 120
# /metrics takes the API token, or this one (16+ characters), so Prometheus need not hold the
# API token; with neither set it is open.  (--metrics-token-file; or CHIFFON_METRICS_TOKEN)
# metrics_token_file = "/etc/chiffon/metrics-token"

[amqp]
# Exchange and queue names start with this.
prefix = "chiffon"
# Unacknowledged messages a consumer may hold at once.
prefetch = 16
# Extra roots (PEM) for an amqps:// broker, besides the system's.  (CHIFFON_AMQP_CA_FILE)
# ca_file = "/etc/chiffon/homelab-ca.pem"

[ansible]
# Found on PATH, else installed into <data_dir>/ansible-venv.  (CHIFFON_ANSIBLE_PLAYBOOK)
# playbook_bin = "/usr/bin/ansible-playbook"
# Passed to every run as --extra-vars.
# extra_vars = { homelab_root = "/srv/homelab" }
# For repositories with ansible-vault encrypted files.         (CHIFFON_VAULT_PASSWORD_FILE)
# vault_password_file = "/etc/chiffon/vault-password"

[timeouts]
# An agent must acknowledge a dispatched task within this many seconds.
ack_s = 30
# A task must finish within this many seconds, or it is stopped and marked failed.
execution_s = 3600
# Agents send a heartbeat this often (±10 % jitter); the broker drops one unread after
# two and a half intervals.
heartbeat_s = 30
# A silent agent is shown suspect after this many seconds without a heartbeat …
agent_suspect_s = 45
# … and offline after this many (its running tasks then fail as "agent lost"). An agent
# whose connection drops is offline within seconds when RabbitMQ's event exchange is on.
agent_offline_s = 75

# Optional LLM planning (docs/planner.md). Without providers the rules plan every request.
# Local models are tried first; the external one when a request is high-value, scores as
# complex (complexity_threshold), or the local model has < 20 % of its budget left.
[llm]
complexity_threshold = 3
# ca_file = "/etc/chiffon/homelab-ca.pem"  # extra roots (PEM) for https:// providers

# [[llm.providers]]
# name = "ollama"
# kind = "openai"                       # any OpenAI-compatible server: Ollama, LiteLLM, vLLM, llama.cpp
# url = "http://127.0.0.1:11434/v1"
# model = "qwen2.5:14b"
# local = true
# timeout_s = 60
# token_budget = 5000000                # tokens (in + out) per budget_period
# budget_period = "day"                 # day or month
#
# [[llm.providers]]
# name = "claude"
# kind = "anthropic"
# url = "https://api.anthropic.com"     # TLS with the system's roots (plus [llm] ca_file)
# model = "claude-sonnet-4-5"
# api_key_file = "/etc/chiffon/anthropic-key"   # or api_key = "…" (never logged or stored)
# cost_budget_usd = 10.0
# budget_period = "month"
# usd_per_million_input_tokens = 3.0
# usd_per_million_output_tokens = 15.0
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_flags_win_over_the_file() {
        let file: FileConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(file.timeouts.ack_s, Some(30));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chiffon.toml");
        std::fs::write(&path, "data_dir = \"/from/file\"\nplaybooks = \"/pb\"\n[ansible]\nextra_vars = { homelab_root = \"/x\" }\n").unwrap();
        let config = ServeConfig::load(
            Some(&path),
            Overrides {
                data_dir: Some("/from/flag".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(config.playbooks, PathBuf::from("/pb"));
        assert_eq!(
            config.database,
            Database::Sqlite("/from/flag/chiffon.db".into())
        );
        assert_eq!(config.extra_vars["homelab_root"], "/x");
    }

    #[test]
    fn typos_and_unsupported_databases_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chiffon.toml");
        std::fs::write(&path, "lisen = \"0.0.0.0:1\"\n").unwrap();
        let error = format!(
            "{:#}",
            ServeConfig::load(Some(&path), Overrides::default()).unwrap_err()
        );
        assert!(error.contains("lisen"), "{error}");
        let error = ServeConfig::load(
            None,
            Overrides {
                database_url: Some("mysql://x".into()),
                playbooks: Some("/pb".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(error.to_string().contains("postgres://"), "{error}");
        let tls = BusConfig::from_layers(
            Some("amqps://mq:5671/%2f".into()),
            &AmqpFileConfig::default(),
        );
        assert!(tls.is_ok(), "amqps:// is TLS: {tls:?}");
        let clear =
            BusConfig::from_layers(Some("mq:5672".into()), &AmqpFileConfig::default()).unwrap_err();
        assert!(clear.to_string().contains("amqps://"), "{clear}");
        let pg = Database::parse("postgres://chiffon:hunter2@db/chiffon").unwrap();
        assert_eq!(pg.kind(), "postgres");
        assert!(!format!("{pg:?}").contains("hunter2"));
    }

    #[test]
    fn the_metrics_token_comes_from_the_flag_or_the_file_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("metrics-token");
        std::fs::write(&token_file, "from-the-file-0123456789\n").unwrap();
        let path = dir.path().join("chiffon.toml");
        let file = format!(
            "playbooks = \"/pb\"\n[http]\nmetrics_token_file = \"{}\"\n",
            token_file.display()
        );
        std::fs::write(&path, file).unwrap();
        let from_file = ServeConfig::load(Some(&path), Overrides::default()).unwrap();
        let token = from_file
            .http
            .metrics_token
            .as_ref()
            .expect("a metrics token");
        assert!(token.matches("from-the-file-0123456789"));
        assert!(!format!("{:?}", from_file.http).contains("from-the-file"));
        let flag = Overrides {
            metrics_token: Some("from-the-flag-0123456789".into()),
            ..Default::default()
        };
        let from_flag = ServeConfig::load(Some(&path), flag).unwrap();
        assert!(
            from_flag
                .http
                .metrics_token
                .unwrap()
                .matches("from-the-flag-0123456789")
        );
        let short = Overrides {
            metrics_token: Some("short".into()),
            ..Default::default()
        };
        let error = format!("{:#}", ServeConfig::load(Some(&path), short).unwrap_err());
        assert!(error.contains("metrics token"), "{error}");
    }
}
