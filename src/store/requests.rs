//! Requests and their plan versions (`requests`, `plans`): creating a request with its first
//! plan, compare-and-set moves between statuses and plan versions, and reading them back.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::{Plan, Request, RequestId, RequestStatus};
use crate::store::{FromStoreRow, Store, json_col, parsed_col, ts, ts_col};

/// One version of a request's plan, with the change that made it (`None` for the first).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlanVersion {
    pub plan: Plan,
    pub change: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl FromStoreRow for PlanVersion {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        Ok(PlanVersion {
            plan: json_col(row, "plan")?,
            change: row.try_get("change")?,
            created_at: ts_col(row, "created_at")?,
        })
    }
}

/// Read from `REQUEST_COLUMNS`: the request's row joined with its current plan.
impl FromStoreRow for Request {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        Ok(Request {
            id: parsed_col(row, "id", RequestId::parse, "request id")?,
            text: row.try_get("text")?,
            status: parsed_col(row, "status", RequestStatus::parse, "request status")?,
            high_value: row.try_get::<i64, _>("high_value")? != 0,
            plan: json_col(row, "plan")?,
            reason: row.try_get("reason")?,
            created_at: ts_col(row, "created_at")?,
            updated_at: ts_col(row, "updated_at")?,
        })
    }
}

/// What every request query selects: the request and the plan of its current version.
const REQUEST_COLUMNS: &str =
    "r.id, r.text, r.status, r.high_value, r.reason, r.created_at, r.updated_at, p.plan
     FROM requests r JOIN plans p ON p.request_id = r.id AND p.version = r.plan_version";

impl Store {
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
        self.fetch_all_as(
            sqlx::query(
                "SELECT plan, change, created_at FROM plans WHERE request_id = $1 ORDER BY version",
            )
            .bind(request.as_str()),
        )
        .await
    }

    pub async fn get_request(&self, id: &RequestId) -> anyhow::Result<Option<Request>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} WHERE r.id = $1");
        self.fetch_optional_as(sqlx::query(&sql).bind(id.as_str()))
            .await
    }

    /// Newest first. `before` is the id of the last request of the previous page.
    pub async fn list_requests(
        &self,
        before: Option<&RequestId>,
        limit: u32,
    ) -> anyhow::Result<Vec<Request>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} WHERE ($1 IS NULL OR r.id < $1) ORDER BY r.id DESC LIMIT $2"
        );
        let before = before.map(|b| b.as_str());
        self.fetch_all_as(sqlx::query(&sql).bind(before).bind(i64::from(limit)))
            .await
    }

    /// Which of `ids` ran a task whose run warned (`tasks.warnings` not empty): how a listing
    /// tells "done with warnings" from plain success without loading every task.
    pub async fn requests_with_warnings(
        &self,
        ids: &[RequestId],
    ) -> anyhow::Result<std::collections::BTreeSet<String>> {
        if ids.is_empty() {
            return Ok(std::collections::BTreeSet::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT DISTINCT request_id FROM tasks WHERE request_id IN ({}) \
             AND warnings IS NOT NULL AND warnings <> '[]'",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<String, _>(0)?))
            .collect()
    }

    /// Every request in `status`, oldest first.
    pub async fn requests_in(&self, status: RequestStatus) -> anyhow::Result<Vec<Request>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} WHERE r.status = $1 ORDER BY r.id");
        self.fetch_all_as(sqlx::query(&sql).bind(status.as_str()))
            .await
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
}
