//! The answer a person reads: findings ranked by severity and homelab impact, ansible-lint's
//! style findings folded into one group per rule with a count, the same problem found by a
//! Chiffon rule and an ansible-lint rule shown once, and a note on what ansible-lint did.

use serde::{Deserialize, Serialize};

use crate::suggest::{Origin, Severity, Suggestion};
use crate::tools::ansible::LintFinding;

/// Suggestions for one repository, ready to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Findings that matter, most important first: Chiffon's own and ansible-lint's
    /// non-style findings, each problem once.
    pub items: Vec<Suggestion>,
    /// ansible-lint's style findings (`yaml[…]`, `name[…]`, `jinja[…]`, `fqcn[…]` …), one
    /// group per rule, largest first.
    pub groups: Vec<Group>,
    /// What ansible-lint did for this answer.
    pub lint: LintNote,
    /// The content hash of the repository tree the answer is for.
    pub tree: String,
}

/// Style findings of one ansible-lint rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// `ansible-lint/<check>`.
    pub rule: String,
    pub count: usize,
    pub severity: Severity,
    /// ansible-lint's description of the first one.
    pub message: String,
    /// The first few places, `file:line`.
    pub examples: Vec<String>,
}

/// What ansible-lint did: its status, in words, and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LintNote {
    pub status: LintStatus,
    pub message: String,
    /// Seconds the run took (cached or not); absent while it runs or when it did not.
    pub seconds: Option<f64>,
    /// Whether its findings came from the cache of this repository tree.
    pub cached: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LintStatus {
    /// Its findings are merged in.
    Done,
    /// It runs in the background; ask again for its findings.
    Running,
    /// It failed (its own configuration, a crash); Chiffon's findings stand alone.
    Failed,
    /// It took longer than allowed and was stopped.
    TimedOut,
    /// Not installed (or not asked for).
    NotRun,
}

/// ansible-lint rules about form, not behaviour: folded into groups.
const STYLE: &[&str] = &[
    "yaml",
    "jinja",
    "name",
    "fqcn",
    "key-order",
    "var-naming",
    "no-free-form",
    "role-name",
    "loop-var-prefix",
    "no-tabs",
    "galaxy",
    "meta-incorrect",
    "meta-no-info",
    "meta-no-tags",
    "meta-runtime",
    "schema",
    "no-relative-paths",
    "command-instead-of-shell",
    "command-instead-of-module",
    "literal-compare",
    "empty-string-compare",
    "no-jinja-when",
    "partial-become",
    "risky-octal",
    "sanity",
    "args",
    "syntax-check",
];

fn is_style(check: &str) -> bool {
    let base = check.split('[').next().unwrap_or(check);
    STYLE.contains(&base)
}

/// Chiffon rules and the ansible-lint rules that speak of the same problem.
const TWINS: &[(&str, &str)] = &[
    ("command-not-idempotent", "no-changed-when"),
    ("restart-in-tasks", "no-handler"),
    ("ignore-errors", "ignore-errors"),
    ("deprecated-module", "deprecated-module"),
    ("deprecated-module", "deprecated-local-action"),
];

/// How much a rule's finding costs a homelab when ignored, within its severity: exposure of
/// secrets and the host first, then outages, then drift and tidiness.
fn impact(rule: &str) -> u8 {
    match rule {
        "plaintext-secret" | "default-password" => 10,
        "docker-socket-mount" => 9,
        "admin-ui-exposed" | "privileged-container" | "unconditional-reboot" => 8,
        "unpinned-image" => 7,
        "host-network" | "ignore-errors" | "moving-download" => 6,
        "deprecated-module" | "download-without-checksum" | "no-restart-policy" => 5,
        "command-not-idempotent" | "duplicate-role" => 4,
        "restart-in-tasks" | "no-healthcheck" => 3,
        "untagged-roles" | "toggle-gates-nothing" | "unused-role" => 2,
        "stray-file" => 1,
        _ => 0,
    }
}

fn severity_of(lint: &LintFinding) -> Severity {
    match lint.severity.as_str() {
        "blocker" | "critical" => Severity::High,
        "major" => Severity::Medium,
        _ => Severity::Low,
    }
}

fn to_suggestion(lint: LintFinding) -> Suggestion {
    let file = lint.file.trim_start_matches("./").to_owned();
    let rule = format!("ansible-lint/{}", lint.check);
    let id = format!(
        "{:012x}",
        crate::suggest::findings::fnv(&format!("{rule}\0{file}\0{}\0{}", lint.line, lint.message))
            & 0xffff_ffff_ffff
    );
    Suggestion {
        id,
        rule,
        severity: severity_of(&lint),
        file,
        line: lint.line,
        message: lint.message,
        diff: None,
        origin: Origin::AnsibleLint,
    }
}

/// Adds ansible-lint's findings to `found`, leaving out those a Chiffon rule already reports
/// at the same place (ansible-lint points at a task's first line, Chiffon at the offending
/// key, a few lines further).
pub(crate) fn merge(found: &mut Vec<Suggestion>, lint: Vec<LintFinding>) {
    for finding in lint {
        let file = finding.file.trim_start_matches("./");
        let twin = found.iter().any(|s| {
            s.origin == Origin::Chiffon
                && s.file == file
                && s.line.abs_diff(finding.line) <= 5
                && TWINS.iter().any(|(own, other)| {
                    s.rule == *own && finding.check.split('[').next() == Some(*other)
                })
        });
        if !twin {
            found.push(to_suggestion(finding));
        }
    }
}

impl Report {
    /// Ranks `own` (Chiffon's findings) with ansible-lint's, folding style findings.
    pub fn build(
        own: Vec<Suggestion>,
        lint: Option<Vec<LintFinding>>,
        note: LintNote,
        tree: String,
    ) -> Report {
        let mut items = own;
        let mut groups: Vec<Group> = Vec::new();
        if let Some(lint) = lint {
            let (style, rest): (Vec<_>, Vec<_>) =
                lint.into_iter().partition(|f| is_style(&f.check));
            merge(&mut items, rest);
            for finding in style {
                let rule = format!("ansible-lint/{}", finding.check);
                let place = format!("{}:{}", finding.file.trim_start_matches("./"), finding.line);
                match groups.iter_mut().find(|g| g.rule == rule) {
                    Some(group) => {
                        group.count += 1;
                        if group.examples.len() < 5 {
                            group.examples.push(place);
                        }
                    }
                    None => groups.push(Group {
                        rule,
                        count: 1,
                        severity: severity_of(&finding),
                        message: finding.message,
                        examples: vec![place],
                    }),
                }
            }
        }
        items.sort_by(|a, b| {
            (
                b.severity,
                impact(&b.rule),
                a.origin == Origin::AnsibleLint,
                &a.file,
                a.line,
            )
                .cmp(&(
                    a.severity,
                    impact(&a.rule),
                    b.origin == Origin::AnsibleLint,
                    &b.file,
                    b.line,
                ))
        });
        groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.cmp(&b.rule)));
        Report {
            items,
            groups,
            lint: note,
            tree,
        }
    }
}
