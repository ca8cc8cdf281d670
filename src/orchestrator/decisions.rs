//! A person's decisions about a plan: approve (which alone starts an execution), reject and
//! abort, each stored with who decided and, for approvals and rejections, audited.

use std::sync::Arc;

use chrono::Utc;

use crate::audit::AuditEntry;
use crate::model::{Request, RequestStatus, TaskId};
use crate::orchestrator::{Core, lock};

/// A request a person approved (the plan version it carries): what `execution` runs, and the
/// only request a real, not check-mode, dispatch can be built for (`dispatch::Purpose::Run`).
///
/// Its field is private to this module, so only `approve` (once the store moved the request
/// from `awaiting_approval` to `approved`) and `resume_requests` (requests that were approved,
/// running or paused when the server stopped) can make one.
#[derive(Debug)]
pub(crate) struct ApprovedRequest(Request);

impl ApprovedRequest {
    pub(crate) fn request(&self) -> &Request {
        &self.0
    }
}

impl Core {
    /// Approves `request` (already checked executable by the API) and starts executing it.
    /// Returns false if it was no longer awaiting approval.
    pub async fn approve(self: &Arc<Self>, request: &Request, actor: &str) -> anyhow::Result<bool> {
        let actor = &*crate::redact::text(actor);
        if !self
            .request_status(
                request,
                &[RequestStatus::AwaitingApproval],
                RequestStatus::Approved,
                None,
            )
            .await?
        {
            return Ok(false);
        }
        self.decide(request, "approved", actor, None).await?;
        self.record_audit(AuditEntry {
            kind: "approval",
            subject: format!(
                "approve request {} (plan v{}) by {actor}",
                request.id, request.plan.version
            ),
            subject_id: request.id.to_string(),
            recorded_at: Utc::now(),
            details: serde_json::json!({
                "request": {"id": request.id, "text": request.text},
                "plan": request.plan,
                "by": actor,
            }),
        })
        .await?;
        self.spawn_execution(ApprovedRequest(request.clone()), false);
        Ok(true)
    }

    /// Requests that were approved, running or waiting for capacity when the orchestrator
    /// stopped carry on from where they were (see `execute`).
    pub(crate) async fn resume_requests(self: &Arc<Self>) -> anyhow::Result<()> {
        for status in [
            RequestStatus::Approved,
            RequestStatus::Running,
            RequestStatus::Paused,
        ] {
            for request in self.store.requests_in(status).await? {
                tracing::info!(request = %request.id, %status, "resuming a request after a restart");
                self.spawn_execution(ApprovedRequest(request), true);
            }
        }
        Ok(())
    }

    pub async fn reject(
        &self,
        request: &Request,
        reason: &str,
        actor: &str,
    ) -> anyhow::Result<bool> {
        // Free text is redacted on the way in: stored, streamed, logged and committed clean.
        let (reason, actor) = (&*crate::redact::text(reason), &*crate::redact::text(actor));
        if !self
            .request_status(
                request,
                &[RequestStatus::AwaitingApproval],
                RequestStatus::Rejected,
                Some(reason),
            )
            .await?
        {
            return Ok(false);
        }
        self.decide(request, "rejected", actor, Some(reason))
            .await?;
        self.record_audit(AuditEntry {
            kind: "rejection",
            subject: format!("reject request {} by {actor}: {reason}", request.id),
            subject_id: request.id.to_string(),
            recorded_at: Utc::now(),
            details: serde_json::json!({
                "request": {"id": request.id, "text": request.text},
                "plan": request.plan,
                "reason": reason,
                "by": actor,
            }),
        })
        .await?;
        Ok(true)
    }

    /// Stops a running request: the step in progress is cancelled on its agent (SIGTERM to
    /// the playbook, then SIGKILL) and ends `aborted`; steps not started are not run. Returns
    /// false when the request is not approved, running or paused.
    pub async fn abort(
        &self,
        request: &Request,
        reason: &str,
        actor: &str,
    ) -> anyhow::Result<bool> {
        let (reason, actor) = (&*crate::redact::text(reason), &*crate::redact::text(actor));
        if !matches!(
            request.status,
            RequestStatus::Approved | RequestStatus::Running | RequestStatus::Paused
        ) {
            return Ok(false);
        }
        self.decide(request, "aborted", actor, Some(reason)).await?;
        lock(&self.executions.aborting).insert(request.id.to_string(), reason.to_owned());
        tracing::warn!(request = %request.id, "abort requested: {reason}");
        // The task in progress, if an agent has it.
        let running: Vec<(String, String)> = lock(&self.in_flight.running)
            .iter()
            .map(|(task, agent)| (task.clone(), agent.clone()))
            .collect();
        for (task_id, agent) in running {
            let Some(id) = TaskId::parse(&task_id) else {
                continue;
            };
            let ours = self
                .store
                .get_task(&id)
                .await?
                .is_some_and(|t| t.request_id == request.id);
            if ours {
                self.send_cancel(&task_id, &agent, reason).await;
            }
        }
        // A step waiting for room looks again, and sees the abort.
        self.fleet.capacity_changed.notify_waiters();
        Ok(true)
    }

    /// Stores who decided what about `request` (its current plan version).
    async fn decide(
        &self,
        request: &Request,
        kind: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> anyhow::Result<()> {
        let decision = crate::store::Decision {
            kind: kind.to_owned(),
            plan_version: request.plan.version,
            actor: actor.to_owned(),
            reason: reason.map(|r| crate::redact::text(r).into_owned()),
            at: Utc::now(),
        };
        self.store.record_decision(&request.id, &decision).await
    }
}
