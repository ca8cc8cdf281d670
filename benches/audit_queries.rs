//! The audit queries over a million tasks, on SQLite and on PostgreSQL, through the store's own
//! code (`Store::list_tasks`, as `GET /api/v1/tasks` runs it).
//!
//! - History: 1,000,000 tasks (250,000 requests of four steps) spread over the last 365 days,
//!   one every ~31.5 s; 40 services (kuma among them, 25,000 tasks); 3 % failed, 1 %
//!   aborted, the rest succeeded. Generated inside the database (recursive CTE on SQLite,
//!   `generate_series` on PostgreSQL), then `ANALYZE`.
//! - Queries, a 50-task page each, newest first: "failures in the last 7 days"
//!   (`status=failed&since=7d`), "all changes to Kuma" (`service=kuma`), and the same
//!   Kuma query twenty pages deep (keyset cursor).
//! - Baseline, in the same run: the query as Chiffon ran it before the audit work
//!   (`$n IS NULL OR column = $n` for every filter, oldest first), which no planner can serve
//!   from an index.
//! - 200 runs per query after 10 warm-up runs; p50, p95 and max wall time.
//!
//! Run: `cargo bench --bench audit_queries` (PostgreSQL from `CHIFFON_BENCH_DATABASE_URL`,
//! default postgres://postgres@127.0.0.1:5432/test, in a schema of its own that is dropped
//! afterwards; `CHIFFON_BENCH_TASKS` to change the size). About three minutes. The figures
//! and the query plans replace the `audit_queries` section of docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;

use std::time::{Duration, Instant};

use chiffon::model::{TaskId, TaskStatus};
use chiffon::store::{Store, TaskFilter};
use chrono::Utc;
use sqlx::Row;

const RUNS: usize = 200;
const WARM_UP: usize = 10;
const PAGE: u32 = 50;

/// Columns in the order the generators below fill them.
const COLUMNS: &str = "task_id, request_id, step_id, plan_version, title, status, outcome, \
    resource_usage, service_touched, agent_id, playbook, suggestions, created_at, updated_at, \
    started_at, finished_at";

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let tasks: i64 = std::env::var("CHIFFON_BENCH_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let now = Utc::now();
    let mut section = format!(
        "## Audit queries over {tasks} tasks (`cargo bench --bench audit_queries`)\n\n\
         {tasks} tasks over 365 days, 40 services (kuma: {} tasks), 3 % failed. One \
         50-task page per query, newest first, through `Store::list_tasks`; 200 runs after 10 \
         warm-up runs. Baseline: the query as it was before this work, with the same filters \
         (`$n IS NULL OR col = $n` for every filter, oldest first: it could not page or sort \
         newest first), same data, same run; speed-up = baseline p50 / p50. Run on {}.\n\n\
         | back-end | query | p50 | p95 | max | baseline p50 | speed-up |\n\
         |---|---|---|---|---|---|---|\n",
        tasks / 40,
        now.format("%Y-%m-%d")
    );
    let mut plans = String::new();

    // SQLite, in a file like the embedded default.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chiffon.db");
    let store = Store::open_sqlite(&path).await.unwrap();
    let started = Instant::now();
    let url = format!("sqlite://{}", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    seed_sqlite(&pool, tasks, now).await;
    eprintln!("SQLite: seeded in {:.1} s", started.elapsed().as_secs_f64());
    measure(
        "SQLite",
        &store,
        &BaselineSqlite(&pool),
        now,
        &mut section,
        &mut plans,
    )
    .await;
    pool.close().await;

    // PostgreSQL, in a schema of its own.
    let base = std::env::var("CHIFFON_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("chiffon_bench_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let store = Store::open_postgres(&url).await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let started = Instant::now();
    seed_postgres(&pool, tasks, now).await;
    eprintln!(
        "PostgreSQL: seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    measure(
        "PostgreSQL",
        &store,
        &BaselinePostgres(&pool),
        now,
        &mut section,
        &mut plans,
    )
    .await;
    pool.close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();

    section.push_str(&format!(
        "\nTarget: ≤ 20 ms per query. The plans, from `Store::explain_tasks` \
         (`EXPLAIN QUERY PLAN` / `EXPLAIN`) on the same data:\n\n```\n{plans}```\n\n"
    ));
    print!("{section}");
    common::update_docs("audit_queries", &section);
}

/// The baseline query on each back-end (the pre-index form, with its `IS NULL` guards).
trait Baseline {
    async fn run(&self, status: Option<&str>, service: Option<&str>, since: Option<String>);
}

const BASELINE_SQL: &str = "SELECT * FROM tasks
     WHERE ($1 IS NULL OR status = $1)
       AND ($2 IS NULL OR service_touched = $2)
       AND ($3 IS NULL OR created_at >= $3)
     ORDER BY created_at, task_id LIMIT $4";

struct BaselineSqlite<'a>(&'a sqlx::SqlitePool);
struct BaselinePostgres<'a>(&'a sqlx::PgPool);

