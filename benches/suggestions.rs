//! Suggestions measured against hand-checked labels: Chiffon's own rules run over each
//! repository of the labelled corpus (`tests/corpus/findings.toml`), scored per rule and
//! overall, tune and holdout apart; the time of the own rules per repository; the time of an
//! answer from the ansible-lint cache; and ansible-lint's cold time on the largest repository.
//!
//! Run: `CHIFFON_CORPUS=/tmp/corpus cargo bench --bench suggestions` (the corpus is the pinned
//! repositories of `tests/corpus/FINDINGS.md`, extracted as `<owner>+<name>`; without
//! `CHIFFON_CORPUS` it says so and stops). `CHIFFON_BENCH_VERBOSE=1` lists every miss and every
//! `fine` place a rule fired on; `CHIFFON_BENCH_SKIP_LINT=1` skips the ansible-lint cold run.
//! The figures replace the `suggestions` section of docs/benchmarks.md.
//!
//! Scoring (docs/suggestions.md): a diagnostic matches a label with the same repository, file
//! and rule and a line within ±3. Recall = labelled findings matched / labelled findings. The
//! false-positive rate = diagnostics on a `fine` place / (those + true positives): of the
//! diagnostics that land on a labelled place, the share that land on one a person judged fine.

#![allow(clippy::unwrap_used)] // a benchmark should stop loudly on any failure

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Labels {
    finding: Vec<Label>,
    fine: Vec<Label>,
}

#[derive(Debug, Deserialize)]
struct Label {
    id: String,
    repo: String,
    split: String,
    file: String,
    line: usize,
    rule: String,
}

/// Counts for one rule (or all) in one split.
#[derive(Debug, Default, Clone, Copy)]
struct Score {
    findings: usize,
    matched: usize,
    fine_hits: usize,
}

impl Score {
    fn add(&mut self, other: Score) {
        self.findings += other.findings;
        self.matched += other.matched;
        self.fine_hits += other.fine_hits;
    }
    fn recall(&self) -> String {
        if self.findings == 0 {
            "–".to_owned()
        } else {
            format!("{:.2}", self.matched as f64 / self.findings as f64)
        }
    }
    fn fp_rate(&self) -> String {
        let fired = self.fine_hits + self.matched;
        if fired == 0 {
            "–".to_owned()
        } else {
            format!("{:.0} %", 100.0 * self.fine_hits as f64 / fired as f64)
        }
    }
    fn cell(&self) -> String {
        format!(
            "{} ({}/{}) | {} ({} fine)",
            self.recall(),
            self.matched,
            self.findings,
            self.fp_rate(),
            self.fine_hits
        )
    }
}

