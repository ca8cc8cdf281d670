//! `/playbooks`: the playbooks the planner plans with and the repository read as deployable
//! units; "what deploys this"; writing a template. The conversions from the matcher's types
//! live here and serve the CLI too, which reads a repository without a server.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::api::{
    Candidate, Entrypoint, ErrorCode, Match, MatchQuery, Playbook, PlaybooksView, Problem, Scan,
    TemplateFiles, TemplateRequest, Unit, UnitKind,
};
use crate::orchestrator::Core;
use crate::orchestrator::http::extract::{ApiJson, ApiQuery};
use crate::orchestrator::http::{ApiError, ApiResult};

impl From<crate::catalogue::Playbook> for Playbook {
    fn from(playbook: crate::catalogue::Playbook) -> Self {
        Self {
            path: playbook.path,
            service: playbook.service,
            action: playbook.action,
            description: playbook.description,
            hosts: playbook.hosts,
            resources: playbook.resources,
            agent_type: playbook.agent_type,
        }
    }
}

impl From<crate::matcher::Scan> for Scan {
    fn from(scan: crate::matcher::Scan) -> Self {
        Self {
            units: scan.units.into_iter().map(Unit::from).collect(),
            problems: scan
                .problems
                .into_iter()
                .map(|p| Problem {
                    file: p.file,
                    line: p.line,
                    message: p.message,
                })
                .collect(),
            encrypted: scan.encrypted,
        }
    }
}

impl From<crate::matcher::UnitKind> for UnitKind {
    fn from(kind: crate::matcher::UnitKind) -> Self {
        match kind {
            crate::matcher::UnitKind::Playbook => Self::Playbook,
            crate::matcher::UnitKind::Role => Self::Role,
            crate::matcher::UnitKind::Tasks => Self::Tasks,
            crate::matcher::UnitKind::Compose => Self::Compose,
        }
    }
}

impl From<crate::matcher::Unit> for Unit {
    fn from(unit: crate::matcher::Unit) -> Self {
        Self {
            path: unit.path,
            kind: unit.kind.into(),
            service: unit.service,
            entrypoint: unit.entrypoint.map(|e| Entrypoint {
                playbook: e.playbook,
                hosts: e.hosts,
                tags: e.tags,
                extra_vars: e.extra_vars,
            }),
            images: unit.images,
            ports: unit.ports,
            files: unit.files,
            shared: unit.shared,
        }
    }
}

impl From<crate::matcher::Match> for Match {
    fn from(found: crate::matcher::Match) -> Self {
        Self {
            verdict: found.verdict,
            candidates: found
                .candidates
                .into_iter()
                .map(|c| Candidate {
                    unit: c.unit.into(),
                    score: c.score,
                    why: c.why,
                })
                .collect(),
            advice: found.advice,
        }
    }
}

pub(crate) async fn list_playbooks(
    State(core): State<Arc<Core>>,
) -> ApiResult<Json<PlaybooksView>> {
    let repo = core.config.playbooks.clone();
    let scan = tokio::task::spawn_blocking(move || crate::matcher::scan(&repo))
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Json(PlaybooksView {
        items: core
            .catalogue()
            .playbooks
            .iter()
            .cloned()
            .map(Playbook::from)
            .collect(),
        next: None,
        scan: scan.into(),
    }))
}

/// Which playbook of the served repository would do what `q` asks for: the planner's own
/// answer (`planner::finder`), so the finder never disagrees with a request's plan.
pub(crate) async fn match_playbook(
    State(core): State<Arc<Core>>,
    ApiQuery(query): ApiQuery<MatchQuery>,
) -> ApiResult<Json<Match>> {
    if query.q.trim().is_empty() || query.q.len() > 2000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            "q must be 1 to 2000 characters of what you want deployed",
        ));
    }
    let repo = core.config.playbooks.clone();
    let units = tokio::task::spawn_blocking(move || crate::matcher::units(&repo))
        .await
        .map_err(anyhow::Error::from)?;
    let found = crate::planner::finder::find(&query.q, &core.catalogue(), &units);
    Ok(Json(found.into()))
}

/// Writes a playbook + role template into the served repository (never overwriting).
pub(crate) async fn create_template(
    State(core): State<Arc<Core>>,
    ApiJson(body): ApiJson<TemplateRequest>,
) -> ApiResult<(StatusCode, Json<TemplateFiles>)> {
    let spec = crate::template::TemplateSpec {
        service: body.service,
        image: body.image,
        port: body.port,
        hosts: body.hosts,
    };
    crate::template::validate(&spec).map_err(|error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidTemplate,
            error.to_string(),
        )
    })?;
    let files = crate::template::write(&core.config.playbooks, &spec).map_err(|error| {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::TemplateNotWritten,
            format!("{error:#}"),
        )
    })?;
    core.reload_catalogue();
    Ok((StatusCode::CREATED, Json(TemplateFiles { files })))
}