impl Baseline for BaselineSqlite<'_> {
    async fn run(&self, status: Option<&str>, service: Option<&str>, since: Option<String>) {
        let rows = sqlx::query(BASELINE_SQL)
            .bind(status)
            .bind(service)
            .bind(since)
            .bind(i64::from(PAGE))
            .fetch_all(self.0)
            .await
            .unwrap();
        assert!(!rows.is_empty());
    }
}

impl Baseline for BaselinePostgres<'_> {
    async fn run(&self, status: Option<&str>, service: Option<&str>, since: Option<String>) {
        let sql = BASELINE_SQL
            .replace("$1 IS NULL", "$1::text IS NULL")
            .replace("$2 IS NULL", "$2::text IS NULL")
            .replace("$3 IS NULL", "$3::text IS NULL");
        let rows = sqlx::query(&sql)
            .bind(status)
            .bind(service)
            .bind(since)
            .bind(i64::from(PAGE))
            .fetch_all(self.0)
            .await
            .unwrap();
        assert!(!rows.is_empty());
    }
}

fn rfc3339(at: chrono::DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

async fn measure(
    backend: &str,
    store: &Store,
    baseline: &impl Baseline,
    now: chrono::DateTime<Utc>,
    section: &mut String,
    plans: &mut String,
) {
    let week_ago = now - chrono::Duration::days(7);
    let failures = TaskFilter {
        status: Some(TaskStatus::Failed),
        since: Some(week_ago),
        newest_first: true,
        limit: PAGE,
        ..TaskFilter::default()
    };
    let kuma = TaskFilter {
        service: Some("kuma".to_owned()),
        newest_first: true,
        limit: PAGE,
        ..TaskFilter::default()
    };
    // Twenty pages into Kuma's history: the cursor is the last task of page 20.
    let mut deep = kuma.clone();
    for _ in 0..20 {
        let page = store.list_tasks(&deep).await.unwrap();
        deep.after = Some(TaskId::parse(page.last().unwrap().id.as_str()).unwrap());
    }
    let cases: [Case; 3] = [
        (
            "failures, last 7 days",
            &failures,
            Some("failed"),
            None,
            Some(rfc3339(week_ago)),
        ),
        ("all changes to kuma", &kuma, None, Some("kuma"), None),
        ("kuma, page 21 (cursor)", &deep, None, Some("kuma"), None),
    ];
    for (name, filter, status, service, since) in cases {
        let found = store.list_tasks(filter).await.unwrap();
        assert_eq!(found.len(), PAGE as usize, "{name}: a full page");
        let ours = timings(|| async {
            store.list_tasks(filter).await.unwrap();
        })
        .await;
        let theirs = timings(|| async {
            baseline.run(status, service, since.clone()).await;
        })
        .await;
        let (p50, p95, max) = ours;
        eprintln!(
            "{backend} {name}: p50 {} p95 {} max {} (baseline p50 {})",
            ms(p50),
            ms(p95),
            ms(max),
            ms(theirs.0)
        );
        section.push_str(&format!(
            "| {backend} | {name} | {} | {} | {} | {} | {:.2}× |\n",
            ms(p50),
            ms(p95),
            ms(max),
            ms(theirs.0),
            theirs.0.as_secs_f64() / p50.as_secs_f64()
        ));
        plans.push_str(&format!("-- {backend}: {name}\n"));
        for line in store.explain_tasks(filter).await.unwrap() {
            plans.push_str(&format!("{line}\n"));
        }
    }
}

/// A query: its name, its filter, and the baseline's status, service and since binds.
type Case<'a> = (
    &'a str,
    &'a TaskFilter,
    Option<&'a str>,
    Option<&'a str>,
    Option<String>,
);

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// p50, p95 and max of `RUNS` runs of `f`, after `WARM_UP` unmeasured ones.
async fn timings<F, Fut>(f: F) -> (Duration, Duration, Duration)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..WARM_UP {
        f().await;
    }
    let mut all = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        f().await;
        all.push(started.elapsed());
    }
    all.sort();
    (all[RUNS / 2], all[RUNS * 95 / 100], all[RUNS - 1])
}

