//! `TestApp`: the real orchestrator with the embedded default (SQLite, in-process bus, local
//! agents), the bundled example homelab, real `ansible-playbook`, and a fresh temp data dir.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chiffon::agent::ansible::Ansible;
use chiffon::api::LiveEvent;
use chiffon::api::RequestView;
use chiffon::bus::{AmqpOptions, Bus};
use chiffon::client::Client;
use chiffon::config::{BusConfig, Database, ServeConfig};
use chiffon::model::RequestStatus;
use chiffon::registry::Thresholds;
use chiffon::store::Store;
use serde_json::Value;
use tokio::sync::oneshot;

/// The longest a whole request may take in a test before it counts as hung.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(240);

pub const KUMA_REQUEST: &str =
    "Deploy Kuma Uptime to homelab and add our existing portals to the config";

/// The deployments a scenario runs on: the embedded default (SQLite, in-process bus) always,
/// and the distributed one (PostgreSQL, and RabbitMQ when `CHIFFON_TEST_AMQP_URL` is set) when
/// `CHIFFON_TEST_DATABASE_URL` names a server. CI sets both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Distributed,
}

pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Embedded];
    if std::env::var_os("CHIFFON_TEST_DATABASE_URL").is_some() {
        backends.push(Backend::Distributed);
    }
    backends
}

/// A PostgreSQL schema of its own for one test, so tests run in parallel on one database.
struct PgSchema {
    base_url: String,
    name: String,
}

impl PgSchema {
    async fn create() -> Self {
        let base_url =
            std::env::var("CHIFFON_TEST_DATABASE_URL").expect("CHIFFON_TEST_DATABASE_URL");
        let name = format!("chiffon_test_{}", uuid::Uuid::now_v7().simple());
        let pool = sqlx::PgPool::connect(&base_url).await.unwrap_or_else(|e| {
            panic!("CHIFFON_TEST_DATABASE_URL is set but PostgreSQL is not reachable: {e}")
        });
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&pool)
            .await
            .expect("create schema");
        pool.close().await;
        Self { base_url, name }
    }

    /// The URL that puts every connection in this schema.
    fn url(&self) -> String {
        let separator = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.base_url, self.name
        )
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.base_url.clone(), self.name.clone());
        // Drop runs outside async code: clean up on a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// How a test wants its server.
#[derive(Debug, Clone)]
pub struct Options {
    pub local_agents: bool,
    /// Whether upgrades without a version ask the image's registry (off: no test reaches the
    /// network; `pin_upgrades` turns it on against a registry it serves itself).
    pub registry_lookup: bool,
    pub heartbeat: Duration,
    /// Share the broker with other tests (a read hold on `BROKER`). Only the broker-restart
    /// test, which holds it exclusively, turns this off.
    pub share_broker: bool,
    /// Detection thresholds; default 1.5 and 2.5 heartbeats.
    pub thresholds: Option<Thresholds>,
    /// Where the playbooks render files instead of a fresh temp dir (to make them fail).
    pub homelab_root: Option<PathBuf>,
    /// Another playbook repository than the example homelab.
    pub playbooks: Option<PathBuf>,
    /// Require this bearer token on the API (the test's `client` sends it; `http` does not).
    pub api_token: Option<String>,
    /// Extra variables for every run, besides `homelab_root`.
    pub extra_vars: Vec<(String, Value)>,
    /// The vault password file the agents use.
    pub vault_password_file: Option<PathBuf>,
    /// Another `ansible-playbook` than the tests' own (its folder comes first on the runs'
    /// PATH, so programs placed beside it are the ones the playbooks find).
    pub ansible_playbook: Option<PathBuf>,
    /// LLM providers for planning (none by default).
    pub llm: chiffon::llm::LlmConfig,
    /// Allowed hosts and origins, TLS and the HTTP limits (the defaults by default).
    pub http: chiffon::config::HttpConfig,
}

/// Tests that use RabbitMQ hold this for reading; a test that restarts the broker holds it for
/// writing, so no other test sees the outage.
pub static BROKER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

impl Default for Options {
    fn default() -> Self {
        Self {
            local_agents: true,
            registry_lookup: false,
            heartbeat: Duration::from_secs(10),
            share_broker: true,
            thresholds: None,
            homelab_root: None,
            playbooks: None,
            api_token: None,
            extra_vars: Vec::new(),
            vault_password_file: None,
            ansible_playbook: None,
            llm: chiffon::llm::LlmConfig::default(),
            http: chiffon::config::HttpConfig::default(),
        }
    }
}

