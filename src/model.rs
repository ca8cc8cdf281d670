//! The domain vocabulary shared by the planner, the store, the API and the clients:
//! identifiers, requests, plans, steps and tasks, with their status machines.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod change;
pub mod decision;
pub mod question;

pub use question::{Choice, Question, TemplateOffer};

/// Declares a string identifier newtype. Ids are opaque to callers; `parse` only checks
/// that the text could be an id we issued (so path segments like `../x` never reach SQL or git).
macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7), so ids sort in creation order.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Accepts only ids of the shape we issue: the prefix followed by 32 hex digits.
            pub fn parse(text: &str) -> Option<Self> {
                let rest = text.strip_prefix($prefix)?;
                (rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The first characters after the prefix: enough to tell ids apart in a terminal.
            pub fn short(&self) -> &str {
                &self.0[..$prefix.len() + 8]
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_newtype!(
    /// Identifies a user request (and the plan versions made for it).
    RequestId,
    "req_"
);
id_newtype!(
    /// Identifies one execution of one plan step.
    TaskId,
    "task_"
);

/// Identifies an agent. Agents name themselves (`--id`), so this is free text within limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    /// Agent ids become queue names and log fields: keep them to a safe, short alphabet.
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        ok.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a snake_case string enum with `as_str` and `parse`, used for statuses stored as text.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// An agent's liveness as the orchestrator sees it, by the orchestrator's clock.
    AgentState {
        Online => "online",
        Suspect => "suspect",
        Offline => "offline",
        Leaving => "leaving",
    }
);

text_enum!(
    /// Where a request is in its life: planned, waiting for a person, executing, or finished.
    RequestStatus {
        AwaitingApproval => "awaiting_approval",
        Approved => "approved",
        Running => "running",
        Paused => "paused",
        Succeeded => "succeeded",
        Failed => "failed",
        Aborted => "aborted",
        Rejected => "rejected",
    }
);

impl RequestStatus {
    /// A finished request never changes status again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Aborted | Self::Rejected
        )
    }
}

text_enum!(
    /// The life of one step's execution.
    TaskStatus {
        Queued => "queued",
        Dispatched => "dispatched",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Aborted => "aborted",
        Cancelled => "cancelled",
    }
);

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Aborted | Self::Cancelled
        )
    }
}

text_enum!(
    /// The kinds of agent a step can be routed to.
    AgentType {
        Infra => "infra",
        Desktop => "desktop",
    }
);

text_enum!(
    /// Overall plan risk; the reasons carry the why.
    RiskLevel {
        Low => "low",
        Medium => "medium",
        High => "high",
    }
);

/// What a step needs from the agent that runs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Resources {
    /// GPU memory the step needs free, in GB (0 when it needs no GPU).
    #[serde(default)]
    pub gpu_vram_gb: f64,
    /// CPU cores the step expects to keep busy.
    #[serde(default)]
    pub cpu_cores: f64,
}

/// One node of a plan's DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Step {
    /// Short and stable within a plan (`s1`, `s2`, …) so `depends_on` reads well.
    pub id: String,
    /// What the step does, in plain words: short, so it fits a table row.
    pub title: String,
    /// The particulars behind the title, one per line (the portals a step monitors, with their
    /// URLs), shown as a list under it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The verb: `deploy`, `configure`, …
    pub action: String,
    pub agent_type: AgentType,
    /// Playbook path relative to the playbook repository, when the step runs one.
    pub playbook: Option<String>,
    /// The service this step changes, for "all changes to service X".
    pub service: Option<String>,
    /// Inventory hosts/groups the step is limited to; `None` means the playbook's own `hosts:`.
    pub limit: Option<String>,
    pub depends_on: Vec<String>,
    pub estimated_duration_s: u64,
    pub resources: Resources,
    /// `--tags` for the run: set when the step reaches its unit through a shared playbook.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Extra variables the step needs, e.g. the unit's `<app>_enabled` switch.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra_vars: serde_json::Map<String, serde_json::Value>,
    /// Filled in from the step's task when a request is read back; `pending` until dispatched.
    #[serde(default = "pending")]
    pub status: String,
    /// The step's task's warnings, filled in like `status`: a `succeeded` step with warnings
    /// is "done with warnings".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn pending() -> String {
    "pending".to_owned()
}

/// The plan's risk assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Risk {
    pub level: RiskLevel,
    pub reasons: Vec<String>,
}

/// What the planner proposes for a request; executed only after a person approves this version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Plan {
    pub version: u32,
    /// Which planner produced it (`deterministic`, later an LLM provider name).
    pub planner: String,
    pub steps: Vec<Step>,
    pub risk: Risk,
    pub approval_required: bool,
    /// Sum along the critical path of the DAG.
    pub estimated_duration_s: u64,
    /// Questions the planner could not answer itself; a plan with open questions cannot run.
    pub open_questions: Vec<String>,
    /// The same questions with their choices (`POST /requests/{id}/answer` takes one), and
    /// those already answered on the way to this version.
    #[serde(default)]
    pub questions: Vec<Question>,
}

