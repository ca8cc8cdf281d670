//! How the CLI shows plans, live progress and summaries: plain text a person reads in under a
//! minute, with the ids they need for the next command.

use std::fmt::Write;

use crate::api::{
    AgentView, AuditView, LiveEvent, Match, QueueView, RequestView, ResourceTotals, Severity,
    Suggestion, TaskView, Unit,
};
use crate::model::{RequestStatus, Task, TaskStatus};

/// `95` → `1m 35s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 60.0 {
        format!("{}s", s.round() as u64)
    } else if s < 3600.0 {
        let s = s.round() as u64;
        format!("{}m {}s", s / 60, s % 60)
    } else {
        let s = s.round() as u64;
        format!("{}h {}m", s / 3600, (s % 3600) / 60)
    }
}

/// A request's status in the words the web page uses too.
pub fn status_word(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::AwaitingApproval => "awaiting approval",
        RequestStatus::Approved => "approved",
        RequestStatus::Running => "running",
        RequestStatus::Paused => "paused",
        RequestStatus::Succeeded => "succeeded",
        RequestStatus::Failed => "failed",
        RequestStatus::Aborted => "aborted",
        RequestStatus::Rejected => "rejected",
    }
}

/// Where a request stands, in words: "done with warnings" for a succeeded run that warned.
fn ended_words(view: &RequestView) -> &'static str {
    match view.outcome.as_deref() {
        Some("succeeded_with_warnings") => "done with warnings",
        _ => status_word(view.request.status),
    }
}

/// Who made a plan, in the words the web page uses (`PLANNER_WORDS` in `assets/ui/chat.js`).
pub fn planner_words(planner: &str) -> String {
    if planner == "deterministic" || planner == "rules" {
        "Chiffon's built-in rules (no AI)".to_owned()
    } else if planner.starts_with("llm") || planner.contains("model") {
        format!("an AI model ({planner}), checked by Chiffon's rules")
    } else {
        planner.to_owned()
    }
}

