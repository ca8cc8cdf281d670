//! `chiffon changes ID`: what a task (`task_…`) or every task of a request (`req_…`) changed
//! on each host: per file or resource, before → after, the diff for text, and whether Chiffon
//! can undo it.

use std::fmt::Write;
use std::process::ExitCode;

use clap::Args;

use crate::api::{ChangeView, TaskChanges};

#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// A task id (`task_…`) or a request id (`req_…`).
    id: String,
    /// Print the answer as JSON (a list of tasks' changes).
    #[arg(long)]
    json: bool,
}

pub async fn run(server: &str, args: ChangesArgs) -> anyhow::Result<ExitCode> {
    let client = crate::cli::connect(server)?;
    let mut all = Vec::new();
    if args.id.starts_with("req_") {
        let view = client.get_request(&args.id).await?;
        for task in &view.tasks {
            all.push(client.task_changes(task.id.as_str()).await?);
        }
    } else {
        all.push(client.task_changes(&args.id).await?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        print!("{}", render(&all));
    }
    Ok(ExitCode::SUCCESS)
}

/// People's view: one block per task, per host, one line per change, then its diff.
pub fn render(tasks: &[TaskChanges]) -> String {
    let mut out = String::new();
    for task in tasks {
        let _ = writeln!(out, "{} — {}", task.task_id, task.title);
        if task.hosts.is_empty() {
            let _ = writeln!(out, "  nothing changed");
        }
        for host in &task.hosts {
            let _ = writeln!(out, "  on {}:", host.host);
            for change in &host.changes {
                out.push_str(&line(change));
            }
        }
    }
    out
}

fn line(view: &ChangeView) -> String {
    let change = &view.change;
    let state = |s: &Option<crate::model::change::ResourceState>| {
        s.as_ref()
            .map(|s| {
                let mut text = s.state.clone().unwrap_or_default();
                if let Some(enabled) = s.enabled {
                    if !text.is_empty() {
                        text.push_str(", ");
                    }
                    text.push_str(if enabled { "enabled" } else { "disabled" });
                }
                let sha1 = s.sha1.as_ref().map(|h| h[..h.len().min(12)].to_owned());
                for (label, value) in [
                    ("version", &s.version),
                    ("image", &s.image),
                    ("sha1", &sha1),
                    ("mode", &s.mode),
                ] {
                    if let Some(value) = value {
                        if !text.is_empty() {
                            text.push(' ');
                        }
                        let _ = write!(text, "{label} {value}");
                    }
                }
                if text.is_empty() {
                    text.push('?');
                }
                text
            })
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let before = if change.existed == Some(false) {
        "absent".to_owned()
    } else {
        state(&change.before)
    };
    let undo = if change.reversible {
        if view.content_kept {
            "can undo (content kept)"
        } else {
            "can undo"
        }
    } else {
        "CANNOT UNDO"
    };
    let mut out = format!(
        "    {} {} [{}] {} → {} — {undo}\n",
        change.kind,
        change.target,
        change.module,
        before,
        state(&change.after)
    );
    if let Some(note) = &change.note {
        let _ = writeln!(out, "      {note}");
    }
    if let Some(diff) = &change.diff {
        for diff_line in diff.lines() {
            let _ = writeln!(out, "      {diff_line}");
        }
    }
    out
}
