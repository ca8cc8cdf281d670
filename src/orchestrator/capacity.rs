//! Placing steps that declare GPU memory or cores on an agent with room, and the dispatch
//! queue that pauses while none has any and resumes by itself (see `registry` for the
//! formula).

use std::time::Duration;

use chrono::Utc;

use crate::audit::AuditEntry;
use crate::model::{Request, RequestStatus, Resources, Step};
use crate::orchestrator::live::LiveEvent;
use crate::orchestrator::{Core, lock};
use crate::registry::{self, Placement};

/// How often a step waiting for room looks again without news.
const ROOM_RECHECK: Duration = Duration::from_secs(5);

impl Core {
    /// Why the dispatch queue is paused, if it is.
    pub fn paused(&self) -> Option<String> {
        lock(&self.fleet.queue_paused).clone()
    }

    /// Waits until an agent has room for `step`, pausing the dispatch queue (and the
    /// request) meanwhile; see `registry` for the formula. A paused queue resumes only when
    /// an agent fits the step on two consecutive reports. `None` when the request was aborted
    /// meanwhile.
    pub(crate) async fn wait_for_room(
        &self,
        request: &Request,
        step: &Step,
        passed_over: &[String],
    ) -> anyhow::Result<Option<Placement>> {
        let mut request_paused = request.status == RequestStatus::Paused;
        loop {
            // Registered before looking, so a report that arrives in between still wakes us.
            let notified = self.fleet.capacity_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let abort = lock(&self.executions.aborting)
                .get(request.id.as_str())
                .cloned();
            if abort.is_some() {
                return Ok(None);
            }
            let queue_paused = self.paused().is_some();
            match self.place(step, passed_over, queue_paused) {
                Ok(placement) => {
                    if queue_paused {
                        self.set_queue(None, &format!("room again on {}", placement.reason))
                            .await?;
                    }
                    if request_paused {
                        self.request_status(
                            request,
                            &[RequestStatus::Paused],
                            RequestStatus::Running,
                            None,
                        )
                        .await?;
                    }
                    return Ok(Some(placement));
                }
                Err(why) => {
                    let reason = format!(
                        "waiting for room: step {} ({}) needs {}; {why}",
                        step.id,
                        step.title,
                        describe_needs(&step.resources)
                    );
                    // The request first: whoever sees the queue paused sees why it waits.
                    if !request_paused {
                        self.request_status(
                            request,
                            &[RequestStatus::Running],
                            RequestStatus::Paused,
                            Some(&reason),
                        )
                        .await?;
                        request_paused = true;
                    }
                    if !queue_paused {
                        self.set_queue(Some(&reason), &reason).await?;
                    }
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(ROOM_RECHECK) => {}
                    }
                }
            }
        }
    }

    /// The agent `step` would go to now, or why none fits (saying so when every agent of its
    /// type is full).
    fn place(
        &self,
        step: &Step,
        passed_over: &[String],
        queue_paused: bool,
    ) -> Result<Placement, String> {
        let registry = lock(&self.fleet.registry);
        let now = Utc::now();
        registry
            .place(
                step.agent_type,
                &step.resources,
                passed_over,
                queue_paused,
                now,
            )
            .map_err(|why| {
                if registry.all_full(step.agent_type, &step.resources, now) {
                    format!(
                        "every online {} agent is below {:.0} % free; {why}",
                        step.agent_type,
                        registry::FULL_BELOW * 100.0
                    )
                } else {
                    why
                }
            })
    }

    /// Pauses (`Some(reason)`) or resumes (`None`) the dispatch queue: stored, audited,
    /// streamed and logged. A no-op when it already is in that state.
    async fn set_queue(&self, pause: Option<&str>, reason: &str) -> anyhow::Result<()> {
        {
            let mut paused = lock(&self.fleet.queue_paused);
            if paused.is_some() == pause.is_some() {
                return Ok(());
            }
            *paused = pause.map(str::to_owned);
        }
        let kind = if pause.is_some() { "paused" } else { "resumed" };
        let now = Utc::now();
        if pause.is_some() {
            tracing::warn!("dispatch queue paused: {reason}");
        } else {
            tracing::info!("dispatch queue resumed: {reason}");
        }
        let id = self.store.record_queue_event(kind, reason, now).await?;
        self.record_audit(AuditEntry {
            kind: "queue",
            subject: format!("queue {kind}: {reason}"),
            subject_id: format!("queue-{id}"),
            recorded_at: now,
            details: serde_json::json!({"event": kind, "reason": reason, "agents": self.agents()}),
        })
        .await?;
        self.emit(LiveEvent::Queue {
            paused: pause.is_some(),
            reason: reason.to_owned(),
            at: now,
        });
        Ok(())
    }
}

/// "8 GB of GPU memory and 2 cores", for messages.
fn describe_needs(needs: &Resources) -> String {
    let mut parts = Vec::new();
    if needs.gpu_vram_gb > 0.0 {
        parts.push(format!("{} GB of GPU memory on one GPU", needs.gpu_vram_gb));
    }
    if needs.cpu_cores > 0.0 {
        parts.push(format!("{} CPU cores", needs.cpu_cores));
    }
    parts.join(" and ")
}
