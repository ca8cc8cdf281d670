//! The contract between the server and its clients: every type that crosses HTTP or the
//! WebSocket under `/api/v1`, shared by the handlers (`orchestrator::http`), the client
//! (`client`) and the web UI's description (`assets/openapi.json`, which a test holds to these
//! types). Plain data: it imports only `model` (and `protocol`'s `Capacity`, shown as is).
//!
//! Where the server keeps an internal type (the registry's `AgentInfo`, the matcher's `Scan`,
//! …), this module holds its serializable counterpart and the handlers convert, so a change
//! inside the server cannot change an answer without changing a type here.

pub mod agents;
pub mod answer;
pub mod changes;
pub mod error;
pub mod health;
pub mod live;
pub mod playbooks;
pub mod requests;
pub mod tasks;

pub use agents::*;
pub use answer::*;
pub use changes::*;
pub use error::*;
pub use health::*;
pub use live::*;
pub use playbooks::*;
pub use requests::*;
pub use tasks::*;

use serde::{Deserialize, Serialize};

/// A list page: `next` is the cursor of the following page, `null` on the last.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// `?limit=&cursor=` of the paged lists.
#[derive(Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}
