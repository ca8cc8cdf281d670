//! Reading a homelab repository safely: the one directory walker every reader of the owner's
//! repository uses (discovery, matching, suggestions), and a line-exact YAML outline.
//!
//! The rules live here once, so that a repository cannot make one reader loop, read a device,
//! or wander out of the repository while another one is careful:
//! - entries are inspected with `symlink_metadata`; a symlinked *directory* is never entered
//!   (no loops); a symlinked file counts only when it resolves to a regular file inside the
//!   walk's root;
//! - only regular files are yielded, and `read_text` refuses files over [`MAX_FILE_BYTES`];
//! - hidden entries (`.git`, `.venv`, editor folders) and tool output folders ([`IGNORED_DIRS`])
//!   are skipped;
//! - a walk stops after [`MAX_FILES`] files, so a huge tree costs bounded time and memory.

pub mod outline;
pub mod project;

use std::path::{Path, PathBuf};

/// Files larger than this are not read: no Ansible file or compose template is this big, and
/// a repository must not be able to make Chiffon read gigabytes.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// A walk yields at most this many files.
pub const MAX_FILES: usize = 100_000;
/// Folders that hold tools' output or dependencies, never the owner's playbooks.
pub const IGNORED_DIRS: &[&str] = &["node_modules", "__pycache__", "venv", "site-packages"];

/// Every regular file under `start` (a folder inside `root`) whose file name `keep` accepts,
/// sorted by path. `root` bounds where a symlinked file may point.
pub fn files(root: &Path, start: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    walk(root, start, &keep, true)
}

/// The regular files directly in `dir` (no subfolders) whose name `keep` accepts, sorted, by
/// the same rules as [`files`].
pub fn files_in(root: &Path, dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    walk(root, dir, &keep, false)
}

fn walk(root: &Path, start: &Path, keep: &dyn Fn(&str) -> bool, recursive: bool) -> Vec<PathBuf> {
    let canonical_root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let mut out = Vec::new();
    let mut stack = vec![start.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Hidden files are skipped too, but an env file a compose project reads (`.env`,
            // `.env.j2`): it may say which version an image runs.
            if skipped(&name) && !name.starts_with(".env") {
                continue;
            }
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() && skipped(&name) {
                continue;
            }
            if meta.is_dir() {
                if recursive {
                    stack.push(path);
                }
            } else if keep(&name)
                && (meta.is_file() || is_link_to_file_inside(&path, &meta, &canonical_root))
            {
                out.push(path);
                if out.len() >= MAX_FILES {
                    out.sort();
                    return out;
                }
            }
        }
    }
    out.sort();
    out
}

/// Folders under `start` that contain a regular file named `marker`, without descending into
/// them (a role folder's own subfolders are not roles), sorted.
pub fn dirs_with(start: &Path, marker: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![start.to_owned()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if skipped(&name) || !is_real_dir(&path) {
                continue;
            }
            if is_regular_file(&path.join(marker)) {
                found.push(path);
            } else {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The text of a regular file of at most [`MAX_FILE_BYTES`]; `None` for anything else (a
/// device, a FIFO, a symlink to one, a huge file, invalid UTF-8).
pub fn read_text(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return None;
    }
    // Read at most one byte past the cap, in case the file grew since `metadata`.
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// A folder itself, not a symlink to one.
pub fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// A regular file (following a symlink, which the walk has already bounded).
pub fn is_regular_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// `path` relative to `root`, `/`-separated.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// YAML (or a Jinja template of YAML) by its file name.
pub fn is_yaml_name(name: &str) -> bool {
    [".yml", ".yaml", ".yml.j2", ".yaml.j2"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn skipped(name: &str) -> bool {
    name.starts_with('.') || IGNORED_DIRS.contains(&name)
}

fn is_link_to_file_inside(path: &Path, meta: &std::fs::Metadata, root: &Path) -> bool {
    meta.file_type().is_symlink()
        && path
            .canonicalize()
            .is_ok_and(|real| real.starts_with(root) && is_regular_file(&real))
}

/// A scratch repository of `(path, text)` files, for tests of what reads repositories.
#[cfg(test)]
pub(crate) fn scratch(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("folders");
        std::fs::write(path, text).expect("a file");
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_skips_links_out_of_the_repository_devices_and_hidden_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("roles/app/tasks")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("roles/app/tasks/main.yml"), "- debug: {}\n").unwrap();
        std::fs::write(root.join(".git/config.yml"), "x: 1\n").unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero.yml")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("outside.yml")).unwrap();
        std::os::unix::fs::symlink("roles/app/tasks/main.yml", root.join("inside.yml")).unwrap();
        std::os::unix::fs::symlink("/", root.join("loop")).unwrap();
        let found: Vec<String> = files(root, root, is_yaml_name)
            .iter()
            .map(|p| relative(root, p))
            .collect();
        assert_eq!(found, ["inside.yml", "roles/app/tasks/main.yml"]);
        assert_eq!(read_text(&root.join("zero.yml")), None);
    }

    #[test]
    fn files_over_the_cap_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yml");
        std::fs::write(&big, vec![b'a'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(read_text(&big), None);
        std::fs::write(&big, "a: 1\n").unwrap();
        assert_eq!(read_text(&big).as_deref(), Some("a: 1\n"));
    }
}
