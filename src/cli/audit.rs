//! `chiffon audit failures|service|show|verify`: looks back at what happened (through the
//! API), and checks the audit trail against the database (directly, no server needed).

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::client::render;
use crate::config::{self, Overrides, ServeConfig};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Failed tasks, newest first.
    Failures {
        /// How far back: 30m, 24h, 7d, 2w, or an RFC 3339 time.
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Every task that touched a service (a name or alias: "kuma"), newest first.
    Service {
        name: String,
        /// How far back: 30m, 24h, 7d, 2w, or an RFC 3339 time. Default: all history.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One task: what ran, how it ended, and its audit entry with the commit id.
    Show {
        task: String,
        #[arg(long)]
        json: bool,
    },
    /// Check the audit repository against the database (no server needed): every finished
    /// task has its entry, the history is one unbroken line, no entry changed after it was
    /// written. Exit 1 when something is wrong.
    Verify {
        /// The server's data directory (database and audit repository). Default: ./.chiffon
        #[arg(long, env = "CHIFFON_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The server's database, when it is PostgreSQL.
        #[arg(long, env = "CHIFFON_DATABASE_URL")]
        database_url: Option<String>,
        /// The server's configuration file, to find both.
        #[arg(long, env = "CHIFFON_CONFIG")]
        config: Option<PathBuf>,
        /// After a clean check, push the trail to this remote (a URL, or a remote configured
        /// in the audit repository with `git remote add`). Fast-forward only.
        #[arg(long)]
        push: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(server: &str, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let list = |query: Vec<(&'static str, String)>, json: bool, empty: String| async move {
        let page = crate::cli::connect(server)?.tasks(&query).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&page.items)?);
        } else if page.items.is_empty() {
            println!("{empty}");
        } else {
            print!("{}", render::task_rows(&page.items));
            if page.next.is_some() {
                println!("(more: raise --limit)");
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    };
    match command {
        AuditCommand::Failures { since, limit, json } => {
            let query = vec![
                ("status", "failed".to_owned()),
                ("since", since.clone()),
                ("order", "desc".to_owned()),
                ("limit", limit.to_string()),
            ];
            list(query, json, format!("No failed tasks since {since}.")).await
        }
        AuditCommand::Service {
            name,
            since,
            limit,
            json,
        } => {
            let mut query = vec![
                ("service", name.clone()),
                ("order", "desc".to_owned()),
                ("limit", limit.to_string()),
            ];
            if let Some(since) = since {
                query.push(("since", since));
            }
            list(query, json, format!("No tasks touched {name}.")).await
        }
        AuditCommand::Show { task, json } => {
            let client = crate::cli::connect(server)?;
            let view = client.task(&task).await?;
            let entry = match client.audit_entry(&task).await {
                Ok(entry) => Some(entry),
                Err(error) if view.task.status.is_terminal() => return Err(error),
                Err(_) => None, // not finished: no entry yet
            };
            if json {
                let both = serde_json::json!({"task": view, "audit": entry});
                println!("{}", serde_json::to_string_pretty(&both)?);
            } else {
                print!("{}", render::task_audit(&view, entry.as_ref()));
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            data_dir,
            database_url,
            config,
            push,
            json,
        } => verify_audit(data_dir, database_url, config, push, json).await,
    }
}

/// `chiffon audit verify`: reads the database and the repository directly.
async fn verify_audit(
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    config_file: Option<PathBuf>,
    push: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        data_dir,
        database_url,
        ..Default::default()
    };
    let config = ServeConfig::load(config_file.as_deref(), overrides)?;
    let audit_path = config.data_dir.join("audit");
    anyhow::ensure!(
        audit_path.join("HEAD").exists(),
        "no audit repository at {} (is --data-dir the server's data directory?)",
        audit_path.display()
    );
    let store = match &config.database {
        config::Database::Sqlite(path) => {
            anyhow::ensure!(
                path.exists(),
                "no database at {} (is --data-dir the server's data directory?)",
                path.display()
            );
            crate::store::Store::open_sqlite(path).await?
        }
        config::Database::Postgres(url) => crate::store::Store::open_postgres(url).await?,
    };
    let report = crate::ops::verify_trail(&store, &audit_path).await?;
    let log = crate::audit::AuditLog::open_or_init(&audit_path)?;
    let pushed = match &push {
        Some(remote) if report.problems.is_empty() => Some(log.push(remote)?),
        _ => None,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", verification(&report, &audit_path));
        if let (Some(remote), Some(branch)) = (&push, &pushed) {
            println!(
                "Pushed to {} (branch {branch}).",
                crate::redact::text(remote)
            );
        } else if push.is_some() {
            println!("Not pushed: fix the problems first.");
        }
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `chiffon audit verify`'s report.
fn verification(report: &crate::audit::Verification, repo: &std::path::Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Audit trail {}: {} commits, {} entries checked against the database{}.",
        repo.display(),
        report.commits,
        report.entries_checked,
        if report.earlier_commits > 0 {
            format!(
                ", {} earlier commits checked for changes only",
                report.earlier_commits
            )
        } else {
            String::new()
        }
    );
    if report.queued > 0 {
        let _ = writeln!(
            out,
            "{} entries are queued in the database, not yet written (the server writes them when the repository is available).",
            report.queued
        );
    }
    if report.problems.is_empty() {
        let _ = writeln!(
            out,
            "OK: the history is unbroken and no entry changed after it was written."
        );
    } else {
        let _ = writeln!(out, "{} problems:", report.problems.len());
        for problem in &report.problems {
            let _ = writeln!(out, "  - {problem}");
        }
    }
    out
}
