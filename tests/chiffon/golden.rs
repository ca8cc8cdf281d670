//! The planner's golden set (`tests/golden/planner.toml`): every request is planned against the
//! real example catalogue (or the fixture it names) and its plan's shape compared with what a
//! careful SRE expects: steps, playbooks, order, dependencies, limits, GPU needs, open
//! questions and risk. Prints the accuracy per category; fails with a per-case diff on any
//! miss not recorded as known, and when a recorded known miss starts passing (so the record
//! stays true).

#[path = "../golden/eval.rs"]
mod eval;

use std::collections::BTreeMap;

#[test]
fn the_planner_meets_the_golden_set() {
    let (cases, catalogues) = eval::load();
    let mut tallies: BTreeMap<String, eval::Tally> = BTreeMap::new();
    let (mut regressions, mut known, mut fixed) = (Vec::new(), Vec::new(), Vec::new());
    for prepared in &cases {
        let case = &prepared.case;
        assert!(
            case.steps.is_empty() || case.risk.is_some(),
            "a case with steps names its risk: {case:?}"
        );
        let plan = chiffon::planner::plan(
            &case.text,
            &catalogues[&prepared.repo],
            &prepared.history,
            1,
        );
        let diff = eval::differences(case, &plan);
        let tally = tallies.entry(case.category.clone()).or_default();
        tally.cases += 1;
        tally.passed += usize::from(diff.is_empty());
        let name = format!("[{}] {:?} ({})", case.category, case.text, prepared.repo);
        match (&case.known_miss, diff.is_empty()) {
            (Some(why), false) => {
                tally.known_misses += 1;
                known.push(format!("{name}: {why}"));
            }
            (Some(_), true) => fixed.push(name),
            (None, false) => regressions.push(format!("{name}\n  {}", diff.join("\n  "))),
            (None, true) => {}
        }
    }
    eprintln!(
        "golden set: {} requests\n{}",
        cases.len(),
        eval::accuracy_table(&tallies)
    );
    if !known.is_empty() {
        eprintln!("known misses:\n  {}", known.join("\n  "));
    }
    assert!(
        cases.len() >= 60,
        "the golden set has {} cases",
        cases.len()
    );
    assert!(
        fixed.is_empty(),
        "these known misses pass now; drop their `known_miss`:\n  {}",
        fixed.join("\n  ")
    );
    assert!(
        regressions.is_empty(),
        "{} of {} cases miss their expected plan:\n{}",
        regressions.len(),
        cases.len(),
        regressions.join("\n")
    );
}
