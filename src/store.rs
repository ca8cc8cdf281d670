//! The state store: requests, plan versions, tasks and their events, in SQLite (the embedded
//! default) or PostgreSQL (`--database-url postgres://…`). Both back-ends share every query
//! (sqlx's `Any` driver, `$N` placeholders, timestamps as fixed-width RFC 3339 text); schema
//! changes are numbered migrations per back-end under `migrations/`, applied at start-up.
//!
//! Invariant: only the orchestrator uses the store; agents report through the bus.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::model::{
    AgentState, AgentType, Plan, Request, RequestId, RequestStatus, Task, TaskEvent, TaskId,
    TaskStatus,
};
use crate::protocol::ExecEvent;
use crate::registry::{AgentInfo, Transition};

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

/// Filters for listing tasks; all optional, combined with AND.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub service: Option<String>,
    pub request_id: Option<RequestId>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Continue after this task (the last one of the previous page).
    pub after: Option<TaskId>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
    pub limit: u32,
}

/// How a task finished, as written to its row.
#[derive(Debug, Clone)]
pub struct TaskFinish {
    pub status: TaskStatus,
    pub outcome: String,
    pub resource_usage: serde_json::Value,
    pub error: Option<String>,
    pub resource_state_at_failure: Option<serde_json::Value>,
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

/// The SQL (and its text binds, in order; the page size is bound last) that lists tasks for
/// `filter`. Absent filters add no predicate: a `$1 IS NULL OR …` form would keep the
/// planner from using the indexes.
fn task_query(filter: &TaskFilter) -> (String, Vec<String>) {
    fn bind(predicate: &str, value: String, binds: &mut Vec<String>) -> String {
        binds.push(value);
        predicate.replace('?', &format!("${}", binds.len()))
    }
    let mut predicates = Vec::new();
    let mut binds = Vec::new();
    if let Some(status) = filter.status {
        predicates.push(bind("status = ?", status.as_str().to_owned(), &mut binds));
    }
    if let Some(service) = &filter.service {
        predicates.push(bind("service_touched = ?", service.clone(), &mut binds));
    }
    if let Some(request) = &filter.request_id {
        predicates.push(bind("request_id = ?", request.to_string(), &mut binds));
    }
    if let Some(since) = filter.since {
        predicates.push(bind("created_at >= ?", ts(since), &mut binds));
    }
    if let Some(until) = filter.until {
        predicates.push(bind("created_at < ?", ts(until), &mut binds));
    }
    let (direction, beyond) = if filter.newest_first {
        ("DESC", "<")
    } else {
        ("ASC", ">")
    };
    if let Some(after) = &filter.after {
        // The cursor task's own position; a cursor that names no task matches nothing.
        binds.push(after.to_string());
        let n = binds.len();
        predicates.push(format!(
            "(created_at, task_id) {beyond} (SELECT created_at, task_id FROM tasks WHERE task_id = ${n})"
        ));
    }
    let mut sql = "SELECT * FROM tasks".to_owned();
    if !predicates.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&predicates.join(" AND "));
    }
    sql.push_str(&format!(
        " ORDER BY created_at {direction}, task_id {direction} LIMIT ${}",
        binds.len() + 1
    ));
    (sql, binds)
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
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

fn parse_opt_ts(text: Option<&str>) -> anyhow::Result<Option<DateTime<Utc>>> {
    text.map(parse_ts).transpose()
}

