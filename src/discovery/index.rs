//! What finding apps asks of every file, worked out once per discovery rather than once per
//! app: the files under a folder (a range of the sorted path map, not a scan), the files that
//! can hold an app's configuration with their names already in normal form, and the variables
//! that can be an on/off switch. Without it each app rescanned the whole repository several
//! times (about half a second for 1,000 files).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use crate::discovery::{Repository, Source, VarDef};
use crate::text::normalize;

/// The entries of a path-keyed map under `prefix` (`"roles/app/"`), in path order; every entry
/// when `prefix` is empty.
pub(crate) fn under<'m, 'p, K, V>(
    map: &'m BTreeMap<K, V>,
    prefix: &'p str,
) -> impl Iterator<Item = (&'m K, &'m V)> + 'p
where
    'm: 'p,
    K: std::borrow::Borrow<str> + Ord,
{
    map.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(move |(path, _)| path.borrow().starts_with(prefix))
}

/// A file that may hold an app's configuration: a template, a file a role copies, or a
/// `host_vars` / `group_vars` file.
pub(crate) struct Candidate<'a> {
    pub path: &'a str,
    /// The file name up to its first dot, in normal form.
    pub base: String,
    /// Each folder and the file name, in normal form.
    pub segments: Vec<String>,
    /// `host_vars/` or `group_vars/`.
    pub vars_file: bool,
    /// A vars file's top-level keys, in normal form.
    pub keys: Vec<String>,
}

/// A variable that can switch an app on or off: `<app>_enabled`, `enable_<app>`,
/// `<app>_state`.
pub(crate) struct SwitchVar<'a> {
    pub var: &'a str,
    /// `bool` or `state`.
    pub kind: &'static str,
    /// The `<app>` part, in normal form.
    pub core: String,
    pub definitions: &'a [VarDef],
}

/// The index one discovery builds before finding apps.
pub(crate) struct Index<'a> {
    pub by_path: &'a BTreeMap<&'a str, &'a Source>,
    pub candidates: Vec<Candidate<'a>>,
    pub switches: Vec<SwitchVar<'a>>,
    /// Compose project names set with a top-level `name:`, and how many compose files set
    /// each: one project written across several files.
    pub compose_names: BTreeMap<String, usize>,
    /// Folders (a role's, or a compose file's own) holding a compose file that sets a fixed
    /// project name and includes a file named per entry (`include: - path:
    /// compose-{{ item }}.yml` under `name: my_stack`): every entry is in that one project.
    pub wrapped: BTreeSet<String>,
    /// Whether a file says its images are pulled on every run, read once per file however
    /// many apps ask (a site playbook reaching 200 roles was read 400 times).
    pulling: RefCell<BTreeMap<&'a str, bool>>,
}

/// A sample kept beside the real file (`homeserver-sample.yaml`, `config-example.yml`) that no
/// other file names (no task installs it): the app never reads it, so it holds none of its
/// configuration.
fn unshipped_sample(by_path: &BTreeMap<&str, &Source>, path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let sample = name
        .to_ascii_lowercase()
        .split(['.', '-', '_'])
        .any(|part| matches!(part, "sample" | "example" | "dist"));
    sample
        && !by_path
            .iter()
            .any(|(p, source)| *p != path && source.text.contains(name))
}

/// The project name a compose file sets itself (`name: my_stack` at the top), and whether it
/// includes files named per entry rather than defining services.
fn compose_name(source: &Source) -> Option<(String, bool)> {
    let get = |key: &str| source.nodes.iter().find(|n| n.key.as_deref() == Some(key));
    let templated_include = get("include").is_some_and(|i| {
        i.children.iter().any(|c| {
            c.scalar().contains("{{") || c.get("path").is_some_and(|p| p.scalar().contains("{{"))
        })
    });
    if get("services").is_none() && !templated_include {
        return None;
    }
    get("name")
        .map(|n| crate::discovery::unquote(n.scalar()).to_owned())
        .filter(|name| !name.is_empty() && !name.contains("{{"))
        .map(|name| (name, templated_include))
}

