//! The services and packages of a revert plan (`docs/revert.md`): per host, each service back
//! to the state and start-at-boot it had before its first change in the run, and the packages
//! the run newly installed removed. Files are `revert`'s; this only plans what the built-in
//! `revert_files.yml` does around them (`chiffon_revert_services`, `chiffon_revert_packages`).
//!
//! Invariant: an entry undoes only what the run's own records say it changed, from a previous
//! state the host reported (systemd's `show`, the package manager's output); anything else is a
//! line of what cannot be undone, never a guess.

use serde_json::{Value, json};

use crate::model::change::Change;
use crate::orchestrator::revert::cannot_undo;

/// What the undo does to one host's services and packages.
#[derive(Debug, Default)]
pub struct ResourceUndo {
    /// `chiffon_revert_services`, latest change first.
    pub services: Vec<Value>,
    /// `chiffon_revert_packages`: names of the packages the run newly installed.
    pub packages: Vec<String>,
    /// For the plan's risk reasons: what the undo does to them.
    pub lines: Vec<String>,
    /// What stays, with the reason.
    pub irreversible: Vec<String>,
    /// Changes that left nothing lasting (a restart), said so.
    pub nothing: Vec<String>,
}

/// Plans the undo of one host's `service` and `package` changes, in the order they happened.
pub fn undo_resources(host: &str, changes: &[&Change]) -> ResourceUndo {
    let mut undo = ResourceUndo::default();
    let services: Vec<&Change> = changes
        .iter()
        .copied()
        .filter(|c| c.kind == "service")
        .collect();
    let mut names: Vec<&str> = Vec::new();
    for change in &services {
        if !names.contains(&change.target.as_str()) {
            names.push(&change.target);
        }
    }
    for name in names.iter().rev() {
        let history: Vec<&Change> = services
            .iter()
            .copied()
            .filter(|c| c.target == *name)
            .collect();
        match service_entry(name, &history) {
            Ok(Some(entry)) => {
                undo.lines.push(service_line(host, &entry));
                undo.services.push(entry);
            }
            Ok(None) => undo.nothing.push(format!(
                "on {host}: service {name}: {}",
                history
                    .iter()
                    .find_map(|c| c.note.clone())
                    .unwrap_or_else(|| "nothing lasting changed".to_owned())
            )),
            Err(why) => undo.irreversible.push(why),
        }
    }
    for change in changes.iter().rev().filter(|c| c.kind == "package") {
        if !change.reversible || change.existed != Some(false) {
            undo.irreversible.push(cannot_undo(change));
        } else if !plain_name(&change.target, "+._-") {
            undo.irreversible.push(format!(
                "on {host}: package {:?}: a name Chiffon does not pass to the package manager",
                change.target
            ));
        } else if !undo.packages.contains(&change.target) {
            undo.packages.push(change.target.clone());
        }
    }
    if !undo.packages.is_empty() {
        undo.lines.push(format!(
            "on {host}: removes the package{} the run newly installed ({}), last, after the services and files are put back",
            if undo.packages.len() == 1 { "" } else { "s" },
            undo.packages.join(", ")
        ));
    }
    undo
}