fn json_col(row: &AnyRow, col: &str) -> anyhow::Result<serde_json::Value> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).with_context(|| format!("bad JSON in column {col}"))
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

    /// Answers whether the database is reachable, for `/health`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Stores a new request with its first plan, in one transaction.
    pub async fn create_request(&self, request: &Request) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO requests (id, text, status, high_value, plan_version, reason, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(request.id.as_str())
        .bind(&request.text)
        .bind(request.status.as_str())
        .bind(i64::from(request.high_value))
        .bind(i64::from(request.plan.version))
        .bind(&request.reason)
        .bind(ts(request.created_at))
        .bind(ts(request.updated_at))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO plans (request_id, version, plan, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(request.id.as_str())
        .bind(i64::from(request.plan.version))
        .bind(serde_json::to_string(&request.plan)?)
        .bind(ts(request.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes `plan` the request's current version, if it still awaits approval on version
    /// `expected` (compare-and-set: two modifications at once make one version each, in turn,
    /// or the second is refused). `change` is what was asked for. Returns false when refused.
    pub async fn add_plan_version(
        &self,
        request: &RequestId,
        expected: u32,
        plan: &Plan,
        change: &str,
    ) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await?;
        let now = ts(Utc::now());
        let moved = sqlx::query(
            "UPDATE requests SET plan_version = $1, updated_at = $2
             WHERE id = $3 AND plan_version = $4 AND status = 'awaiting_approval'",
        )
        .bind(i64::from(plan.version))
        .bind(&now)
        .bind(request.as_str())
        .bind(i64::from(expected))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO plans (request_id, version, plan, created_at, change) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(request.as_str())
        .bind(i64::from(plan.version))
        .bind(serde_json::to_string(plan)?)
        .bind(&now)
        .bind(change)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every plan version of a request, oldest first, with the change that made it.
    pub async fn plan_versions(&self, request: &RequestId) -> anyhow::Result<Vec<PlanVersion>> {
        let rows = sqlx::query(
            "SELECT plan, change, created_at FROM plans WHERE request_id = $1 ORDER BY version",
        )
        .bind(request.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let plan: String = row.try_get("plan")?;
                Ok(PlanVersion {
                    plan: serde_json::from_str(&plan).context("bad plan JSON")?,
                    change: row.try_get("change")?,
                    created_at: parse_ts(row.try_get("created_at")?)?,
                })
            })
            .collect()
    }

    /// Stores the routing decision of one plan version, and its calls for the budgets.
    pub async fn record_llm_decision(
        &self,
        decision: &crate::model::decision::Decision,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO llm_decisions (request_id, plan_version, at, planner, reason_code, decision)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&decision.request_id)
        .bind(i64::from(decision.plan_version))
        .bind(ts(decision.at))
        .bind(&decision.planner)
        .bind(&decision.reason_code)
        .bind(serde_json::to_string(decision)?)
        .execute(&mut *tx)
        .await?;
        for attempt in &decision.attempts {
            sqlx::query(
                "INSERT INTO llm_calls (provider, at, tokens, cost_micros, outcome) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&attempt.provider)
            .bind(ts(attempt.at))
            .bind(i64::try_from(attempt.tokens_in + attempt.tokens_out).unwrap_or(i64::MAX))
            .bind((attempt.cost_usd * 1e6).round() as i64)
            .bind(&attempt.outcome)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Routing decisions, newest first; of one request when `request` is given.
    pub async fn llm_decisions(
        &self,
        request: Option<&RequestId>,
        limit: u32,
    ) -> anyhow::Result<Vec<crate::model::decision::Decision>> {
        let rows = match request {
            Some(request) => {
                sqlx::query(
                    "SELECT decision FROM llm_decisions WHERE request_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(request.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT decision FROM llm_decisions ORDER BY id DESC LIMIT $1")
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("decision")?;
                Ok(serde_json::from_str(&text)?)
            })
            .collect()
    }

    /// Tokens and USD a provider used since `since`.
    pub async fn llm_usage(
        &self,
        provider: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<(u64, f64)> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(tokens), 0) AS BIGINT) AS tokens,
                    CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost
             FROM llm_calls WHERE provider = $1 AND at >= $2",
        )
        .bind(provider)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await?;
        let tokens: i64 = row.try_get("tokens")?;
        let cost: i64 = row.try_get("cost")?;
        Ok((u64::try_from(tokens).unwrap_or(0), cost as f64 / 1e6))
    }

    const REQUEST_COLUMNS: &str =
        "r.id, r.text, r.status, r.high_value, r.reason, r.created_at, r.updated_at, p.plan
         FROM requests r JOIN plans p ON p.request_id = r.id AND p.version = r.plan_version";

    fn request_from_row(row: &AnyRow) -> anyhow::Result<Request> {
        let id: String = row.try_get("id")?;
        let status: String = row.try_get("status")?;
        let plan: String = row.try_get("plan")?;
        Ok(Request {
            id: RequestId::parse(&id).with_context(|| format!("bad request id {id:?}"))?,
            text: row.try_get("text")?,
            status: RequestStatus::parse(&status)
                .with_context(|| format!("bad request status {status:?}"))?,
            high_value: row.try_get::<i64, _>("high_value")? != 0,
            plan: serde_json::from_str::<Plan>(&plan).context("bad plan JSON")?,
            reason: row.try_get("reason")?,
            created_at: parse_ts(row.try_get("created_at")?)?,
            updated_at: parse_ts(row.try_get("updated_at")?)?,
        })
    }

    pub async fn get_request(&self, id: &RequestId) -> anyhow::Result<Option<Request>> {
        let sql = format!("SELECT {} WHERE r.id = $1", Self::REQUEST_COLUMNS);
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::request_from_row).transpose()
    }

    /// Newest first. `before` is the id of the last request of the previous page.
    pub async fn list_requests(
        &self,
        before: Option<&RequestId>,
        limit: u32,
    ) -> anyhow::Result<Vec<Request>> {
        let sql = format!(
            "SELECT {} WHERE ($1 IS NULL OR r.id < $1) ORDER BY r.id DESC LIMIT $2",
            Self::REQUEST_COLUMNS
        );
        let before = before.map(|b| b.as_str());
        let rows = sqlx::query(&sql)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::request_from_row).collect()
    }

    /// Every request in `status`, oldest first.
    pub async fn requests_in(&self, status: RequestStatus) -> anyhow::Result<Vec<Request>> {
        let sql = format!(
            "SELECT {} WHERE r.status = $1 ORDER BY r.id",
            Self::REQUEST_COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(status.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::request_from_row).collect()
    }

    /// Moves a request to `to` only if it is currently in one of `from`; returns whether it
    /// moved. This compare-and-set is what makes "approve twice" run the plan once.
    pub async fn transition_request(
        &self,
        id: &RequestId,
        from: &[RequestStatus],
        to: RequestStatus,
        reason: Option<&str>,
    ) -> anyhow::Result<bool> {
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 5)).collect();
        let placeholders = placeholders.join(", ");
        let sql = format!(
            "UPDATE requests SET status = $1, reason = COALESCE($2, reason), updated_at = $3
             WHERE id = $4 AND status IN ({placeholders})"
        );
        let mut query = sqlx::query(&sql)
            .bind(to.as_str())
            .bind(reason)
            .bind(ts(Utc::now()))
            .bind(id.as_str());
        for status in from {
            query = query.bind(status.as_str());
        }
        Ok(query.execute(&self.pool).await?.rows_affected() == 1)
    }

    pub async fn insert_task(&self, task: &Task) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO tasks (task_id, request_id, step_id, plan_version, title, status, outcome,
                resource_usage, service_touched, agent_id, playbook, error, resource_state_at_failure,
                suggestions, audit_commit, created_at, updated_at, started_at, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(task.id.as_str())
        .bind(task.request_id.as_str())
        .bind(&task.step_id)
        .bind(i64::from(task.plan_version))
        .bind(&task.title)
        .bind(task.status.as_str())
        .bind(&task.outcome)
        .bind(task.resource_usage.to_string())
        .bind(&task.service_touched)
        .bind(&task.agent_id)
        .bind(&task.playbook)
        .bind(&task.error)
        .bind(task.resource_state_at_failure.as_ref().map(|v| v.to_string()))
        .bind(task.suggestions.to_string())
        .bind(&task.audit_commit)
        .bind(ts(task.created_at))
        .bind(ts(task.updated_at))
        .bind(task.started_at.map(ts))
        .bind(task.finished_at.map(ts))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that a task left the orchestrator (`dispatched`) or that an agent took it
    /// (`running`, with the agent's id and the start time). Status only moves forward
    /// (queued → dispatched → running), so a late write never undoes an earlier one.
    pub async fn mark_task(
        &self,
        id: &TaskId,
        status: TaskStatus,
        agent_id: Option<&str>,
    ) -> anyhow::Result<()> {
        let now = ts(Utc::now());
        let started = (status == TaskStatus::Running).then(|| now.clone());
        sqlx::query(
            "UPDATE tasks SET status = $1, agent_id = COALESCE($2, agent_id),
                started_at = COALESCE(started_at, $3), updated_at = $4
             WHERE task_id = $5 AND status IN ('queued', 'dispatched')
               AND ($1 = 'running' OR status = 'queued')",
        )
        .bind(status.as_str())
        .bind(agent_id)
        .bind(started)
        .bind(&now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes a task's end. Returns false if it had already finished (a duplicate result).
    pub async fn finish_task(&self, id: &TaskId, finish: &TaskFinish) -> anyhow::Result<bool> {
        let now = ts(Utc::now());
        let done = sqlx::query(
            "UPDATE tasks SET status = $1, outcome = $2, resource_usage = $3, error = $4,
                resource_state_at_failure = $5, finished_at = $6, updated_at = $7
             WHERE task_id = $8 AND status NOT IN ('succeeded', 'failed', 'aborted', 'cancelled')",
        )
        .bind(finish.status.as_str())
        .bind(&finish.outcome)
        .bind(finish.resource_usage.to_string())
        .bind(&finish.error)
        .bind(
            finish
                .resource_state_at_failure
                .as_ref()
                .map(|v| v.to_string()),
        )
        .bind(&now)
        .bind(&now)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn set_task_audit_commit(&self, id: &TaskId, commit: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE tasks SET audit_commit = $1, updated_at = $2 WHERE task_id = $3")
            .bind(commit)
            .bind(ts(Utc::now()))
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Adds a note to a task (append-only); returns it.
    pub async fn annotate(
        &self,
        task: &TaskId,
        author: &str,
        text: &str,
    ) -> anyhow::Result<Annotation> {
        let now = Utc::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO task_annotations (task_id, author, text, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(task.as_str())
        .bind(author)
        .bind(text)
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(Annotation {
            id,
            author: author.to_owned(),
            text: text.to_owned(),
            created_at: now,
        })
    }

    /// A task's notes, oldest first.
    pub async fn annotations(&self, task: &TaskId) -> anyhow::Result<Vec<Annotation>> {
        let rows = sqlx::query(
            "SELECT id, author, text, created_at FROM task_annotations WHERE task_id = $1 ORDER BY id",
        )
        .bind(task.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let at: String = row.try_get("created_at")?;
                Ok(Annotation {
                    id: row.try_get("id")?,
                    author: row.try_get("author")?,
                    text: row.try_get("text")?,
                    created_at: parse_ts(&at)?,
                })
            })
            .collect()
    }

    /// Keeps the check-mode preview of a plan version (replacing an earlier one).
    pub async fn save_preview(
        &self,
        request: &RequestId,
        plan_version: u32,
        preview: &serde_json::Value,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO plan_previews (request_id, plan_version, preview, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (request_id, plan_version) DO UPDATE SET preview = $3, created_at = $4",
        )
        .bind(request.as_str())
        .bind(i64::from(plan_version))
        .bind(preview.to_string())
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The preview of a plan version, if one was made.
    pub async fn preview(
        &self,
        request: &RequestId,
        plan_version: u32,
    ) -> anyhow::Result<Option<serde_json::Value>> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT preview FROM plan_previews WHERE request_id = $1 AND plan_version = $2",
        )
        .bind(request.as_str())
        .bind(i64::from(plan_version))
        .fetch_optional(&self.pool)
        .await?;
        text.map(|t| serde_json::from_str(&t).context("a stored preview is not JSON"))
            .transpose()
    }

    /// Suggestions made from a task's failure (see `suggest::runs`).
    pub async fn set_task_suggestions(
        &self,
        id: &TaskId,
        suggestions: &serde_json::Value,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE tasks SET suggestions = $1, updated_at = $2 WHERE task_id = $3")
            .bind(suggestions.to_string())
            .bind(ts(Utc::now()))
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn task_from_row(row: &AnyRow) -> anyhow::Result<Task> {
        let id: String = row.try_get("task_id")?;
        let request_id: String = row.try_get("request_id")?;
        let status: String = row.try_get("status")?;
        let failure_state: Option<String> = row.try_get("resource_state_at_failure")?;
        Ok(Task {
            id: TaskId::parse(&id).with_context(|| format!("bad task id {id:?}"))?,
            request_id: RequestId::parse(&request_id)
                .with_context(|| format!("bad request id {request_id:?}"))?,
            step_id: row.try_get("step_id")?,
            plan_version: u32::try_from(row.try_get::<i64, _>("plan_version")?)?,
            title: row.try_get("title")?,
            status: TaskStatus::parse(&status)
                .with_context(|| format!("bad task status {status:?}"))?,
            outcome: row.try_get("outcome")?,
            resource_usage: json_col(row, "resource_usage")?,
            service_touched: row.try_get("service_touched")?,
            agent_id: row.try_get("agent_id")?,
            playbook: row.try_get("playbook")?,
            error: row.try_get("error")?,
            resource_state_at_failure: failure_state
                .map(|s| serde_json::from_str(&s))
                .transpose()?,
            suggestions: json_col(row, "suggestions")?,
            audit_commit: row.try_get("audit_commit")?,
            created_at: parse_ts(row.try_get("created_at")?)?,
            updated_at: parse_ts(row.try_get("updated_at")?)?,
            started_at: parse_opt_ts(row.try_get("started_at")?)?,
            finished_at: parse_opt_ts(row.try_get("finished_at")?)?,
        })
    }

    pub async fn get_task(&self, id: &TaskId) -> anyhow::Result<Option<Task>> {
        let row = sqlx::query("SELECT * FROM tasks WHERE task_id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::task_from_row).transpose()
    }

    /// Tasks matching `filter`, a page at a time in (created_at, task_id) order, oldest first
    /// unless `newest_first`. Only the filters given become predicates, so each query is a
    /// range scan of one of the `tasks_by_*` indexes (see migration 0006 and
    /// docs/benchmarks.md for the plans).
    pub async fn list_tasks(&self, filter: &TaskFilter) -> anyhow::Result<Vec<Task>> {
        let (sql, binds) = task_query(filter);
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = query.bind(bind);
        }
        let rows = query
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::task_from_row).collect()
    }

    /// The database's own account of how it runs the query for `filter`
    /// (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL), one line per row.
    pub async fn explain_tasks(&self, filter: &TaskFilter) -> anyhow::Result<Vec<String>> {
        let (sql, binds) = task_query(filter);
        let explain = match self.backend {
            Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
            Backend::Postgres => format!("EXPLAIN {sql}"),
        };
        let mut query = sqlx::query(&explain);
        for bind in binds {
            query = query.bind(bind);
        }
        let rows = query
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(match self.backend {
                    Backend::Sqlite => row.try_get::<String, _>("detail")?,
                    Backend::Postgres => row.try_get::<String, _>(0)?,
                })
            })
            .collect()
    }

    /// Appends an execution event to a task; events keep their arrival order.
    pub async fn append_event(&self, task: &TaskId, event: &ExecEvent) -> anyhow::Result<i64> {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO task_events (task_id, seq, at, event)
             VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM task_events WHERE task_id = $1), $2, $3)
             RETURNING seq",
        )
        .bind(task.as_str())
        .bind(ts(Utc::now()))
        .bind(serde_json::to_string(event)?)
        .fetch_one(&self.pool)
        .await?;
        Ok(seq)
    }

    pub async fn task_events(&self, task: &TaskId) -> anyhow::Result<Vec<TaskEvent>> {
        let rows =
            sqlx::query("SELECT seq, at, event FROM task_events WHERE task_id = $1 ORDER BY seq")
                .bind(task.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                let event: String = row.try_get("event")?;
                Ok(TaskEvent {
                    seq: row.try_get("seq")?,
                    task_id: task.clone(),
                    at: parse_ts(row.try_get("at")?)?,
                    event: serde_json::from_str(&event)?,
                })
            })
            .collect()
    }

    /// Durations in seconds of a playbook's past successful runs, newest first, for estimates.
    pub async fn playbook_durations(&self, playbook: &str, limit: u32) -> anyhow::Result<Vec<f64>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT started_at, finished_at FROM tasks
             WHERE playbook = $1 AND status = 'succeeded' AND started_at IS NOT NULL AND finished_at IS NOT NULL
             ORDER BY finished_at DESC LIMIT $2",
        )
        .bind(playbook)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|(start, end)| {
                Ok((parse_ts(end)? - parse_ts(start)?).num_milliseconds() as f64 / 1000.0)
            })
            .collect()
    }

    /// For every playbook that has finished at least once: (playbook, finished runs, whether
    /// the latest run failed).
    pub async fn playbook_runs(&self) -> anyhow::Result<Vec<(String, u32, bool)>> {
        let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT t.playbook, COUNT(*),
                (SELECT l.status FROM tasks l WHERE l.playbook = t.playbook
                   AND l.status IN ('succeeded', 'failed', 'aborted')
                   ORDER BY l.finished_at DESC LIMIT 1)
             FROM tasks t
             WHERE t.playbook IS NOT NULL AND t.status IN ('succeeded', 'failed', 'aborted')
             GROUP BY t.playbook",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(playbook, runs, last)| {
                (playbook, runs as u32, last.as_deref() == Some("failed"))
            })
            .collect())
    }

    /// Records that the bus message `message_id` was applied. Returns false if it already was
    /// (a redelivery), so the caller skips it.
    pub async fn remember_message(&self, message_id: &str) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO bus_messages (message_id, received_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(message_id)
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets one message id, so a redelivery of a message that could not be applied is
    /// applied then.
    pub async fn forget_message(&self, message_id: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM bus_messages WHERE message_id = $1")
            .bind(message_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets message ids older than `before`; a broker does not redeliver after so long.
    pub async fn forget_messages(&self, before: DateTime<Utc>) -> anyhow::Result<u64> {
        let done = sqlx::query("DELETE FROM bus_messages WHERE received_at < $1")
            .bind(ts(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
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

/// A note on a task.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Annotation {
    pub id: i64,
    pub author: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// A pause or resume of the dispatch queue, as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QueueEvent {
    pub id: i64,
    /// `paused` or `resumed`.
    pub kind: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub audit_commit: Option<String>,
}

impl Store {
    /// Stores an agent's status change: its row (for a restart) and the change itself.
    pub async fn record_agent_transition(
        &self,
        agent: &AgentInfo,
        change: &Transition,
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO agents (agent_id, agent_type, host, version, boot_id, status, status_reason, status_since, last_heartbeat_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (agent_id) DO UPDATE SET agent_type = $2, host = $3, version = $4, boot_id = $5,
                 status = $6, status_reason = $7, status_since = $8, last_heartbeat_at = $9",
        )
        .bind(&agent.id)
        .bind(agent.agent_type.as_str())
        .bind(&agent.host)
        .bind(&agent.version)
        .bind(&agent.boot_id)
        .bind(agent.status.as_str())
        .bind(&agent.status_reason)
        .bind(ts(agent.status_since))
        .bind(agent.last_heartbeat_at.map(ts))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO agent_events (agent_id, from_status, to_status, reason, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&change.agent_id)
        .bind(change.from.map(AgentState::as_str))
        .bind(change.to.as_str())
        .bind(&change.reason)
        .bind(ts(change.at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every agent as last stored.
    pub async fn load_agents(&self) -> anyhow::Result<Vec<AgentInfo>> {
        let rows = sqlx::query(
            "SELECT agent_id, agent_type, host, version, boot_id, status, status_reason, status_since, last_heartbeat_at
             FROM agents ORDER BY agent_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("agent_type")?;
                let status: String = row.try_get("status")?;
                let since: String = row.try_get("status_since")?;
                let last: Option<String> = row.try_get("last_heartbeat_at")?;
                Ok(AgentInfo {
                    id: row.try_get("agent_id")?,
                    agent_type: AgentType::parse(&kind)
                        .with_context(|| format!("unknown agent type {kind:?} in the store"))?,
                    status: AgentState::parse(&status)
                        .with_context(|| format!("unknown agent status {status:?} in the store"))?,
                    status_reason: row.try_get("status_reason")?,
                    status_since: parse_ts(&since)?,
                    host: row.try_get("host")?,
                    version: row.try_get("version")?,
                    boot_id: row.try_get("boot_id")?,
                    last_heartbeat_at: parse_opt_ts(last.as_deref())?,
                    capacity: None,
                    capacity_reported_at: None,
                    booked: Default::default(),
                    running_tasks: Vec::new(),
                })
            })
            .collect()
    }

    /// An agent's status changes, newest first.
    pub async fn agent_events(
        &self,
        agent_id: &str,
        limit: u32,
    ) -> anyhow::Result<Vec<Transition>> {
        let rows = sqlx::query(
            "SELECT agent_id, from_status, to_status, reason, at FROM agent_events
             WHERE agent_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(agent_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let from: Option<String> = row.try_get("from_status")?;
                let to: String = row.try_get("to_status")?;
                let at: String = row.try_get("at")?;
                Ok(Transition {
                    agent_id: row.try_get("agent_id")?,
                    from: from.as_deref().and_then(AgentState::parse),
                    to: AgentState::parse(&to).context("unknown agent status in the store")?,
                    reason: row.try_get("reason")?,
                    at: parse_ts(&at)?,
                })
            })
            .collect()
    }

    /// Records a pause or resume of the dispatch queue; returns its id.
    pub async fn record_queue_event(
        &self,
        kind: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO queue_events (kind, reason, at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(kind)
        .bind(reason)
        .bind(ts(at))
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn set_queue_event_audit(&self, id: i64, commit: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE queue_events SET audit_commit = $1 WHERE id = $2")
            .bind(commit)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The queue's pauses and resumes, newest first; the first one is its current state.
    pub async fn queue_events(&self, limit: u32) -> anyhow::Result<Vec<QueueEvent>> {
        let rows = sqlx::query(
            "SELECT id, kind, reason, at, audit_commit FROM queue_events ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let at: String = row.try_get("at")?;
                Ok(QueueEvent {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    reason: row.try_get("reason")?,
                    at: parse_ts(&at)?,
                    audit_commit: row.try_get("audit_commit")?,
                })
            })
            .collect()
    }
}
/// A person's decision about a request: `approved`, `rejected` or `aborted`, by whom, on which
/// plan version.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub kind: String,
    pub plan_version: u32,
    /// Who: the `by` the client sent (the CLI sends user@host), else `api client`.
    pub actor: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl Store {
    pub async fn record_decision(
        &self,
        request: &RequestId,
        decision: &Decision,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO decisions (request_id, kind, plan_version, actor, reason, at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(request.as_str())
        .bind(&decision.kind)
        .bind(i64::from(decision.plan_version))
        .bind(&decision.actor)
        .bind(&decision.reason)
        .bind(ts(decision.at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A request's decisions, oldest first.
    pub async fn decisions(&self, request: &RequestId) -> anyhow::Result<Vec<Decision>> {
        let rows = sqlx::query(
            "SELECT kind, plan_version, actor, reason, at FROM decisions
             WHERE request_id = $1 ORDER BY id",
        )
        .bind(request.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Decision {
                    kind: row.try_get("kind")?,
                    plan_version: u32::try_from(row.try_get::<i64, _>("plan_version")?)?,
                    actor: row.try_get("actor")?,
                    reason: row.try_get("reason")?,
                    at: parse_ts(row.try_get("at")?)?,
                })
            })
            .collect()
    }
}

/// One version of a request's plan, with the change that made it (`None` for the first).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlanVersion {
    pub plan: Plan,
    pub change: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One audit entry as stored: the exact bytes committed (or to be committed) and their hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredAuditEntry {
    pub id: i64,
    pub kind: String,
    pub subject_id: String,
    /// Path of the entry inside the audit repository.
    pub file: String,
    #[serde(skip)]
    pub message: String,
    #[serde(skip)]
    pub body: String,
    pub sha256: String,
    pub recorded_at: DateTime<Utc>,
    /// Null while the entry is queued (not yet in the repository).
    pub commit_id: Option<String>,
    pub written_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// An entry ready to be queued: what `audit::prepare` makes of an `AuditEntry`.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub kind: String,
    pub subject_id: String,
    pub file: String,
    pub message: String,
    pub body: String,
    pub sha256: String,
    pub recorded_at: DateTime<Utc>,
}

impl Store {
    /// Queues an audit entry durably; the audit writer commits it. Returns its id.
    pub async fn enqueue_audit(&self, entry: &NewAuditEntry) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO audit_entries (kind, subject_id, file, message, body, sha256, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&entry.kind)
        .bind(&entry.subject_id)
        .bind(&entry.file)
        .bind(&entry.message)
        .bind(&entry.body)
        .bind(&entry.sha256)
        .bind(ts(entry.recorded_at))
        .fetch_one(&self.pool)
        .await?)
    }

    fn audit_from_row(row: &AnyRow) -> anyhow::Result<StoredAuditEntry> {
        Ok(StoredAuditEntry {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            subject_id: row.try_get("subject_id")?,
            file: row.try_get("file")?,
            message: row.try_get("message")?,
            body: row.try_get("body")?,
            sha256: row.try_get("sha256")?,
            recorded_at: parse_ts(row.try_get("recorded_at")?)?,
            commit_id: row.try_get("commit_id")?,
            written_at: parse_opt_ts(row.try_get("written_at")?)?,
            attempts: row.try_get("attempts")?,
            last_error: row.try_get("last_error")?,
        })
    }

    /// The entries still waiting for the repository, oldest first.
    pub async fn queued_audit(&self, limit: u32) -> anyhow::Result<Vec<StoredAuditEntry>> {
        let rows =
            sqlx::query("SELECT * FROM audit_entries WHERE commit_id IS NULL ORDER BY id LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(Self::audit_from_row).collect()
    }

    /// Every entry with an id above `after`, in order: a page of the ledger for verification.
    pub async fn audit_entries(
        &self,
        after: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<StoredAuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_entries WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::audit_from_row).collect()
    }

    /// The whole ledger in id order, without the bodies (only their hashes are compared):
    /// what `chiffon audit verify` checks the repository against.
    pub async fn audit_ledger(&self) -> anyhow::Result<Vec<StoredAuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, kind, subject_id, file, '' AS message, '' AS body, sha256, recorded_at,
                    commit_id, written_at, attempts, last_error
             FROM audit_entries ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::audit_from_row).collect()
    }

    /// The entries about `subject_id` (a task, request or queue event), oldest first.
    pub async fn audit_entries_for(
        &self,
        subject_id: &str,
    ) -> anyhow::Result<Vec<StoredAuditEntry>> {
        let rows = sqlx::query("SELECT * FROM audit_entries WHERE subject_id = $1 ORDER BY id")
            .bind(subject_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::audit_from_row).collect()
    }

    pub async fn mark_audit_written(&self, id: i64, commit: &str) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE audit_entries SET commit_id = $1, written_at = $2, last_error = NULL
             WHERE id = $3",
        )
        .bind(commit)
        .bind(ts(Utc::now()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mark_audit_failed(&self, id: i64, error: &str) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE audit_entries SET attempts = attempts + 1, last_error = $1 WHERE id = $2",
        )
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many entries wait for the repository.
    pub async fn audit_queue_len(&self) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_entries WHERE commit_id IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Finished tasks that have no audit entry at all (neither written nor queued).
    pub async fn finished_tasks_without_audit(&self) -> anyhow::Result<Vec<TaskId>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT task_id FROM tasks t
             WHERE status IN ('succeeded', 'failed', 'aborted', 'cancelled')
               AND NOT EXISTS (SELECT 1 FROM audit_entries a WHERE a.subject_id = t.task_id)
             ORDER BY created_at, task_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().filter_map(|id| TaskId::parse(id)).collect())
    }
}
