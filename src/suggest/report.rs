//! The answer a person reads: findings ranked by severity and homelab impact, ansible-lint's
//! style findings and Chiffon's own low-severity findings folded into one group per rule with
//! a count, the same problem found by a Chiffon rule and an ansible-lint rule shown once, and
//! a note on what ansible-lint did.

use serde::{Deserialize, Serialize};

use crate::suggest::{Origin, Severity, Suggestion};
use crate::tools::ansible::LintFinding;

/// Suggestions for one repository, ready to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Findings that matter, most important first: Chiffon's own medium and high findings and
    /// ansible-lint's non-style findings, each problem once.
    pub items: Vec<Suggestion>,
    /// Folded, one group per rule: Chiffon's own low-severity findings (every one kept in the
    /// group, so each can still be applied), then ansible-lint's style findings (`yaml[…]`,
    /// `name[…]`, `jinja[…]`, `fqcn[…]` …, a few places each); largest first within each.
    pub groups: Vec<Group>,
    /// What ansible-lint did for this answer.
    pub lint: LintNote,
    /// The content hash of the repository tree the answer is for.
    pub tree: String,
}

/// The folded findings of one rule: Chiffon's own low-severity ones, or ansible-lint's style
/// findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The rule: Chiffon's name, or `ansible-lint/<check>`.
    pub rule: String,
    pub count: usize,
    pub severity: Severity,
    /// What the rule finds and why it matters (ansible-lint's description of the first one).
    pub message: String,
    /// The first few places, `file:line`.
    pub examples: Vec<String>,
    /// Whose rule it is.
    #[serde(default)]
    pub origin: Origin,
    /// Every finding folded here, for Chiffon's groups (each with its id and diff, so it can
    /// be applied like any item); empty for ansible-lint's, whose examples stand for them.
    #[serde(default)]
    pub items: Vec<Suggestion>,
}

/// Places named in a group.
const EXAMPLES: usize = 5;

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

/// What a folded rule of Chiffon's own finds, in one sentence, for its group.
fn summary(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "no-healthcheck" => {
            "Containers without a healthcheck: Docker reports them running while the app is stuck, and nothing can wait until they are ready."
        }
        "restart-in-tasks" => {
            "Services restarted by a task, so every run restarts them instead of a handler doing it once when something changed."
        }
        "download-without-checksum" => {
            "Downloads without a checksum: a tampered or truncated file is installed without a word."
        }
        "untagged-roles" => {
            "Plays whose roles carry no tags, so one service cannot be deployed or fixed alone."
        }
        "toggle-gates-nothing" => {
            "On/off switches no task, template or condition reads: whoever flips one believes something changes."
        }
        "unused-role" => "Roles no play uses: never run, they drift and mislead.",
        "stray-file" => {
            "Editor copies and backups Ansible never loads: they drift and may hold old secrets."
        }
        _ => return None,
    })
}

