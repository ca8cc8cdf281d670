//! The message protocol between the orchestrator and its agents: a versioned JSON envelope
//! and the message types it carries. `docs/protocol.md` is the human reference for this file.
//!
//! Invariant: this module depends on nothing else in the crate except `model` ids and types,
//! so an agent written elsewhere needs only this contract.

pub mod signing;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::model::ExecEvent;
use crate::model::{AgentType, HostCounts, Resources};

/// The version this build speaks. Peers with another major version are refused.
pub const PROTOCOL_VERSION: &str = "1.0";

/// Every message on the bus is one of these, serialized as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    pub protocol_version: String,
    pub message_id: String,
    /// Ties replies to what they answer: the task id for task traffic.
    pub correlation_id: Option<String>,
    pub sent_at: DateTime<Utc>,
    /// Who sent it: `orchestrator` or an agent id.
    pub sender: String,
    #[serde(flatten)]
    pub message: Message,
    /// The orchestrator's Ed25519 signature (hex) over this envelope's encoding without this
    /// field; required on `dispatch` and `cancel` (see `signing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The message set. On the wire: `"type": "<name>", "payload": {…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum Message {
    Dispatch(Dispatch),
    Ack(Ack),
    Progress(Progress),
    Result(TaskResult),
    Cancel(Cancel),
    Heartbeat(Heartbeat),
    Hello(Hello),
    Goodbye(Goodbye),
    Error(ErrorReply),
}

impl Message {
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Dispatch(_) => "dispatch",
            Message::Ack(_) => "ack",
            Message::Progress(_) => "progress",
            Message::Result(_) => "result",
            Message::Cancel(_) => "cancel",
            Message::Heartbeat(_) => "heartbeat",
            Message::Hello(_) => "hello",
            Message::Goodbye(_) => "goodbye",
            Message::Error(_) => "error",
        }
    }
}

/// Work for an agent: run one plan step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dispatch {
    pub task_id: String,
    pub request_id: String,
    pub step_id: String,
    pub title: String,
    pub action: String,
    /// Path relative to the agent's playbook repository.
    pub playbook: Option<String>,
    /// Ansible `--limit`.
    pub limit: Option<String>,
    /// Preview only (`--check --diff`).
    #[serde(default)]
    pub check_mode: bool,
    pub resources: Resources,
    /// Ansible `--tags`: letters, digits, `_`, `-`, `.`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Extra variables for this step (on top of the agent's own), e.g. `{"gitea_enabled": true}`.
    #[serde(default)]
    pub extra_vars: serde_json::Map<String, serde_json::Value>,
    /// The agent must give up and report failure after this many seconds.
    pub deadline_s: u64,
    /// The orchestrator stops waiting for an ack at this time; an agent that receives the
    /// dispatch later must not run it (it answers with an `error`, code `rejected`).
    pub expires_at: DateTime<Utc>,
}

/// "I have the task." Sent on receipt, before the work is checked and started; a task that
/// cannot run is then reported as a failed `result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    pub task_id: String,
}

/// A live execution event of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    pub task_id: String,
    pub event: ExecEvent,
}

/// How a task ended, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskResult {
    pub task_id: String,
    pub outcome: ResultStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// Ansible's recap, per host.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostCounts>,
    /// Tasks that failed, with their messages.
    #[serde(default)]
    pub failures: Vec<Failure>,
    /// Why the task could not run or finish, in plain words.
    pub error: Option<String>,
    /// The agent's capacity when it finished, attached on failure.
    pub capacity: Option<Capacity>,
    /// What a real run changed on each host, in order, with enough to undo it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::model::change::Change>,
    /// What the person must read even when the run succeeded: the playbook's own warnings
    /// (a `debug` message starting `WARNING:`), key tasks (tagged `chiffon_key`) skipped, and
    /// Ansible's warnings. A succeeded result with warnings is "done with warnings".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl TaskResult {
    /// A task that failed before or without running anything, with the reason.
    pub fn failed(task_id: &str, error: String, capacity: Option<Capacity>) -> Self {
        Self {
            task_id: task_id.to_owned(),
            outcome: ResultStatus::Failed,
            exit_code: None,
            duration_ms: 0,
            hosts: BTreeMap::new(),
            failures: Vec::new(),
            error: Some(error),
            capacity,
            changes: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// The three ways a task ends on an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    Succeeded,
    Failed,
    Aborted,
}

/// One failed Ansible task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    pub host: String,
    pub task: String,
    pub msg: String,
}