pub struct TestApp {
    pub backend: Backend,
    /// A config file for `chiffon agent …` processes: the same bus prefix, extra vars and
    /// heartbeat as the server.
    pub agent_config: PathBuf,
    pub amqp_url: Option<String>,
    pub amqp_prefix: String,
    pub address: String,
    pub client: Client,
    pub http: reqwest::Client,
    pub data_dir: PathBuf,
    /// Where the example playbooks render their files (`homelab_root`).
    pub homelab_root: PathBuf,
    database: Database,
    _temp: tempfile::TempDir,
    _schema: Option<PgSchema>,
    _broker: Option<tokio::sync::RwLockReadGuard<'static, ()>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    config: ServeConfig,
    /// The server's bus: agents a test runs in-process join it.
    pub bus: Bus,
}

/// `ansible-playbook` for the tests: `CHIFFON_ANSIBLE_PLAYBOOK`, else on PATH, else installed
/// once by Chiffon's own first-run installer into the target dir (so a plain `cargo test`
/// works on a machine with only Python 3).
pub async fn ansible_playbook() -> PathBuf {
    static ANSIBLE: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    ANSIBLE
        .get_or_init(|| async {
            if let Some(path) = std::env::var_os("CHIFFON_ANSIBLE_PLAYBOOK") {
                return PathBuf::from(path);
            }
            let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chiffon-tests");
            let ansible = Ansible::locate_or_install(None, &shared).await.expect(
                "the tests run real playbooks and could not find or install ansible-playbook",
            );
            ansible.playbook_bin().to_owned()
        })
        .await
        .clone()
}

pub fn example_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra")
}

/// A copy of the example homelab at `into/homelab-infra` whose Kuma deployment playbook ends
/// with `play` (plays of the test's own, run by the Kuma request).
pub fn example_with_play(into: &Path, play: &str) -> PathBuf {
    let repo = into.join("homelab-infra");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(example_repo())
        .arg(&repo)
        .status()
        .expect("cp");
    assert!(copied.success());
    let deployment = repo.join("kuma-deployment.yml");
    let mut playbook = std::fs::read_to_string(&deployment).expect("kuma-deployment.yml");
    playbook.push_str(play);
    std::fs::write(&deployment, playbook).expect("kuma-deployment.yml written");
    repo
}

impl TestApp {
    /// The orchestrator's public key file, which it writes on start: agents obey only it.
    pub fn orchestrator_key_file(&self) -> PathBuf {
        self.data_dir.join("orchestrator.pub")
    }

    pub fn orchestrator_key(&self) -> chiffon::protocol::signing::VerifyingKey {
        let text = std::fs::read_to_string(self.orchestrator_key_file()).expect("orchestrator.pub");
        chiffon::protocol::signing::VerifyingKey::parse(&text).expect("a public key")
    }

    /// One app per back-end under test, each with fresh state.
    pub async fn each() -> Vec<Self> {
        let mut apps = Vec::new();
        for backend in backends() {
            apps.push(Self::spawn_on(backend).await);
        }
        apps
    }

    pub async fn spawn_on(backend: Backend) -> Self {
        Self::spawn_with(backend, Options::default()).await
    }