fn hits(found: &[chiffon::suggest::Suggestion], label: &Label) -> bool {
    found
        .iter()
        .any(|s| s.file == label.file && s.rule == label.rule && s.line.abs_diff(label.line) <= 3)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let Some(corpus) = std::env::var_os("CHIFFON_CORPUS").map(PathBuf::from) else {
        println!(
            "skipped: set CHIFFON_CORPUS to the extracted labelled corpus (tests/corpus/FINDINGS.md says how to get it)"
        );
        return;
    };
    let verbose = std::env::var_os("CHIFFON_BENCH_VERBOSE").is_some();
    let labels_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/findings.toml");
    let labels: Labels = toml::from_str(&std::fs::read_to_string(labels_path).unwrap()).unwrap();
    let mut repos: Vec<String> = labels.finding.iter().map(|l| l.repo.clone()).collect();
    repos.sort();
    repos.dedup();

    // Own rules per repository: findings, and the median of 5 timed runs after a warm-up.
    let mut found = BTreeMap::new();
    let mut timing = Vec::new();
    for repo in &repos {
        let dir = corpus.join(repo.replace('/', "+"));
        assert!(
            dir.is_dir(),
            "{} is missing from CHIFFON_CORPUS",
            dir.display()
        );
        let result = chiffon::suggest::analyse(&dir);
        let times: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(chiffon::suggest::analyse(&dir));
                start.elapsed()
            })
            .collect();
        let files = chiffon::repo::files(&dir, &dir, |_| true).len();
        timing.push((repo.clone(), files, result.len(), median(times)));
        found.insert(repo.clone(), result);
    }

    // Scores per rule and split.
    let mut scores: BTreeMap<(String, String), Score> = BTreeMap::new();
    for label in &labels.finding {
        let score = scores
            .entry((label.rule.clone(), label.split.clone()))
            .or_default();
        score.findings += 1;
        if hits(&found[&label.repo], label) {
            score.matched += 1;
        } else if verbose {
            println!(
                "miss  {} {} {}:{} {}",
                label.split, label.rule, label.repo, label.file, label.line
            );
        }
    }
    for label in &labels.fine {
        let score = scores
            .entry((label.rule.clone(), label.split.clone()))
            .or_default();
        if hits(&found[&label.repo], label) {
            score.fine_hits += 1;
            if verbose {
                println!(
                    "fine! {} {} {}:{} {} ({})",
                    label.split, label.rule, label.repo, label.file, label.line, label.id
                );
            }
        }
    }
    // Diagnostics no label speaks of, per rule: to review by hand, not counted as wrong.
    let mut unlabelled: BTreeMap<String, usize> = BTreeMap::new();
    for (repo, suggestions) in &found {
        for s in suggestions {
            let labelled = labels.finding.iter().chain(&labels.fine).any(|l| {
                &l.repo == repo
                    && l.file == s.file
                    && l.rule == s.rule
                    && l.line.abs_diff(s.line) <= 3
            });
            if !labelled {
                *unlabelled.entry(s.rule.clone()).or_default() += 1;
                if verbose {
                    println!("other {} {}:{} {}", s.rule, repo, s.file, s.line);
                }
            }
        }
    }

    let mut rules: Vec<String> = scores.keys().map(|(r, _)| r.clone()).collect();
    rules.dedup();
    let mut out = String::new();
    out.push_str("| rule | tune: recall (matched/labelled) | tune: false positives | holdout: recall | holdout: false positives | unlabelled diagnostics |\n|---|---|---|---|---|---|\n");
    let (mut tune, mut holdout) = (Score::default(), Score::default());
    for rule in &rules {
        let t = scores
            .get(&(rule.clone(), "tune".into()))
            .copied()
            .unwrap_or_default();
        let h = scores
            .get(&(rule.clone(), "holdout".into()))
            .copied()
            .unwrap_or_default();
        tune.add(t);
        holdout.add(h);
        let _ = writeln!(
            out,
            "| {rule} | {} | {} | {} |",
            t.cell(),
            h.cell(),
            unlabelled.get(rule).unwrap_or(&0)
        );
    }
    let _ = writeln!(
        out,
        "| **all** | {} | {} | {} |",
        tune.cell(),
        holdout.cell(),
        unlabelled.values().sum::<usize>()
    );
    let mut total = tune;
    total.add(holdout);
    let _ = writeln!(
        out,
        "\nOverall (tune + holdout): recall {} ({}/{}), false positives {} ({} of {} labelled places a rule fired on). Targets: recall ≥ 0.8, false positives ≤ 20 %.\n",
        total.recall(),
        total.matched,
        total.findings,
        total.fp_rate(),
        total.fine_hits,
        total.fine_hits + total.matched
    );

    out.push_str(&folding(&labels, &found));

    out.push_str(
        "| repository | files | own findings | own rules (median of 5) |\n|---|--:|--:|--:|\n",
    );
    timing.sort_by_key(|t| std::cmp::Reverse(t.1));
    for (repo, files, count, time) in &timing {
        let _ = writeln!(out, "| {repo} | {files} | {count} | {} |", ms(*time));
    }
    let (largest, largest_files, _, largest_time) = timing[0].clone();
    let _ = writeln!(
        out,
        "\nOwn rules on the largest repository ({largest}, {largest_files} files): {} (target ≤ 100 ms).\n",
        ms(largest_time)
    );

    let largest_dir = corpus.join(largest.replace('/', "+"));
    out.push_str(&cached_and_cold(&largest_dir, &largest));
    let _ = writeln!(
        out,
        "\nReproduce: `CHIFFON_CORPUS=/tmp/corpus cargo bench --bench suggestions` (corpus: tests/corpus/FINDINGS.md)."
    );
    print!("{out}");
    common::update_docs("suggestions", &out);
}

