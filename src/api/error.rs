//! The error body every refusal has: `{"error": {"code", "message"}}`, with a code from a closed
//! list clients can branch on.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code (the message is for people and may change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    MalformedJson,
    InvalidBody,
    UnsupportedMediaType,
    BodyTooLarge,
    BadRequest,
    EmptyText,
    TextTooLong,
    InvalidState,
    PlanNotExecutable,
    PlanVersionMismatch,
    InvalidReason,
    InvalidQuery,
    UnknownRoute,
    MethodNotAllowed,
    Internal,
    AuditEntryMissing,
    BadToken,
    TokenRequired,
    InvalidText,
    AgentNotFound,
    PlanHasQuestions,
    InvalidTemplate,
    TemplateNotWritten,
    SuggestionNotFound,
    NoAutomaticChange,
    FileChanged,
    CheckFailed,
    RepositoryNotReady,
    InvalidTaskId,
    AnsibleUnavailable,
    HostNotAllowed,
    OriginNotAllowed,
    TooManyStreams,
    ServerBusy,
    QuestionNotFound,
    NotAChoice,
}

/// An error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: the code to branch on, and words for a person.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}
