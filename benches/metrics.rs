//! `GET /metrics` scrape time with 10,000 tasks and 100 agents, end to end: a real orchestrator
//! (`server::serve_on`, in-process bus, no local agents) on SQLite and on PostgreSQL, its store
//! seeded with 2,500 requests, 10,000 tasks over 40 services and their 12,500 audit entries,
//! and 100 simulated desktop agents that said hello and sent a heartbeat
//! with one GPU each through the real bus. Each scrape is an HTTP request from this process,
//! timed from send to the last byte: the store's counts, the registry's agents, encoding and
//! the HTTP round trip. 200 scrapes after 20 warm-up ones.
//!
//! Run: `cargo bench --bench metrics` (`CHIFFON_BENCH_TASKS`, `CHIFFON_BENCH_AGENTS`;
//! PostgreSQL at `CHIFFON_BENCH_DATABASE_URL`, default the local test server, skipped with a
//! note when unreachable). The figures replace the `metrics` section of docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chiffon::bus::{Bus, Queue};
use chiffon::config::{BusConfig, Database, ServeConfig};
use chiffon::model::{AgentId, AgentType};
use chiffon::protocol::{Envelope, Hello, Message};

const RUNS: usize = 200;
const WARM_UP: usize = 20;
/// Target from the issue: one scrape within 20 ms.
const TARGET_MS: f64 = 20.0;

const COLUMNS: &str = "task_id, request_id, step_id, plan_version, title, status, outcome, \
    resource_usage, service_touched, agent_id, playbook, suggestions, created_at, updated_at, \
    started_at, finished_at";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

async fn run() {
    let tasks = env_or("CHIFFON_BENCH_TASKS", 10_000);
    let agents = env_or("CHIFFON_BENCH_AGENTS", 100);
    let mut section = format!(
        "## `/metrics` scrape time (`cargo bench --bench metrics`)\n\n\
         A real orchestrator with {tasks} tasks ({} requests, 40 services, {} audit entries) and {agents} desktop agents with one GPU each, registered through \
         the bus. One scrape = `GET /metrics` over HTTP from the same process, send to last \
         byte (store counts, registry, encoding, the round trip); {RUNS} scrapes after \
         {WARM_UP} warm-up ones, one at a time. \"store counts\": `Store::metric_counts` alone \
         (the five queries a scrape makes), through a second handle on the same database. \
         Target: ≤ {TARGET_MS} ms. Run on {}.\n\n\
         | back-end | p50 | p95 | max | store counts p50 | body | series |\n\
         |---|---|---|---|---|---|---|\n",
        tasks.div_ceil(4),
        tasks + tasks.div_ceil(4),
        chrono::Utc::now().format("%Y-%m-%d")
    );
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Database::Sqlite(dir.path().join("chiffon.db"));
    section.push_str(&scenario("SQLite", sqlite, dir.path(), tasks, agents).await);

    let base = std::env::var("CHIFFON_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    match sqlx::PgPool::connect(&base).await {
        Ok(admin) => {
            let schema = format!("chiffon_bench_{}", uuid::Uuid::now_v7().simple());
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .unwrap();
            let separator = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
            let pg_dir = tempfile::tempdir().unwrap();
            let row = scenario(
                "PostgreSQL",
                Database::Postgres(url),
                pg_dir.path(),
                tasks,
                agents,
            )
            .await;
            section.push_str(&row);
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&admin)
                .await
                .unwrap();
        }
        Err(error) => {
            eprintln!("PostgreSQL skipped: {error}");
            section.push_str("| PostgreSQL | not run: no server reachable | | | | | |\n");
        }
    }
    section.push('\n');
    print!("{section}");
    common::update_docs("metrics", &section);
}