/// Folds `found` into groups of its rule: one per rule, in the order first met.
fn fold(groups: &mut Vec<Group>, found: Vec<Suggestion>) {
    for suggestion in found {
        let place = format!("{}:{}", suggestion.file, suggestion.line);
        let at = match groups.iter().position(|g| g.rule == suggestion.rule) {
            Some(at) => at,
            None => {
                groups.push(Group {
                    rule: suggestion.rule.clone(),
                    count: 0,
                    severity: suggestion.severity,
                    message: summary(&suggestion.rule)
                        .map_or_else(|| suggestion.message.clone(), str::to_owned),
                    examples: Vec::new(),
                    origin: suggestion.origin,
                    items: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[at];
        group.count += 1;
        if group.examples.len() < EXAMPLES {
            group.examples.push(place);
        }
        if suggestion.origin == Origin::Chiffon {
            group.items.push(suggestion);
        }
    }
}

/// The order items are shown in: severity, then homelab impact, Chiffon's before
/// ansible-lint's, then place.
fn rank(items: &mut [Suggestion]) {
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
    /// Ranks `own` (Chiffon's findings) with ansible-lint's, folding Chiffon's low-severity
    /// findings and ansible-lint's style findings into groups per rule.
    pub fn build(
        own: Vec<Suggestion>,
        lint: Option<Vec<LintFinding>>,
        note: LintNote,
        tree: String,
    ) -> Report {
        let mut items = own;
        let mut style = Vec::new();
        if let Some(lint) = lint {
            let (folded, rest): (Vec<_>, Vec<_>) =
                lint.into_iter().partition(|f| is_style(&f.check));
            merge(&mut items, rest);
            style = folded.into_iter().map(to_suggestion).collect();
        }
        // Low-severity findings of Chiffon's own rules are many on a real repository (every
        // container without a healthcheck): folded, so the top stays what matters.
        let (low, mut items): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|s| s.origin == Origin::Chiffon && s.severity == Severity::Low);
        rank(&mut items);
        let mut low = low;
        rank(&mut low);
        let mut groups = Vec::new();
        fold(&mut groups, low);
        let own_groups = groups.len();
        fold(&mut groups, style);
        groups[..own_groups].sort_by(|a, b| {
            (b.severity, b.count, impact(&b.rule))
                .cmp(&(a.severity, a.count, impact(&a.rule)))
                .then_with(|| a.rule.cmp(&b.rule))
        });
        groups[own_groups..]
            .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.rule.cmp(&b.rule)));
        Report {
            items,
            groups,
            lint: note,
            tree,
        }
    }

    /// Every finding, items and folded ones of Chiffon's groups alike, in ranking order.
    pub fn all(&self) -> impl Iterator<Item = &Suggestion> {
        self.items
            .iter()
            .chain(self.groups.iter().flat_map(|g| g.items.iter()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(rule: &str, file: &str, line: usize, severity: Severity) -> Suggestion {
        Suggestion {
            id: format!("{rule}-{file}-{line}"),
            rule: rule.to_owned(),
            file: file.to_owned(),
            line,
            severity,
            message: format!("{rule} at {file}:{line}"),
            diff: Some(format!("--- a/{file}\n+++ b/{file}\n")),
            origin: Origin::Chiffon,
        }
    }

    fn lint(check: &str, file: &str, line: usize) -> LintFinding {
        LintFinding {
            check: check.to_owned(),
            file: format!("./{file}"),
            line,
            severity: "minor".to_owned(),
            message: format!("{check} says so"),
        }
    }

    fn note() -> LintNote {
        LintNote {
            status: LintStatus::Done,
            message: "done".to_owned(),
            seconds: Some(1.0),
            cached: true,
        }
    }

    #[test]
    fn low_severity_findings_fold_into_one_group_per_rule_and_keep_every_finding() {
        let own = vec![
            found("no-healthcheck", "stacks/a/compose.yml", 2, Severity::Low),
            found("stray-file", "old.yml.bak", 1, Severity::Low),
            found("no-healthcheck", "stacks/b/compose.yml", 2, Severity::Low),
            found(
                "admin-ui-exposed",
                "stacks/a/compose.yml",
                7,
                Severity::Medium,
            ),
            found("no-healthcheck", "stacks/c/compose.yml", 2, Severity::Low),
            found(
                "plaintext-secret",
                "stacks/b/compose.yml",
                5,
                Severity::High,
            ),
        ];
        let report = Report::build(own, None, note(), "tree".to_owned());
        let items: Vec<&str> = report.items.iter().map(|s| s.rule.as_str()).collect();
        assert_eq!(
            items,
            ["plaintext-secret", "admin-ui-exposed"],
            "only what matters on top"
        );
        let groups: Vec<(&str, usize)> = report
            .groups
            .iter()
            .map(|g| (g.rule.as_str(), g.count))
            .collect();
        assert_eq!(
            groups,
            [("no-healthcheck", 3), ("stray-file", 1)],
            "largest first"
        );
        let health = &report.groups[0];
        assert_eq!(health.origin, Origin::Chiffon);
        assert_eq!(health.severity, Severity::Low);
        assert!(
            health
                .message
                .starts_with("Containers without a healthcheck"),
            "{health:?}"
        );
        assert_eq!(
            health.examples,
            [
                "stacks/a/compose.yml:2",
                "stacks/b/compose.yml:2",
                "stacks/c/compose.yml:2"
            ]
        );
        // Folded, not dropped: each keeps its id and diff, so it can still be applied.
        assert_eq!(health.items.len(), 3);
        assert!(health.items.iter().all(|s| s.diff.is_some()));
        assert_eq!(report.all().count(), 6);
    }

    #[test]
    fn many_findings_of_one_rule_name_a_few_places_but_count_them_all() {
        let own = (1..=40)
            .map(|n| {
                found(
                    "no-healthcheck",
                    &format!("stacks/s{n}/compose.yml"),
                    2,
                    Severity::Low,
                )
            })
            .collect();
        let report = Report::build(own, None, note(), "tree".to_owned());
        assert!(report.items.is_empty());
        assert_eq!(report.groups.len(), 1);
        assert_eq!(report.groups[0].count, 40);
        assert_eq!(report.groups[0].examples.len(), EXAMPLES);
        assert_eq!(report.groups[0].items.len(), 40);
    }

    #[test]
    fn ansible_lint_style_groups_come_after_chiffon_groups_with_places_only() {
        let own = vec![
            found(
                "command-not-idempotent",
                "roles/a/tasks/main.yml",
                4,
                Severity::Medium,
            ),
            found("unused-role", "roles/b/tasks/main.yml", 1, Severity::Low),
        ];
        let mut from_lint: Vec<LintFinding> = (1..=7)
            .map(|n| lint("yaml[line-length]", "site.yml", n))
            .collect();
        // ansible-lint's twin of Chiffon's finding two lines above it: shown once, as Chiffon's.
        from_lint.push(lint("no-changed-when", "roles/a/tasks/main.yml", 2));
        from_lint.push(lint("risky-file-permissions", "roles/a/tasks/main.yml", 9));
        let report = Report::build(own, Some(from_lint), note(), "tree".to_owned());
        let items: Vec<&str> = report.items.iter().map(|s| s.rule.as_str()).collect();
        assert_eq!(
            items,
            [
                "command-not-idempotent",
                "ansible-lint/risky-file-permissions"
            ]
        );
        let groups: Vec<(&str, usize, Origin, usize)> = report
            .groups
            .iter()
            .map(|g| (g.rule.as_str(), g.count, g.origin, g.items.len()))
            .collect();
        assert_eq!(
            groups,
            [
                ("unused-role", 1, Origin::Chiffon, 1),
                ("ansible-lint/yaml[line-length]", 7, Origin::AnsibleLint, 0),
            ]
        );
        assert_eq!(report.groups[1].examples[0], "site.yml:1");
        assert_eq!(report.groups[1].examples.len(), EXAMPLES);
    }

    #[test]
    fn items_rank_by_severity_then_what_they_cost_a_homelab() {
        let own = vec![
            found("no-restart-policy", "a/compose.yml", 1, Severity::Medium),
            found("unpinned-image", "a/compose.yml", 3, Severity::High),
            found("admin-ui-exposed", "a/compose.yml", 9, Severity::Medium),
            found("docker-socket-mount", "b/compose.yml", 9, Severity::High),
        ];
        let report = Report::build(own, None, note(), "tree".to_owned());
        let items: Vec<&str> = report.items.iter().map(|s| s.rule.as_str()).collect();
        assert_eq!(
            items,
            [
                "docker-socket-mount",
                "unpinned-image",
                "admin-ui-exposed",
                "no-restart-policy"
            ]
        );
    }
}
