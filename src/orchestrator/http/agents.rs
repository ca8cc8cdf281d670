//! `/agents`, `/resources` and `/queue`: the registry's agents, their capacity and what is
//! booked on them, the fleet's totals, and whether dispatch is paused.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api::{
    AgentDetail, AgentQuery, AgentTransition, AgentView, Booked, CapacityView, ErrorCode, Page,
    QueueEvent, QueueView, ResourceTotals,
};
use crate::model::{AgentState, AgentType};
use crate::orchestrator::Core;
use crate::orchestrator::http::extract::ApiQuery;
use crate::orchestrator::http::{ApiError, ApiResult};

impl From<crate::registry::AgentInfo> for AgentView {
    fn from(agent: crate::registry::AgentInfo) -> Self {
        Self {
            id: agent.id,
            agent_type: agent.agent_type,
            status: agent.status,
            status_reason: agent.status_reason,
            status_since: agent.status_since,
            host: agent.host,
            version: agent.version,
            boot_id: agent.boot_id,
            last_heartbeat_at: agent.last_heartbeat_at,
            capacity: agent.capacity,
            capacity_reported_at: agent.capacity_reported_at,
            booked: agent.booked.into(),
            running_tasks: agent.running_tasks,
        }
    }
}

impl From<crate::registry::Booked> for Booked {
    fn from(booked: crate::registry::Booked) -> Self {
        Self {
            cpu_cores: booked.cpu_cores,
            vram_mb: booked.vram_mb,
        }
    }
}

impl From<crate::registry::Transition> for AgentTransition {
    fn from(change: crate::registry::Transition) -> Self {
        Self {
            agent_id: change.agent_id,
            from: change.from,
            to: change.to,
            reason: change.reason,
            at: change.at,
        }
    }
}

impl From<crate::registry::Totals> for ResourceTotals {
    fn from(totals: crate::registry::Totals) -> Self {
        Self {
            agents: totals.agents,
            unknown: totals.unknown,
            cpu_cores: totals.cpu_cores,
            free_cpu_cores: totals.free_cpu_cores,
            memory_total_mb: totals.memory_total_mb,
            memory_free_mb: totals.memory_free_mb,
            gpus: totals.gpus,
            vram_total_mb: totals.vram_total_mb,
            vram_free_mb: totals.vram_free_mb,
            largest_free_vram_mb: totals.largest_free_vram_mb,
        }
    }
}

impl From<crate::store::QueueEvent> for QueueEvent {
    fn from(event: crate::store::QueueEvent) -> Self {
        Self {
            id: event.id,
            kind: event.kind,
            reason: event.reason,
            at: event.at,
            audit_commit: event.audit_commit,
        }
    }
}

fn invalid_query(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message)
}

pub(crate) async fn list_agents(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<AgentQuery>,
) -> ApiResult<Json<Page<AgentView>>> {
    let agent_type = query
        .agent_type
        .as_deref()
        .map(|t| {
            AgentType::parse(t).ok_or_else(|| {
                invalid_query(format!("unknown agent type {t:?}: use infra or desktop"))
            })
        })
        .transpose()?;
    for (name, value) in [
        ("min_free_vram_gb", query.min_free_vram_gb),
        ("min_free_cores", query.min_free_cores),
    ] {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(invalid_query(format!(
                "{name} must be a number of 0 or more"
            )));
        }
    }
    let items = core
        .agents()
        .into_iter()
        .filter(|a| {
            query
                .online
                .is_none_or(|want| (a.status == AgentState::Online) == want)
        })
        .filter(|a| agent_type.is_none_or(|t| a.agent_type == t))
        .filter(|a| {
            // Stale or missing reports are unknown: they never pass a capacity filter.
            let need_vram = query.min_free_vram_gb.map(crate::registry::gb_to_mb);
            let need_cores = query.min_free_cores;
            if need_vram.is_none() && need_cores.is_none() {
                return true;
            }
            let Some(c) = &a.capacity else { return false };
            need_vram.is_none_or(|mb| c.gpus.iter().any(|g| g.vram_free_mb >= mb))
                && need_cores.is_none_or(|n| c.free_cpu_cores >= n)
        })
        .map(AgentView::from)
        .collect();
    Ok(Json(Page { items, next: None }))
}

fn agent_not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::AgentNotFound,
        format!("no agent {id:?} has registered; see GET /api/v1/agents"),
    )
}

pub(crate) async fn get_agent(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentDetail>> {
    let agent = core.agent(&id).ok_or_else(|| agent_not_found(&id))?;
    let history = core.store.agent_events(&id, 50).await?;
    Ok(Json(AgentDetail {
        agent: agent.into(),
        history: history.into_iter().map(AgentTransition::from).collect(),
    }))
}

/// `get_available_capacity`: what the agent has free now, minus what Chiffon booked there.
pub(crate) async fn agent_capacity(
    State(core): State<Arc<Core>>,
    Path(id): Path<String>,
) -> ApiResult<Json<CapacityView>> {
    let agent = core.agent(&id).ok_or_else(|| agent_not_found(&id))?;
    let known = agent.capacity.is_some();
    Ok(Json(CapacityView {
        agent_id: agent.id,
        status: agent.status,
        known,
        reported_at: agent.capacity_reported_at,
        capacity: agent.capacity,
        booked: agent.booked.into(),
        note: (!known).then(|| "no report younger than 60 s: unknown, not free".to_owned()),
    }))
}

pub(crate) async fn resources(State(core): State<Arc<Core>>) -> Json<ResourceTotals> {
    Json(core.resources().into())
}

/// Whether the dispatch queue is paused, and its recent pauses and resumes.
pub(crate) async fn queue(State(core): State<Arc<Core>>) -> ApiResult<Json<QueueView>> {
    let history = core.store.queue_events(20).await?;
    let paused = core.paused();
    Ok(Json(QueueView {
        history: history.into_iter().map(QueueEvent::from).collect(),
        paused: paused.is_some(),
        reason: paused,
    }))
}
