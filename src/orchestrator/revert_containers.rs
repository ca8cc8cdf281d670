//! The containers of a revert plan (`docs/revert.md`): per host, each container the run changed
//! with community.docker's `docker_container` back on the definition it had before its first
//! change in the run (its image included), and each container the run created removed. They
//! run through Chiffon's built-in `revert_containers.yml`, a playbook apart from
//! `revert_files.yml` (its tasks need community.docker, which the files' undo must not):
//! the removals before the host's files are put back, the re-creations after.
//!
//! Invariant: a re-creation uses only the definition the callback plugin recorded (the task's
//! own parameters, each option the module's diff reported changed set back to its previous
//! value), which the agent and the orchestrator dropped if it held a secret; anything else is
//! a line of what cannot be undone, never a guess.

use serde_json::{Value, json};

use crate::model::change::Change;
use crate::orchestrator::revert::{base64, cannot_undo};
use crate::orchestrator::revert_resources::plain_name;

/// The built-in action that puts containers back.
pub const REVERT_CONTAINERS_PLAYBOOK: &str = "chiffon:ansible/actions/revert_containers.yml";

/// What the undo does to one host's containers.
#[derive(Debug, Default)]
pub struct ContainerUndo {
    /// `chiffon_revert_containers` entries that remove a container the run created: run
    /// before the host's files are put back.
    pub remove: Vec<Value>,
    /// Entries that put a container back on its previous definition: run after the files.
    pub recreate: Vec<Value>,
    /// For the plan's risk reasons: what the undo does to them.
    pub lines: Vec<String>,
    /// What stays, with the reason.
    pub irreversible: Vec<String>,
    /// Containers whose definition the run left as it was, said so.
    pub nothing: Vec<String>,
}

/// Plans the undo of one host's `container` changes, in the order they happened; the
/// container changed last comes first.
pub fn undo_containers(host: &str, changes: &[&Change]) -> ContainerUndo {
    let mut undo = ContainerUndo::default();
    let mut names: Vec<&str> = Vec::new();
    for change in changes {
        names.retain(|n| *n != change.target);
        names.push(&change.target);
    }
    for name in names.iter().rev() {
        let history: Vec<&Change> = changes
            .iter()
            .copied()
            .filter(|c| c.target == *name)
            .collect();
        match container_entry(host, name, &history) {
            Ok(Some(entry)) => {
                undo.lines.push(container_line(host, &entry));
                if entry["action"] == "remove" {
                    undo.remove.push(entry);
                } else {
                    undo.recreate.push(entry);
                }
            }
            Ok(None) => undo.nothing.push(format!(
                "on {host}: container {name}: its definition did not change"
            )),
            Err(why) => undo.irreversible.push(why),
        }
    }
    undo
}

/// Whether a change left the container's definition as it was (a restart, an image pulled
/// that it does not run).
fn unchanged(change: &Change) -> bool {
    change.reversible
        && change.existed == Some(true)
        && change.before_content.is_some()
        && change.before_content == change.after_content
}

/// The entry that undoes container `name`'s `history`: removed when its first lasting change
/// created it, else re-created on the definition it had before that change; `None` when no
/// change was lasting; or why it cannot be put back.
fn container_entry(host: &str, name: &str, history: &[&Change]) -> Result<Option<Value>, String> {
    let Some(first) = history.iter().copied().find(|c| !unchanged(c)) else {
        return Ok(None);
    };
    if !first.reversible {
        return Err(cannot_undo(first));
    }
    if first.module.rsplit('.').next() != Some("docker_container") {
        return Err(format!(
            "on {host}: container {name} ({}): undo puts back only community.docker's docker_container containers",
            first.module
        ));
    }
    if !plain_name(name, "_.-") {
        return Err(format!(
            "on {host}: container {name:?}: a name Chiffon does not pass to the module"
        ));
    }
    if first.existed == Some(false) {
        return Ok(Some(json!({"name": name, "action": "remove"})));
    }
    let definition = first
        .before_content
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .filter(|d| d["name"] == name && d["image"].is_string());
    let (Some(definition), Some(text)) = (definition, first.before_content.as_deref()) else {
        return Err(format!(
            "on {host}: container {name} ({}, task {:?}): its previous definition was not kept",
            first.module, first.task
        ));
    };
    Ok(Some(json!({
        "name": name,
        "action": "recreate",
        "image": definition["image"],
        "definition_b64": base64(text.as_bytes()),
    })))
}

