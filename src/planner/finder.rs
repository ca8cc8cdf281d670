//! "Which playbook would do this?" (`GET /playbooks/match`, `chiffon playbooks match`)
//! answered by the planner itself, so the finder and a request's plan never disagree: the
//! text is planned exactly as a request would be, and the plan's steps are the answer.

use std::collections::BTreeMap;

use crate::catalogue::Catalogue;
use crate::matcher::{Candidate, Entrypoint, Match, Unit, UnitKind};
use crate::model::{Plan, Step};

/// The finder's answer for `text`: `match` with the playbooks the plan would run, `ambiguous`
/// when the plan asks which one, `none` with the plan's questions as advice. `units` (the
/// repository read as deployable units) only adds detail to a chosen playbook: its images,
/// ports and files, and the matcher's note on how the name was read ("typo of …").
pub fn find(text: &str, catalogue: &Catalogue, units: &[Unit]) -> Match {
    let plan = crate::planner::plan(text, catalogue, &BTreeMap::new(), 1);
    answer_of(&plan, units, text)
}

/// The plan read as a finder's answer.
pub fn answer_of(plan: &Plan, units: &[Unit], text: &str) -> Match {
    let spelled = crate::matcher::find(units, text);
    let mut candidates: Vec<Candidate> = Vec::new();
    for step in &plan.steps {
        let Some(playbook) = &step.playbook else {
            continue;
        };
        let unit = unit_for(step, playbook, units);
        let seen = candidates
            .iter()
            .any(|c| c.unit.path == unit.path && c.unit.entrypoint == unit.entrypoint);
        if seen {
            continue;
        }
        // How the matcher read the name, when it ranked the same unit: "typo of portainer".
        let note = spelled
            .candidates
            .iter()
            .find(|c| c.unit.path == unit.path)
            .map(|c| format!(" ({})", c.why))
            .unwrap_or_default();
        candidates.push(Candidate {
            unit,
            score: 1.0,
            why: format!("the plan for this request: {}{note}", step.title),
        });
    }
    let asks_which = plan
        .open_questions
        .iter()
        .any(|q| q.starts_with("Which") || q.contains("which one"));
    let verdict = match (candidates.is_empty(), plan.open_questions.is_empty()) {
        (false, true) => "match",
        (false, false) => "ambiguous",
        (true, _) if asks_which => "ambiguous",
        (true, _) => "none",
    };
    let advice = match verdict {
        "none" if plan.open_questions.is_empty() => Some(
            "No playbook in this repository does this (custom playbook needed): say which service and what to do with it."
                .to_owned(),
        ),
        "none" => Some(format!(
            "No playbook in this repository does this (custom playbook needed). {}",
            plan.open_questions.join(" ")
        )),
        _ if !plan.open_questions.is_empty() => Some(plan.open_questions.join(" ")),
        _ => None,
    };
    Match {
        verdict: verdict.to_owned(),
        candidates,
        advice,
    }
}

/// The repository's unit a step runs (the playbook with the same tags), or one made from the
/// step for Chiffon's built-in actions and entrypoints the unit list does not name.
fn unit_for(step: &Step, playbook: &str, units: &[Unit]) -> Unit {
    let same = |e: &Entrypoint| e.playbook == playbook && e.tags == step.tags;
    let found = units
        .iter()
        .filter(|u| u.entrypoint.as_ref().is_some_and(same))
        .min_by_key(|u| {
            (
                u.service != step.service.clone().unwrap_or_default(),
                u.kind != UnitKind::Playbook,
            )
        });
    if let Some(unit) = found {
        return unit.clone();
    }
    Unit {
        path: playbook.to_owned(),
        kind: UnitKind::Playbook,
        service: step.service.clone().unwrap_or_default(),
        entrypoint: Some(Entrypoint {
            playbook: playbook.to_owned(),
            hosts: step.limit.clone().unwrap_or_default(),
            tags: step.tags.clone(),
            extra_vars: step
                .extra_vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }),
        images: Vec::new(),
        ports: Vec::new(),
        files: Vec::new(),
        shared: false,
    }
}