/// What folding does to the answer a person reads: how many findings stay on top (`items`)
/// and how many are folded into groups, and where the labelled findings land. Folding never
/// drops one (recall above is the same either way); it decides what is seen first.
fn folding(labels: &Labels, found: &BTreeMap<String, Vec<chiffon::suggest::Suggestion>>) -> String {
    use chiffon::suggest::Report;
    use chiffon::suggest::report::{LintNote, LintStatus};
    let (mut top, mut folded, mut groups) = (0, 0, 0);
    let (mut labelled_top, mut labelled_folded, mut labelled) = (0, 0, 0);
    for (repo, suggestions) in found {
        let note = LintNote {
            status: LintStatus::NotRun,
            message: String::new(),
            seconds: None,
            cached: false,
        };
        let report = Report::build(suggestions.clone(), None, note, String::new());
        top += report.items.len();
        folded += report.groups.iter().map(|g| g.count).sum::<usize>();
        groups += report.groups.len();
        let grouped: Vec<chiffon::suggest::Suggestion> = report
            .groups
            .iter()
            .flat_map(|g| g.items.iter().cloned())
            .collect();
        for label in labels.finding.iter().filter(|l| &l.repo == repo) {
            labelled += 1;
            if hits(&report.items, label) {
                labelled_top += 1;
            } else if hits(&grouped, label) {
                labelled_folded += 1;
            }
        }
    }
    format!(
        "Folding (what a person reads first, over the {} repositories): {} findings stay on top, {} are folded into {} groups of one rule each (every one still in the answer). Of the {labelled} labelled findings, {labelled_top} are on top and {labelled_folded} folded (the labelled low-severity ones); {} unmatched.\n\n",
        found.len(),
        top,
        folded,
        groups,
        labelled - labelled_top - labelled_folded
    )
}

/// The cached answer on the largest repository, and ansible-lint's cold run there.
fn cached_and_cold(dir: &Path, name: &str) -> String {
    use chiffon::suggest::lint::{DEFAULT_LIMIT, Linter};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let skip = std::env::var_os("CHIFFON_BENCH_SKIP_LINT").is_some();
    let program = (!skip)
        .then(|| chiffon::tools::ansible::find_ansible_lint(None))
        .flatten();
    let mut out = String::new();
    let linter = Linter::new(cache.path().to_owned(), program.clone(), DEFAULT_LIMIT);
    if program.is_some() {
        let start = Instant::now();
        let report = runtime.block_on(linter.report(dir, DEFAULT_LIMIT, &|_| {}));
        let cold = start.elapsed();
        let _ = writeln!(
            out,
            "ansible-lint cold on {name}: {:.1} s ({}: {}; {} findings that matter, {} style findings in {} groups).",
            cold.as_secs_f64(),
            serde_json::to_value(report.lint.status).unwrap(),
            report.lint.message,
            report
                .items
                .iter()
                .filter(|s| s.origin == chiffon::suggest::Origin::AnsibleLint)
                .count(),
            report.groups.iter().map(|g| g.count).sum::<usize>(),
            report.groups.len()
        );
    } else {
        let _ = writeln!(
            out,
            "ansible-lint cold: not measured (not installed, or CHIFFON_BENCH_SKIP_LINT set); the cached answer below is then Chiffon's rules and the tree hash alone."
        );
    }
    let times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let report = runtime.block_on(linter.report(dir, Duration::ZERO, &|_| {}));
            assert!(program.is_none() || report.lint.cached, "{:?}", report.lint);
            start.elapsed()
        })
        .collect();
    let _ = writeln!(
        out,
        "\nCached answer on {name} (own rules + tree hash + cache read, median of 5): {} (target ≤ 1 s).",
        ms(median(times))
    );
    out
}
