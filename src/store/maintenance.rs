//! What operations need from the database without opening it as the server does: a consistent
//! copy of a live SQLite file (`VACUUM INTO`), the facts a backup's manifest records (schema
//! version, row counts, the last audit commit), and how far a database's migrations are
//! behind or ahead of this binary. None of these migrate: `chiffon backup` and `chiffon doctor`
//! may run beside a server of another version and must not change its database.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Connection, Row};

use crate::store::{Backend, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, Store};

/// What a backup's manifest says about the database it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseFacts {
    /// The newest migration applied (0: none).
    pub schema_version: i64,
    pub requests: i64,
    pub tasks: i64,
    pub task_events: i64,
    /// Audit ledger entries (0 before schema version 6, which added the ledger).
    pub audit_entries: i64,
    /// The commit of the newest ledger entry already written to git: the audit history a
    /// restore keeps (later commits belong to entries this copy still has queued).
    pub last_audit_commit: Option<String>,
}

/// How a database's migrations compare with this binary's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationState {
    /// The newest migration applied to the database (0: none, a new database).
    pub applied: i64,
    /// The newest migration this binary knows.
    pub known: i64,
}

/// The newest migration this binary has for `backend`.
pub fn latest_migration(backend: Backend) -> i64 {
    let list = match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    };
    list.last().map_or(0, |(version, _, _)| *version)
}

/// `sqlite://…` for `path` in `mode` (`ro`, `rw`): the file must exist.
fn sqlite_url_in_mode(path: &Path, mode: &str) -> anyhow::Result<String> {
    let url = crate::store::sqlite_url(path)?;
    Ok(url.replace("?mode=rwc", &format!("?mode={mode}")))
}

async fn connect(url: &str) -> anyhow::Result<AnyConnection> {
    sqlx::any::install_default_drivers();
    Ok(AnyConnection::connect(url).await?)
}

/// Copies the SQLite database at `live` into the new file `out` with `VACUUM INTO`: one read
/// transaction, so the copy is consistent even while the server writes (in WAL mode the
/// writer is not blocked), compact, and with no write-ahead log beside it. Returns the facts
/// read back from the copy.
pub async fn snapshot_sqlite(live: &Path, out: &Path) -> anyhow::Result<DatabaseFacts> {
    anyhow::ensure!(live.is_file(), "no database at {}", live.display());
    anyhow::ensure!(
        !out.exists(),
        "{} already exists; the snapshot needs a new file",
        out.display()
    );
    // Read-write first, because a read-only connection cannot open a WAL database whose
    // shared-memory file does not exist yet (the server is stopped); nothing is written to
    // `live`. Read-only next, for a user who may only read the data directory.
    let mut conn = match connect(&sqlite_url_in_mode(live, "rw")?).await {
        Ok(conn) => conn,
        Err(_) => connect(&sqlite_url_in_mode(live, "ro")?)
            .await
            .with_context(|| format!("cannot open the database at {}", live.display()))?,
    };
    let target = out
        .to_str()
        .context("the snapshot's path must be valid UTF-8")?;
    sqlx::query("VACUUM INTO $1")
        .bind(target.to_owned())
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot copy the database into {}", out.display()))?;
    conn.close().await?;
    sqlite_facts(out).await
}

/// The facts of the SQLite file at `path`, read without changing it.
pub async fn sqlite_facts(path: &Path) -> anyhow::Result<DatabaseFacts> {
    let mut conn = connect(&sqlite_url_in_mode(path, "ro")?)
        .await
        .with_context(|| format!("cannot open the database at {}", path.display()))?;
    let facts = facts(&mut conn).await;
    conn.close().await?;
    facts
}

/// The facts of the PostgreSQL database at `url`, read without changing it.
pub async fn postgres_facts(url: &str) -> anyhow::Result<DatabaseFacts> {
    let mut conn = connect(url).await.with_context(|| {
        format!(
            "cannot reach PostgreSQL at {}",
            crate::store::redacted_url(url)
        )
    })?;
    let facts = facts(&mut conn).await;
    conn.close().await?;
    facts
}

async fn count(conn: &mut AnyConnection, table: &str) -> anyhow::Result<i64> {
    let row = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("cannot count the rows of {table}"))?;
    Ok(row.try_get(0)?)
}

async fn facts(conn: &mut AnyConnection) -> anyhow::Result<DatabaseFacts> {
    let schema_version = applied_version(conn).await?;
    let mut facts = DatabaseFacts {
        schema_version,
        requests: count(conn, "requests").await?,
        tasks: count(conn, "tasks").await?,
        task_events: count(conn, "task_events").await?,
        ..DatabaseFacts::default()
    };
    if schema_version >= 6 {
        facts.audit_entries = count(conn, "audit_entries").await?;
        facts.last_audit_commit = sqlx::query(
            "SELECT commit_id FROM audit_entries WHERE commit_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| row.try_get::<String, _>(0))
        .transpose()?;
    }
    Ok(facts)
}

/// The newest migration applied, 0 when the migrations table does not exist yet.
async fn applied_version(conn: &mut AnyConnection) -> anyhow::Result<i64> {
    match sqlx::query("SELECT MAX(version) FROM chiffon_migrations")
        .fetch_one(&mut *conn)
        .await
    {
        Ok(row) => Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0)),
        Err(sqlx::Error::Database(error))
            if error.message().contains("chiffon_migrations")
                || error.message().contains("no such table") =>
        {
            Ok(0)
        }
        Err(error) => Err(error.into()),
    }
}

/// How the migrations of the SQLite file at `path` compare with this binary's (read-only).
pub async fn sqlite_migration_state(path: &Path) -> anyhow::Result<MigrationState> {
    let mut conn = connect(&sqlite_url_in_mode(path, "ro")?)
        .await
        .with_context(|| format!("cannot open the database at {}", path.display()))?;
    let applied = applied_version(&mut conn).await;
    conn.close().await?;
    Ok(MigrationState {
        applied: applied?,
        known: latest_migration(Backend::Sqlite),
    })
}

/// How the migrations of the PostgreSQL database at `url` compare with this binary's; fails
/// when it cannot be reached.
pub async fn postgres_migration_state(url: &str) -> anyhow::Result<MigrationState> {
    let mut conn = connect(url).await.with_context(|| {
        format!(
            "cannot reach PostgreSQL at {}",
            crate::store::redacted_url(url)
        )
    })?;
    let applied = applied_version(&mut conn).await;
    conn.close().await?;
    Ok(MigrationState {
        applied: applied?,
        known: latest_migration(Backend::Postgres),
    })
}

impl Store {
    /// The newest `limit` agent message ids the orchestrator applied (UUID v7, stamped with the
    /// sender's clock), each with the time the orchestrator stored it (its own clock): how
    /// `chiffon doctor` compares the agents' clocks with the orchestrator's.
    pub async fn recent_messages(
        &self,
        limit: i64,
    ) -> anyhow::Result<Vec<(String, chrono::DateTime<chrono::Utc>)>> {
        let rows = sqlx::query(
            "SELECT message_id, received_at FROM bus_messages ORDER BY received_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get::<String, _>("message_id")?,
                    crate::store::ts_col(row, "received_at")?,
                ))
            })
            .collect()
    }
}
