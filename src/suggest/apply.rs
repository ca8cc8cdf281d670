//! Applying an accepted suggestion: patch the file with its diff, check the repository with
//! `ansible-playbook --syntax-check` (compose files: they must still parse), and commit the
//! change to the playbook repository's git history, naming the suggestion.
//!
//! Invariant: all or nothing. A file that changed since the suggestion was made, a failed
//! check, or a repository with staged changes leaves every file as it was.

use std::path::Path;

use super::Suggestion;

/// Why a suggestion was not applied; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("no suggestion {0}: the file may have changed since; list the suggestions again")]
    NotFound(String),
    #[error("suggestion {0} has no automatic change: {1}")]
    NoDiff(String, String),
    #[error("{0} changed since the suggestion was made; list the suggestions again")]
    Stale(String),
    #[error("the change breaks the repository, so it was not applied: {0}")]
    CheckFailed(String),
    #[error("{0}")]
    Repository(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What was applied.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Applied {
    pub suggestion: Suggestion,
    /// The commit in the playbook repository.
    pub commit: String,
    /// The audit trail's commit recording the change (set by the orchestrator; `None` while
    /// the audit entry is queued).
    pub audit_commit: Option<String>,
}

/// Applies suggestion `id` to the repository at `root`, checking with `ansible_playbook`.
/// `reason` goes into the commit message (who or what asked for it).
pub async fn apply(
    root: &Path,
    id: &str,
    ansible_playbook: &Path,
    reason: &str,
) -> Result<Applied, ApplyError> {
    let found = {
        let root = root.to_owned();
        tokio::task::spawn_blocking(move || super::analyse(&root))
            .await
            .map_err(anyhow::Error::from)?
    };
    let suggestion = found
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApplyError::NotFound(id.to_owned()))?;
    let Some(diff) = suggestion.diff.clone() else {
        return Err(ApplyError::NoDiff(id.to_owned(), suggestion.message));
    };
    let path = root.join(&suggestion.file);
    let before = std::fs::read_to_string(&path).map_err(anyhow::Error::from)?;
    let after = patch(&before, &diff).ok_or_else(|| ApplyError::Stale(suggestion.file.clone()))?;
    let open = || {
        gix::open(root).map_err(|e| {
            ApplyError::Repository(format!(
                "{} is not a git repository ({e}); Chiffon commits every change it makes to it",
                root.display()
            ))
        })
    };
    // Not held across the check below: a repository handle is not `Sync`.
    ensure_nothing_staged(&open()?)?;

    std::fs::write(&path, &after).map_err(anyhow::Error::from)?;
    let restore = |error: ApplyError| {
        let _ = std::fs::write(&path, &before);
        error
    };
    if let Err(error) = check(root, &suggestion.file, &after, ansible_playbook).await {
        return Err(restore(error));
    }
    let message = format!(
        "Apply suggestion {} ({}) to {}:{}\n\n{}\n\nPrompted by: {reason}\n",
        suggestion.id, suggestion.rule, suggestion.file, suggestion.line, suggestion.message
    );
    let commit = open().map_err(&restore).and_then(|repo| {
        commit(&repo, &suggestion.file, after.as_bytes(), &message).map_err(|e| {
            restore(ApplyError::Repository(format!(
                "cannot commit the change: {e:#}"
            )))
        })
    })?;
    Ok(Applied {
        suggestion,
        commit,
        audit_commit: None,
    })
}

/// The playbooks that `--syntax-check` covers: every playbook of the repository (a role or a
/// variables file is checked through the playbooks that use it); a compose file must parse.
async fn check(
    root: &Path,
    file: &str,
    text: &str,
    ansible_playbook: &Path,
) -> Result<(), ApplyError> {
    let is_compose = {
        let name = file.rsplit('/').next().unwrap_or(file);
        name.starts_with("compose") || name.starts_with("docker-compose")
    };
    if serde_saphyr::from_str::<serde_json::Value>(text).is_err() && !file.ends_with(".j2") {
        return Err(ApplyError::CheckFailed(format!(
            "{file} is no longer valid YAML"
        )));
    }
    if is_compose {
        return Ok(());
    }
    let catalogue = crate::catalogue::Catalogue::discover(root)?;
    let playbooks: Vec<String> = catalogue.playbooks.iter().map(|p| p.path.clone()).collect();
    crate::tools::ansible::syntax_check(ansible_playbook, root, &playbooks)
        .await?
        .map_err(ApplyError::CheckFailed)
}