/// SQL expressions of row number `i` shared by both generators (SQLite and PostgreSQL spell
/// formatting differently; the rest is the same arithmetic).
fn status_expr(i: &str) -> String {
    format!(
        "CASE WHEN {i} % 33 = 0 THEN 'failed' WHEN {i} % 97 = 0 THEN 'aborted' ELSE 'succeeded' END"
    )
}

fn service_expr(i: &str) -> String {
    // kuma is service 0; the others are svc-1 … svc-39, spread by a multiplier.
    format!("CASE WHEN ({i} * 7) % 40 = 0 THEN 'kuma' ELSE 'svc-' || (({i} * 7) % 40) END")
}

async fn seed_sqlite(pool: &sqlx::SqlitePool, tasks: i64, now: chrono::DateTime<Utc>) {
    let epoch = now.timestamp();
    let requests = (tasks + 3) / 4;
    let ts = |offset: &str| {
        format!("strftime('%Y-%m-%dT%H:%M:%S', {epoch} - {offset}, 'unixepoch') || '.000000Z'")
    };
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {requests} - 1)
         INSERT INTO requests (id, text, status, high_value, plan_version, created_at, updated_at)
         SELECT printf('req_%032x', i), 'seeded request', 'succeeded', 0, 1, {t}, {t} FROM n",
        t = ts("i * 126")
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {tasks} - 1)
         INSERT INTO tasks ({COLUMNS})
         SELECT printf('task_%032x', i), printf('req_%032x', i / 4), 's' || (i % 4), 1,
                'Deploy ' || svc, status, status || ': ok=3 changed=1', '{{\"duration_ms\": 5400}}',
                svc, 'infra-lola', svc || '-deployment.yml', '[]', {t}, {t}, {t}, {t}
         FROM (SELECT i, {status} AS status, {service} AS svc FROM n)",
        t = ts("i * 31 - i / 2"),
        status = status_expr("i"),
        service = service_expr("i"),
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM tasks")
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, tasks);
}

async fn seed_postgres(pool: &sqlx::PgPool, tasks: i64, now: chrono::DateTime<Utc>) {
    let epoch = now.timestamp();
    let requests = (tasks + 3) / 4;
    let ts = |offset: &str| {
        format!(
            "to_char(to_timestamp({epoch} - ({offset})) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '.000000Z'"
        )
    };
    sqlx::query(&format!(
        "INSERT INTO requests (id, text, status, high_value, plan_version, created_at, updated_at)
         SELECT 'req_' || lpad(to_hex(i), 32, '0'), 'seeded request', 'succeeded', 0, 1, {t}, {t}
         FROM generate_series(0, {requests} - 1) AS i",
        t = ts("i * 126")
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO tasks ({COLUMNS})
         SELECT 'task_' || lpad(to_hex(i), 32, '0'), 'req_' || lpad(to_hex(i / 4), 32, '0'),
                's' || (i % 4), 1, 'Deploy ' || svc, status, status || ': ok=3 changed=1',
                '{{\"duration_ms\": 5400}}', svc, 'infra-lola', svc || '-deployment.yml', '[]',
                {t}, {t}, {t}, {t}
         FROM (SELECT i, {status} AS status, {service} AS svc
               FROM generate_series(0::bigint, {tasks} - 1) AS i) AS g",
        t = ts("i * 31 - i / 2"),
        status = status_expr("i"),
        service = service_expr("i"),
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM tasks")
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, tasks);
}
