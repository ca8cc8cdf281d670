//! Sending work to agents: the one function that builds a `Dispatch`, the in-flight tables
//! that let an agent's ack and result reach whoever waits for them, and cancels. Every dispatch
//! and cancel is signed with the orchestrator's Ed25519 key (`<data_dir>/orchestrator.key`,
//! made on first start), which agents check before they obey (`protocol::signing`).
//!
//! Invariant: `Core::build_dispatch` builds every dispatch, and whether it is a real run or a
//! check-mode preview follows from its `Purpose`, never from a separate flag: a real run needs
//! an `ApprovedRequest`, a preview is always `check_mode: true`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use chrono::Utc;
use tokio::sync::oneshot;

use crate::bus::Queue;
use crate::model::{AgentId, Request, Step, Task};
use crate::orchestrator::decisions::ApprovedRequest;
use crate::orchestrator::{Core, lock};
use crate::protocol::signing::{SigningKey, VerifyingKey};
use crate::protocol::{Dispatch, Envelope, Message, TaskResult};

/// The orchestrator's private signing key (PKCS#8), readable by its owner only.
pub const SIGNING_KEY_FILE: &str = "orchestrator.key";
/// Its public half, 64 hex digits: what `chiffon agent --orchestrator-key-file` reads.
pub const PUBLIC_KEY_FILE: &str = "orchestrator.pub";

/// Reads the orchestrator's signing key from `data_dir`, making one (mode 0600, never
/// overwriting) on first start, and (re)writes the public key next to it. A key file others can
/// read is refused: whoever reads it can make every agent run anything.
pub fn load_or_create_signing_key(data_dir: &Path) -> anyhow::Result<SigningKey> {
    let path = data_dir.join(SIGNING_KEY_FILE);
    let pkcs8 = match std::fs::symlink_metadata(&path) {
        Ok(meta) => {
            anyhow::ensure!(
                meta.is_file(),
                "{} is not a regular file: remove it so a new key is made",
                path.display()
            );
            anyhow::ensure!(
                meta.permissions().mode() & 0o077 == 0,
                "{} is readable by other users (mode {:o}): run chmod 600 on it (with it, anyone can make agents run playbooks)",
                path.display(),
                meta.permissions().mode() & 0o777
            );
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let pkcs8 = SigningKey::generate_pkcs8().map_err(anyhow::Error::msg)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(&pkcs8)
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(key = %path.display(), "made the orchestrator's signing key");
            pkcs8
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot inspect {}", path.display()));
        }
    };
    let key = SigningKey::from_pkcs8(&pkcs8)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("{} is not the orchestrator's key", path.display()))?;
    let public = data_dir.join(PUBLIC_KEY_FILE);
    let text = format!("{}\n", key.verifying_key().to_hex());
    if std::fs::read_to_string(&public).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&public, &text)
            .with_context(|| format!("cannot write {}", public.display()))?;
    }
    Ok(key)
}

/// Why a step is sent to an agent. There are exactly two reasons.
#[derive(Clone, Copy)]
pub(crate) enum Purpose<'a> {
    /// A step of a plan a person approved, run for real as the stored `task`: it may change
    /// the hosts, and it carries the step's resource needs for the agent to check.
    Run {
        request: &'a ApprovedRequest,
        task: &'a Task,
    },
    /// A check-mode dry run (`--check --diff`) of a plan not yet approved, under an unstored
    /// task id: nothing on the hosts changes and nothing is booked.
    Preview {
        request: &'a Request,
        task_id: &'a str,
    },
}

impl Core {
    /// Builds the message that sends `step` to an agent for `purpose`; the only place a
    /// `Dispatch` is made. A real run (`check_mode: false`) exists only for an approved
    /// request; a preview is always in check mode.
    pub(crate) fn build_dispatch(&self, step: &Step, purpose: Purpose<'_>) -> Envelope {
        let (request, task_id, title, check_mode, resources) = match purpose {
            Purpose::Run { request, task } => (
                request.request(),
                task.id.to_string(),
                step.title.clone(),
                false,
                step.resources.clone(),
            ),
            Purpose::Preview { request, task_id } => (
                request,
                task_id.to_owned(),
                format!("Preview: {}", step.title),
                true,
                Default::default(),
            ),
        };
        let dispatch = Dispatch {
            task_id: task_id.clone(),
            request_id: request.id.to_string(),
            step_id: step.id.clone(),
            title,
            action: step.action.clone(),
            playbook: step.playbook.clone(),
            limit: step.limit.clone(),
            check_mode,
            resources,
            tags: step.tags.clone(),
            extra_vars: step.extra_vars.clone(),
            deadline_s: self.config.execution_deadline.as_secs(),
            expires_at: Utc::now() + self.config.ack_timeout,
        };
        let mut envelope =
            Envelope::new("orchestrator", Some(task_id), Message::Dispatch(dispatch));
        self.signer.sign(&mut envelope);
        envelope
    }

    /// The public key agents must be given to obey this orchestrator.
    pub fn orchestrator_key(&self) -> VerifyingKey {
        self.signer.verifying_key()
    }

    /// Registers a wait for `task_id`'s ack (which names the agent) and result; call it before
    /// publishing the dispatch, so that a fast agent's answer finds it.
    pub(crate) fn expect_answers(
        &self,
        task_id: &str,
    ) -> (oneshot::Receiver<String>, oneshot::Receiver<TaskResult>) {
        let (result_tx, result_rx) = oneshot::channel();
        let (ack_tx, ack_rx) = oneshot::channel();
        lock(&self.in_flight.waiters).insert(task_id.to_owned(), result_tx);
        lock(&self.in_flight.unacked).insert(task_id.to_owned(), ack_tx);
        (ack_rx, result_rx)
    }

    /// Drops the wait `expect_answers` registered, answered or not.
    pub(crate) fn stop_expecting(&self, task_id: &str) {
        lock(&self.in_flight.waiters).remove(task_id);
        lock(&self.in_flight.unacked).remove(task_id);
    }

    /// Hands a task's result to its executor. A result can arrive without an ack (an agent
    /// that refuses work straight away), so it settles the ack wait too.
    pub(crate) fn resolve(&self, task_id: &str, agent: &str, result: TaskResult) {
        lock(&self.in_flight.running).remove(task_id);
        if let Some(waiter) = lock(&self.in_flight.unacked).remove(task_id) {
            let _ = waiter.send(agent.to_owned());
        }
        if let Some(waiter) = lock(&self.in_flight.waiters).remove(task_id) {
            let _ = waiter.send(result);
        }
    }

    /// Asks `agent` to stop `task_id` (SIGTERM to the playbook, then SIGKILL).
    pub(crate) async fn send_cancel(&self, task_id: &str, agent: &str, reason: &str) {
        let Some(agent) = AgentId::parse(agent) else {
            return;
        };
        let mut envelope = Envelope::new(
            "orchestrator",
            Some(task_id.to_owned()),
            Message::Cancel(crate::protocol::Cancel {
                task_id: task_id.to_owned(),
                reason: reason.to_owned(),
            }),
        );
        self.signer.sign(&mut envelope);
        if let Err(error) = self.publish(&Queue::Agent(agent), envelope.encode()).await {
            tracing::error!(task = %task_id, "could not send the cancel: {error:#}");
        }
    }
}
