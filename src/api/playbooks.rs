//! The playbook repository as the API shows it: the planner's playbooks, the repository read
//! as deployable units, "what deploys this", templates, and improvement suggestions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{AgentType, Resources};

/// One playbook the planner plans with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Playbook {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// The service it is about, from its file name: `kuma-deployment.yml` → `kuma`.
    pub service: String,
    /// What it does to the service: `deploy`, `configure`, `upgrade`, …, or `run`.
    pub action: String,
    /// The first play's `name:`, the best human description the author gave.
    pub description: Option<String>,
    /// Every play's `hosts:` pattern.
    pub hosts: Vec<String>,
    /// What a run needs, from the first play's `vars: chiffon_resources:`.
    pub resources: Resources,
    /// Which agents run it.
    pub agent_type: AgentType,
}

/// `GET /playbooks`: the playbooks the planner plans with (`items`), and the repository read as
/// deployable units, with the files it could not read.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlaybooksView {
    pub items: Vec<Playbook>,
    pub next: Option<String>,
    #[serde(flatten)]
    pub scan: Scan,
}

/// The units of a repository, and what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Scan {
    pub units: Vec<Unit>,
    /// Invalid YAML, with file and line.
    pub problems: Vec<Problem>,
    /// Vault-encrypted files: never decrypted, never an error.
    pub encrypted: Vec<String>,
}

/// A file the scan could not read, with where and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Problem {
    pub file: String,
    pub line: u64,
    pub message: String,
}

/// What a unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    Playbook,
    Role,
    Tasks,
    Compose,
}

/// How to run a unit: the playbook, tags and extra variables that reach it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Entrypoint {
    pub playbook: String,
    /// The play's `hosts:` pattern.
    #[serde(default)]
    pub hosts: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub extra_vars: BTreeMap<String, serde_json::Value>,
}

/// One deployable unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Unit {
    /// File or folder, relative to the repository.
    pub path: String,
    pub kind: UnitKind,
    pub service: String,
    /// `None` for an orphan role or a compose file no playbook renders.
    pub entrypoint: Option<Entrypoint>,
    /// Container images it deploys.
    #[serde(default)]
    pub images: Vec<String>,
    /// Ports it publishes, as written.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Its files, relative to the repository.
    #[serde(default)]
    pub files: Vec<String>,
    /// A role several playbooks use: a building block rather than a service of its own.
    #[serde(default)]
    pub shared: bool,
}

/// `GET /playbooks/match?q=`.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchQuery {
    pub q: String,
}

/// The answer to "what deploys this".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Match {
    /// `match`, `ambiguous` or `none`.
    pub verdict: String,
    pub candidates: Vec<Candidate>,
    /// For `none`: what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// A ranked candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Candidate {
    #[serde(flatten)]
    pub unit: Unit,
    pub score: f64,
    pub why: String,
}

/// `POST /playbooks/templates`: what to generate.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub service: String,
    pub image: String,
    pub port: u16,
    #[serde(default = "default_template_hosts")]
    pub hosts: String,
}

fn default_template_hosts() -> String {
    "docker_hosts".to_owned()
}

/// The files a template wrote, relative to the repository.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TemplateFiles {
    pub files: Vec<String>,
}

/// How much a suggestion matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
}

/// One improvement suggestion for the playbook repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Suggestion {
    /// Stable while the file's line does not change.
    pub id: String,
    pub rule: String,
    /// Relative to the repository root, `/`-separated.
    pub file: String,
    pub line: usize,
    pub severity: Severity,
    pub message: String,
    /// A unified diff against the file as it is now, when the change is mechanical.
    pub diff: Option<String>,
    /// Who found it: Chiffon's own rules or ansible-lint.
    #[serde(default)]
    pub origin: SuggestionOrigin,
}

/// Who found a suggestion.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionOrigin {
    #[default]
    Chiffon,
    AnsibleLint,
}

/// `GET /suggestions`: the findings that matter, ranked (severity, then homelab impact), each
/// problem once; ansible-lint's style findings folded per rule; what ansible-lint did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Suggestions {
    pub items: Vec<Suggestion>,
    /// Always null: one page.
    pub next: Option<String>,
    /// Folded findings, one group per rule with a count: Chiffon's own low-severity findings
    /// first (every one kept in `items`), then ansible-lint's style findings.
    pub groups: Vec<SuggestionGroup>,
    pub lint: LintNote,
    /// The content hash of the repository tree the answer is for.
    pub tree: String,
}

/// The folded findings of one rule: Chiffon's own low-severity ones, or ansible-lint's style
/// findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SuggestionGroup {
    pub rule: String,
    pub count: usize,
    pub severity: Severity,
    /// What the rule finds and why it matters.
    pub message: String,
    /// The first few places, `file:line`.
    pub examples: Vec<String>,
    /// Whose rule it is.
    pub origin: SuggestionOrigin,
    /// Every finding folded here for Chiffon's groups (each can be applied); empty for
    /// ansible-lint's.
    pub items: Vec<Suggestion>,
}

/// What ansible-lint did for this answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LintNote {
    /// `done`, `running` (in the background; ask again), `failed`, `timed_out` or `not_run`.
    pub status: String,
    pub message: String,
    pub seconds: Option<f64>,
    /// Whether its findings came from the cache of this repository tree.
    pub cached: bool,
}

/// `POST /suggestions/{id}/apply` (the body is optional): the task that prompted the change.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplySuggestion {
    #[serde(default)]
    pub task_id: Option<String>,
}

/// What was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Applied {
    pub suggestion: Suggestion,
    /// The commit in the playbook repository.
    pub commit: String,
    /// The audit trail's commit recording the change (`None` while the entry is queued).
    pub audit_commit: Option<String>,
}