impl Plan {
    /// Steps in an order where each comes after everything it depends on.
    /// Planner output is validated acyclic, so every step appears exactly once.
    pub fn execution_order(&self) -> Vec<&Step> {
        let mut done: Vec<&str> = Vec::with_capacity(self.steps.len());
        let mut order = Vec::with_capacity(self.steps.len());
        while order.len() < self.steps.len() {
            let before = order.len();
            for step in &self.steps {
                let ready = !done.contains(&step.id.as_str())
                    && step.depends_on.iter().all(|d| done.contains(&d.as_str()));
                if ready {
                    done.push(&step.id);
                    order.push(step);
                }
            }
            if order.len() == before {
                break; // a cycle: leave the rest out rather than loop forever
            }
        }
        order
    }
}

/// A person's request and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Request {
    pub id: RequestId,
    pub text: String,
    pub status: RequestStatus,
    pub high_value: bool,
    pub plan: Plan,
    /// Why it was rejected, or why it failed, in plain words.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Per-host counts from one playbook run, as Ansible's recap reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostCounts {
    pub ok: u32,
    pub changed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub unreachable: u32,
    #[serde(default)]
    pub rescued: u32,
    #[serde(default)]
    pub ignored: u32,
}

/// One step's execution, as stored in the tasks table.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Task {
    pub id: TaskId,
    pub request_id: RequestId,
    pub step_id: String,
    pub plan_version: u32,
    pub title: String,
    pub status: TaskStatus,
    /// A one-line result for people: "changed 3 on lola", "failed: …".
    pub outcome: Option<String>,
    /// What the run used: duration, per-host counts.
    pub resource_usage: serde_json::Value,
    pub service_touched: Option<String>,
    pub agent_id: Option<String>,
    pub playbook: Option<String>,
    pub error: Option<String>,
    /// The agent's capacity when the task failed, for "was the box out of memory?".
    pub resource_state_at_failure: Option<serde_json::Value>,
    pub suggestions: serde_json::Value,
    pub audit_commit: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the person must read although the run succeeded (the playbook's `WARNING:` notes,
    /// key tasks skipped, Ansible's warnings): a succeeded task with warnings is "done with
    /// warnings".
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One structured event of a playbook run, as the Ansible callback reports it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ExecEvent {
    /// `playbook_start`, `play_start`, `task_start`, `task_result`, `diff` (with `--diff`: the
    /// change a task makes or, in check mode, would make, in `msg`), `warning` (a text the
    /// person must read, in `msg`: see `Task::warnings`) or `stats`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// For `task_result`: `ok`, `changed`, `failed`, `skipped`, `unreachable`, `ignored`
    /// (failed with `ignore_errors`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// For `stats`: the play recap per host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<std::collections::BTreeMap<String, HostCounts>>,
}

/// A pause or resume of the dispatch queue (no agent has room for a step, or one has again),
/// as stored, audited and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct QueueEvent {
    pub id: i64,
    /// `paused` or `resumed`.
    pub kind: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    pub audit_commit: Option<String>,
}

/// One live execution event of a task, stored in order.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TaskEvent {
    pub seq: i64,
    pub task_id: TaskId,
    pub at: DateTime<Utc>,
    pub event: ExecEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_foreign_text() {
        let id = TaskId::generate();
        assert_eq!(TaskId::parse(id.as_str()), Some(id.clone()));
        assert!(TaskId::parse("task_../../etc/passwd").is_none());
        assert!(RequestId::parse(id.as_str()).is_none());
        assert!(id.short().len() < id.as_str().len());
    }

    #[test]
    fn agent_ids_keep_to_a_safe_alphabet() {
        assert!(AgentId::parse("lola-desktop.1").is_some());
        assert!(AgentId::parse("").is_none());
        assert!(AgentId::parse("a b").is_none());
        assert!(AgentId::parse("x/../y").is_none());
    }

    #[test]
    fn execution_order_respects_dependencies() {
        let step = |id: &str, deps: &[&str]| Step {
            id: id.into(),
            title: id.into(),
            action: "deploy".into(),
            agent_type: AgentType::Infra,
            playbook: None,
            service: None,
            limit: None,
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
            estimated_duration_s: 1,
            resources: Resources::default(),
            tags: Vec::new(),
            extra_vars: serde_json::Map::new(),
            status: pending(),
            warnings: Vec::new(),
            details: Vec::new(),
        };
        let plan = Plan {
            version: 1,
            planner: "test".into(),
            steps: vec![step("s2", &["s1"]), step("s3", &["s2"]), step("s1", &[])],
            risk: Risk {
                level: RiskLevel::Low,
                reasons: vec![],
            },
            approval_required: true,
            estimated_duration_s: 3,
            open_questions: vec![],
            questions: vec![],
        };
        let ids: Vec<_> = plan
            .execution_order()
            .iter()
            .map(|s| s.id.clone())
            .collect();
        assert_eq!(ids, ["s1", "s2", "s3"]);
    }
}
