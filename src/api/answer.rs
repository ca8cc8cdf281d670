//! `POST /requests/{id}/answer`: the choice a person picked for one of a plan's open
//! questions, or the image and port of a template the question offered.

use serde::{Deserialize, Serialize};

/// An answer to an open question of the current plan. Give `choice` (one of the question's
/// choice ids), or `template` for a question that offers one; `question_id` may be left out
/// when only one open question has that choice (or offers a template).
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    #[serde(default)]
    pub question_id: Option<String>,
    #[serde(default)]
    pub choice: Option<String>,
    #[serde(default)]
    pub template: Option<TemplateAnswer>,
    /// Who answers (stored with the decision); default `api client`.
    #[serde(default)]
    pub by: Option<String>,
}

/// The fields of a template offer: Chiffon writes the playbook and role (as
/// `POST /playbooks/templates` does), then plans again.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateAnswer {
    /// A pinned image reference, e.g. `deluan/navidrome:0.53.3`.
    pub image: String,
    pub port: u16,
    /// Inventory group or host pattern; default `docker_hosts`.
    #[serde(default)]
    pub hosts: Option<String>,
}
