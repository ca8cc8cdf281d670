//! `chiffon restore`: a backup archive into a new data directory. Everything happens in a
//! staging folder beside the target: the archive is read and every member checked against
//! its manifest, the audit repository is cloned from its bundle (and its branch put back to
//! the last commit the database knows), the database's counts are compared with the
//! manifest, and `audit verify` must pass. Only then is the folder moved into place, so a
//! damaged archive or a failed check leaves the target exactly as it was.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::audit::Verification;
use crate::config::Database;
use crate::ops::archive::{self, Manifest};
use crate::store::Store;
use crate::store::maintenance::DatabaseFacts;

/// What to restore where.
#[derive(Debug)]
pub struct RestorePlan<'a> {
    pub archive: &'a Path,
    /// The new data directory: absent, or an empty folder.
    pub data_dir: &'a Path,
    /// For an audit-only backup: the PostgreSQL database already restored with `pg_restore`,
    /// to verify the audit trail against.
    pub database_url: Option<&'a str>,
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreReport {
    pub manifest: Manifest,
    /// `audit verify`'s report; `None` when there was no database to check against.
    pub verification: Option<Verification>,
    /// Secrets restored under `<data-dir>/restored-secrets/` for the owner to put back.
    pub secrets: Vec<PathBuf>,
}

/// Restores `plan.archive` into `plan.data_dir`.
pub async fn restore(plan: &RestorePlan<'_>) -> anyhow::Result<RestoreReport> {
    let target = plan.data_dir;
    refuse_non_empty(target)?;
    let parent = match target.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.to_owned(),
        None => PathBuf::from("."),
    };
    anyhow::ensure!(
        parent.is_dir(),
        "{} does not exist; create it first",
        parent.display()
    );
    // Same filesystem as the target, so the last step is a rename.
    let staging = tempfile::Builder::new()
        .prefix(".chiffon-restore-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    let incoming = staging.path().join("incoming");
    let data = staging.path().join("data");
    std::fs::create_dir_all(&incoming)?;
    std::fs::create_dir_all(&data)?;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))?;
    let manifest = {
        let (archive, incoming) = (plan.archive.to_owned(), incoming.clone());
        tokio::task::spawn_blocking(move || archive::read_checked(&archive, &incoming)).await??
    };
    let database = place_database(&manifest, &incoming, &data, plan.database_url)?;
    let facts = match &database {
        Some(Database::Sqlite(path)) => {
            let facts = crate::store::maintenance::sqlite_facts(path).await?;
            compare_facts(manifest.database_facts.as_ref(), &facts)?;
            Some(facts)
        }
        Some(Database::Postgres(url)) => {
            Some(crate::store::maintenance::postgres_facts(url).await?)
        }
        None => None,
    };
    {
        let bundle = incoming.join(archive::AUDIT_BUNDLE);
        let audit = data.join("audit");
        let keep = facts.as_ref().and_then(|f| f.last_audit_commit.clone());
        tokio::task::spawn_blocking(move || {
            crate::tools::git::clone_bundle(&bundle, &audit, keep.as_deref())
        })
        .await??;
    }
    let secrets = place_secrets(&incoming, &data)?;
    let verification = match &database {
        Some(database) => Some(verify(database, &data).await?),
        None => None,
    };
    if target.exists() {
        std::fs::remove_dir(target)
            .with_context(|| format!("cannot replace the empty folder {}", target.display()))?;
    }
    std::fs::rename(&data, target)
        .with_context(|| format!("cannot move the restored data into {}", target.display()))?;
    let secrets = secrets
        .iter()
        .map(|p| target.join(p.strip_prefix(&data).unwrap_or(p)))
        .collect();
    Ok(RestoreReport {
        manifest,
        verification,
        secrets,
    })
}

/// A target that holds anything is refused: a restore never mixes with or replaces data.
fn refuse_non_empty(target: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(target) {
        Ok(mut entries) => anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: restore into a new (or empty) directory, then point the server at it",
            target.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => {
            anyhow::bail!("{} is a file, not a directory", target.display())
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", target.display()));
        }
    }
    Ok(())
}

/// Moves the snapshot into the new data directory, or names the PostgreSQL database an
/// audit-only backup is checked against.
fn place_database(
    manifest: &Manifest,
    incoming: &Path,
    data: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<Option<Database>> {
    let has_snapshot = manifest.files.iter().any(|m| m.name == archive::DATABASE);
    match (has_snapshot, database_url) {
        (true, Some(_)) => {
            anyhow::bail!("this backup holds a SQLite database; restore it without --database-url")
        }
        (true, None) => {
            let path = data.join("chiffon.db");
            std::fs::rename(incoming.join(archive::DATABASE), &path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            Ok(Some(Database::Sqlite(path)))
        }
        (false, Some(url)) => match Database::parse(url)? {
            Database::Postgres(url) => Ok(Some(Database::Postgres(url))),
            Database::Sqlite(_) => anyhow::bail!(
                "--database-url must be the PostgreSQL database you restored with pg_restore"
            ),
        },
        (false, None) => Ok(None),
    }
}

/// The restored snapshot must hold what the manifest says the backup held.
fn compare_facts(expected: Option<&DatabaseFacts>, found: &DatabaseFacts) -> anyhow::Result<()> {
    let expected = expected.context("the backup's manifest does not describe its database")?;
    anyhow::ensure!(
        expected == found,
        "the restored database differs from what the backup recorded: expected {expected:?}, found {found:?}"
    );
    Ok(())
}

/// Puts the orchestrator's key back where the server reads it (owner-only), and the other
/// secrets under `restored-secrets/` for the owner to move where their configuration says.
fn place_secrets(incoming: &Path, data: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let from = incoming.join("secrets");
    let mut placed = Vec::new();
    for member in archive::SECRET_MEMBERS {
        let name = member.trim_start_matches(archive::SECRETS_DIR);
        let source = from.join(name);
        if !source.is_file() {
            continue;
        }
        let target = if name.starts_with("orchestrator.") {
            data.join(name)
        } else {
            let dir = data.join("restored-secrets");
            std::fs::create_dir_all(&dir)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            dir.join(name)
        };
        std::fs::rename(&source, &target)?;
        let mode = if name == "orchestrator.pub" {
            0o644
        } else {
            0o600
        };
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
        placed.push(target);
    }
    Ok(placed)
}

/// `audit verify` on the staged data directory; any problem stops the restore.
async fn verify(database: &Database, data: &Path) -> anyhow::Result<Verification> {
    let store = match database {
        Database::Sqlite(path) => Store::open_sqlite(path).await?,
        Database::Postgres(url) => Store::open_postgres(url).await?,
    };
    let report = crate::ops::verify_trail(&store, &data.join("audit")).await;
    store.close().await;
    let report = report?;
    if !report.problems.is_empty() {
        anyhow::bail!(
            "the restored audit trail does not match the database, so nothing was restored:\n  - {}",
            report.problems.join("\n  - ")
        );
    }
    Ok(report)
}
