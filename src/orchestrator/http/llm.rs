//! `GET /llm/decisions`: how plans were made, newest first.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use crate::api::{LlmDecisionQuery, Page};
use crate::model::decision::Decision;
use crate::orchestrator::Core;
use crate::orchestrator::http::extract::ApiQuery;
use crate::orchestrator::http::requests::parse_request_id;
use crate::orchestrator::http::{ApiResult, page_limit};

/// Planner, reason code, quotas, attempts, tokens and cost of each plan version.
pub(crate) async fn llm_decisions(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<LlmDecisionQuery>,
) -> ApiResult<Json<Page<Decision>>> {
    let request = query
        .request_id
        .as_deref()
        .map(parse_request_id)
        .transpose()?;
    let limit = page_limit(query.limit);
    let items = core.store.llm_decisions(request.as_ref(), limit).await?;
    Ok(Json(Page { items, next: None }))
}
