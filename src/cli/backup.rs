//! `chiffon backup` and `chiffon restore`: a data directory into one archive while the server
//! runs, and back into a new directory, checked and verified (`ops::backup`, `ops::restore`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{Overrides, ServeConfig};
use crate::ops::backup::{BackupPlan, backup};
use crate::ops::restore::{RestorePlan, restore};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The server's data directory. Default: ./.chiffon
    #[arg(long, env = "CHIFFON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The archive to write (a tar file; it must not exist yet).
    #[arg(long)]
    out: PathBuf,
    /// The server's database, when it is not the data directory's SQLite file.
    #[arg(long, env = "CHIFFON_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The server's configuration file (to find the data directory and database; copied
    /// into the archive only with --include-secrets).
    #[arg(long, env = "CHIFFON_CONFIG")]
    config: Option<PathBuf>,
    /// Only the audit repository: for PostgreSQL, whose database `pg_dump` saves.
    #[arg(long)]
    audit_only: bool,
    /// Also the orchestrator's signing key, the config file, the API token and the vault
    /// password file. Keep such an archive as safe as those secrets.
    #[arg(long)]
    include_secrets: bool,
    /// The API token the server runs with (copied only with --include-secrets).
    #[arg(long, env = "CHIFFON_API_TOKEN", hide = true, hide_env_values = true)]
    api_token: Option<String>,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive `chiffon backup` wrote.
    archive: PathBuf,
    /// The new data directory: it must not exist or be empty.
    #[arg(long)]
    data_dir: PathBuf,
    /// For an audit-only backup: the PostgreSQL database you restored with pg_restore, to
    /// verify the audit trail against.
    #[arg(long, env = "CHIFFON_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

pub async fn run_backup(args: BackupArgs) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        data_dir: args.data_dir,
        database_url: args.database_url,
        api_token: args.api_token,
        // Not read by a backup; named so a missing repository is no error here.
        playbooks: Some(PathBuf::from(".")),
        ..Default::default()
    };
    let config = ServeConfig::load(args.config.as_deref(), overrides)?;
    let report = backup(&BackupPlan {
        config: &config,
        config_file: args.config.as_deref(),
        out: &args.out,
        audit_only: args.audit_only,
        include_secrets: args.include_secrets,
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.manifest)?);
        return Ok(ExitCode::SUCCESS);
    }
    let manifest = &report.manifest;
    println!(
        "Wrote {} ({:.1} MiB in {:.1} s) by Chiffon {} (commit {}).",
        args.out.display(),
        report.bytes as f64 / (1024.0 * 1024.0),
        report.elapsed.as_secs_f64(),
        manifest.chiffon_version,
        manifest.commit
    );
    match &manifest.database_facts {
        Some(facts) => println!(
            "Database: SQLite snapshot at schema version {}: {} requests, {} tasks, {} task events, {} audit entries.",
            facts.schema_version,
            facts.requests,
            facts.tasks,
            facts.task_events,
            facts.audit_entries
        ),
        None => println!(
            "Database: not included (audit only). Save PostgreSQL with pg_dump (docs/operations.md)."
        ),
    }
    println!("Audit repository: bundled at {}.", manifest.audit_head);
    for member in &manifest.files {
        println!(
            "  {:<28} {:>12} bytes  sha256 {}",
            member.name, member.bytes, member.sha256
        );
    }
    println!(
        "Left out{}:",
        if manifest.secrets_included {
            ""
        } else {
            " (add --include-secrets for the first four)"
        }
    );
    for item in &manifest.excluded {
        println!("  - {item}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run_restore(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    let report = restore(&RestorePlan {
        archive: &args.archive,
        data_dir: &args.data_dir,
        database_url: args.database_url.as_deref(),
    })
    .await?;
    let manifest = &report.manifest;
    println!(
        "Restored the backup of {} (Chiffon {}, commit {}) into {}.",
        manifest
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        manifest.chiffon_version,
        manifest.commit,
        args.data_dir.display()
    );
    println!("Every member matched its SHA-256 in the manifest.");
    match &report.verification {
        Some(verification) => println!(
            "Audit verify: OK ({} commits, {} entries match the database, {} queued: the server writes those at start).",
            verification.commits, verification.entries_checked, verification.queued
        ),
        None => println!(
            "Audit verify: not run (an audit-only backup): restore PostgreSQL with pg_restore, then run `chiffon audit verify --data-dir {} --database-url <url>`.",
            args.data_dir.display()
        ),
    }
    for secret in &report.secrets {
        println!("Secret restored: {}", secret.display());
    }
    if !manifest.secrets_included {
        println!(
            "Secrets were not in this backup: give the server its config and API token again; it makes a new signing key, so give agents the new {}/orchestrator.pub.",
            args.data_dir.display()
        );
    }
    println!(
        "Start the server with --data-dir {} to use it.",
        args.data_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