/// A name made of ASCII letters and digits and `extra`, not starting with one of `extra`
/// (never an option, a path or a pattern).
pub(crate) fn plain_name(name: &str, extra: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// The entry that puts service `name` back as it was before its first change in `history`,
/// `None` when nothing lasting changed, or why it cannot be put back.
fn service_entry(name: &str, history: &[&Change]) -> Result<Option<Value>, String> {
    if let Some(change) = history.iter().find(|c| !c.reversible) {
        return Err(cannot_undo(change));
    }
    if !plain_name(name, "@._:-") {
        let host = &history[0].host;
        return Err(format!(
            "on {host}: service {name:?}: a name Chiffon does not pass to systemd"
        ));
    }
    // The first change of each aspect says what it was before the run.
    let mut state: Option<String> = None;
    let mut enabled: Option<bool> = None;
    for change in history {
        let before = change.before.clone().unwrap_or_default();
        let after = change.after.clone().unwrap_or_default();
        if state.is_none() && after.state.is_some() && after.state != before.state {
            state = before.state.clone();
            if state.is_none() {
                return Err(cannot_undo(change));
            }
        }
        if enabled.is_none() && after.enabled.is_some() && after.enabled != before.enabled {
            enabled = before.enabled;
            if enabled.is_none() {
                return Err(cannot_undo(change));
            }
        }
    }
    if state.is_none() && enabled.is_none() {
        return Ok(None);
    }
    // Stopping and disabling go before the files change (a unit file the run made is still
    // there); starting and enabling after they are back.
    let phase =
        if state.as_deref() == Some("stopped") || (state.is_none() && enabled == Some(false)) {
            "before_files"
        } else {
            "after_files"
        };
    let mut entry = json!({"name": name, "when": phase});
    if let Some(state) = state {
        entry["state"] = json!(state);
    }
    if let Some(enabled) = enabled {
        entry["enabled"] = json!(enabled);
    }
    Ok(Some(entry))
}

/// "on lola: stops service kuma-backup.service and disables it at boot (as it was before the
/// run), before the files are put back".
fn service_line(host: &str, entry: &Value) -> String {
    let name = entry["name"].as_str().unwrap_or_default();
    let boot = |enabled: bool| if enabled { "enables" } else { "disables" };
    let what = match (entry["state"].as_str(), entry["enabled"].as_bool()) {
        (Some(state), enabled) => {
            let verb = if state == "stopped" {
                "stops"
            } else {
                "starts"
            };
            match enabled {
                Some(enabled) => format!("{verb} service {name} and {} it at boot", boot(enabled)),
                None => format!("{verb} service {name}"),
            }
        }
        (None, Some(enabled)) => format!("{} service {name} at boot", boot(enabled)),
        (None, None) => format!("leaves service {name}"),
    };
    let when = if entry["when"] == "before_files" {
        "before the files are put back"
    } else {
        "after the files are put back"
    };
    format!("on {host}: {what} (as it was before the run), {when}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::change::ResourceState;

    fn service(name: &str, before: (&str, bool), after: (&str, bool)) -> Change {
        let side = |(state, enabled): (&str, bool)| ResourceState {
            state: Some(state.into()),
            enabled: Some(enabled),
            ..ResourceState::default()
        };
        Change {
            host: "lola".into(),
            task: "Start the backup".into(),
            module: "ansible.builtin.systemd_service".into(),
            kind: "service".into(),
            target: name.into(),
            existed: None,
            before: Some(side(before)),
            after: Some(side(after)),
            before_content: None,
            after_content: None,
            diff: None,
            reversible: true,
            note: None,
        }
    }

    fn package(name: &str, existed: bool) -> Change {
        let mut change = service(name, ("stopped", false), ("stopped", false));
        change.kind = "package".into();
        change.module = "ansible.builtin.apt".into();
        change.existed = Some(existed);
        change.reversible = !existed;
        change.note = Some(if existed {
            format!("package {name} went from 1.0 to 1.1: undo does not downgrade")
        } else {
            format!("package {name} newly installed: undo removes it")
        });
        change
    }

    #[test]
    fn a_service_goes_back_to_its_state_before_the_run_stopping_before_files_starting_after() {
        let started = service("kuma-backup.service", ("stopped", false), ("started", true));
        let stopped = service("nginx.service", ("started", true), ("stopped", true));
        let undo = undo_resources("lola", &[&started, &stopped]);
        assert!(undo.irreversible.is_empty(), "{:?}", undo.irreversible);
        // Latest first.
        assert_eq!(
            undo.services,
            [
                json!({"name": "nginx.service", "state": "started", "when": "after_files"}),
                json!({"name": "kuma-backup.service", "state": "stopped", "enabled": false,
                       "when": "before_files"}),
            ]
        );
        assert!(
            undo.lines.iter().any(|l| l
                == "on lola: stops service kuma-backup.service and disables it at boot (as it was before the run), before the files are put back"),
            "{:?}",
            undo.lines
        );
    }

    #[test]
    fn a_restart_leaves_nothing_to_undo_and_an_unknown_previous_state_stays() {
        let mut restarted = service("nginx.service", ("started", true), ("started", true));
        restarted.note = Some("service nginx.service restarted: nothing lasting changed".into());
        let mut sysv = service("ntp", ("stopped", false), ("started", false));
        sysv.before = None;
        sysv.reversible = false;
        sysv.note = Some("its previous state was not reported".into());
        let undo = undo_resources("lola", &[&restarted, &sysv]);
        assert!(undo.services.is_empty());
        assert_eq!(
            undo.nothing,
            [
                "on lola: service nginx.service: service nginx.service restarted: nothing lasting changed"
            ]
        );
        assert!(
            undo.irreversible[0].contains("service ntp")
                && undo.irreversible[0].contains("not reported"),
            "{:?}",
            undo.irreversible
        );
    }

    #[test]
    fn only_packages_the_run_newly_installed_are_removed() {
        let htop = package("htop", false);
        let lib = package("libnl-3-200", false);
        let curl = package("curl", true);
        let odd = package("-oops", false);
        let undo = undo_resources("lola", &[&htop, &lib, &curl, &odd]);
        assert_eq!(undo.packages, ["libnl-3-200", "htop"]);
        assert_eq!(undo.irreversible.len(), 2, "{:?}", undo.irreversible);
        assert!(
            undo.irreversible
                .iter()
                .any(|l| l.contains("curl") && l.contains("1.0"))
        );
        assert!(
            undo.lines
                .iter()
                .any(|l| l
                    .contains("removes the packages the run newly installed (libnl-3-200, htop)")),
            "{:?}",
            undo.lines
        );
    }
}
