//! People's decisions about requests (`decisions`): who approved, rejected or aborted which
//! plan version, and why.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::RequestId;
use crate::store::{FromStoreRow, Store, ts, ts_col, u32_col};

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

impl FromStoreRow for Decision {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        Ok(Decision {
            kind: row.try_get("kind")?,
            plan_version: u32_col(row, "plan_version")?,
            actor: row.try_get("actor")?,
            reason: row.try_get("reason")?,
            at: ts_col(row, "at")?,
        })
    }
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
        self.fetch_all_as(
            sqlx::query(
                "SELECT kind, plan_version, actor, reason, at FROM decisions
                 WHERE request_id = $1 ORDER BY id",
            )
            .bind(request.as_str()),
        )
        .await
    }
}