/// Stop a task: the agent terminates it and answers with a `result` of `aborted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancel {
    pub task_id: String,
    pub reason: String,
}

/// An agent's periodic sign of life, with what it can take on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub agent_type: AgentType,
    pub capacity: Capacity,
    /// Seconds until this heartbeat is stale (the broker drops it unread after that).
    pub ttl_s: u64,
    /// Counts up from 0 for each heartbeat since the agent started.
    #[serde(default)]
    pub seq: u64,
    /// Changes every time the agent process starts, so a restart is visible even when the
    /// agent keeps its id.
    #[serde(default)]
    pub boot_id: String,
    /// How often this agent means to send heartbeats, in seconds (before jitter).
    #[serde(default)]
    pub interval_s: u64,
    /// The tasks this agent is running now, so a restarted orchestrator can tell which of its
    /// in-flight tasks are still alive.
    #[serde(default)]
    pub running_tasks: Vec<String>,
}

/// What a machine has free right now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Capacity {
    /// Share of CPU time busy since the previous report, 0–100.
    pub cpu_load_percent: f64,
    /// `/proc/loadavg`'s first figure.
    #[serde(default)]
    pub load_average_1m: f64,
    pub cpu_cores: u32,
    /// Cores' worth of idle CPU time: `cpu_cores × (1 − busy share)`.
    pub free_cpu_cores: f64,
    pub memory_total_mb: u64,
    pub memory_free_mb: u64,
    /// Every GPU on its own; never summed.
    pub gpus: Vec<Gpu>,
}

/// One GPU's memory and load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Gpu {
    /// The vendor's device index (NVML index, DRM card number).
    #[serde(default)]
    pub index: u32,
    /// `nvidia` or `amd`.
    #[serde(default)]
    pub vendor: String,
    pub name: String,
    #[serde(default)]
    pub uuid: Option<String>,
    pub vram_total_mb: u64,
    pub vram_free_mb: u64,
    /// Busy share of the GPU's engines, 0–100, when the driver reports it.
    #[serde(default)]
    pub utilization_percent: Option<f64>,
    /// Where the figures came from: `nvml`, `nvidia-smi` or `sysfs`.
    #[serde(default)]
    pub source: String,
}

/// An agent joining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    pub agent_type: AgentType,
    pub version: String,
    pub host: String,
}

/// An agent leaving on purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Goodbye {
    pub reason: String,
}

/// A refusal or failure to process a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorReply {
    pub code: ErrorCode,
    pub message: String,
    pub retryable: bool,
}

/// Why a message was refused. Stable strings: agents branch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not an envelope.
    MalformedMessage,
    /// `protocol_version` with a major version this build does not speak.
    IncompatibleVersion,
    /// A `type` this build does not know.
    UnknownType,
    /// The payload does not fit its type.
    InvalidPayload,
    /// The agent cannot run this work (no such playbook, no capacity, …).
    Rejected,
    /// Something broke on the receiving side.
    Internal,
    /// A `dispatch` or `cancel` without a valid signature from the orchestrator's key: never
    /// run, dead-lettered.
    Unauthenticated,
}

impl Envelope {
    /// Wraps a message for sending now.
    pub fn new(sender: &str, correlation_id: Option<String>, message: Message) -> Self {
        Self {
            protocol_version: PROTOCOL_VERSION.to_owned(),
            message_id: uuid::Uuid::now_v7().to_string(),
            correlation_id,
            sent_at: Utc::now(),
            sender: sender.to_owned(),
            message,
            signature: None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("envelopes always serialize")
    }

    /// Parses and checks a message from the bus, telling apart the ways it can be wrong
    /// so the receiver can answer with the right error code: not an envelope
    /// (`malformed_message`), another major version (`incompatible_version`), a type this
    /// build does not know (`unknown_type`), or a payload that does not fit (`invalid_payload`).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let malformed = |message: String| DecodeError {
            code: ErrorCode::MalformedMessage,
            message,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| malformed(format!("not JSON: {e}")))?;
        let header: Header = serde_json::from_value(value.clone())
            .map_err(|e| malformed(format!("not a Chiffon envelope: {e}")))?;
        if major(&header.protocol_version) != major(PROTOCOL_VERSION) {
            return Err(DecodeError {
                code: ErrorCode::IncompatibleVersion,
                message: format!(
                    "protocol_version {} is not compatible with {PROTOCOL_VERSION}",
                    header.protocol_version
                ),
            });
        }
        if !KNOWN_TYPES.contains(&header.kind.as_str()) {
            return Err(DecodeError {
                code: ErrorCode::UnknownType,
                message: format!("unknown message type {:?}", header.kind),
            });
        }
        serde_json::from_value(value).map_err(|e| DecodeError {
            code: ErrorCode::InvalidPayload,
            message: format!("invalid {} message: {e}", header.kind),
        })
    }
}