impl Index<'_> {
    /// Whether the compose file at `file` is one part of a project written across several
    /// files: its own `name:` set in other compose files too, or a wrapper beside it naming
    /// one project for every entry.
    pub(crate) fn one_project_of_many(&self, file: &str) -> bool {
        let own = self
            .get(file)
            .and_then(compose_name)
            .is_some_and(|(name, _)| self.compose_names.get(&name).is_some_and(|n| *n > 1));
        own || self.wrapped.iter().any(|folder| file.starts_with(folder))
    }

    /// The image the Dockerfile beside a compose file builds from (its last `FROM`).
    pub(crate) fn built_from(&self, compose_file: &str) -> Option<String> {
        let dockerfile = format!("{}/Dockerfile", crate::discovery::parent(compose_file));
        self.get(&dockerfile)?
            .text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("FROM "))
            .next_back()
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    }
}

impl<'a> Index<'a> {
    pub(crate) fn new(
        repository: &'a Repository,
        by_path: &'a BTreeMap<&'a str, &'a Source>,
    ) -> Self {
        let candidates = by_path
            .iter()
            .filter(|(path, _)| {
                path.contains("templates/")
                    || path.contains("files/")
                    || path.ends_with(".j2")
                    || path.contains("host_vars/")
                    || path.contains("group_vars/")
            })
            .filter(|(path, _)| !unshipped_sample(by_path, path))
            .map(|(path, source)| {
                let name = path.rsplit('/').next().unwrap_or(path);
                let vars_file = path.contains("host_vars/") || path.contains("group_vars/");
                Candidate {
                    path,
                    base: normalize(name.split('.').next().unwrap_or("")),
                    segments: path.split('/').map(normalize).collect(),
                    vars_file,
                    keys: if vars_file {
                        source
                            .nodes
                            .iter()
                            .filter_map(|n| n.key.as_deref())
                            .map(normalize)
                            .collect()
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        let switches = repository
            .vars
            .iter()
            .filter_map(|(var, definitions)| {
                let lower = var.to_lowercase();
                let (kind, core) = if let Some(core) = lower
                    .strip_suffix("_enabled")
                    .or(lower.strip_suffix("_enable"))
                {
                    ("bool", core)
                } else if let Some(core) = lower.strip_prefix("enable_") {
                    ("bool", core)
                } else if let Some(core) = lower.strip_suffix("_state") {
                    ("state", core)
                } else {
                    return None;
                };
                Some(SwitchVar {
                    var,
                    kind,
                    core: normalize(core),
                    definitions,
                })
            })
            .collect();
        let mut compose_names: BTreeMap<String, usize> = BTreeMap::new();
        let mut wrapped = BTreeSet::new();
        for (path, source) in by_path {
            let Some((name, wrapper)) = compose_name(source) else {
                continue;
            };
            *compose_names.entry(name).or_default() += 1;
            if wrapper {
                let folder = path
                    .split_once("/templates/")
                    .or_else(|| path.split_once("/files/"))
                    .map_or_else(|| crate::discovery::parent(path), |(role, _)| role);
                wrapped.insert(format!("{folder}/"));
            }
        }
        Self {
            by_path,
            candidates,
            switches,
            compose_names,
            wrapped,
            pulling: RefCell::default(),
        }
    }

    pub(crate) fn get(&self, path: &str) -> Option<&'a Source> {
        self.by_path.get(path).copied()
    }

    /// Whether the file at `path` says its images are pulled on every run (`pins::says_pull`).
    pub(crate) fn pulls(&self, path: &str) -> bool {
        let Some((path, source)) = self.by_path.get_key_value(path) else {
            return false;
        };
        if let Some(known) = self.pulling.borrow().get(path) {
            return *known;
        }
        let pulls = crate::discovery::pins::says_pull(&source.text);
        self.pulling.borrow_mut().insert(path, pulls);
        pulls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_a_folder_is_that_folder_only() {
        let map: BTreeMap<&str, u8> = [
            ("roles/app/tasks/main.yml", 1),
            ("roles/app/templates/x.j2", 2),
            ("roles/app2/tasks/main.yml", 3),
            ("roles/ap/tasks/main.yml", 4),
        ]
        .into_iter()
        .collect();
        let found: Vec<u8> = under(&map, "roles/app/").map(|(_, v)| *v).collect();
        assert_eq!(found, [1, 2]);
        assert_eq!(under(&map, "").count(), 4);
    }
}
