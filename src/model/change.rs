//! What a real run changed on a host, one record per file or resource, as Chiffon's callback
//! plugin captured it: enough to show it (before → after, a diff for text) and, where Chiffon
//! can, to put it back (`docs/revert.md`).

use serde::{Deserialize, Serialize};

/// One change a task made on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Change {
    pub host: String,
    /// The Ansible task's name.
    pub task: String,
    /// The module that made it (`ansible.builtin.template`, `ansible.builtin.command`, …).
    pub module: String,
    /// `file`, `directory`, `link`, `compose` (a project brought up), `container`, `package`,
    /// `service`, `command`, `commit` (Chiffon's own commit to the playbook repository, on the
    /// host `playbook repository`) or `other`.
    pub kind: String,
    /// The file's path, a compose project's folder, or the container, package, service or
    /// command's name.
    pub target: String,
    /// Whether the file or resource existed before the task; `None` when Chiffon cannot tell.
    #[serde(default)]
    pub existed: Option<bool>,
    #[serde(default)]
    pub before: Option<ResourceState>,
    #[serde(default)]
    pub after: Option<ResourceState>,
    /// The previous content of a text file, exactly, when kept (up to the size cap, never for
    /// a `no_log` task or a file that holds a secret). For a `container`: its definition
    /// before the change, the module's parameters as JSON, under the same rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_content: Option<String>,
    /// The content the task left (a container's definition after it), under the same rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_content: Option<String>,
    /// A unified diff of the text, before → after, when both sides are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Whether Chiffon can undo this change.
    pub reversible: bool,
    /// Why it cannot be undone, or why content was not kept, in plain words.
    #[serde(default)]
    pub note: Option<String>,
}

/// A file's or resource's state on one side of a change; each field only when known.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResourceState {
    /// `file`, `directory`, `link`, `absent`, `present`, `started`, `stopped`, …
    #[serde(default)]
    pub state: Option<String>,
    /// SHA-1 of a file's content (what Ansible's `stat` and `copy` report); for a `commit`,
    /// the commit's id.
    #[serde(default)]
    pub sha1: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    /// A container's image, when known.
    #[serde(default)]
    pub image: Option<String>,
    /// A compose project's name (`docker compose --project-name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The container runtime that ran it: `docker` or `podman`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// A service's start at boot (systemd's `UnitFileState` before, the module's `enabled`
    /// after), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// A package's version, when the package manager's output names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The most bytes of one file's content Chiffon keeps (Ansible's own diff cap is 100 KiB).
pub const MAX_KEPT_CONTENT: usize = 256 * 1024;

impl Change {
    /// Makes the record safe to keep: every free text goes through `redact`, and content that
    /// `redact` would change (it holds a secret) is dropped, with the reason, so nothing secret
    /// is stored and nothing is restored half-redacted.
    pub fn withhold_secrets(&mut self, redact: impl Fn(&str) -> String) {
        for text in [
            &mut self.host,
            &mut self.task,
            &mut self.target,
            &mut self.module,
        ] {
            *text = redact(text);
        }
        if let Some(note) = &mut self.note {
            *note = redact(note);
        }
        let holds_secret = [&self.before_content, &self.after_content, &self.diff]
            .into_iter()
            .flatten()
            .any(|text| redact(text) != *text);
        if holds_secret {
            self.before_content = None;
            self.after_content = None;
            self.diff = None;
            if self.existed != Some(false) {
                self.reversible = false;
            }
            // Worded so that redacting it again (the orchestrator does) leaves it as it is.
            self.note = Some(match (self.kind.as_str(), self.reversible) {
                ("container", true) => {
                    "its definition holds a secret, so Chiffon kept none of it (undo removes the container by name)"
                }
                ("container", false) => {
                    "its definition holds a secret, so Chiffon kept none of it and cannot put it back"
                }
                (_, true) => "the file holds a secret, so Chiffon kept none of its content",
                (_, false) => {
                    "the file holds a secret, so Chiffon kept none of its content and cannot put it back"
                }
            }
            .to_owned());
        }
    }

    /// The bytes of content this record keeps.
    pub fn kept_bytes(&self) -> usize {
        [&self.before_content, &self.after_content, &self.diff]
            .into_iter()
            .flatten()
            .map(String::len)
            .sum()
    }

    /// Drops the content (over the run's budget), saying so.
    pub fn drop_content(&mut self, why: &str) {
        self.before_content = None;
        self.after_content = None;
        self.diff = None;
        if self.existed != Some(false) && matches!(self.kind.as_str(), "file" | "container") {
            self.reversible = false;
        }
        self.note = Some(why.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &str) -> Change {
        Change {
            host: "lola".into(),
            task: "Render".into(),
            module: "ansible.builtin.template".into(),
            kind: "file".into(),
            target: "/srv/app.conf".into(),
            existed: Some(true),
            before: None,
            after: None,
            before_content: Some(content.into()),
            after_content: Some("new\n".into()),
            diff: Some(format!("-{content}+new\n")),
            reversible: true,
            note: None,
        }
    }

    #[test]
    fn content_holding_a_secret_is_never_kept_and_the_change_says_why() {
        let hide = |t: &str| t.replace("hunter2", "[REDACTED]");
        let mut change = file("password=hunter2\n");
        change.withhold_secrets(hide);
        assert_eq!(change.before_content, None);
        assert_eq!(change.diff, None);
        assert!(!change.reversible);
        assert!(change.note.unwrap().contains("secret"));
        let mut plain = file("port=80\n");
        plain.withhold_secrets(hide);
        assert_eq!(plain.before_content.as_deref(), Some("port=80\n"));
        assert!(plain.reversible);
    }

    #[test]
    fn a_container_definition_holding_a_secret_is_dropped_and_it_is_irreversible() {
        let hide = |t: &str| crate::redact::text(t).into_owned();
        let mut changed =
            file("{\n  \"env\": {\n    \"DB_PASSWORD\": \"hunter2hunter2\"\n  }\n}\n");
        changed.kind = "container".into();
        changed.withhold_secrets(hide);
        assert_eq!(changed.before_content, None);
        assert_eq!(changed.after_content, None);
        assert!(!changed.reversible);
        assert_eq!(
            changed.note.as_deref(),
            Some(
                "its definition holds a secret, so Chiffon kept none of it and cannot put it back"
            )
        );
        // One the run created is still removed by name.
        let mut created = file("{\"env\": {\"DB_PASSWORD\": \"hunter2hunter2\"}}\n");
        created.kind = "container".into();
        created.existed = Some(false);
        created.withhold_secrets(hide);
        assert!(created.reversible && created.before_content.is_none());
        let note = created.note.clone();
        created.withhold_secrets(hide);
        assert_eq!(created.note, note);
    }

    #[test]
    fn the_orchestrator_withholding_again_keeps_the_note_readable() {
        let mut change = file("password=hunter2\n");
        change.withhold_secrets(|t: &str| t.replace("hunter2", "[REDACTED]"));
        let note = change.note.clone();
        change.withhold_secrets(|t: &str| crate::redact::text(t).into_owned());
        assert_eq!(change.note, note);
    }
}
