//! The playbook catalogue the orchestrator plans with, and the watcher that reads the
//! repository again when its files change, so new or edited playbooks are planned with
//! without a restart.

use std::sync::Arc;
use std::time::Duration;

use crate::catalogue::Catalogue;
use crate::orchestrator::Core;

/// How often the playbook repository is looked at for changes.
const CATALOGUE_CHECK: Duration = Duration::from_secs(30);
/// The catalogue is read again at least this often, changed or not.
const CATALOGUE_MAX_AGE: Duration = Duration::from_secs(3600);

impl Core {
    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.planning
            .catalogue
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the playbook repository again (after Chiffon changed it).
    pub fn reload_catalogue(&self) {
        match Catalogue::discover(&self.config.playbooks) {
            Ok(catalogue) => {
                *self
                    .planning
                    .catalogue
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Arc::new(catalogue);
            }
            Err(error) => tracing::warn!("kept the previous playbook catalogue: {error:#}"),
        }
    }

    /// Reads the playbook repository again when its files change (checked every 30 s) and at
    /// least hourly, for the life of the server.
    pub(crate) async fn watch_catalogue(self: Arc<Self>) {
        let root = self.config.playbooks.clone();
        let look = move || fingerprint(&root);
        let mut last = tokio::task::spawn_blocking(look.clone()).await.ok();
        let mut read_at = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(CATALOGUE_CHECK).await;
            let now = tokio::task::spawn_blocking(look.clone()).await.ok();
            if now != last || read_at.elapsed() >= CATALOGUE_MAX_AGE {
                if now != last {
                    tracing::info!("the playbook repository changed; reading it again");
                }
                self.reload_catalogue();
                last = now;
                read_at = tokio::time::Instant::now();
            }
        }
    }
}

/// (files, total size, newest modification) of the repository's YAML and config files.
fn fingerprint(root: &std::path::Path) -> (u64, u64, Option<std::time::SystemTime>) {
    let (mut files, mut size, mut newest) = (0, 0, None);
    let watched = |name: &str| {
        [".yml", ".yaml", ".cfg", ".j2"]
            .iter()
            .any(|e| name.ends_with(e))
    };
    for path in crate::repo::files(root, root, watched) {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        files += 1;
        size += meta.len();
        newest = newest.max(meta.modified().ok());
    }
    (files, size, newest)
}

#[cfg(test)]
mod tests {
    use crate::orchestrator::catalogue_watch::fingerprint;

    #[test]
    fn a_new_or_edited_playbook_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), "- hosts: all\n").unwrap();
        let before = fingerprint(dir.path());
        std::fs::write(dir.path().join("README.md"), "not a playbook").unwrap();
        assert_eq!(fingerprint(dir.path()), before, "other files do not count");
        std::fs::create_dir_all(dir.path().join("roles/x/tasks")).unwrap();
        std::fs::write(dir.path().join("roles/x/tasks/main.yml"), "- debug: {}\n").unwrap();
        assert_ne!(fingerprint(dir.path()), before);
    }
}
