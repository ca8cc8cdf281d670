//! `/tasks`: list tasks by status, service, request and time; one task with its events and
//! notes; add a note.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};

use crate::api::{Annotation, ErrorCode, NewAnnotation, Page, TaskQuery, TaskView};
use crate::model::{Task, TaskId, TaskStatus};
use crate::orchestrator::Core;
use crate::orchestrator::http::extract::{ApiJson, ApiQuery};
use crate::orchestrator::http::requests::parse_request_id;
use crate::orchestrator::http::{ApiError, ApiResult, page_limit};
use crate::store::TaskFilter;

impl From<crate::store::Annotation> for Annotation {
    fn from(note: crate::store::Annotation) -> Self {
        Self {
            id: note.id,
            author: note.author,
            text: note.text,
            created_at: note.created_at,
        }
    }
}

fn invalid_query(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message)
}

/// A point in time given as RFC 3339 or as a span back from `now` (`90s`, `30m`, `24h`, `7d`,
/// `2w`).
fn parse_when(name: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let invalid = || {
        invalid_query(format!(
            "{name} must be an RFC 3339 time (2026-11-20T00:00:00Z) or a span back from now such as 30m, 24h, 7d or 2w; got {text:?}"
        ))
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| invalid())?;
    let span = match unit {
        "s" => chrono::Duration::try_seconds(number),
        "m" => chrono::Duration::try_minutes(number),
        "h" => chrono::Duration::try_hours(number),
        "d" => chrono::Duration::try_days(number),
        "w" => chrono::Duration::try_weeks(number),
        _ => None,
    }
    .ok_or_else(invalid)?;
    now.checked_sub_signed(span).ok_or_else(invalid)
}

/// The store's filter for a `GET /tasks` query, or why the query is wrong.
fn task_filter(core: &Core, query: TaskQuery) -> ApiResult<TaskFilter> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            TaskStatus::parse(s).ok_or_else(|| {
                let known: Vec<&str> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
                invalid_query(format!("status must be one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    let request_id = query
        .request_id
        .as_deref()
        .map(parse_request_id)
        .transpose()?;
    let now = Utc::now();
    let since = query
        .since
        .as_deref()
        .map(|t| parse_when("since", t, now))
        .transpose()?;
    let until = query
        .until
        .as_deref()
        .map(|t| parse_when("until", t, now))
        .transpose()?;
    let newest_first = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(invalid_query(format!(
                "order must be asc or desc; got {other:?}"
            )));
        }
    };
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            TaskId::parse(c).ok_or_else(|| {
                invalid_query("cursor must be the `next` of a previous page (a task id)")
            })
        })
        .transpose()?;
    // "kuma" finds uptime-kuma's tasks: a name the planner knows becomes the service's own.
    let service = query
        .service
        .map(|name| crate::planner::canonical_service(&name, &core.catalogue()).unwrap_or(name));
    Ok(TaskFilter {
        status,
        service,
        request_id,
        since,
        until,
        after,
        newest_first,
        limit: page_limit(query.limit),
    })
}

pub(crate) async fn list_tasks(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<TaskQuery>,
) -> ApiResult<Json<Page<Task>>> {
    let filter = task_filter(&core, query)?;
    let items = core.store.list_tasks(&filter).await?;
    let next = (items.len() as u32 == filter.limit)
        .then(|| items.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(Json(Page { items, next }))
}

/// The task `id` names, or the 404 every task route answers for an unknown or malformed id.
pub(crate) async fn load_task(core: &Core, id: &str) -> ApiResult<Task> {
    let task_id = TaskId::parse(id).ok_or_else(|| ApiError::not_found("task", id))?;
    core.store
        .get_task(&task_id)
        .await?
        .ok_or_else(|| ApiError::not_found("task", id))
}

pub(crate) async fn get_task(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    let task = load_task(&core, &id).await?;
    let task_id = task.id.clone();
    let events = core.store.task_events(&task_id).await?;
    let annotations = core.store.annotations(&task_id).await?;
    Ok(Json(TaskView {
        task,
        events,
        annotations: annotations.into_iter().map(Annotation::from).collect(),
    }))
}

/// Adds a note to a task; secrets in it are redacted before it is stored.
pub(crate) async fn annotate_task(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewAnnotation>,
) -> ApiResult<(StatusCode, Json<Annotation>)> {
    let task_id = load_task(&core, &id).await?.id;
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > 10_000 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidText,
            "give a note of 1 to 10000 characters",
        ));
    }
    let author = body
        .author
        .map(|a| a.trim().chars().take(100).collect::<String>())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "anonymous".to_owned());
    let note = core
        .store
        .annotate(
            &task_id,
            &crate::redact::text(&author),
            &crate::redact::text(text),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(note.into())))
}
