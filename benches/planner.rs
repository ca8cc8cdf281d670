//! Deterministic plan latency over the golden set (`tests/golden/planner.toml`), and the
//! golden set's accuracy per category, in the same run. Every case is planned against its
//! repository's catalogue (read once, as the orchestrator keeps it) with the history the case
//! names; a warm-up round comes first, then every case is timed on its own, many rounds over.
//!
//! Run: `cargo bench --bench planner` (`CHIFFON_PLANNER_ROUNDS`, default 300). The figures
//! replace the `planner` section of docs/benchmarks.md. Targets (PRODUCT.md §4): p50 ≤ 5 ms,
//! p99 ≤ 20 ms; no baseline is named, so the figures are reported against the targets.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;
#[path = "../tests/golden/eval.rs"]
mod eval;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let rounds: usize = std::env::var("CHIFFON_PLANNER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let (cases, catalogues) = eval::load();
    let plan = |prepared: &eval::Prepared| {
        chiffon::planner::plan(
            &prepared.case.text,
            &catalogues[&prepared.repo],
            &prepared.history,
            1,
        )
    };

    // Accuracy, and a warm-up round.
    let mut tallies: BTreeMap<String, eval::Tally> = BTreeMap::new();
    for prepared in &cases {
        let passed = eval::differences(&prepared.case, &plan(prepared)).is_empty();
        let tally = tallies.entry(prepared.case.category.clone()).or_default();
        tally.cases += 1;
        tally.passed += usize::from(passed);
        tally.known_misses += usize::from(!passed && prepared.case.known_miss.is_some());
    }
    for _ in 0..5 {
        for prepared in &cases {
            std::hint::black_box(plan(prepared));
        }
    }

    let mut samples = Vec::with_capacity(rounds * cases.len());
    let mut slowest = (Duration::ZERO, String::new());
    for _ in 0..rounds {
        for prepared in &cases {
            let started = Instant::now();
            std::hint::black_box(plan(prepared));
            let took = started.elapsed();
            if took > slowest.0 {
                slowest = (took, prepared.case.text.clone());
            }
            samples.push(took);
        }
    }
    samples.sort();
    let (p50, p99) = (percentile(&samples, 50.0), percentile(&samples, 99.0));
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let verdict = |value: Duration, target_ms: f64| {
        let ratio = value.as_secs_f64() * 1000.0 / target_ms;
        format!(
            "{:.4}× the target, {}",
            ratio,
            if ratio <= 1.0 { "met" } else { "MISSED" }
        )
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let section = format!(
        "## Deterministic planner over the golden set (`cargo bench --bench planner`)\n\n\
         {} requests from `tests/golden/planner.toml`, each planned {rounds} times after a \
         warm-up ({} timed plans), release build, one thread, on {cpu} ({} cores, shared with \
         other work). Catalogues are read once beforehand, as the orchestrator keeps them.\n\n\
         | figure | value | target |\n|---|---:|---|\n\
         | p50 | {} | ≤ 5 ms: {} |\n\
         | p99 | {} | ≤ 20 ms: {} |\n\
         | mean | {} | |\n\
         | slowest | {} ({:?}) | |\n\n\
         Accuracy per category (a case passes when its plan has the expected steps, playbooks, \
         order, dependencies, limits, GPU needs, open questions and risk):\n\n{}\n",
        cases.len(),
        samples.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        ms(p50),
        verdict(p50, 5.0),
        ms(p99),
        verdict(p99, 20.0),
        ms(mean),
        ms(slowest.0),
        slowest.1,
        eval::accuracy_table(&tallies),
    );
    print!("{section}");
    common::update_docs("planner", &section);
}
