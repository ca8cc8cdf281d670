//! Names the commit the binary was built from (`chiffon --version`, `/api/v1/health`): the
//! short hash from `git rev-parse`, or "unknown" when built from a tarball without git.
//!
//! It reruns only when HEAD or the branch it points to moves, so an ordinary edit does not
//! rerun it (without any `rerun-if-changed` line Cargo would rerun it on every file change).

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn watch(path: &Path) {
    // A path that does not exist would count as changed on every build: watch only real files.
    if path.is_file() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CHIFFON_COMMIT");
    let commit = std::env::var("CHIFFON_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=10", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) {
        watch(&git_dir.join("HEAD"));
        let common = git(&["rev-parse", "--git-common-dir"])
            .map(PathBuf::from)
            .unwrap_or_else(|| git_dir.clone());
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(&git_dir.join(&reference));
            watch(&common.join(&reference));
        }
        watch(&common.join("packed-refs"));
    }
    println!("cargo:rustc-env=CHIFFON_COMMIT={commit}");
}