/// The JSON Schema (draft 2020-12) of an envelope carrying any message type: what
/// `chiffon protocol schema` prints, for anyone writing an agent in another language.
pub fn envelope_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Envelope)).expect("schemas serialize")
}

/// The JSON Schema of one message type's `payload`, or `None` for a type this build does not know.
pub fn payload_schema(kind: &str) -> Option<serde_json::Value> {
    let schema = match kind {
        "dispatch" => schemars::schema_for!(Dispatch),
        "ack" => schemars::schema_for!(Ack),
        "progress" => schemars::schema_for!(Progress),
        "result" => schemars::schema_for!(TaskResult),
        "cancel" => schemars::schema_for!(Cancel),
        "heartbeat" => schemars::schema_for!(Heartbeat),
        "hello" => schemars::schema_for!(Hello),
        "goodbye" => schemars::schema_for!(Goodbye),
        "error" => schemars::schema_for!(ErrorReply),
        _ => return None,
    };
    Some(serde_json::to_value(schema).expect("schemas serialize"))
}

/// Every message type name, as on the wire.
pub const MESSAGE_TYPES: &[&str] = KNOWN_TYPES;

/// Every message type name, as on the wire.
const KNOWN_TYPES: &[&str] = &[
    "dispatch",
    "ack",
    "progress",
    "result",
    "cancel",
    "heartbeat",
    "hello",
    "goodbye",
    "error",
];

/// The envelope without its payload: what must be right before the payload is looked at.
#[derive(Deserialize)]
struct Header {
    protocol_version: String,
    #[allow(dead_code)]
    message_id: String,
    #[allow(dead_code)]
    sent_at: DateTime<Utc>,
    #[allow(dead_code)]
    sender: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `"1.0"` → 1. Versions must be `MAJOR.MINOR`.
fn major(version: &str) -> Option<u32> {
    let (major, minor) = version.split_once('.')?;
    minor.parse::<u32>().ok()?;
    major.parse().ok()
}

/// Why an incoming message was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_with_type_and_payload_on_the_wire() {
        let env = Envelope::new(
            "orchestrator",
            Some("task_1".into()),
            Message::Ack(Ack {
                task_id: "task_1".into(),
            }),
        );
        let wire: serde_json::Value = serde_json::from_slice(&env.encode()).unwrap();
        assert_eq!(wire["type"], "ack");
        assert_eq!(wire["payload"]["task_id"], "task_1");
        assert_eq!(wire["protocol_version"], "1.0");
        assert_eq!(Envelope::decode(&env.encode()).unwrap(), env);
    }

    #[test]
    fn bad_messages_get_distinct_codes() {
        let code = |bytes: &[u8]| Envelope::decode(bytes).unwrap_err().code;
        assert_eq!(code(b"{not json"), ErrorCode::MalformedMessage);
        assert_eq!(code(br#"{"type":"ack"}"#), ErrorCode::MalformedMessage);
        let msg = |v: &str, t: &str, p: &str| {
            format!(
                r#"{{"protocol_version":"{v}","message_id":"m","correlation_id":null,"sent_at":"2026-01-01T00:00:00Z","sender":"x","type":"{t}","payload":{p}}}"#
            )
        };
        assert_eq!(
            code(msg("2.0", "ack", r#"{"task_id":"t"}"#).as_bytes()),
            ErrorCode::IncompatibleVersion
        );
        assert_eq!(
            code(msg("1.0", "launch_missiles", "{}").as_bytes()),
            ErrorCode::UnknownType
        );
        assert_eq!(
            code(msg("1.0", "ack", r#"{"task_id":"t","extra":1}"#).as_bytes()),
            ErrorCode::InvalidPayload
        );
        assert_eq!(
            code(msg("one", "ack", r#"{"task_id":"t"}"#).as_bytes()),
            ErrorCode::IncompatibleVersion
        );
        assert_eq!(
            code(br#"{"protocol_version":"1.0","type":"ack","payload":{"task_id":"t"}}"#),
            ErrorCode::MalformedMessage
        );
        assert!(Envelope::decode(msg("1.1", "ack", r#"{"task_id":"t"}"#).as_bytes()).is_ok());
    }
}
