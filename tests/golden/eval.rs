//! The planner's golden set (`planner.toml` beside this file): reading it, planning each case
//! against its repository with the history the case names, and telling, in words, where a
//! plan differs from the expected shape. Shared by `tests/chiffon/golden.rs` (fails on a
//! regression) and `benches/planner.rs` (latency and accuracy per category).

use std::collections::BTreeMap;
use std::path::Path;

use chiffon::catalogue::Catalogue;
use chiffon::model::Plan;
use chiffon::planner::PlaybookHistory;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoldenSet {
    case: Vec<Case>,
}

/// One request and the plan a careful SRE expects for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub text: String,
    pub category: String,
    #[serde(default)]
    pub steps: Vec<ExpectedStep>,
    /// Substrings one open question must contain; empty means no question may be asked.
    #[serde(default)]
    pub question: Vec<String>,
    pub risk: Option<String>,
    pub risk_reason: Option<String>,
    /// `ran` (default) or `none`.
    pub history: Option<String>,
    #[serde(default)]
    pub failed: Vec<String>,
    /// A fixture under tests/fixtures/, else the example homelab.
    pub repo: Option<String>,
    /// Why the planner cannot meet the expectation yet.
    pub known_miss: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedStep {
    pub playbook: String,
    pub action: String,
    /// 1-based numbers of the steps this one depends on.
    #[serde(default)]
    pub after: Vec<usize>,
    pub limit: Option<String>,
    #[serde(default)]
    pub gpu_vram_gb: f64,
    pub agent: Option<String>,
}

/// A case ready to plan: its repository's catalogue and the history it names.
#[derive(Debug)]
pub struct Prepared {
    pub case: Case,
    pub repo: String,
    pub history: BTreeMap<String, PlaybookHistory>,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Reads the golden set, each case's catalogue (once per repository) and history.
pub fn load() -> (Vec<Prepared>, BTreeMap<String, Catalogue>) {
    let text = std::fs::read_to_string(root().join("tests/golden/planner.toml"))
        .expect("read tests/golden/planner.toml");
    let set: GoldenSet = toml::from_str(&text).expect("tests/golden/planner.toml is valid");
    let mut catalogues = BTreeMap::new();
    let mut prepared = Vec::new();
    for case in set.case {
        let repo = case.repo.clone().unwrap_or_else(|| "example".to_owned());
        let catalogue = catalogues.entry(repo.clone()).or_insert_with(|| {
            let path = match repo.as_str() {
                "example" => root().join("examples/homelab-infra"),
                fixture => root().join("tests/fixtures").join(fixture),
            };
            Catalogue::discover(&path).expect("discover the golden set's repository")
        });
        let mut history = BTreeMap::new();
        if case.history.as_deref().unwrap_or("ran") == "ran" {
            for playbook in &catalogue.playbooks {
                history.insert(
                    playbook.path.clone(),
                    PlaybookHistory {
                        durations_s: vec![12.0, 9.0, 15.0],
                        last_failed: case.failed.contains(&playbook.path),
                        runs: 3,
                    },
                );
            }
        } else {
            assert_eq!(case.history.as_deref(), Some("none"), "{case:?}");
        }
        prepared.push(Prepared {
            case,
            repo,
            history,
        });
    }
    (prepared, catalogues)
}

fn step_line(
    playbook: &str,
    action: &str,
    after: &[usize],
    limit: Option<&str>,
    vram: f64,
    agent: &str,
) -> String {
    format!(
        "{action} {playbook} after {after:?} limit {} vram {vram} on {agent}",
        limit.unwrap_or("-")
    )
}

/// What differs between `plan` and the case's expectation, one line each; empty when it fits.
pub fn differences(case: &Case, plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    let expected: Vec<String> = case
        .steps
        .iter()
        .map(|s| {
            step_line(
                &s.playbook,
                &s.action,
                &s.after,
                s.limit.as_deref(),
                s.gpu_vram_gb,
                s.agent.as_deref().unwrap_or("infra"),
            )
        })
        .collect();
    let got: Vec<String> = plan
        .steps
        .iter()
        .map(|s| {
            let after: Vec<usize> = s
                .depends_on
                .iter()
                .map(|d| {
                    plan.steps
                        .iter()
                        .position(|o| &o.id == d)
                        .map_or(0, |i| i + 1)
                })
                .collect();
            step_line(
                s.playbook.as_deref().unwrap_or("(no playbook)"),
                &s.action,
                &after,
                s.limit.as_deref(),
                s.resources.gpu_vram_gb,
                s.agent_type.as_str(),
            )
        })
        .collect();
    if expected != got {
        out.push(format!(
            "steps: expected {expected:#?}\n       got {got:#?}"
        ));
    }
    if case.question.is_empty() {
        if !plan.open_questions.is_empty() {
            out.push(format!("unexpected questions: {:?}", plan.open_questions));
        }
    } else if !plan
        .open_questions
        .iter()
        .any(|q| case.question.iter().all(|want| q.contains(want.as_str())))
    {
        out.push(format!(
            "no question containing {:?}; questions: {:?}",
            case.question, plan.open_questions
        ));
    }
    if let Some(risk) = &case.risk
        && plan.risk.level.as_str() != risk
    {
        out.push(format!(
            "risk: expected {risk}, got {} ({:?})",
            plan.risk.level, plan.risk.reasons
        ));
    }
    if let Some(reason) = &case.risk_reason
        && !plan
            .risk
            .reasons
            .iter()
            .any(|r| r.contains(reason.as_str()))
    {
        out.push(format!(
            "no risk reason containing {reason:?}; reasons: {:?}",
            plan.risk.reasons
        ));
    }
    if !plan.approval_required {
        out.push("the plan does not require approval".to_owned());
    }
    out
}

/// Cases and passes per category.
#[derive(Debug, Default)]
pub struct Tally {
    pub cases: usize,
    pub passed: usize,
    pub known_misses: usize,
}

/// Per-category accuracy as a Markdown table.
pub fn accuracy_table(tallies: &BTreeMap<String, Tally>) -> String {
    let mut out = String::from(
        "| category | cases | pass | accuracy | known misses |\n|---|---:|---:|---:|---:|\n",
    );
    let (mut cases, mut passed, mut known) = (0, 0, 0);
    for (category, t) in tallies {
        out.push_str(&format!(
            "| {category} | {} | {} | {:.0}% | {} |\n",
            t.cases,
            t.passed,
            100.0 * t.passed as f64 / t.cases.max(1) as f64,
            t.known_misses
        ));
        cases += t.cases;
        passed += t.passed;
        known += t.known_misses;
    }
    out.push_str(&format!(
        "| **all** | {cases} | {passed} | {:.1}% | {known} |\n",
        100.0 * passed as f64 / cases.max(1) as f64
    ));
    out
}
