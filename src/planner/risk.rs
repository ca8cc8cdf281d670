//! Estimates and risk: how long a step and a plan take (the median of past runs, else a
//! default per action, along the critical path) and the plan's risk level with its reasons.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalogue::{Catalogue, Playbook};
use crate::model::{Risk, RiskLevel, Step};
use crate::planner::{DEFAULT_DURATION_S, MANY_HOSTS, PlaybookHistory};
/// A playbook's estimate: the median of its recent successful runs, else the default for
/// its action.
pub(crate) fn estimate(playbook: &Playbook, history: &BTreeMap<String, PlaybookHistory>) -> u64 {
    let past = history
        .get(&playbook.path)
        .map(|h| h.durations_s.as_slice())
        .unwrap_or_default();
    if past.is_empty() {
        return DEFAULT_DURATION_S
            .iter()
            .find(|(a, _)| *a == playbook.action)
            .map_or(60, |(_, s)| *s);
    }
    let mut sorted = past.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    median.ceil().max(1.0) as u64
}

/// The longest chain of estimates through the DAG.
pub(crate) fn critical_path_s(steps: &[Step]) -> u64 {
    let mut finish: BTreeMap<&str, u64> = BTreeMap::new();
    for _ in 0..steps.len() {
        for step in steps {
            let start = step
                .depends_on
                .iter()
                .filter_map(|d| finish.get(d.as_str()))
                .max()
                .copied()
                .unwrap_or(0);
            finish.insert(&step.id, start + step.estimated_duration_s);
        }
    }
    finish.values().max().copied().unwrap_or(0)
}

/// Applies the documented risk rules (docs/planner.md); every rule that fires adds its reason.
pub(crate) fn assess_risk(
    steps: &[Step],
    catalogue: &Catalogue,
    history: &BTreeMap<String, PlaybookHistory>,
) -> Risk {
    let mut level = RiskLevel::Low;
    let mut reasons = Vec::new();
    let mut raise = |to: RiskLevel, reason: String, level: &mut RiskLevel| {
        if (to as u8) > (*level as u8) {
            *level = to;
        }
        reasons.push(reason);
    };
    let production = catalogue
        .groups
        .get("production")
        .cloned()
        .unwrap_or_default();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for step in steps {
        let Some(path) = &step.playbook else { continue };
        let Some(playbook) = catalogue.playbooks.iter().find(|p| &p.path == path) else {
            continue;
        };
        let mut hosts: BTreeSet<String> = playbook
            .hosts
            .iter()
            .flat_map(|pattern| catalogue.resolve_hosts(pattern))
            .collect();
        if let Some(limit) = &step.limit {
            let limited = catalogue.resolve_hosts(limit);
            hosts.retain(|h| limited.contains(h));
        }
        touched.extend(hosts.iter().cloned());
        if step.action == "remove" {
            raise(
                RiskLevel::High,
                format!("{}: removing a service can lose its data", step.title),
                &mut level,
            );
        }
        match history.get(path) {
            None => raise(
                RiskLevel::Medium,
                format!("{path} has never run through Chiffon"),
                &mut level,
            ),
            Some(h) if h.runs == 0 => raise(
                RiskLevel::Medium,
                format!("{path} has never run through Chiffon"),
                &mut level,
            ),
            Some(h) if h.last_failed => raise(
                RiskLevel::Medium,
                format!("{path} failed the last time it ran"),
                &mut level,
            ),
            Some(_) => {}
        }
    }
    let in_production: Vec<&String> = touched.iter().filter(|h| production.contains(*h)).collect();
    if !in_production.is_empty() {
        let names: Vec<&str> = in_production.iter().map(|h| h.as_str()).collect();
        raise(
            RiskLevel::Medium,
            format!(
                "changes hosts in the production group: {}",
                names.join(", ")
            ),
            &mut level,
        );
    }
    if touched.len() > MANY_HOSTS {
        raise(
            RiskLevel::Medium,
            format!("touches {} hosts", touched.len()),
            &mut level,
        );
    }
    if reasons.is_empty() && !steps.is_empty() {
        reasons.push(
            "every playbook has run successfully before and no production host is touched"
                .to_owned(),
        );
    }
    Risk { level, reasons }
}