/// Refuses when the index holds changes of the person's own: the commit below only adds this
/// file and rewrites the index from the new tree.
pub(crate) fn ensure_nothing_staged(repo: &gix::Repository) -> Result<(), ApplyError> {
    let Ok(head) = repo.head_commit() else {
        return Ok(()); // no commit yet: nothing can be staged against it
    };
    let tree = head.tree_id().map_err(anyhow::Error::from)?;
    let from_head = repo.index_from_tree(&tree).map_err(anyhow::Error::from)?;
    let Ok(index) = repo.open_index() else {
        return Ok(());
    };
    let entries = |file: &gix::index::File| -> Vec<(String, gix::ObjectId)> {
        file.entries()
            .iter()
            .map(|e| (e.path(file).to_string(), e.id))
            .collect()
    };
    if entries(&index) != entries(&from_head) {
        return Err(ApplyError::Repository(
            "the playbook repository has staged changes; commit or unstage them first".to_owned(),
        ));
    }
    Ok(())
}

/// Commits `contents` as `file` on HEAD and keeps the index in step (also an upgrade's pin
/// change, `orchestrator::pin_change`).
pub(crate) fn commit(
    repo: &gix::Repository,
    file: &str,
    contents: &[u8],
    message: &str,
) -> anyhow::Result<String> {
    let commit = crate::audit::commit_file(repo, file, contents, message)?;
    // Keep the index in step with the new HEAD, so `git status` shows no staged reversal.
    let tree = repo.head_commit()?.tree_id()?;
    let mut index = repo.index_from_tree(&tree)?;
    index.write(gix::index::write::Options::default())?;
    Ok(commit)
}

/// Applies a one-hunk unified diff made by this module's rules to `text`; `None` when the
/// lines it expects are not where it expects them.
pub fn patch(text: &str, diff: &str) -> Option<String> {
    let mut lines = diff.lines();
    lines.next()?; // ---
    lines.next()?; // +++
    let header = lines.next()?;
    let start: usize = header
        .strip_prefix("@@ -")?
        .split([',', ' '])
        .next()?
        .parse()
        .ok()?;
    let old: Vec<&str> = text.lines().collect();
    let mut at = start.checked_sub(1)?;
    let mut new: Vec<String> = old[..at.min(old.len())]
        .iter()
        .map(|l| (*l).to_owned())
        .collect();
    for line in lines {
        if let Some(context) = line.strip_prefix(' ') {
            (old.get(at) == Some(&context)).then_some(())?;
            new.push(context.to_owned());
            at += 1;
        } else if let Some(removed) = line.strip_prefix('-') {
            (old.get(at) == Some(&removed)).then_some(())?;
            at += 1;
        } else if let Some(added) = line.strip_prefix('+') {
            new.push(added.to_owned());
        } else {
            return None;
        }
    }
    new.extend(old[at.min(old.len())..].iter().map(|l| (*l).to_owned()));
    let mut out = new.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_applies_only_where_its_lines_still_are() {
        let text = "services:\n  app:\n    image: app:1.2\n    ports:\n      - 80:80\n";
        let new: Vec<String> = "services:\n  app:\n    image: app:1.2\n    restart: unless-stopped\n    ports:\n      - 80:80"
            .lines()
            .map(str::to_owned)
            .collect();
        let diff = crate::suggest::unified("compose.yml", text, &new);
        assert_eq!(patch(text, &diff).unwrap(), format!("{}\n", new.join("\n")));
        let moved = text.replace("app:1.2", "app:1.3");
        assert_eq!(patch(&moved, &diff), None, "stale: the image line changed");
    }
}
