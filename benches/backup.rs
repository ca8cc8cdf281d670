//! `chiffon backup` and the checking half of `chiffon restore` on the audit benchmark's
//! database: 1,000,000 tasks (250,000 requests of four steps) over 365 days, generated inside
//! SQLite exactly as `benches/audit_queries.rs` does, plus an audit repository of
//! `CHIFFON_BENCH_AUDIT_COMMITS` entries (default 2,000: a million git commits cannot be made
//! here in reasonable time, so the bundle's share is measured on fewer and scaled).
//!
//! Measured: the backup through `ops::backup::backup` (the code `chiffon backup` runs:
//! `VACUUM INTO`, `git bundle`, SHA-256 of each member, the tar file) with its parts, the
//! archive's size beside the live database's, and reading the archive back with every
//! checksum checked (`ops::archive::read_checked`, the first step of a restore).
//!
//! Run: `cargo bench --bench backup` (`CHIFFON_BENCH_TASKS` to change the size). The figures
//! replace the `backup` section of docs/benchmarks.md.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chiffon::config::{Database, Overrides, ServeConfig};
use chiffon::ops::backup::{BackupPlan, backup};
use chiffon::store::Store;
use chrono::Utc;

const COLUMNS: &str = "task_id, request_id, step_id, plan_version, title, status, outcome, \
    resource_usage, service_touched, agent_id, playbook, suggestions, created_at, updated_at, \
    started_at, finished_at";

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

async fn run() {
    let tasks: i64 = std::env::var("CHIFFON_BENCH_TASKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let commits: usize = std::env::var("CHIFFON_BENCH_AUDIT_COMMITS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let db = data_dir.join("chiffon.db");
    let store = Store::open_sqlite(&db).await.unwrap();
    store.close().await;
    let started = Instant::now();
    seed_sqlite(&db, tasks).await;
    eprintln!("seeded {tasks} tasks in {}", secs(started.elapsed()));
    let started = Instant::now();
    seed_audit(&data_dir.join("audit"), commits).await;
    eprintln!(
        "made {commits} audit commits in {}",
        secs(started.elapsed())
    );
    let live_bytes = std::fs::metadata(&db).unwrap().len();

    let config = ServeConfig::load(
        None,
        Overrides {
            data_dir: Some(data_dir.clone()),
            playbooks: Some(".".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(config.database, Database::Sqlite(db.clone()));
    // The parts on their own, then the whole as `chiffon backup` runs it.
    let started = Instant::now();
    let snapshot = dir.path().join("snapshot.db");
    chiffon::store::maintenance::snapshot_sqlite(&db, &snapshot)
        .await
        .unwrap();
    let vacuum = started.elapsed();
    let snapshot_bytes = std::fs::metadata(&snapshot).unwrap().len();
    std::fs::remove_file(&snapshot).unwrap();
    let started = Instant::now();
    let bundle = dir.path().join("audit.bundle");
    chiffon::tools::git::bundle_create(&data_dir.join("audit"), &bundle).unwrap();
    let bundling = started.elapsed();
    let bundle_bytes = std::fs::metadata(&bundle).unwrap().len();
    std::fs::remove_file(&bundle).unwrap();

    let out = dir.path().join("backup.tar");
    let report = backup(&BackupPlan {
        config: &config,
        config_file: None,
        out: &out,
        audit_only: false,
        include_secrets: false,
    })
    .await
    .unwrap();
    let staging = dir.path().join("check");
    std::fs::create_dir(&staging).unwrap();
    let started = Instant::now();
    chiffon::ops::archive::read_checked(&out, &staging).unwrap();
    let checking = started.elapsed();

    let build = if cfg!(debug_assertions) {
        "debug build (`--profile dev`: SQLite's C code, SHA-256 and tar unoptimised, so a \
         release build is faster; not measured here)"
    } else {
        "release build"
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    let per_commit = bundling.as_secs_f64() / commits.max(1) as f64;
    let section = format!(
        "## Backup of the {tasks}-task database (`cargo bench --bench backup`)\n\n\
         The audit benchmark's database ({tasks} tasks, {} requests, generated in SQLite as \
         `benches/audit_queries.rs` does) and an audit repository of {commits} commits; {build} \
         on {} ({} cores, shared with other work: load average {load} at the end). Run on \
         {}. The whole backup is more than its two parts because it also reads every byte \
         twice more (the SHA-256 of each member, then the tar copy).\n\n\
         | figure | value |\n|---|---:|\n\
         | live database | {} |\n\
         | `VACUUM INTO` snapshot | {} ({}) |\n\
         | `git bundle` of {commits} audit commits | {} ({}) |\n\
         | **whole backup** (`chiffon backup`: snapshot, bundle, SHA-256s, tar) | **{}** |\n\
         | **archive size** | **{}** |\n\
         | restore's first step: read the archive, check every SHA-256 | {} |\n\n\
         The bundle's share grows with the audit history: {:.2} ms per commit here, so a \
         history of one commit per task ({tasks} commits) would add about {:.0} s and its \
         packed size; the database's share is measured at full size.\n\n",
        tasks / 4,
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        Utc::now().format("%Y-%m-%d"),
        mib(live_bytes),
        secs(vacuum),
        mib(snapshot_bytes),
        secs(bundling),
        mib(bundle_bytes),
        secs(report.elapsed),
        mib(report.bytes),
        secs(checking),
        per_commit * 1000.0,
        per_commit * tasks as f64,
    );
    print!("{section}");
    common::update_docs("backup", &section);
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "an unknown CPU".to_owned())
}

/// The audit benchmark's history, written straight into the file.
async fn seed_sqlite(db: &Path, tasks: i64) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let epoch = Utc::now().timestamp();
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
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {tasks} - 1)
         INSERT INTO tasks ({COLUMNS})
         SELECT printf('task_%032x', i), printf('req_%032x', i / 4), 's' || (i % 4), 1,
                'Deploy ' || svc, status, status || ': ok=3 changed=1', '{{\"duration_ms\": 5400}}',
                svc, 'infra-lola', svc || '-deployment.yml', '[]', {t}, {t}, {t}, {t}
         FROM (SELECT i, CASE WHEN i % 33 = 0 THEN 'failed' WHEN i % 97 = 0 THEN 'aborted'
                              ELSE 'succeeded' END AS status,
                      CASE WHEN (i * 7) % 40 = 0 THEN 'kuma' ELSE 'svc-' || ((i * 7) % 40) END AS svc
               FROM n)",
        t = ts("i * 31 - i / 2"),
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    pool.close().await;
}

/// An audit repository with `commits` entries, written as the server writes them.
async fn seed_audit(path: &Path, commits: usize) {
    let log = chiffon::audit::AuditLog::open_or_init(path).unwrap();
    for i in 0..commits {
        let entry = chiffon::audit::prepare(chiffon::audit::AuditEntry {
            kind: "task",
            subject: format!("task {i} succeeded: Deploy svc-{}", i % 40),
            subject_id: format!("task_{i:032x}"),
            recorded_at: Utc::now(),
            details: serde_json::json!({
                "task": format!("task_{i:032x}"),
                "request": format!("req_{:032x}", i / 4),
                "result": {"status": "succeeded", "outcome": "ok=3 changed=1"},
            }),
        });
        log.write(&entry.file, &entry.body, &entry.message)
            .await
            .unwrap();
    }
}
