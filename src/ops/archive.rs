//! The backup archive: a plain tar file (readable with `tar tf`, so an owner can take a file
//! out by hand in an emergency) whose first member is `manifest.json`: the format, the
//! Chiffon version and commit that wrote it, what the database held, what was left out, and
//! the size and SHA-256 of every other member. Reading checks each member against the
//! manifest while it is written to a staging folder, so a damaged archive is refused before
//! anything reaches the data directory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::store::maintenance::DatabaseFacts;

/// The `format` field: what kind of file this is.
pub const FORMAT: &str = "chiffon-backup";
/// Raised when a change means an older Chiffon could not read the archive.
pub const FORMAT_VERSION: u32 = 1;
/// The first member.
pub const MANIFEST: &str = "manifest.json";
/// The SQLite snapshot.
pub const DATABASE: &str = "chiffon.db";
/// The audit repository as a git bundle.
pub const AUDIT_BUNDLE: &str = "audit.bundle";
/// Members under this folder are secrets, present only with `--include-secrets`.
pub const SECRETS_DIR: &str = "secrets/";
/// The secrets a backup may hold, by member name.
pub const SECRET_MEMBERS: &[&str] = &[
    "secrets/orchestrator.key",
    "secrets/orchestrator.pub",
    "secrets/config.toml",
    "secrets/api-token",
    "secrets/vault-password",
];
/// A manifest is a few KiB; anything much larger is not one.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The Chiffon version and commit that wrote the backup.
    pub chiffon_version: String,
    pub commit: String,
    pub created_at: DateTime<Utc>,
    /// `sqlite` with a snapshot, or `none` (an audit-only backup: PostgreSQL is saved with
    /// `pg_dump`).
    pub database: String,
    /// What the snapshot held, when there is one.
    pub database_facts: Option<DatabaseFacts>,
    /// The audit repository's HEAD commit when it was bundled.
    pub audit_head: String,
    pub secrets_included: bool,
    /// What was deliberately left out, in plain words.
    pub excluded: Vec<String>,
    /// Every member after the manifest, in order.
    pub files: Vec<Member>,
}

/// One member of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Whether `name` is a member a backup may hold (no paths of the archive's choosing).
fn allowed(name: &str) -> bool {
    name == DATABASE || name == AUDIT_BUNDLE || SECRET_MEMBERS.contains(&name)
}

/// The SHA-256 and size of the file at `path`, read in pieces.
pub fn hash_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    // Owner-only: the database holds every request's text.
    header.set_mode(0o600);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(Utc::now().timestamp().max(0) as u64);
    header
}

/// Writes the archive to `out`: the manifest, then each `(member name, staged file)`. The
/// manifest's `files` must list the members in the same order.
pub fn write(out: &Path, manifest: &Manifest, members: &[(String, PathBuf)]) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
    let json = serde_json::to_vec_pretty(manifest)?;
    builder.append_data(&mut header(json.len() as u64), MANIFEST, json.as_slice())?;
    for (name, path) in members {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let size = file.metadata()?.len();
        builder.append_data(&mut header(size), name, file)?;
    }
    let mut writer = builder.into_inner()?;
    writer.flush()?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

/// Reads the archive at `archive` into `staging` (member name → file under it), checking the
/// manifest and every member's size and SHA-256. Any difference is an error that names it;
/// the caller drops `staging`.
pub fn read_checked(archive: &Path, staging: &Path) -> anyhow::Result<Manifest> {
    let file = std::fs::File::open(archive)
        .with_context(|| format!("cannot read the backup {}", archive.display()))?;
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let mut entries = tar
        .entries()
        .with_context(|| format!("{} is not a Chiffon backup", archive.display()))?;
    let manifest = read_manifest(
        entries
            .next()
            .context("the backup is empty: no manifest")?
            .context("the backup is damaged: cannot read its first member")?,
    )?;
    let mut seen = std::collections::BTreeSet::new();
    for entry in entries {
        let entry = entry.context("the backup is damaged: cannot read a member's header")?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let expected = manifest
            .files
            .iter()
            .find(|m| m.name == name)
            .filter(|_| allowed(&name) && entry.header().entry_type().is_file())
            .with_context(|| {
                format!("the backup holds {name:?}, which its manifest does not list")
            })?;
        anyhow::ensure!(seen.insert(name.clone()), "the backup holds {name} twice");
        let path = staging.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let (sha256, bytes) = copy_hashing(entry, &path)
            .with_context(|| format!("the backup is damaged: cannot read {name}"))?;
        anyhow::ensure!(
            bytes == expected.bytes && sha256 == expected.sha256,
            "the backup is damaged: {name} has {bytes} bytes with SHA-256 {sha256}, the manifest says {} bytes with {}",
            expected.bytes,
            expected.sha256
        );
    }
    for member in &manifest.files {
        anyhow::ensure!(
            seen.contains(&member.name),
            "the backup is incomplete: {} is missing",
            member.name
        );
    }
    Ok(manifest)
}

fn read_manifest(entry: tar::Entry<'_, impl Read>) -> anyhow::Result<Manifest> {
    let name = entry.path()?.to_string_lossy().into_owned();
    anyhow::ensure!(
        name == MANIFEST && entry.size() <= MAX_MANIFEST_BYTES,
        "not a Chiffon backup: the first member is {name:?}, not {MANIFEST}"
    );
    let mut text = Vec::new();
    entry.take(MAX_MANIFEST_BYTES).read_to_end(&mut text)?;
    let manifest: Manifest =
        serde_json::from_slice(&text).context("the backup's manifest is damaged")?;
    anyhow::ensure!(
        manifest.format == FORMAT,
        "not a Chiffon backup (format {:?})",
        manifest.format
    );
    anyhow::ensure!(
        manifest.format_version <= FORMAT_VERSION,
        "this backup was written by a newer Chiffon ({} at {}, format {}); use that version or newer to restore it",
        manifest.chiffon_version,
        manifest.commit,
        manifest.format_version
    );
    Ok(manifest)
}

/// Copies `reader` into the new file `path` and returns the SHA-256 and size of what it read.
fn copy_hashing(mut reader: impl Read, path: &Path) -> anyhow::Result<(String, u64)> {
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        out.write_all(&buffer[..read])?;
        total += read as u64;
    }
    out.sync_all()?;
    Ok((hex(&hasher.finalize()), total))
}