    /// The distributed deployment with no agents inside the server, for tests that run agents
    /// as separate processes; `None` when RabbitMQ is not configured for the tests.
    pub async fn distributed_without_local_agents(heartbeat: Duration) -> Option<Self> {
        if std::env::var_os("CHIFFON_TEST_DATABASE_URL").is_none()
            || std::env::var_os("CHIFFON_TEST_AMQP_URL").is_none()
        {
            eprintln!(
                "skipped: set CHIFFON_TEST_DATABASE_URL and CHIFFON_TEST_AMQP_URL (bash .ci/run does)"
            );
            return None;
        }
        Some(
            Self::spawn_with(
                Backend::Distributed,
                Options {
                    local_agents: false,
                    heartbeat,
                    ..Options::default()
                },
            )
            .await,
        )
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        let homelab_root = options
            .homelab_root
            .clone()
            .unwrap_or_else(|| temp.path().join("homelab"));
        let mut extra_vars = serde_json::Map::new();
        extra_vars.insert(
            "homelab_root".into(),
            Value::String(homelab_root.display().to_string()),
        );
        extra_vars.extend(options.extra_vars.iter().cloned());
        let schema = match backend {
            Backend::Embedded => None,
            Backend::Distributed => Some(PgSchema::create().await),
        };
        let database = match &schema {
            None => Database::Sqlite(data_dir.join("chiffon.db")),
            Some(schema) => Database::Postgres(schema.url()),
        };
        // Queues of their own, gone five minutes after the test.
        let prefix = format!("chiffon-test-{}", uuid::Uuid::now_v7().simple());
        let amqp_url = std::env::var("CHIFFON_TEST_AMQP_URL")
            .ok()
            .filter(|_| backend == Backend::Distributed);
        let broker = match (&amqp_url, options.share_broker) {
            (Some(_), true) => Some(BROKER.read().await),
            _ => None,
        };
        let bus = match &amqp_url {
            Some(url) => BusConfig::Amqp {
                url: url.clone(),
                options: AmqpOptions {
                    prefix: prefix.clone(),
                    prefetch: 16,
                    queue_expiry: Some(Duration::from_secs(300)),
                    ca_file: None,
                },
            },
            None => BusConfig::InProcess,
        };
        let agent_config = temp.path().join("agent.toml");
        std::fs::write(
            &agent_config,
            format!(
                "[amqp]\nprefix = \"{prefix}\"\nqueue_expiry_s = 300\n[ansible]\nextra_vars = {{ homelab_root = \"{}\" }}\n[timeouts]\nheartbeat_s = {}\n",
                homelab_root.display(),
                options.heartbeat.as_secs()
            ),
        )
        .expect("agent config");
        let config = ServeConfig {
            llm: options.llm.clone(),
            bus,
            listen: "127.0.0.1:0".parse().expect("address"),
            database: database.clone(),
            data_dir: data_dir.clone(),
            playbooks: options.playbooks.clone().unwrap_or_else(example_repo),
            ansible_playbook: Some(match &options.ansible_playbook {
                Some(path) => path.clone(),
                None => ansible_playbook().await,
            }),
            extra_vars,
            vault_password_file: options.vault_password_file.clone(),
            api_token: options
                .api_token
                .as_deref()
                .map(|t| chiffon::config::ApiToken::new(t).expect("test token")),
            ack_timeout: Duration::from_secs(30),
            execution_deadline: Duration::from_secs(180),
            heartbeat_interval: options.heartbeat,
            agent_thresholds: options.thresholds.unwrap_or(Thresholds {
                suspect_after: options.heartbeat.mul_f64(1.5),
                offline_after: options.heartbeat.mul_f64(2.5),
                stale_after: Duration::from_secs(60),
            }),
            local_agents: options.local_agents,
            registry_lookup: options.registry_lookup,
            http: options.http.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        // In-process, the test keeps the bus so agents it runs itself can share it.
        let bus = match &config.bus {
            BusConfig::InProcess => Bus::in_process(),
            amqp => amqp.open().await.expect("RabbitMQ"),
        };
        let (shutdown, server) = Self::start(config.clone(), bus.clone(), listener);
        let mut app = Self {
            backend,
            agent_config,
            amqp_url,
            amqp_prefix: prefix,
            database,
            _schema: schema,
            _broker: broker,
            client: Client::new(&address)
                .expect("client")
                .with_token(options.api_token.clone()),
            http: reqwest::Client::new(),
            address,
            data_dir,
            homelab_root,
            _temp: temp,
            shutdown: Some(shutdown),
            server: Some(server),
            config,
            bus,
        };
        app.wait_until_serving().await;
        if options.local_agents {
            app.wait_until_agents_online(2).await;
        }
        app
    }

    /// Waits until the server answers (its store is migrated and its routes are up), and
    /// stops the test with the server's own error if it gave up instead.
    pub async fn wait_until_serving(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let health = self
                .http
                .get(format!("{}/api/v1/health", self.address))
                .send()
                .await;
            if health.is_ok() {
                return;
            }
            if self.server.as_ref().is_some_and(|s| s.is_finished()) {
                let outcome = self.server.take().expect("server").await;
                panic!("the server stopped while starting: {outcome:?}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `count` agents are online (the server is ready for work once its local
    /// agents have said hello).
    pub async fn wait_until_agents_online(&mut self, count: usize) {
        for _ in 0..200 {
            if self.server.as_ref().is_some_and(|s| s.is_finished()) {
                let ended = self.server.take().expect("server").await;
                panic!("the server stopped: {ended:?}");
            }
            if let Ok(page) = self.client.agents(&[]).await
                && page
                    .items
                    .iter()
                    .filter(|a| a.status == chiffon::model::AgentState::Online)
                    .count()
                    >= count
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let agents = self.client.agents(&[]).await.map(|p| p.items);
        panic!("{count} agents did not come online within 10 s: {agents:?}");
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/api/v1{path}", self.address))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST");
        Self::decode(response).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("GET");
        Self::decode(response).await
    }

    async fn decode(response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Creates a request and returns its id.
    pub async fn request(&self, text: &str) -> String {
        let view = self
            .client
            .create_request(text, false)
            .await
            .expect("create request");
        assert_eq!(view.request.status, RequestStatus::AwaitingApproval);
        view.request.id.to_string()
    }

    /// Approves `id` and follows its live events until it finishes; returns the events seen
    /// and the final state.
    pub async fn approve_and_wait(&self, id: &str) -> (Vec<LiveEvent>, RequestView) {
        let stream = self.client.subscribe(id).await.expect("subscribe");
        self.client.approve(id, None).await.expect("approve");
        self.follow(id, stream).await
    }

    /// Waits for a request that is already approved to finish.
    pub async fn approve_and_wait_after_approval(&self, id: &str) -> (Vec<LiveEvent>, RequestView) {
        let stream = self.client.subscribe(id).await.expect("subscribe");
        let view = self.client.get_request(id).await.expect("get request");
        if view.request.status.is_terminal() {
            return (Vec::new(), view);
        }
        self.follow(id, stream).await
    }

    async fn follow(
        &self,
        id: &str,
        mut stream: chiffon::client::LiveStream,
    ) -> (Vec<LiveEvent>, RequestView) {
        let mut events = Vec::new();
        let collect = async {
            while let Some(event) = stream.next().await {
                let done =
                    matches!(&event, LiveEvent::Request { status, .. } if status.is_terminal());
                events.push(event);
                if done {
                    break;
                }
            }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, collect)
            .await
            .unwrap_or_else(|_| panic!("request {id} did not finish within {REQUEST_TIMEOUT:?}"));
        let view = self.client.get_request(id).await.expect("get request");
        (events, view)
    }

    /// The app's store, opened beside the server, to read rows as they are stored.
    pub async fn store(&self) -> Store {
        match &self.database {
            Database::Sqlite(path) => Store::open_sqlite(path).await.expect("open SQLite"),
            Database::Postgres(url) => Store::open_postgres(url).await.expect("open PostgreSQL"),
        }
    }

    /// Where `chiffon audit verify` finds this app's database and audit repository.
    pub fn verify_args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.data_dir.display().to_string()];
        if let Database::Postgres(url) = &self.database {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args
    }

    /// Everything the database holds, as text: SQLite's files byte for byte (free pages and
    /// the write-ahead log included), or every row of every table of the PostgreSQL schema.
    pub async fn dump_database(&self) -> String {
        match &self.database {
            Database::Sqlite(path) => {
                let mut all = String::new();
                for suffix in ["", "-wal", "-shm"] {
                    let file = format!("{}{suffix}", path.display());
                    if let Ok(bytes) = std::fs::read(&file) {
                        all.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                all
            }
            Database::Postgres(url) => {
                let pool = sqlx::PgPool::connect(url).await.expect("PostgreSQL");
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
                )
                .fetch_all(&pool)
                .await
                .expect("tables");
                assert!(tables.len() > 5, "{tables:?}");
                let mut all = String::new();
                for table in tables {
                    let rows: Vec<String> = sqlx::query_scalar(&format!(
                        "SELECT row_to_json(t)::text FROM \"{table}\" t"
                    ))
                    .fetch_all(&pool)
                    .await
                    .expect("rows");
                    all.push_str(&rows.join("\n"));
                }
                pool.close().await;
                all
            }
        }
    }

    /// Runs the `chiffon` binary against this app (`--server` set) and waits for it.
    pub async fn chiffon(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"))
            .arg("--server")
            .arg(&self.address)
            .args(args)
            .env_remove("CHIFFON_SERVER")
            .env_remove("CHIFFON_DATA_DIR")
            .env_remove("CHIFFON_DATABASE_URL")
            .output()
            .await
            .expect("run chiffon")
    }

    /// `git -C <data-dir>/audit …` output.
    pub fn git(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(self.data_dir.join("audit"))
            .args(args)
            .output()
            .expect("git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    }

    /// Files under the homelab root, relative to it, sorted.
    pub fn rendered_files(&self) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(
                        path.strip_prefix(root)
                            .unwrap_or(&path)
                            .display()
                            .to_string(),
                    );
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.homelab_root, &self.homelab_root, &mut files);
        files.sort();
        files
    }

    fn start(
        config: ServeConfig,
        bus: Bus,
        listener: tokio::net::TcpListener,
    ) -> (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    ) {
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(chiffon::server::serve_on(config, bus, listener, async {
            let _ = stop.await;
        }));
        (shutdown, server)
    }

    /// Stops the server as ctrl-c would and starts it again on the same address, database,
    /// data directory and bus (agents keep running).
    pub async fn restart(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
        let address = self.address.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .expect("bind the same address again");
        let (shutdown, server) = Self::start(self.config.clone(), self.bus.clone(), listener);
        self.shutdown = Some(shutdown);
        self.server = Some(server);
    }

    /// Stops the server the way ctrl-c would and waits for it.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// An agent a test runs itself, so it outlives server restarts and can be killed: a task on
/// the in-process bus, or a `chiffon agent` process over RabbitMQ. Both run playbooks from the
/// app's playbook repository with a 1 s heartbeat.
pub enum TestAgent {
    Task(tokio::task::JoinHandle<anyhow::Result<()>>),
    Process(tokio::process::Child),
}

impl TestAgent {
    /// A desktop agent whose NVIDIA GPUs are read from recorded NVML data in `gpu_fixture`.
    pub async fn desktop(app: &TestApp, id: &str, gpu_fixture: &Path) -> Self {
        let desktop = chiffon::model::AgentType::Desktop;
        Self::start(app, desktop, id, Some(gpu_fixture), true).await
    }

    /// A desktop agent that only reports capacity (no playbook repository): it refuses work.
    pub async fn capacity_only(app: &TestApp, id: &str, gpu_fixture: &Path) -> Self {
        let desktop = chiffon::model::AgentType::Desktop;
        Self::start(app, desktop, id, Some(gpu_fixture), false).await
    }

    pub async fn infra(app: &TestApp, id: &str) -> Self {
        Self::start(app, chiffon::model::AgentType::Infra, id, None, true).await
    }

    async fn start(
        app: &TestApp,
        agent_type: chiffon::model::AgentType,
        id: &str,
        gpu_fixture: Option<&Path>,
        playbooks: bool,
    ) -> Self {
        use chiffon::agent::nvidia::NvidiaSource;
        match app.backend {
            Backend::Embedded => {
                let ansible = Ansible::locate_or_install(
                    Some(&ansible_playbook().await),
                    &app.data_dir.join(format!("agent-{id}")),
                )
                .await
                .expect("ansible");
                let mut extra_vars = serde_json::Map::new();
                extra_vars.insert(
                    "homelab_root".into(),
                    Value::String(app.homelab_root.display().to_string()),
                );
                let config = chiffon::agent::AgentConfig {
                    agent_type,
                    id: chiffon::model::AgentId::parse(id).expect("agent id"),
                    playbooks: playbooks.then(|| app.config.playbooks.clone()),
                    extra_vars,
                    heartbeat_interval: Duration::from_secs(1),
                    probe: chiffon::agent::probe::ProbeConfig {
                        system_root: "/".into(),
                        nvidia: match gpu_fixture {
                            Some(dir) => NvidiaSource::Fixture(dir.to_owned()),
                            None => NvidiaSource::Off,
                        },
                    },
                    orchestrator_key: Some(app.orchestrator_key()),
                };
                // Never told to stop: aborting the task is this agent's "kill -9".
                let (keep, stop) = tokio::sync::watch::channel(false);
                let bus = app.bus.clone();
                TestAgent::Task(tokio::spawn(async move {
                    let _keep = keep;
                    chiffon::agent::run(config, playbooks.then_some(ansible), bus, stop).await
                }))
            }
            Backend::Distributed => {
                let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_chiffon"));
                command
                    .args(["agent", agent_type.as_str(), "--id", id, "--amqp-url"])
                    .arg(app.amqp_url.as_deref().expect("RabbitMQ"))
                    .arg("--config")
                    .arg(&app.agent_config)
                    .arg("--data-dir")
                    .arg(app.data_dir.join(format!("agent-{id}")))
                    .arg("--ansible-playbook")
                    .arg(ansible_playbook().await)
                    .arg("--orchestrator-key-file")
                    .arg(app.orchestrator_key_file())
                    .kill_on_drop(true);
                if playbooks {
                    command.arg("--playbooks").arg(&app.config.playbooks);
                }
                if let Some(dir) = gpu_fixture {
                    command.arg("--gpu-fixture").arg(dir);
                }
                TestAgent::Process(command.spawn().expect("start chiffon agent"))
            }
        }
    }

    /// Gone without a goodbye.
    pub async fn kill(&mut self) {
        match self {
            TestAgent::Task(task) => {
                task.abort();
                let _ = task.await;
            }
            TestAgent::Process(child) => child.kill().await.expect("kill the agent"),
        }
    }
}

/// A folder with the tests' `ansible-playbook` and a `docker` that writes its arguments, one
/// call per line, to `docker.log` there: returns (that `ansible-playbook`, the log). No
/// container engine runs on these machines; the script answers as one would where a playbook
/// looks: `docker info` prints a version, `docker network inspect` finds no network (so a
/// playbook creates it: a command Chiffon cannot undo), `… up` reports its container started on
/// stderr (what compose prints), everything else succeeds silently.
pub async fn bin_with_recording_docker(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let playbook = bin.join("ansible-playbook");
    std::os::unix::fs::symlink(ansible_playbook().await, &playbook).unwrap();
    let log = bin.join("docker.log");
    let docker = bin.join("docker");
    std::fs::write(
        &docker,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\ncase \"$1\" in info) echo 28.2.2 ;; esac\ncase \"$1 $2\" in 'network inspect') exit 1 ;; esac\ncase \" $* \" in *\" up \"*) echo ' Container started: Started' >&2 ;; esac\nexit 0\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    (playbook, log)
}

/// Options serving `repo`, a fixture whose hosts are names of a homelab rather than machines:
/// every run stays on this machine, as the owner's own user (`ansible_connection=local`, no
/// become), with `ansible-playbook` from `playbook` when given (a folder of recording tools).
pub fn local_runs(repo: PathBuf, playbook: Option<PathBuf>) -> Options {
    Options {
        playbooks: Some(repo),
        ansible_playbook: playbook,
        extra_vars: vec![
            (
                "ansible_connection".into(),
                serde_json::Value::from("local"),
            ),
            (
                "ansible_python_interpreter".into(),
                serde_json::Value::from("{{ ansible_playbook_python }}"),
            ),
            ("ansible_become".into(), serde_json::Value::from(false)),
        ],
        ..Options::default()
    }
}

/// A copy of the layout family `family` (tests/fixtures/layouts/) in `into`: runs never write
/// into the project's fixtures.
pub fn copy_of_layout(family: &str, into: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/layouts")
        .join(family);
    let to = into.join(family);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&from)
        .arg(&to)
        .status()
        .expect("cp");
    assert!(status.success());
    to
}

/// Adds a `systemctl` and a `journalctl` to the `bin` folder of [`bin_with_recording_docker`]:
/// this machine has no systemd, so they keep each unit's state in a file beside them (every
/// unit starts active and enabled), answer `show`, `is-enabled` and `is-active` as systemd does
/// (their exit status too), and write each call they get to `systemd.log`, returned.
pub fn add_recording_systemd(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    let state = bin.join("units");
    std::fs::create_dir_all(&state).unwrap();
    let log = bin.join("systemd.log");
    let systemctl = format!(
        r#"#!/bin/sh
log='{log}'; units='{units}'
printf 'systemctl %s\n' "$*" >> "$log"
unit=""; for arg in "$@"; do case "$arg" in -*) ;; *) unit="$arg" ;; esac; done
active=$(cat "$units/$unit.active" 2>/dev/null || echo active)
enabled=$(cat "$units/$unit.enabled" 2>/dev/null || echo enabled)
case "$1" in
  show)
    sub=running; [ "$active" = active ] || sub=dead
    printf 'Id=%s\nNames=%s\nLoadState=loaded\nActiveState=%s\nSubState=%s\nUnitFileState=%s\n'       "$unit" "$unit" "$active" "$sub" "$enabled" ;;
  is-enabled) echo "$enabled"; [ "$enabled" = enabled ] ;;
  is-active) echo "$active"; [ "$active" = active ] ;;
  start|restart|reload) echo active > "$units/$unit.active" ;;
  stop) echo inactive > "$units/$unit.active" ;;
  enable) echo enabled > "$units/$unit.enabled" ;;
  disable) echo disabled > "$units/$unit.enabled" ;;
