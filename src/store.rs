//! The state store: requests, plan versions, tasks and their events, in SQLite (the embedded
//! default) or PostgreSQL (`--database-url postgres://…`). Both back-ends share every query
//! (sqlx's `Any` driver, `$N` placeholders, timestamps as fixed-width RFC 3339 text); schema
//! changes are numbered migrations per back-end under `migrations/`, applied at start-up.
//!
//! This file holds the `Store` handle, connecting and migrating, and the helpers every table
//! group shares (timestamps, JSON columns, reading a row into its type); the queries live in
//! `store/`, one file per group of tables.
//!
//! Invariant: only the orchestrator uses the store; agents report through the bus.

mod agents;
mod annotations;
mod audit_ledger;
mod bus_messages;
mod changes;
mod llm_decisions;
pub mod maintenance;
mod metrics;
mod previews;
mod queue_events;
mod request_decisions;
mod requests;
mod task_listing;
mod tasks;

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Row};

pub use crate::model::QueueEvent;
pub use crate::store::annotations::Annotation;
pub use crate::store::audit_ledger::{NewAuditEntry, StoredAuditEntry};
pub use crate::store::changes::{RevertLink, StoredChange};
pub use crate::store::metrics::MetricCounts;
pub use crate::store::request_decisions::Decision;
pub use crate::store::requests::PlanVersion;
pub use crate::store::task_listing::TaskFilter;
pub use crate::store::tasks::TaskFinish;

/// Migrations in order, per back-end. Never edit a released one: add the next.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "bus_messages",
        include_str!("../migrations/sqlite/0002_bus_messages.sql"),
    ),
    (
        3,
        "agents",
        include_str!("../migrations/sqlite/0003_agents.sql"),
    ),
    (
        4,
        "previews",
        include_str!("../migrations/sqlite/0004_previews.sql"),
    ),
    (
        5,
        "annotations",
        include_str!("../migrations/sqlite/0005_annotations.sql"),
    ),
    (
        6,
        "audit_entries",
        include_str!("../migrations/sqlite/0006_audit_entries.sql"),
    ),
    (
        7,
        "decisions",
        include_str!("../migrations/sqlite/0007_decisions.sql"),
    ),
    (
        8,
        "plan_changes_llm",
        include_str!("../migrations/sqlite/0008_plan_changes_llm.sql"),
    ),
    (
        9,
        "changes",
        include_str!("../migrations/sqlite/0009_changes.sql"),
    ),
    (
        11,
        "task_warnings",
        include_str!("../migrations/sqlite/0011_task_warnings.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "bus_messages",
        include_str!("../migrations/postgres/0002_bus_messages.sql"),
    ),
    (
        3,
        "agents",
        include_str!("../migrations/postgres/0003_agents.sql"),
    ),
    (
        4,
        "previews",
        include_str!("../migrations/postgres/0004_previews.sql"),
    ),
    (
        5,
        "annotations",
        include_str!("../migrations/postgres/0005_annotations.sql"),
    ),
    (
        6,
        "audit_entries",
        include_str!("../migrations/postgres/0006_audit_entries.sql"),
    ),
    (
        7,
        "decisions",
        include_str!("../migrations/postgres/0007_decisions.sql"),
    ),
    (
        8,
        "plan_changes_llm",
        include_str!("../migrations/postgres/0008_plan_changes_llm.sql"),
    ),
    (
        9,
        "changes",
        include_str!("../migrations/postgres/0009_changes.sql"),
    ),
    (
        11,
        "task_warnings",
        include_str!("../migrations/postgres/0011_task_warnings.sql"),
    ),
];

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// The statements of a migration file: `--` comment lines are dropped, then statements are
/// split at `;` (so a migration must not put `;` inside a string). Statement by statement
/// because `raw_sql` over a transaction is not `Send` in sqlx 0.8, and the server future must be.
fn statements(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Fixed width (microseconds, `Z`), so text order is time order on both back-ends.
fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(text: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("bad timestamp {text:?} in the store"))?
        .with_timezone(&Utc))
}

/// A value read from one row: implemented once per stored type, so every query that reads
/// that type reads it the same way.
trait FromStoreRow: Sized {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self>;
}

/// A timestamp column (see `ts`).
fn ts_col(row: &AnyRow, col: &str) -> anyhow::Result<DateTime<Utc>> {
    parse_ts(row.try_get(col)?)
}