/// Seeds a store, starts a server on it with `agents` simulated agents, and times scrapes;
/// returns the table row.
async fn scenario(
    name: &str,
    database: Database,
    data_dir: &Path,
    tasks: usize,
    agents: usize,
) -> String {
    // Open (and migrate) the store first, then seed it through a plain pool.
    let store = match &database {
        Database::Sqlite(path) => chiffon::store::Store::open_sqlite(path).await.unwrap(),
        Database::Postgres(url) => chiffon::store::Store::open_postgres(url).await.unwrap(),
    };
    let started = Instant::now();
    match &database {
        Database::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            for statement in seed_statements(tasks, Dialect::Sqlite) {
                sqlx::query(&statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        Database::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            for statement in seed_statements(tasks, Dialect::Postgres) {
                sqlx::query(&statement).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
    }
    eprintln!("{name}: seeded in {:.1} s", started.elapsed().as_secs_f64());

    let config = ServeConfig {
        llm: Default::default(),
        bus: BusConfig::InProcess,
        listen: "127.0.0.1:0".parse().unwrap(),
        database,
        data_dir: data_dir.to_owned(),
        playbooks: Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab-infra"),
        ansible_playbook: None,
        extra_vars: serde_json::Map::new(),
        vault_password_file: None,
        api_token: None,
        ack_timeout: Duration::from_secs(30),
        execution_deadline: Duration::from_secs(3600),
        heartbeat_interval: Duration::from_secs(30),
        agent_thresholds: Default::default(),
        local_agents: false,
        registry_lookup: false,
        http: Default::default(),
    };
    let bus = Bus::in_process();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chiffon::server::serve_on(
        config,
        bus.clone(),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::new();
    let url = format!("http://{address}/metrics");

    // The fleet: each agent holds its own queue, says hello and sends one heartbeat.
    let mut consumers = Vec::new();
    for i in 0..agents {
        let id = format!("desk-{i:03}");
        consumers.push(bus.consume(&Queue::Agent(AgentId::parse(&id).unwrap())));
        let hello = Envelope::new(
            &id,
            None,
            Message::Hello(Hello {
                agent_type: AgentType::Desktop,
                version: "bench".into(),
                host: id.clone(),
            }),
        );
        bus.publish(&Queue::Events, hello.encode()).await.unwrap();
        bus.publish(&Queue::Heartbeats, common::heartbeat(&id, 1))
            .await
            .unwrap();
    }
    let online = format!("chiffon_agents{{agent_type=\"desktop\",status=\"online\"}} {agents}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        if let Ok(response) = http.get(&url).send().await
            && let Ok(text) = response.text().await
            && text.contains(&online)
            && text.matches("chiffon_agent_gpu_vram_free_bytes{").count() == agents
        {
            break text;
        }
        assert!(Instant::now() < deadline, "{agents} agents not registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let mut times = Vec::with_capacity(RUNS);
    for run in 0..WARM_UP + RUNS {
        let began = Instant::now();
        let text = http.get(&url).send().await.unwrap().text().await.unwrap();
        let took = began.elapsed();
        assert!(text.len() > 1000);
        if run >= WARM_UP {
            times.push(took.as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    // The store's share: the same counts a scrape reads, through a second handle.
    let mut counts = Vec::with_capacity(RUNS);
    for run in 0..WARM_UP + RUNS {
        let began = Instant::now();
        store.metric_counts().await.unwrap();
        if run >= WARM_UP {
            counts.push(began.elapsed().as_secs_f64() * 1000.0);
        }
    }
    counts.sort_by(f64::total_cmp);
    let series = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let row = format!(
        "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} KiB | {series} |\n",
        times[RUNS / 2],
        times[RUNS * 95 / 100],
        times[RUNS - 1],
        counts[RUNS / 2],
        body.len() as f64 / 1024.0
    );
    eprint!("{row}");
    let _ = stop.send(());
    let _ = server.await;
    drop(consumers);
    row
}

#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// Requests, tasks (3 % failed, 40 services) and their audit entries, all committed, generated
/// in SQL; the same rows on both back-ends.
fn seed_statements(tasks: usize, dialect: Dialect) -> Vec<String> {
    let requests = tasks.div_ceil(4);
    let entries = tasks + requests;
    let series = |n: usize| match dialect {
        Dialect::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {n} - 1) SELECT i FROM n"
        ),
        Dialect::Postgres => format!("SELECT i FROM generate_series(0::bigint, {n} - 1) AS i"),
    };
    let id = |prefix: &str, i: &str| match dialect {
        Dialect::Sqlite => format!("printf('{prefix}_%032x', {i})"),
        Dialect::Postgres => format!("'{prefix}_' || lpad(to_hex({i}), 32, '0')"),
    };
    let ts = match dialect {
        Dialect::Sqlite => {
            "strftime('%Y-%m-%dT%H:%M:%S', 'now', '-' || i || ' minutes') || '.000000Z'"
        }
        Dialect::Postgres => {
            "to_char((now() - i * interval '1 minute') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '.000000Z'"
        }
    };
    vec![
        format!(
            "INSERT INTO requests (id, text, status, high_value, plan_version, created_at, updated_at)
             SELECT {}, 'seeded request', 'succeeded', 0, 1, {ts}, {ts} FROM ({}) AS g",
            id("req", "i"),
            series(requests)
        ),
        format!(
            "INSERT INTO tasks ({COLUMNS})
             SELECT {}, {}, 's' || (i % 4), 1, 'Deploy ' || svc, status, status || ': ok=3',
                    '{{\"duration_ms\": 5400}}', svc, 'infra-lola', svc || '-deployment.yml', '[]',
                    {ts}, {ts}, {ts}, {ts}
             FROM (SELECT i, CASE WHEN i % 33 = 0 THEN 'failed' ELSE 'succeeded' END AS status,
                          'svc-' || ((i * 7) % 40) AS svc FROM ({}) AS n) AS g",
            id("task", "i"),
            id("req", "i / 4"),
            series(tasks)
        ),
        format!(
            "INSERT INTO audit_entries (kind, subject_id, file, message, body, sha256, recorded_at,
                                        commit_id, written_at)
             SELECT 'task', {}, 'entries/' || i || '.json', 'task', '{{}}', 'sha', {ts},
                    'c' || i, {ts}
             FROM ({}) AS g",
            id("task", "i"),
            series(entries)
        ),
        "ANALYZE".to_owned(),
    ]
}
