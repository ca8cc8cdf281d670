//! What a model may answer, and how its answer becomes a plan: the JSON Schema sent to the
//! provider (the playbook names are an enum of the catalogue's), and `validate`, which turns a
//! draft into a `Plan` only if every playbook is in the catalogue, every limit names inventory
//! hosts or groups, every dependency exists and the steps form no cycle. Estimates, agents,
//! resources and the risk come from Chiffon's own rules, never from the model.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::catalogue::Catalogue;
use crate::model::{Plan, Step};
use crate::planner::PlaybookHistory;

/// Steps a model may propose for one request.
const MAX_STEPS: usize = 20;
const MAX_TITLE: usize = 200;

/// The model's answer, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftPlan {
    pub steps: Vec<DraftStep>,
    #[serde(default)]
    pub open_questions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftStep {
    pub id: String,
    pub title: String,
    pub playbook: String,
    /// Inventory hosts or groups, `:`-separated as Ansible's `--limit`; null for the
    /// playbook's own hosts.
    #[serde(default)]
    pub limit: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// The JSON Schema of `DraftPlan` for structured output, with the catalogue's playbooks as the
/// only allowed values (strict mode: every property required, nothing else allowed).
pub fn schema(catalogue: &Catalogue) -> serde_json::Value {
    let playbooks: Vec<&str> = catalogue
        .playbooks
        .iter()
        .map(|p| p.path.as_str())
        .collect();
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["steps", "open_questions"],
        "properties": {
            "steps": {
                "type": "array",
                "maxItems": MAX_STEPS,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["id", "title", "playbook", "limit", "depends_on"],
                    "properties": {
                        "id": {"type": "string", "description": "s1, s2, … unique in the plan"},
                        "title": {"type": "string", "description": "what the step does, in plain words"},
                        "playbook": {"type": "string", "enum": playbooks},
                        "limit": {
                            "type": ["string", "null"],
                            "description": "inventory hosts or groups, ':'-separated; null for the playbook's own hosts"
                        },
                        "depends_on": {"type": "array", "items": {"type": "string"}}
                    }
                }
            },
            "open_questions": {
                "type": "array",
                "items": {"type": "string"},
                "description": "what must be answered before the plan can run; empty when nothing"
            }
        }
    })
}

/// Parses and checks a model's answer; `Err` lists every problem, in words a repair prompt can
/// quote back to the model.
pub fn validate(
    answer: &str,
    catalogue: &Catalogue,
    history: &BTreeMap<String, PlaybookHistory>,
    version: u32,
    planner: &str,
) -> Result<Plan, Vec<String>> {
    let draft: DraftPlan = serde_json::from_str(answer.trim()).map_err(|e| {
        vec![format!(
            "the answer is not a plan object as the schema says: {e}"
        )]
    })?;
    let mut problems = Vec::new();
    if draft.steps.is_empty() && draft.open_questions.is_empty() {
        problems.push("the plan has no steps and no open questions".to_owned());
    }
    if draft.steps.len() > MAX_STEPS {
        problems.push(format!("at most {MAX_STEPS} steps"));
    }
    let known_targets: BTreeSet<&str> = catalogue
        .groups
        .iter()
        .flat_map(|(group, hosts)| {
            std::iter::once(group.as_str()).chain(hosts.iter().map(String::as_str))
        })
        .chain(["all"])
        .collect();
    let ids: BTreeSet<&str> = draft.steps.iter().map(|s| s.id.as_str()).collect();
    if ids.len() != draft.steps.len() {
        problems.push("step ids must be unique".to_owned());
    }
    let mut steps = Vec::new();
    for draft_step in &draft.steps {
        let id = &draft_step.id;
        if id.is_empty() || id.len() > 16 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            problems.push(format!("step id {id:?} must be 1 to 16 letters or digits"));
        }
        if draft_step.title.trim().is_empty() || draft_step.title.chars().count() > MAX_TITLE {
            problems.push(format!(
                "step {id}: the title must be 1 to {MAX_TITLE} characters"
            ));
        }
        for dependency in &draft_step.depends_on {
            if !ids.contains(dependency.as_str()) || dependency == id {
                problems.push(format!(
                    "step {id} depends on {dependency:?}, which is not another step of this plan"
                ));
            }
        }
        if let Some(limit) = &draft_step.limit {
            for target in limit.split(':') {
                if !known_targets.contains(target) {
                    problems.push(format!(
                        "step {id}: {target:?} is not a host or group of the inventory ({})",
                        known_targets.iter().copied().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        let Some(playbook) = catalogue
            .playbooks
            .iter()
            .find(|p| p.path == draft_step.playbook)
        else {
            problems.push(format!(
                "step {id}: {:?} is not a playbook of the repository",
                draft_step.playbook
            ));
            continue;
        };
        steps.push(Step {
            id: id.clone(),
            title: draft_step.title.trim().to_owned(),
            action: playbook.action.clone(),
            agent_type: playbook.agent_type,
            playbook: Some(playbook.path.clone()),
            service: Some(playbook.service.clone()),
            limit: draft_step.limit.clone(),
            depends_on: draft_step.depends_on.clone(),
            estimated_duration_s: crate::planner::estimate(playbook, history),
            resources: playbook.resources.clone(),
            tags: Vec::new(),
            extra_vars: serde_json::Map::new(),
            status: "pending".to_owned(),
            warnings: Vec::new(),
            details: Vec::new(),
        });
    }
    if problems.is_empty() && has_cycle(&steps) {
        problems.push("the dependencies form a cycle".to_owned());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let risk = crate::planner::assess_risk(&steps, catalogue, history);
    let estimated_duration_s = crate::planner::critical_path_s(&steps);
    Ok(Plan {
        version,
        planner: planner.to_owned(),
        steps,
        risk,
        approval_required: true,
        estimated_duration_s,
        open_questions: draft
            .open_questions
            .iter()
            .map(|q| q.trim().to_owned())
            .filter(|q| !q.is_empty())
            .collect(),
        // Said in words only; `Plan::index_questions` gives them ids.
        questions: Vec::new(),
    })
}

/// Kahn's algorithm: a cycle leaves steps that never become ready.
fn has_cycle(steps: &[Step]) -> bool {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    loop {
        let ready: Vec<&str> = steps
            .iter()
            .filter(|s| !done.contains(s.id.as_str()))
            .filter(|s| s.depends_on.iter().all(|d| done.contains(d.as_str())))
            .map(|s| s.id.as_str())
            .collect();
        if ready.is_empty() {
            return done.len() != steps.len();
        }
        done.extend(ready);
    }
}
