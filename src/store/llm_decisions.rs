//! LLM routing decisions and calls (`llm_decisions`, `llm_calls`): which planner made each plan
//! version and why, and the tokens and money each provider used, for the budgets.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::RequestId;
use crate::model::decision::Decision;
use crate::store::{FromStoreRow, Store, json_col, ts};

/// Stored whole, as JSON, in `llm_decisions.decision`.
impl FromStoreRow for Decision {
    fn from_row(row: &AnyRow) -> anyhow::Result<Self> {
        json_col(row, "decision")
    }
}

impl Store {
    /// Stores the routing decision of one plan version, and its calls for the budgets.
    pub async fn record_llm_decision(&self, decision: &Decision) -> anyhow::Result<()> {
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
    ) -> anyhow::Result<Vec<Decision>> {
        let query = match request {
            Some(request) => sqlx::query(
                "SELECT decision FROM llm_decisions WHERE request_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(request.as_str()),
            None => sqlx::query("SELECT decision FROM llm_decisions ORDER BY id DESC LIMIT $1"),
        };
        self.fetch_all_as(query.bind(i64::from(limit))).await
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
}
