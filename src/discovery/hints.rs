//! The owner's hints (`.chiffon/hints.toml` in the playbook repository): names people use for
//! services and hosts, groups that are not services, and for a service the playbook, tags,
//! hosts or configuration file to use. Read with discovery; `resolve` and the planner apply
//! them before their own reading. A file that does not parse is reported (file, line, what is
//! wrong) and not used, never half-applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::text::normalize;

/// Where the hints live, relative to the repository.
pub const HINTS_FILE: &str = ".chiffon/hints.toml";

/// What the owner wrote.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hints {
    /// Names that are hosts or groups, never services (a group `media` next to `media.yml`).
    #[serde(default)]
    pub not_services: BTreeSet<String>,
    /// A name people use → the service it means (a catalogue or repository service id).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// A name people use → the inventory host or group it means.
    #[serde(default)]
    pub hosts: BTreeMap<String, String>,
    /// Per service id: how to run it.
    #[serde(default)]
    pub service: BTreeMap<String, ServiceHint>,
}

/// How to run one service, where discovery would guess otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceHint {
    /// More names for it (like `aliases`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The playbook that deploys, upgrades, configures and removes it.
    pub playbook: Option<String>,
    /// The tags that select it in that playbook.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The host or group it runs on (the limit, and where built-in actions act).
    pub hosts: Option<String>,
    /// The file that holds its configuration.
    pub config: Option<String>,
}

/// The hints of the repository at `root`: none when there is no file; the error (with the
/// line) when it does not parse.
pub fn read(root: &Path) -> Result<Hints, String> {
    let path = root.join(HINTS_FILE);
    if !path.is_file() {
        return Ok(Hints::default());
    }
    let Some(text) = crate::repo::read_text(&path) else {
        return Err(format!(
            "{HINTS_FILE} cannot be read (larger than 1 MiB, not UTF-8, or not a regular file)"
        ));
    };
    parse(&text)
}

/// Parses the hints, checking what TOML cannot: every name and value is non-empty.
pub fn parse(text: &str) -> Result<Hints, String> {
    let hints: Hints = toml::from_str(text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = error.message().trim().to_owned();
        match line {
            Some(line) => format!("{HINTS_FILE}, line {line}: {message}"),
            None => format!("{HINTS_FILE}: {message}"),
        }
    })?;
    let empty = |what: &str| Err(format!("{HINTS_FILE}: {what} must not be empty"));
    for (name, meant) in hints.aliases.iter().chain(&hints.hosts) {
        if words(name).is_empty() || meant.trim().is_empty() {
            return empty(&format!("the alias \"{name}\" or what it names"));
        }
    }
    for (id, hint) in &hints.service {
        if id.trim().is_empty()
            || hint
                .playbook
                .as_deref()
                .is_some_and(|p| p.trim().is_empty())
        {
            return empty(&format!("[service.{id}] and its playbook"));
        }
    }
    Ok(hints)
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Hints {
    /// `text` with the owner's names replaced by what they mean (`the film server` →
    /// `jellyfin`, `the telly box` → `filmbox`), longest names first; the text as it was when
    /// nothing matched.
    pub fn rewrite(&self, text: &str) -> String {
        let mut names: Vec<(Vec<String>, &str)> =
            self.aliases
                .iter()
                .chain(&self.hosts)
                .map(|(name, meant)| (words(name), meant.as_str()))
                .chain(self.service.iter().flat_map(|(id, hint)| {
                    hint.aliases.iter().map(move |a| (words(a), id.as_str()))
                }))
                .filter(|(w, _)| !w.is_empty())
                .collect();
        if names.is_empty() {
            return text.to_owned();
        }
        names.sort_by_key(|(w, _)| std::cmp::Reverse(w.len()));
        let mut tokens = words(text);
        let mut changed = false;
        for (name, meant) in &names {
            let mut at = 0;
            while at + name.len() <= tokens.len() {
                if tokens[at..at + name.len()] == name[..] {
                    tokens.splice(at..at + name.len(), [meant.to_string()]);
                    changed = true;
                }
                at += 1;
            }
        }
        if changed {
            tokens.join(" ")
        } else {
            text.to_owned()
        }
    }

    /// True when the owner said `name` is not a service.
    pub fn not_a_service(&self, name: &str) -> bool {
        let name = normalize(name);
        self.not_services.iter().any(|n| normalize(n) == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_people_use_are_replaced_by_what_they_mean() {
        let hints = parse(
            "not_services = [\"media\"]\n[aliases]\n\"the film server\" = \"jellyfin\"\n[hosts]\n\"telly box\" = \"filmbox\"\n[service.restic]\naliases = [\"backups\"]\nplaybook = \"backup.yml\"\n",
        )
        .unwrap();
        assert_eq!(
            hints.rewrite("Restart the film server on the telly box"),
            "restart jellyfin on the filmbox"
        );
        assert_eq!(hints.rewrite("run the backups"), "run the restic");
        assert_eq!(hints.rewrite("deploy kuma"), "deploy kuma");
        assert!(hints.not_a_service("Media"));
    }

    #[test]
    fn a_broken_file_is_refused_with_its_line() {
        let error = parse("[aliases]\n\"plex\" = \"jellyfin\"\n[service.x]\nplaybok = \"a.yml\"\n")
            .unwrap_err();
        assert!(error.contains(HINTS_FILE), "{error}");
        assert!(error.contains("line 4"), "{error}");
        assert!(error.contains("playbok"), "{error}");
        let error = parse("[aliases]\n\"\" = \"jellyfin\"\n").unwrap_err();
        assert!(error.contains("must not be empty"), "{error}");
    }
}