/// What plan `current` changed from `previous`: steps removed and added (by what they run),
/// and in a step kept, the particulars that went and came ("Removed: Ollama (http://…)").
pub fn version_changes(previous: &crate::model::Plan, current: &crate::model::Plan) -> String {
    let key = |s: &crate::model::Step| (s.playbook.clone(), s.limit.clone(), s.tags.clone());
    let mut lines = Vec::new();
    for old in &previous.steps {
        match current.steps.iter().find(|s| key(s) == key(old)) {
            None => lines.push(format!("Removed: {}", old.title)),
            Some(new) => {
                for detail in old.details.iter().filter(|d| !new.details.contains(d)) {
                    lines.push(format!("Removed: {detail}"));
                }
                for detail in new.details.iter().filter(|d| !old.details.contains(d)) {
                    lines.push(format!("Added: {detail}"));
                }
            }
        }
    }
    for new in &current.steps {
        if !previous.steps.iter().any(|s| key(s) == key(new)) {
            lines.push(format!("Added: {}", new.title));
        }
    }
    let mut out = format!("\nWhat changed from v{}:\n", previous.version);
    if lines.is_empty() {
        out.push_str("  the same steps; only their details differ\n");
    }
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// A step's status in words: `succeeded with warnings` when its run warned.
fn step_status_words(step: &crate::model::Step) -> String {
    if step.status == "succeeded" && !step.warnings.is_empty() {
        "succeeded with warnings".to_owned()
    } else {
        step.status.replace('_', " ")
    }
}

/// The request and its plan, numbered, with risk and what to do next.
pub fn plan(view: &RequestView) -> String {
    let request = &view.request;
    let plan = &request.plan;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Request {}  [{}]",
        request.id,
        if view.needs_answer && request.status == RequestStatus::AwaitingApproval {
            "needs your answer"
        } else {
            ended_words(view)
        }
    );
    let _ = writeln!(out, "  \"{}\"", request.text);
    let _ = writeln!(out);
    let steps = plan.steps.len();
    let _ = writeln!(
        out,
        "Plan v{}: {} step{}, about {}. Made by {}.",
        plan.version,
        steps,
        if steps == 1 { "" } else { "s" },
        duration(plan.estimated_duration_s as f64),
        planner_words(&plan.planner)
    );
    if let Some(routing) = view
        .routing
        .as_ref()
        .filter(|r| r.reason_code != "no_llm_configured")
    {
        let why = match &routing.fallback_reason {
            Some(fallback) => format!("{}; fell back to the rules: {fallback}", routing.reason),
            None => routing.reason.clone(),
        };
        let _ = writeln!(
            out,
            "  planned by {} ({}: {why})",
            routing.planner, routing.reason_code
        );
    }
    if let Some(change) = view
        .decisions
        .iter()
        .rev()
        .find(|d| d.kind == "modified" && d.plan_version == plan.version)
    {
        let _ = writeln!(
            out,
            "  changed by {}: \"{}\"",
            change.actor,
            change.reason.as_deref().unwrap_or_default()
        );
    }
    let number = |id: &str| {
        plan.steps
            .iter()
            .position(|s| s.id == id)
            .map_or_else(|| id.to_owned(), |i| (i + 1).to_string())
    };
    for (index, step) in plan.steps.iter().enumerate() {
        let _ = writeln!(out, "  {}. {}", index + 1, step.title);
        for detail in &step.details {
            // A multi-line detail (a pin change's diff) keeps its lines, indented under it.
            let mut lines = detail.lines();
            let _ = writeln!(out, "     - {}", lines.next().unwrap_or_default());
            for line in lines {
                let _ = writeln!(out, "       {line}");
            }
        }
        let _ = writeln!(
            out,
            "     runs:       {} on the {} agent{}",
            step.playbook.as_deref().unwrap_or("(no playbook)"),
            step.agent_type,
            step.limit
                .as_ref()
                .map(|l| format!(", limited to {l}"))
                .unwrap_or_default()
        );
        let deps = if step.depends_on.is_empty() {
            "nothing".to_owned()
        } else {
            step.depends_on
                .iter()
                .map(|d| format!("step {}", number(d)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(out, "     depends on: {deps}");
        let mut resources = format!(
            "{} CPU core{}",
            step.resources.cpu_cores,
            if step.resources.cpu_cores == 1.0 {
                ""
            } else {
                "s"
            }
        );
        if step.resources.gpu_vram_gb > 0.0 {
            let _ = write!(resources, ", {} GB GPU memory", step.resources.gpu_vram_gb);
        }
        let _ = writeln!(
            out,
            "     estimate:   {}   resources: {resources}",
            duration(step.estimated_duration_s as f64)
        );
        if step.status != "pending" {
            let _ = writeln!(out, "     status:     {}", step_status_words(step));
            for warning in &step.warnings {
                let _ = writeln!(out, "     ⚠ {warning}");
            }
        }
    }
    let _ = writeln!(out, "\nRisk: {}", plan.risk.level.as_str().to_uppercase());
    for reason in &plan.risk.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    if request.status == RequestStatus::AwaitingApproval {
        if plan.needs_answer() {
            out.push_str(&crate::client::questions::open(view));
            if plan.open_questions.is_empty() {
                let _ = writeln!(
                    out,
                    "\nNeeds your answer: the plan has no step. Say what you mean:\n  chiffon modify {} \"…\"",
                    request.id
                );
            }
        } else {
            let _ = writeln!(
                out,
                "\nApproval needed. Nothing runs until you approve this plan:"
            );
            let _ = writeln!(out, "  chiffon approve {} --follow", request.id);
            let _ = writeln!(out, "  chiffon reject {} --reason \"…\"", request.id);
        }
    } else if let Some(reason) = &request.reason {
        let _ = writeln!(out, "\n{}: {reason}", status_word(request.status));
    }
    out
}

/// One line for a live event, or nothing for events a person does not need to see.
pub fn live(event: &LiveEvent, view: &RequestView) -> Option<String> {
    let number = |step_id: &str| {
        view.request
            .plan
            .steps
            .iter()
            .position(|s| s.id == step_id)
            .map_or_else(|| step_id.to_owned(), |i| (i + 1).to_string())
    };
    match event {
        LiveEvent::Request { status, reason, .. } => Some(match reason {
            Some(reason) => format!("request {}: {reason}", status_word(*status)),
            None => format!("request {}", status_word(*status)),
        }),
        LiveEvent::Task {
            step_id,
            title,
            status,
            outcome,
            agent_id,
            audit_commit,
            ..
        } => match status {
            TaskStatus::Running => Some(format!(
                "▶ step {} running: {title}{}",
                number(step_id),
                agent_id
                    .as_ref()
                    .map(|a| format!(" (agent {a})"))
                    .unwrap_or_default()
            )),
            s if s.is_terminal() && audit_commit.is_some() => Some(format!(
                "{} step {} {}",
                match outcome.as_deref() {
                    Some(o) if o.starts_with("succeeded with") => "⚠",
                    _ if *s == TaskStatus::Succeeded => "✔",
                    _ => "✘",
                },
                number(step_id),
                outcome.clone().unwrap_or_else(|| format!("{s}: {title}"))
            )),
            _ => None,
        },
        LiveEvent::Execution { event, .. } => match event.kind.as_str() {
            "task_result" => {
                let status = event.status.as_deref().unwrap_or("?");
                let mut line = format!(
                    "    {:<9} {:<10} {}",
                    status,
                    event.host.as_deref().unwrap_or(""),
                    event.task.as_deref().unwrap_or("")
                );
                if matches!(status, "failed" | "unreachable")
                    && let Some(msg) = &event.msg
                {
                    let _ = write!(line, "\n              {}", msg.lines().next().unwrap_or(""));
                }
                Some(line)
            }
            "play_start" => Some(format!("  play: {}", event.play.as_deref().unwrap_or(""))),
            _ => None,
        },
        LiveEvent::Queue { paused, reason, .. } => Some(if *paused {
            format!("⏸ queue paused: {reason}")
        } else {
            format!("⏵ queue resumed: {reason}")
        }),
        LiveEvent::Agent { .. } | LiveEvent::Lagged { .. } => None,
    }
}

/// The end of a run: each step's result, the total time and the audit commits.
/// `audit_dir`: the server's audit repository (from `/health`), for a `git -C` line that can
/// be pasted as it is; without it no such line is printed.
pub fn summary(view: &RequestView, audit_dir: Option<&str>) -> String {
    let mut out = String::new();
    let request = &view.request;
    let total = (request.updated_at - request.created_at).num_milliseconds() as f64 / 1000.0;
    let run_time: f64 = {
        let start = view.tasks.iter().filter_map(|t| t.started_at).min();
        let end = view.tasks.iter().filter_map(|t| t.finished_at).max();
        match (start, end) {
            (Some(s), Some(e)) => (e - s).num_milliseconds() as f64 / 1000.0,
            _ => 0.0,
        }
    };
    let _ = writeln!(
        out,
        "\nSummary: request {} {}",
        request.id,
        ended_words(view)
    );
    for (index, step) in request.plan.steps.iter().enumerate() {
        let task = view.tasks.iter().rev().find(|t| t.step_id == step.id);
        match task {
            Some(task) => {
                let took = match (task.started_at, task.finished_at) {
                    (Some(s), Some(e)) => duration((e - s).num_milliseconds() as f64 / 1000.0),
                    _ => "-".to_owned(),
                };
                let _ = writeln!(out, "  {}. {}", index + 1, step.title);
                let _ = writeln!(
                    out,
                    "     {}  ({took})  audit commit {}",
                    task.outcome.as_deref().unwrap_or(task.status.as_str()),
                    task.audit_commit
                        .as_deref()
                        .map_or("-", |c| &c[..c.len().min(12)])
                );
                for warning in &task.warnings {
                    let _ = writeln!(out, "     ⚠ {warning}");
                }
                // What the failure usually means, when Chiffon recognised it; then the
                // findings about the files the step used, a few by name.
                let (found, hints): (Vec<_>, Vec<_>) = task
                    .suggestions
                    .as_array()
                    .into_iter()
                    .flatten()
                    .partition(|s| s["about"] == "repository");
                for hint in hints {
                    if let Some(message) = hint["message"].as_str() {
                        let _ = writeln!(out, "     hint: {message}");
                    }
                }
                for finding in found.iter().take(3) {
                    let _ = writeln!(
                        out,
                        "     suggestion: {}:{} {} ({})",
                        finding["file"].as_str().unwrap_or_default(),
                        finding["line"],
                        finding["rule"].as_str().unwrap_or_default(),
                        finding["id"].as_str().unwrap_or_default()
                    );
                }
                if found.len() > 3 {
                    let _ = writeln!(
                        out,
                        "     … {} more about this step's files (chiffon playbooks lint)",
                        found.len() - 3
                    );
                }
            }
            None => {
                let _ = writeln!(out, "  {}. {}\n     not run", index + 1, step.title);
            }
        }
    }
    let _ = writeln!(
        out,
        "Execution time: {} (request open for {})",
        duration(run_time),
        duration(total)
    );
    if let Some(reason) = &request.reason {
        let _ = writeln!(out, "Reason: {reason}");
    }
    let last_commit = view
        .tasks
        .iter()
        .rev()
        .find_map(|t| t.audit_commit.as_deref());
    if let (Some(dir), Some(commit)) = (audit_dir, last_commit) {
        let _ = writeln!(
            out,
            "Audit trail: git -C {dir} show {}",
            &commit[..commit.len().min(12)]
        );
    }
    out
}

/// The agents table.
pub fn agents(agents: &[AgentView]) -> String {
    if agents.is_empty() {
        return "No agents have registered yet.\n".to_owned();
    }
    let mut out = format!(
        "{:<28} {:<8} {:<8} {:<20} {}\n",
        "AGENT", "TYPE", "STATUS", "HOST", "CAPACITY"
    );
    for agent in agents {
        let capacity = agent
            .capacity
            .as_ref()
            .map(|c| {
                let mut text = format!(
                    "{:.1}/{} cores free, {} MB RAM free",
                    c.free_cpu_cores, c.cpu_cores, c.memory_free_mb
                );
                for gpu in &c.gpus {
                    let _ = write!(
                        text,
                        ", GPU {} {} {}/{} MB VRAM free",
                        gpu.index, gpu.name, gpu.vram_free_mb, gpu.vram_total_mb
                    );
                }
                text
            })
            .unwrap_or_else(|| "unknown (no report in the last 60 s)".to_owned());
        let _ = writeln!(
            out,
            "{:<28} {:<8} {:<8} {:<20} {capacity}",
            agent.id,
            agent.agent_type.as_str(),
            agent.status.as_str(),
            agent.host
        );
    }
    out
}

/// A plan's check-mode preview: per step what would change, and the diffs.
pub fn preview(view: &RequestView) -> String {
    let Some(preview) = &view.preview else {
        return "No preview for this plan version.\n".to_owned();
    };
    let mut out = format!(
        "Preview of plan v{} (check mode, nothing was changed):\n",
        preview.plan_version
    );
    for (index, step) in preview.steps.iter().enumerate() {
        let what = match step.outcome.as_str() {
            "would_change" if step.changed == 1 => "would change 1 thing".to_owned(),
            "would_change" => format!("would change {} things", step.changed),
            "no_change" => "would change nothing".to_owned(),
            "would_fail" => "would fail".to_owned(),
            "checked_after" => format!(
                "checked after {} runs (a dry run does not make the changes it needs)",
                after_steps_words(&step.after_steps, view)
            ),
            _ => "not previewed".to_owned(),
        };
        let _ = writeln!(out, "  {}. {} — {what}", index + 1, step.title);
        if let Some(error) = &step.error {
            let _ = writeln!(out, "     {error}");
        }
        for warning in &step.warnings {
            let _ = writeln!(out, "     ⚠ {warning}");
        }
        for diff in &step.diffs {
            let _ = writeln!(out, "     {} on {}:", diff.task, diff.host);
            for line in diff.diff.lines() {
                let _ = writeln!(out, "       {line}");
            }
        }
    }
    out
}

/// "step 1", "steps 1 and 2": the steps a preview waits on, by their number in the plan.
fn after_steps_words(ids: &[String], view: &RequestView) -> String {
    let numbers: Vec<String> = ids
        .iter()
        .map(|id| {
            view.request
                .plan
                .steps
                .iter()
                .position(|s| &s.id == id)
                .map_or_else(|| id.clone(), |i| (i + 1).to_string())
        })
        .collect();
    match numbers.as_slice() {
        [one] => format!("step {one}"),
        [rest @ .., last] => format!("steps {} and {last}", rest.join(", ")),
        [] => "an earlier step".to_owned(),
    }
}

/// The deployable units of a repository, a line each.
pub fn units(units: &[Unit]) -> String {
    let mut out = format!(
        "{:<9} {:<18} {:<45} {}\n",
        "KIND", "SERVICE", "PATH", "RUN WITH"
    );
    for unit in units {
        let kind = serde_json::to_value(unit.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let run = unit.entrypoint.as_ref().map_or_else(
            || "- (no playbook uses it)".to_owned(),
            |e| {
                let mut run = e.playbook.clone();
                if !e.tags.is_empty() {
                    let _ = write!(run, " --tags {}", e.tags.join(","));
                }
                for (key, value) in &e.extra_vars {
                    let _ = write!(run, " -e {key}={value}");
                }
                run
            },
        );
        let _ = writeln!(
            out,
            "{kind:<9} {:<18} {:<45} {run}",
            unit.service, unit.path
        );
    }
    out
}

/// The answer of `chiffon playbooks match`.
pub fn matched(found: &Match) -> String {
    let mut out = format!("{}\n", found.verdict);
    if let Some(advice) = &found.advice {
        let _ = writeln!(out, "{advice}");
    }
    for c in &found.candidates {
        let _ = writeln!(
            out,
            "  {:.2}  {} ({:?}, {}): {}",
            c.score, c.unit.path, c.unit.kind, c.unit.service, c.why
        );
    }
    out
}

/// Suggestions as a person reads them: where, how bad, why, and the change when there is one.
pub fn suggestions(found: &[Suggestion]) -> String {
    if found.is_empty() {
        return "No suggestions: nothing the rules look for was found.\n".to_owned();
    }
    let mut out = String::new();
    for s in found {
        let severity = match s.severity {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        };
        let _ = writeln!(
            out,
            "{}:{} [{severity}] {} ({})",
            s.file, s.line, s.rule, s.id
        );
        let _ = writeln!(out, "  {}", s.message);
        if let Some(diff) = &s.diff {
            for line in diff.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out.push('\n');
    }
    let _ = match found.len() {
        1 => writeln!(out, "1 suggestion."),
        n => writeln!(out, "{n} suggestions."),
    };
    out
}

/// A ranked answer: the findings that matter, then the folded ones (Chiffon's low-severity
/// findings and ansible-lint's style findings, one line per rule with a count), then what
/// ansible-lint did.
pub fn suggestion_report(report: &crate::api::Suggestions) -> String {
    let mut out = if report.items.is_empty() && !report.groups.is_empty() {
        "Nothing urgent: no medium or high-severity finding.\n".to_owned()
    } else {
        suggestions(&report.items)
    };
    let (own, style): (Vec<_>, Vec<_>) = report
        .groups
        .iter()
        .partition(|g| g.origin == crate::api::SuggestionOrigin::Chiffon);
    if !own.is_empty() {
        let total: usize = own.iter().map(|g| g.count).sum();
        let _ = writeln!(
            out,
            "\nLess urgent ({total} low-severity findings, folded by rule; `--json` lists each):"
        );
        for group in own {
            let _ = writeln!(
                out,
                "  {:>5} × {} — {}",
                group.count, group.rule, group.message
            );
            let places: Vec<String> = group
                .items
                .iter()
                .take(3)
                .map(|s| format!("{}:{} ({})", s.file, s.line, s.id))
                .collect();
            let _ = writeln!(out, "          e.g. {}", places.join(", "));
        }
    }
    if !style.is_empty() {
        let total: usize = style.iter().map(|g| g.count).sum();
        let _ = writeln!(
            out,
            "\nStyle ({total} findings of ansible-lint, folded by rule):"
        );
        for group in style {
            let _ = writeln!(
                out,
                "  {:>5} × {} — {} (e.g. {})",
                group.count,
                group.rule,
                group.message,
                group.examples.first().map_or("", String::as_str)
            );
        }
    }
    let _ = writeln!(out, "\nansible-lint: {}", report.lint.message);
    out
}

/// The fleet's totals and the dispatch queue's state, under the agents table.
pub fn resources(totals: &ResourceTotals, queue: &QueueView) -> String {
    let mut out = format!(
        "\nOnline: {:.1}/{} cores free, {}/{} MB RAM free, {} GPU(s), largest free VRAM on one GPU {} MB",
        totals.free_cpu_cores,
        totals.cpu_cores,
        totals.memory_free_mb,
        totals.memory_total_mb,
        totals.gpus,
        totals.largest_free_vram_mb
    );
    if totals.unknown > 0 {
        let _ = write!(
            out,
            " ({} online agent(s) with no recent report: unknown)",
            totals.unknown
        );
    }
    out.push('\n');
    if queue.paused {
        let _ = writeln!(
            out,
            "Queue: PAUSED — {}",
            queue.reason.as_deref().unwrap_or("no reason given")
        );
    } else {
        out.push_str("Queue: running\n");
    }
    out
}

/// One line per task, for the audit verbs: when, status, service, what, where, the id.
pub fn task_rows(tasks: &[Task]) -> String {
    let mut out = String::new();
    for task in tasks {
        let took = match (task.started_at, task.finished_at) {
            (Some(start), Some(end)) => duration((end - start).num_milliseconds() as f64 / 1000.0),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{}  {:<9} {:<16} {:>7}  {}  [{}]  {}",
            task.created_at.format("%Y-%m-%d %H:%M"),
            task.status.as_str(),
            task.service_touched.as_deref().unwrap_or("-"),
            took,
            task.title,
            task.agent_id.as_deref().unwrap_or("no agent"),
            task.id
        );
        if let Some(error) = &task.error {
            let short: String = error.chars().take(160).collect();
            let _ = writeln!(out, "    {short}");
        }
    }
    out
}

/// `chiffon audit show`: the task, how it ended, and where its audit entry is.
pub fn task_audit(view: &TaskView, entry: Option<&AuditView>) -> String {
    let task = &view.task;
    let mut out = String::new();
    let _ = writeln!(out, "Task {}: {}", task.id, task.title);
    let _ = writeln!(out, "  status:   {}", task.status.as_str());
    let _ = writeln!(
        out,
        "  request:  {} (plan v{}, step {})",
        task.request_id, task.plan_version, task.step_id
    );
    if let Some(playbook) = &task.playbook {
        let _ = writeln!(out, "  playbook: {playbook}");
    }
    let _ = writeln!(
        out,
        "  agent:    {}",
        task.agent_id.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "  created:  {}", task.created_at.to_rfc3339());
    if let Some(at) = task.started_at {
        let _ = writeln!(out, "  started:  {}", at.to_rfc3339());
    }
    if let Some(at) = task.finished_at {
        let _ = writeln!(out, "  finished: {}", at.to_rfc3339());
    }
    if let Some(outcome) = &task.outcome {
        let _ = writeln!(out, "  outcome:  {outcome}");
    }
    if let Some(error) = &task.error {
        let _ = writeln!(out, "  error:    {error}");
    }
    for note in &view.annotations {
        let _ = writeln!(
            out,
            "  note ({}, {}): {}",
            note.author,
            note.created_at.format("%Y-%m-%d %H:%M"),
            note.text
        );
    }
    match entry {
        Some(entry) => {
            let _ = writeln!(out, "Audit entry ({}): {}", entry.state, entry.file);
            match &entry.commit {
                Some(commit) => {
                    let _ = writeln!(out, "  commit:   {commit}");
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  commit:   not yet (the audit repository is unavailable; it is written when it is back)"
                    );
                }
            }
            let _ = writeln!(out, "  sha256:   {}", entry.sha256);
            let body = serde_json::to_string_pretty(&entry.entry).unwrap_or_default();
            for line in body.lines() {
                let _ = writeln!(out, "  | {line}");
            }
        }
        None => {
            let _ = writeln!(out, "No audit entry yet: the task has not finished.");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(2.345), "2.3s");
        assert_eq!(duration(42.0), "42s");
        assert_eq!(duration(125.0), "2m 5s");
        assert_eq!(duration(7260.0), "2h 1m");
    }

    #[test]
    fn a_report_lists_what_matters_then_names_folded_findings_by_id() {
        use crate::api::{LintNote, SuggestionGroup, SuggestionOrigin, Suggestions};
        let finding = |rule: &str, file: &str, id: &str, severity| Suggestion {
            id: id.to_owned(),
            rule: rule.to_owned(),
            file: file.to_owned(),
            line: 2,
            severity,
            message: format!("{rule} here"),
            diff: None,
            origin: SuggestionOrigin::Chiffon,
        };
        let group = |rule: &str, origin, items: Vec<Suggestion>, count| SuggestionGroup {
            rule: rule.to_owned(),
            count,
            severity: Severity::Low,
            message: format!("what {rule} means"),
            examples: vec!["site.yml:1".to_owned()],
            origin,
            items,
        };
        let report = Suggestions {
            items: vec![finding(
                "plaintext-secret",
                "vars.yml",
                "aaa",
                Severity::High,
            )],
            next: None,
            groups: vec![
                group(
                    "no-healthcheck",
                    SuggestionOrigin::Chiffon,
                    vec![
                        finding("no-healthcheck", "a/compose.yml", "h1", Severity::Low),
                        finding("no-healthcheck", "b/compose.yml", "h2", Severity::Low),
                    ],
                    2,
                ),
                group(
                    "ansible-lint/yaml[line-length]",
                    SuggestionOrigin::AnsibleLint,
                    Vec::new(),
                    40,
                ),
            ],
            lint: LintNote {
                status: "done".to_owned(),
                message: "ansible-lint found 41 things in 2.0 s.".to_owned(),
                seconds: Some(2.0),
                cached: true,
            },
            tree: "t".to_owned(),
        };
        let text = suggestion_report(&report);
        assert!(
            text.contains("vars.yml:2 [high] plaintext-secret (aaa)\n"),
            "{text}"
        );
        assert!(text.contains("1 suggestion.\n"), "{text}");
        assert!(
            text.contains("Less urgent (2 low-severity findings"),
            "{text}"
        );
        assert!(
            text.contains("e.g. a/compose.yml:2 (h1), b/compose.yml:2 (h2)"),
            "{text}"
        );
        assert!(
            text.contains("Style (40 findings of ansible-lint"),
            "{text}"
        );
        assert!(
            text.ends_with("ansible-lint: ansible-lint found 41 things in 2.0 s.\n"),
            "{text}"
        );
        let quiet = Suggestions {
            items: Vec::new(),
            ..report
        };
        assert!(suggestion_report(&quiet).starts_with("Nothing urgent"));
    }
}
