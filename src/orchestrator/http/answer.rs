//! `POST /requests/{id}/answer`: answers an open question of the current plan with one of its
//! choices, or with a template's image and port; the new plan version comes back.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api::{Answer, ErrorCode, RequestView};
use crate::model::RequestStatus;
use crate::orchestrator::http::extract::ApiJson;
use crate::orchestrator::http::requests::{actor, load_request, view};
use crate::orchestrator::http::{ApiError, ApiResult};
use crate::orchestrator::{AnswerError, Core, Given, TemplateFields};

/// The hosts a template answered without `hosts` targets (as `POST /playbooks/templates`).
const DEFAULT_TEMPLATE_HOSTS: &str = "docker_hosts";

/// Picks a choice (or writes the offered template) and plans the request again: 200 with the
/// request and its new plan version, which needs approval like any other.
pub(crate) async fn answer(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Answer>,
) -> ApiResult<Json<RequestView>> {
    let actor = actor(body.by.as_deref())?;
    let trimmed = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let given = Given {
        question_id: trimmed(body.question_id),
        choice: trimmed(body.choice),
        template: body.template.map(|t| TemplateFields {
            image: t.image.trim().to_owned(),
            port: t.port,
            hosts: t
                .hosts
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| DEFAULT_TEMPLATE_HOSTS.to_owned()),
        }),
    };
    if given.choice.is_none() && given.template.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidBody,
            "give a `choice` (one of the question's choice ids) or a `template` with `image` and `port`",
        ));
    }
    let request = load_request(&core, &id).await?;
    if request.status != RequestStatus::AwaitingApproval {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            format!(
                "request {} is {}; only a plan awaiting approval has questions to answer",
                request.id, request.status
            ),
        ));
    }
    let answered = core
        .answer(&request, given, &actor)
        .await
        .map_err(refused)?;
    Ok(Json(view(&core, answered).await?))
}

/// The API's words for a refused answer (nothing was changed).
fn refused(error: AnswerError) -> ApiError {
    let message = error.to_string();
    let (status, code) = match error {
        AnswerError::NoSuchQuestion(_) => (StatusCode::NOT_FOUND, ErrorCode::QuestionNotFound),
        AnswerError::NotAChoice(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::NotAChoice),
        AnswerError::InvalidTemplate(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidTemplate)
        }
        AnswerError::TemplateNotWritten(_) => (StatusCode::CONFLICT, ErrorCode::TemplateNotWritten),
        AnswerError::Changed => (StatusCode::CONFLICT, ErrorCode::InvalidState),
        AnswerError::Other(inner) => return ApiError::from(inner),
    };
    ApiError::new(status, code, message)
}
