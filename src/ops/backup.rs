//! `chiffon backup`: a consistent copy of a data directory while the server runs. The SQLite
//! database is copied first with `VACUUM INTO` (one read transaction: a consistent snapshot
//! that does not stop the server writing), then the audit repository is bundled with
//! `git bundle` (history only grows, so the bundle holds every commit the snapshot names; the
//! commits after it are dropped again on restore, and the restored server re-writes the
//! entries the snapshot still had queued). Secrets stay out unless asked for.
//!
//! PostgreSQL is not copied here: `pg_dump` does that better (docs/operations.md), and
//! `--audit-only` bundles the audit repository beside it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::{Database, ServeConfig};
use crate::ops::archive::{self, Manifest, Member};

/// What to back up and where.
#[derive(Debug)]
pub struct BackupPlan<'a> {
    pub config: &'a ServeConfig,
    /// The configuration file the server runs with, copied with `include_secrets`.
    pub config_file: Option<&'a Path>,
    /// The archive to write; it must not exist yet.
    pub out: &'a Path,
    /// Only the audit repository (for PostgreSQL, whose database `pg_dump` saves).
    pub audit_only: bool,
    /// Also the orchestrator's signing key, the config file, the API token and the vault
    /// password file.
    pub include_secrets: bool,
}

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupReport {
    pub manifest: Manifest,
    /// The archive's size.
    pub bytes: u64,
    pub elapsed: Duration,
}

/// What a backup without `--include-secrets` leaves out, and what always stays out.
pub fn exclusions(secrets_included: bool) -> Vec<String> {
    let mut excluded = Vec::new();
    if !secrets_included {
        excluded.extend([
            "orchestrator.key and orchestrator.pub (the orchestrator's signing key: a restored server makes a new one; give agents the new orchestrator.pub)".to_owned(),
            "the configuration file (--config)".to_owned(),
            "the API token and its file".to_owned(),
            "the ansible-vault password file".to_owned(),
        ]);
    }
    excluded.extend([
        "LLM API keys and key files named in the configuration".to_owned(),
        "the audit repository's own git config (remotes you added with `git remote add`)"
            .to_owned(),
        "ansible-venv/, ansible/ and cache/ (rebuilt at start-up)".to_owned(),
        "the playbook repository (it has its own git history)".to_owned(),
    ]);
    excluded
}

/// Writes the backup `plan` describes.
pub async fn backup(plan: &BackupPlan<'_>) -> anyhow::Result<BackupReport> {
    let started = Instant::now();
    let out = plan.out;
    anyhow::ensure!(
        !out.exists(),
        "{} already exists; choose a new file name (backups are never overwritten)",
        out.display()
    );
    let data_dir = &plan.config.data_dir;
    let audit = data_dir.join("audit");
    anyhow::ensure!(
        audit.join("HEAD").exists(),
        "no audit repository at {} (is --data-dir the server's data directory?)",
        audit.display()
    );
    let live_db = match (&plan.config.database, plan.audit_only) {
        (_, true) => None,
        (Database::Sqlite(path), false) => Some(path.clone()),
        (Database::Postgres(_), false) => anyhow::bail!(
            "this server keeps its state in PostgreSQL, which `chiffon backup` does not copy: save it with `pg_dump --format=custom --file chiffon.pgdump <database URL>`, then run `chiffon backup --audit-only` for the audit repository (docs/operations.md, \"PostgreSQL\")"
        ),
    };
    let parent = match out.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.to_owned(),
        None => PathBuf::from("."),
    };
    // Beside the archive: the snapshot can be large and is renamed into nothing else.
    let staging = tempfile::Builder::new()
        .prefix(".chiffon-backup-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    let mut members: Vec<(String, PathBuf)> = Vec::new();
    let database_facts = match &live_db {
        Some(live) => {
            let snapshot = staging.path().join(archive::DATABASE);
            let facts = crate::store::maintenance::snapshot_sqlite(live, &snapshot).await?;
            members.push((archive::DATABASE.to_owned(), snapshot));
            Some(facts)
        }
        None => None,
    };
    let bundle = staging.path().join(archive::AUDIT_BUNDLE);
    {
        let (audit, bundle) = (audit.clone(), bundle.clone());
        tokio::task::spawn_blocking(move || crate::tools::git::bundle_create(&audit, &bundle))
            .await??;
    }
    members.push((archive::AUDIT_BUNDLE.to_owned(), bundle));
    let audit_head = crate::audit::AuditLog::open_or_init(&audit)?.check()?;
    if plan.include_secrets {
        members.extend(stage_secrets(plan, staging.path())?);
    }
    let manifest = Manifest {
        format: archive::FORMAT.to_owned(),
        format_version: archive::FORMAT_VERSION,
        chiffon_version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: env!("CHIFFON_COMMIT").to_owned(),
        created_at: chrono::Utc::now(),
        database: if live_db.is_some() { "sqlite" } else { "none" }.to_owned(),
        database_facts,
        audit_head,
        secrets_included: plan.include_secrets,
        excluded: exclusions(plan.include_secrets),
        files: members
            .iter()
            .map(|(name, path)| {
                let (sha256, bytes) = archive::hash_file(path)?;
                Ok(Member {
                    name: name.clone(),
                    bytes,
                    sha256,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    // Written under a temporary name and renamed: a crash never leaves a half archive
    // under the name the owner asked for.
    let partial = staging.path().join("archive.partial");
    {
        let (partial, manifest) = (partial.clone(), manifest.clone());
        tokio::task::spawn_blocking(move || archive::write(&partial, &manifest, &members))
            .await??;
    }
    let bytes = std::fs::metadata(&partial)?.len();
    std::fs::rename(&partial, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(BackupReport {
        manifest,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Copies the secrets that exist into `staging/secrets/`, each as its archive member.
fn stage_secrets(plan: &BackupPlan<'_>, staging: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let dir = staging.join("secrets");
    std::fs::create_dir_all(&dir)?;
    let data_dir = &plan.config.data_dir;
    let mut found: Vec<(&str, PathBuf)> = vec![
        ("orchestrator.key", data_dir.join("orchestrator.key")),
        ("orchestrator.pub", data_dir.join("orchestrator.pub")),
    ];
    if let Some(file) = plan.config_file {
        found.push(("config.toml", file.to_owned()));
    }
    if let Some(file) = &plan.config.vault_password_file {
        found.push(("vault-password", file.clone()));
    }
    let mut members = Vec::new();
    for (name, source) in found {
        if !source.is_file() {
            continue;
        }
        let target = dir.join(name);
        std::fs::copy(&source, &target)
            .with_context(|| format!("cannot read {}", source.display()))?;
        members.push((format!("{}{name}", archive::SECRETS_DIR), target));
    }
    if let Some(token) = &plan.config.api_token {
        let target = dir.join("api-token");
        std::fs::write(&target, format!("{}\n", token.expose()))?;
        members.push((format!("{}api-token", archive::SECRETS_DIR), target));
    }
    Ok(members)
}