/// A nullable timestamp column.
fn opt_ts_col(row: &AnyRow, col: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    row.try_get::<Option<&str>, _>(col)?
        .map(parse_ts)
        .transpose()
}

/// A column holding JSON text.
fn json_col<T: DeserializeOwned>(row: &AnyRow, col: &str) -> anyhow::Result<T> {
    let text: &str = row.try_get(col)?;
    serde_json::from_str(text).with_context(|| format!("bad JSON in column {col}"))
}

/// A nullable column holding JSON text.
fn opt_json_col<T: DeserializeOwned>(row: &AnyRow, col: &str) -> anyhow::Result<Option<T>> {
    row.try_get::<Option<&str>, _>(col)?
        .map(|text| serde_json::from_str(text).with_context(|| format!("bad JSON in column {col}")))
        .transpose()
}

/// A plan version (stored as `BIGINT`, which is what both back-ends share).
fn u32_col(row: &AnyRow, col: &str) -> anyhow::Result<u32> {
    Ok(u32::try_from(row.try_get::<i64, _>(col)?)?)
}

/// A column holding the text form of a value with a `parse` constructor (ids, statuses);
/// `what` names the value in the error.
fn parsed_col<T>(
    row: &AnyRow,
    col: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    what: &str,
) -> anyhow::Result<T> {
    let text: &str = row.try_get(col)?;
    parse(text).with_context(|| format!("bad {what} {text:?} in the store"))
}

/// `sqlite://` URL for a file path; the driver percent-decodes it.
fn sqlite_url(path: &Path) -> anyhow::Result<String> {
    let absolute = std::path::absolute(path)?;
    let mut url = String::from("sqlite://");
    for byte in absolute.to_string_lossy().bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'.' | b'-' | b'_') {
            url.push(byte as char);
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url.push_str("?mode=rwc");
    Ok(url)
}

/// The URL without its password, for messages.
fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && url[scheme + 3..at].contains(':') => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}:…{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and migrates it forward.
    pub async fn open_sqlite(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        Self::connect(&sqlite_url(path)?, Backend::Sqlite)
            .await
            .with_context(|| format!("cannot open the database at {}", path.display()))
    }

    /// Opens `postgres://…` and migrates it forward.
    pub async fn open_postgres(url: &str) -> anyhow::Result<Self> {
        Self::connect(url, Backend::Postgres)
            .await
            .with_context(|| {
                format!(
                    "cannot use the PostgreSQL database at {}",
                    redacted_url(url)
                )
            })
    }

    async fn connect(url: &str, backend: Backend) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // Readers never wait for the writer; the setting is kept in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let store = Self { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS chiffon_migrations (
                version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        let migrations = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        for (version, name, sql) in migrations {
            let mut tx = self.pool.begin().await?;
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM chiffon_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if applied.is_some() {
                continue;
            }
            for statement in statements(sql) {
                sqlx::query(&statement)
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("migration {version} ({name}) failed"))?;
            }
            sqlx::query(
                "INSERT INTO chiffon_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(version)
            .bind(name)
            .bind(ts(Utc::now()))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(version, name, "applied database migration");
        }
        Ok(())
    }

    /// Every row `query` returns, each read as a `T`.
    async fn fetch_all_as<'q, T: FromStoreRow>(
        &self,
        query: Query<'q, Any, AnyArguments<'q>>,
    ) -> anyhow::Result<Vec<T>> {
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(T::from_row).collect()
    }

    /// The row `query` returns, if any, read as a `T`.
    async fn fetch_optional_as<'q, T: FromStoreRow>(
        &self,
        query: Query<'q, Any, AnyArguments<'q>>,
    ) -> anyhow::Result<Option<T>> {
        let row = query.fetch_optional(&self.pool).await?;
        row.as_ref().map(T::from_row).transpose()
    }

    /// Closes every connection (a restore verifies a copy before moving it into place).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Answers whether the database is reachable, for `/health`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Counts of requests by status and tasks by status, for `/status`.
    pub async fn status_counts(&self) -> anyhow::Result<(Vec<(String, i64)>, Vec<(String, i64)>)> {
        let requests =
            sqlx::query_as("SELECT status, COUNT(*) FROM requests GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await?;
        let tasks =
            sqlx::query_as("SELECT status, COUNT(*) FROM tasks GROUP BY status ORDER BY status")
                .fetch_all(&self.pool)
                .await?;
        Ok((requests, tasks))
    }
}