esac
"#,
        log = log.display(),
        units = state.display()
    );
    let journalctl = format!(
        "#!/bin/sh\nprintf 'journalctl %s\\n' \"$*\" >> '{}'\necho '-- No entries --'\n",
        log.display()
    );
    for (name, text) in [("systemctl", systemctl), ("journalctl", journalctl)] {
        let path = bin.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    log
}

/// A folder with the tests' `ansible-playbook` and a `systemctl` that stands in for systemd,
/// which these machines do not run: returns (that `ansible-playbook`, the folder). A unit is
/// known to it while its file is in the folder named by `unit-dir` there (as systemd loads
/// what is on disk); its state, `NAME ACTIVE ENABLED` lines, is kept in `systemd.state` (an
/// unlisted unit is inactive and disabled); every call is appended to `systemctl.log`, its
/// arguments on one line. It answers what Ansible's systemd module asks (`show`, `is-enabled`),
/// and refuses to start, stop, enable or disable a unit it does not know, as systemd does.
/// Unlike [`add_recording_systemd`] (every unit there exists, active and enabled), what it
/// knows follows the unit files a playbook writes and removes, so an order is observable.
pub async fn bin_with_recording_systemctl(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let playbook = bin.join("ansible-playbook");
    std::os::unix::fs::symlink(ansible_playbook().await, &playbook).unwrap();
    let script = r#"#!/bin/sh
here='@BIN@'
printf '%s\n' "$*" >> "$here/systemctl.log"
state="$here/systemd.state"
touch "$state"
units=$(cat "$here/unit-dir" 2>/dev/null)
cmd=$1
unit=$2
active=$(awk -v u="$unit" '$1 == u { print $2 }' "$state")
enabled=$(awk -v u="$unit" '$1 == u { print $3 }' "$state")
[ -n "$active" ] || active=inactive
[ -n "$enabled" ] || enabled=disabled
known() { [ -n "$units" ] && [ -n "$unit" ] && [ -f "$units/$unit" ]; }
save() { grep -v "^$unit " "$state" > "$state.new"; echo "$unit $1 $2" >> "$state.new"; mv "$state.new" "$state"; }
case "$cmd" in
  show)
    if known; then
      sub=dead; [ "$active" = active ] && sub=running
      printf 'Id=%s\nLoadState=loaded\nActiveState=%s\nSubState=%s\nUnitFileState=%s\nFragmentPath=%s\n' "$unit" "$active" "$sub" "$enabled" "$units/$unit"
    else
      printf 'Id=%s\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n' "$unit"
    fi ;;
  is-enabled)
    known || { echo "Failed to get unit file state for $unit: No such file or directory" >&2; exit 1; }
    echo "$enabled"
    [ "$enabled" = enabled ] || exit 1 ;;
  is-active)
    echo "$active"
    [ "$active" = active ] || exit 3 ;;
  start|stop|enable|disable)
    known || { echo "Unit $unit not found." >&2; exit 5; }
    case "$cmd" in
      start) save active "$enabled" ;;
      stop) save inactive "$enabled" ;;
      enable) save "$active" enabled ;;
      disable) save "$active" disabled ;;
    esac ;;
esac
exit 0
"#
    .replace("@BIN@", &bin.display().to_string());
    let systemctl = bin.join("systemctl");
    std::fs::write(&systemctl, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&systemctl, std::fs::Permissions::from_mode(0o755)).unwrap();
    (playbook, bin)
}
