//! Improvement suggestions for a homelab's Ansible repository: rules a seasoned homelabber
//! applies when reading playbooks, roles, variables and compose files. Each suggestion names
//! its rule, file and line, explains itself, and carries a unified diff when the fix is
//! mechanical (for example `restart: unless-stopped`); where only a person can choose the
//! change (which image version to pin), `diff` is absent and the message says what to decide.
//!
//! Invariant: finding suggestions only reads (no writes, no processes), and a vault-encrypted
//! file is never opened past its header; `apply` is the one place that changes the repository.

pub mod apply;
pub(crate) mod findings;
pub mod lint;
pub mod related;
pub mod report;
pub(crate) mod rules;
pub mod runs;
pub(crate) mod source;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use findings::unified;
pub use report::{Group, Report};

/// How much a suggestion matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
}

/// Who found a suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    #[default]
    Chiffon,
    AnsibleLint,
}

/// One suggestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// Stable while the file's line does not change: rule, file, line and the line's text.
    pub id: String,
    pub rule: String,
    /// Relative to the repository root, `/`-separated.
    pub file: String,
    pub line: usize,
    pub severity: Severity,
    pub message: String,
    /// A unified diff against the file as it is now, when the change is mechanical.
    pub diff: Option<String>,
    /// Chiffon's own rules or ansible-lint (whose rules are named `ansible-lint/<check>`).
    #[serde(default)]
    pub origin: Origin,
}

/// Every suggestion of Chiffon's own rules for the repository at `root`, ordered by file and
/// line. Reads only; no process is started.
pub fn analyse(root: &Path) -> Vec<Suggestion> {
    let view = source::View::read(root);
    let mut out = rules::run(&view);
    out.sort_by(|a, b| (&a.file, a.line, &a.rule).cmp(&(&b.file, b.line, &b.rule)));
    out.dedup_by(|a, b| a.id == b.id);
    out
}

/// Adds ansible-lint's findings (rule `ansible-lint/<check>`, no diff), skipping those on a
/// line a Chiffon rule already covers with the same meaning.
pub fn merge_lint(
    root: &Path,
    found: &mut Vec<Suggestion>,
    lint: Vec<crate::tools::ansible::LintFinding>,
) {
    let _ = root;
    report::merge(found, lint);
    found.sort_by(|a, b| (&a.file, a.line, &a.rule).cmp(&(&b.file, b.line, &b.rule)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::scratch as repo;

    fn rules(found: &[Suggestion]) -> Vec<(&str, &str, usize)> {
        found
            .iter()
            .map(|s| (s.rule.as_str(), s.file.as_str(), s.line))
            .collect()
    }

    #[test]
    fn task_rules_find_their_lines_and_propose_safe_changes() {
        let dir = repo(&[(
            "roles/app/tasks/main.yml",
            "---\n- name: Show the config\n  ansible.builtin.command: cat /etc/app.conf\n\n- name: Migrate\n  ansible.builtin.shell: app migrate\n\n- name: Create once\n  ansible.builtin.command: app init\n  args:\n    creates: /srv/app/.init\n\n- name: Restart app\n  ansible.builtin.service:\n    name: app\n    state: restarted\n\n- name: Reboot\n  ansible.builtin.reboot:\n\n- name: Fetch\n  ansible.builtin.get_url:\n    url: https://example.com/app/releases/latest/app.tar.gz\n    dest: /tmp/app.tgz\n",
        )]);
        let found = analyse(dir.path());
        let file = "roles/app/tasks/main.yml";
        assert_eq!(
            rules(&found),
            [
                ("command-not-idempotent", file, 3),
                ("command-not-idempotent", file, 6),
                ("restart-in-tasks", file, 14),
                ("unconditional-reboot", file, 19),
                ("moving-download", file, 22),
            ]
        );
        assert_eq!(
            found[0].diff.as_deref().unwrap(),
            "--- a/roles/app/tasks/main.yml\n+++ b/roles/app/tasks/main.yml\n@@ -1,6 +1,7 @@\n ---\n - name: Show the config\n   ansible.builtin.command: cat /etc/app.conf\n+  changed_when: false\n \n - name: Migrate\n   ansible.builtin.shell: app migrate\n"
        );
        assert!(
            found[1].diff.is_none(),
            "only a person knows what `app migrate` changes"
        );
        assert!(
            found[3]
                .diff
                .as_deref()
                .unwrap()
                .contains("+  when: reboot_required")
        );
        assert_eq!(found[0].severity, Severity::Medium);
        // Stable ids: the same repository gives the same ids.
        assert_eq!(analyse(dir.path())[2].id, found[2].id);
    }

    #[test]
    fn compose_rules_pin_restart_health_and_secrets() {
        let dir = repo(&[(
            "stacks/app/compose.yml",
            "services:\n  app:\n    image: ghcr.io/acme/app:latest\n    environment:\n      DB_PASSWORD: hunter2\n      TZ: Europe/Paris\n  db:\n    image: postgres\n    restart: always\n    environment:\n      - POSTGRES_PASSWORD=changeme\n    healthcheck:\n      test: [\"CMD\", \"pg_isready\"]\n  cache:\n    image: redis:7.2\n    restart: unless-stopped\n    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"ping\"]\n",
        )]);
        let found = analyse(dir.path());
        let file = "stacks/app/compose.yml";
        assert_eq!(
            rules(&found),
            [
                ("no-healthcheck", file, 2),
                ("no-restart-policy", file, 2),
                ("unpinned-image", file, 3),
                ("plaintext-secret", file, 5),
                ("unpinned-image", file, 8),
                ("default-password", file, 11),
            ]
        );
        let restart = found
            .iter()
            .find(|s| s.rule == "no-restart-policy")
            .unwrap();
        assert!(
            restart
                .diff
                .as_deref()
                .unwrap()
                .contains("+    restart: unless-stopped\n")
        );
        let secret = found.iter().find(|s| s.rule == "plaintext-secret").unwrap();
        assert!(
            secret
                .diff
                .as_deref()
                .unwrap()
                .contains("-      DB_PASSWORD: hunter2\n+      DB_PASSWORD: ${DB_PASSWORD}\n")
        );
        let default = found.iter().find(|s| s.rule == "default-password").unwrap();
        assert!(
            default
                .diff
                .as_deref()
                .unwrap()
                .contains("+      - POSTGRES_PASSWORD=${POSTGRES_PASSWORD}\n")
        );
    }

    #[test]
    fn variables_secrets_and_toggles_that_gate_nothing() {
        let dir = repo(&[
            (
                "roles/app/defaults/main.yml",
                "---\napp_admin_password: admin\napp_api_token: \"{{ vault_app_api_token }}\"\napp_metrics_enabled: true\napp_backup_enabled: false\n",
            ),
            (
                "roles/app/tasks/main.yml",
                "- name: Backups\n  ansible.builtin.debug:\n    msg: hi\n  when: app_backup_enabled\n",
            ),
            (
                "group_vars/all/vault.yml",
                "$ANSIBLE_VAULT;1.1;AES256\n6162636465\n",
            ),
        ]);
        let found = analyse(dir.path());
        let file = "roles/app/defaults/main.yml";
        assert_eq!(
            rules(&found),
            [
                ("default-password", file, 2),
                ("toggle-gates-nothing", file, 4)
            ]
        );
        assert!(
            found[0]
                .diff
                .as_deref()
                .unwrap()
                .contains("+app_admin_password: \"{{ vault_app_admin_password }}\"\n")
        );
        assert!(
            found[1]
                .diff
                .as_deref()
                .unwrap()
                .contains("-app_metrics_enabled: true\n")
        );
    }
}