/// "on lola: puts container uptime-kuma back on image … with its previous definition, after
/// the files are put back".
fn container_line(host: &str, entry: &Value) -> String {
    let name = entry["name"].as_str().unwrap_or_default();
    if entry["action"] == "remove" {
        format!(
            "on {host}: removes container {name}, which the run created, before the files are put back"
        )
    } else {
        format!(
            "on {host}: puts container {name} back on image {} with its previous definition, after the files are put back",
            entry["image"].as_str().unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::change::ResourceState;

    fn container(name: &str, existed: bool, before: Option<Value>, after: &Value) -> Change {
        Change {
            host: "lola".into(),
            task: "Run the checker".into(),
            module: "community.docker.docker_container".into(),
            kind: "container".into(),
            target: name.into(),
            existed: Some(existed),
            before: Some(ResourceState {
                state: Some(if existed { "started" } else { "absent" }.into()),
                ..ResourceState::default()
            }),
            after: Some(ResourceState {
                image: after["image"].as_str().map(str::to_owned),
                ..ResourceState::default()
            }),
            before_content: before.map(|b| format!("{b:#}\n")),
            after_content: Some(format!("{after:#}\n")),
            diff: None,
            reversible: true,
            note: None,
        }
    }

    fn kuma(image: &str, interval: &str) -> Value {
        json!({"name": "kuma-checker", "image": image, "state": "started",
               "env": {"CHECK_INTERVAL": interval}})
    }

    /// The entry's definition as the plan carries it: the kept text, base64.
    fn carried(definition: &Value) -> Value {
        json!(base64(format!("{definition:#}\n").as_bytes()))
    }

    #[test]
    fn a_changed_container_goes_back_on_the_definition_before_its_first_change() {
        let first = container(
            "kuma-checker",
            true,
            Some(kuma("sha256:aaaa", "60")),
            &kuma("louislam/uptime-kuma:1.23.16", "30"),
        );
        let second = container(
            "kuma-checker",
            true,
            Some(kuma("sha256:bbbb", "30")),
            &kuma("louislam/uptime-kuma:2.0.0", "15"),
        );
        let undo = undo_containers("lola", &[&first, &second]);
        assert!(undo.irreversible.is_empty(), "{:?}", undo.irreversible);
        assert!(undo.remove.is_empty());
        assert_eq!(undo.recreate.len(), 1);
        let entry = &undo.recreate[0];
        assert_eq!(entry["action"], "recreate");
        assert_eq!(entry["image"], "sha256:aaaa");
        assert_eq!(entry["definition_b64"], carried(&kuma("sha256:aaaa", "60")));
        assert_eq!(
            undo.lines,
            [
                "on lola: puts container kuma-checker back on image sha256:aaaa with its previous definition, after the files are put back"
            ]
        );
    }

    #[test]
    fn a_created_container_is_removed_and_what_cannot_be_put_back_is_said() {
        let created = container("kuma-db", false, None, &kuma("mariadb:11.4", "1"));
        // Its definition held a secret: the agent dropped it.
        let mut secret = container("vault", true, None, &kuma("vault:1.17", "1"));
        secret.after_content = None;
        secret.reversible = false;
        secret.note = Some(
            "its definition holds a secret, so Chiffon kept none of it and cannot put it back"
                .into(),
        );
        let mut podman = container("pihole", true, None, &kuma("pihole:2025.03.0", "1"));
        podman.module = "containers.podman.podman_container".into();
        // Restarted only: the definition did not change.
        let same = kuma("louislam/uptime-kuma:1.23.16", "60");
        let restarted = container("kuma-checker", true, Some(same.clone()), &same);
        let undo = undo_containers("lola", &[&created, &secret, &podman, &restarted]);
        assert_eq!(
            undo.remove,
            [json!({"name": "kuma-db", "action": "remove"})]
        );
        assert!(undo.recreate.is_empty());
        assert_eq!(
            undo.nothing,
            ["on lola: container kuma-checker: its definition did not change"]
        );
        assert_eq!(undo.irreversible.len(), 2, "{:?}", undo.irreversible);
        assert!(
            undo.irreversible[0].contains("pihole")
                && undo.irreversible[0].contains("only community.docker's docker_container"),
            "{:?}",
            undo.irreversible
        );
        assert!(
            undo.irreversible[1].starts_with("on lola: container vault")
                && undo.irreversible[1].contains("its definition holds a secret"),
            "{:?}",
            undo.irreversible
        );
        assert_eq!(
            undo.lines,
            [
                "on lola: removes container kuma-db, which the run created, before the files are put back"
            ]
        );
    }

    #[test]
    fn a_definition_of_another_container_or_an_odd_name_is_never_planned() {
        let mut elsewhere = kuma("sha256:aaaa", "60");
        elsewhere["name"] = json!("else");
        let other = container(
            "kuma-checker",
            true,
            Some(elsewhere),
            &kuma("louislam/uptime-kuma:2.0.0", "15"),
        );
        let odd = container("--rm", false, None, &kuma("x", "1"));
        let undo = undo_containers("lola", &[&other, &odd]);
        assert!(undo.recreate.is_empty() && undo.remove.is_empty());
        assert_eq!(undo.irreversible.len(), 2, "{:?}", undo.irreversible);
        assert!(undo.irreversible[0].contains("a name Chiffon does not pass"));
        assert!(undo.irreversible[1].contains("its previous definition was not kept"));
    }
}
