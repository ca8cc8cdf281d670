//! Upgrades: today's server started on a database written by an earlier release (schema 0007,
//! `tests/fixtures/upgrade/`, made from that commit's own migrations) migrates it forward at
//! start-up and answers every request and task it holds, on SQLite and on PostgreSQL.

use std::path::Path;

use chiffon::config::Database;
use chiffon::model::{RequestStatus, TaskStatus};

use crate::operations::ReadOnlyServer;

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upgrade")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the fixture holds (tests/fixtures/upgrade/data.sql).
const REQUESTS: &[(&str, RequestStatus, usize)] = &[
    (
        "req_0192f0a1000070008000000000000001",
        RequestStatus::Succeeded,
        2,
    ),
    (
        "req_0192f0a1000070008000000000000002",
        RequestStatus::Failed,
        1,
    ),
    (
        "req_0192f0a1000070008000000000000003",
        RequestStatus::Rejected,
        0,
    ),
    (
        "req_0192f0a1000070008000000000000004",
        RequestStatus::AwaitingApproval,
        0,
    ),
];

async fn every_request_and_task_is_found(server: &ReadOnlyServer) {
    let listed = server.client.list_requests(50).await.unwrap();
    assert_eq!(listed.items.len(), REQUESTS.len(), "{:?}", listed.items);
    for (id, status, tasks) in REQUESTS {
        let view = server.client.get_request(id).await.unwrap();
        assert_eq!(view.request.status, *status, "{id}");
        assert_eq!(view.tasks.len(), *tasks, "{id}: {:?}", view.tasks);
        assert_eq!(view.request.plan.version, 1);
        for task in &view.tasks {
            let found = server.client.task(task.id.as_str()).await.unwrap();
            assert_eq!(found.task.request_id.as_str(), *id);
            assert!(!found.events.is_empty(), "{}: its events", task.id);
        }
    }
    let failed = server
        .client
        .task("task_0192f0a1000070008000000000000021")
        .await
        .unwrap();
    assert_eq!(failed.task.status, TaskStatus::Failed);
    assert_eq!(failed.annotations.len(), 1, "{:?}", failed.annotations);
    let all = server
        .client
        .tasks(&[("limit", "50".to_owned())])
        .await
        .unwrap();
    assert_eq!(all.items.len(), 3, "{:?}", all.items);
    let kuma = server
        .client
        .tasks(&[("service", "kuma".to_owned())])
        .await
        .unwrap();
    assert_eq!(
        kuma.items.len(),
        2,
        "the audit query over old rows: {:?}",
        kuma.items
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_server_migrates_an_earlier_releases_sqlite_database_and_finds_everything() {
    let scratch = tempfile::tempdir().unwrap();
    let data_dir = scratch.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let db = data_dir.join("chiffon.db");
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&fixture("sqlite.sql"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let before = chiffon::store::maintenance::sqlite_migration_state(&db)
        .await
        .unwrap();
    assert_eq!(
        before.applied, 7,
        "the fixture is the schema of migration 0007"
    );
    assert!(before.known > before.applied);
    let server = ReadOnlyServer::start(&data_dir, Database::Sqlite(db.clone())).await;
    every_request_and_task_is_found(&server).await;
    server.stop().await;
    let after = chiffon::store::maintenance::sqlite_migration_state(&db)
        .await
        .unwrap();
    assert_eq!(after.applied, after.known, "migrated forward at start-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_server_migrates_an_earlier_releases_postgresql_database_and_finds_everything() {
    let Ok(base) = std::env::var("CHIFFON_TEST_DATABASE_URL") else {
        eprintln!("skipped: set CHIFFON_TEST_DATABASE_URL (bash .ci/run does)");
        return;
    };
    let schema = format!("chiffon_upgrade_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(&fixture("postgres.sql"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let before = chiffon::store::maintenance::postgres_migration_state(&url)
        .await
        .unwrap();
    assert_eq!(before.applied, 7);
    let scratch = tempfile::tempdir().unwrap();
    let server = ReadOnlyServer::start(
        &scratch.path().join("data"),
        Database::Postgres(url.clone()),
    )
    .await;
    every_request_and_task_is_found(&server).await;
    server.stop().await;
    let after = chiffon::store::maintenance::postgres_migration_state(&url)
        .await
        .unwrap();
    assert_eq!(after.applied, after.known, "migrated forward at start-up");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}
