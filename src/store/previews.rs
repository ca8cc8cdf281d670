//! Plan previews (`plan_previews`): the check-mode run of a plan version, kept so approval can
//! show what the plan would change.

use anyhow::Context;
use chrono::Utc;

use crate::model::RequestId;
use crate::store::{Store, ts};

impl Store {
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
}
