//! Listing tasks a page at a time: the filter, the SQL it becomes (only the predicates a query
//! has, and a keyset cursor), and the database's own account of how it runs that SQL.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::model::{RequestId, Task, TaskId, TaskStatus};
use crate::store::{Backend, Store, ts};

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

impl Store {
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
        self.fetch_all_as(query.bind(i64::from(filter.limit))).await
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
}
