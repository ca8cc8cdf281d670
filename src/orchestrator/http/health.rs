//! `GET /health` (per component; 503 when degraded) and `GET /status` (counts).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::{
    AgentCounts, AgentsHealth, AuditHealth, BusHealth, Health, HealthComponents, PlaybooksHealth,
    StatusCounts, StoreHealth,
};
use crate::model::AgentState;
use crate::orchestrator::Core;
use crate::orchestrator::http::ApiResult;

/// The audit trail's state: degraded while the queue cannot be written out.
fn audit_health(core: &Core, queued: i64) -> AuditHealth {
    let path = core.audit.path().to_path_buf();
    match (core.audit_queue.failing(), core.audit.check()) {
        (Some(failing), _) => AuditHealth::Degraded {
            status: "degraded".to_owned(),
            path,
            queued,
            error: failing.error,
            since: failing.since,
            detail:
                "entries are kept in the database and written when the repository is writable again"
                    .to_owned(),
        },
        (None, Ok(head)) => AuditHealth::Ok {
            status: "ok".to_owned(),
            path,
            head,
            queued,
        },
        (None, Err(error)) => AuditHealth::Down {
            status: "down".to_owned(),
            error: format!("{error:#}"),
        },
    }
}

pub(crate) async fn health(State(core): State<Arc<Core>>) -> Response {
    let store = match core.store.ping().await {
        Ok(()) => StoreHealth {
            status: "ok".to_owned(),
            kind: Some(core.store.backend().as_str().to_owned()),
            error: None,
        },
        Err(error) => StoreHealth {
            status: "down".to_owned(),
            kind: None,
            error: Some(error.to_string()),
        },
    };
    let queued = core.store.audit_queue_len().await.unwrap_or(-1);
    let audit = audit_health(&core, queued);
    let agents = core.agents();
    let online = agents
        .iter()
        .filter(|a| a.status == AgentState::Online)
        .count();
    let bus_ok = core.bus.healthy().await;
    let healthy = store.status == "ok" && matches!(audit, AuditHealth::Ok { .. }) && bus_ok;
    let body = Health {
        status: if healthy { "ok" } else { "degraded" }.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: env!("CHIFFON_COMMIT").to_owned(),
        components: HealthComponents {
            store,
            bus: BusHealth {
                status: if bus_ok { "ok" } else { "down" }.to_owned(),
                kind: core.bus.describe().to_owned(),
            },
            audit,
            agents: AgentsHealth {
                status: if online > 0 { "ok" } else { "none_online" }.to_owned(),
                online,
                known: agents.len(),
            },
            playbooks: PlaybooksHealth {
                status: "ok".to_owned(),
                path: core.config.playbooks.clone(),
                count: core.catalogue().playbooks.len(),
            },
        },
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

pub(crate) async fn status(State(core): State<Arc<Core>>) -> ApiResult<Json<StatusCounts>> {
    let (requests, tasks) = core.store.status_counts().await?;
    let agents = core.agents();
    Ok(Json(StatusCounts {
        requests: requests.into_iter().collect(),
        tasks: tasks.into_iter().collect(),
        agents: AgentCounts {
            online: agents
                .iter()
                .filter(|a| a.status == AgentState::Online)
                .count(),
            known: agents.len(),
        },
    }))
}
