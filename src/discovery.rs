//! What a homelab repository holds, whatever its layout: Ansible project roots anywhere
//! (`ansible.cfg`, `roles_path`), inventories (INI and YAML, several environments) with hosts,
//! groups and children, playbooks and their plays (hosts, tags, roles, includes), roles (nested,
//! referenced by name or path), the task files each play reaches (through `include_tasks` /
//! `import_tasks`, also looped over a list; a commented-out include reaches nothing), variables
//! and where they are set, and the apps (`discovery::apps`): containers, compose projects and
//! systemd units, each with its service, pin, switch, configuration files and entrypoints.
//!
//! Everything is read through `repo` (the one walker) and the line-exact YAML `outline`, which
//! reads Jinja templates of YAML as well as plain YAML.

mod added;
pub mod apps;
mod conditioned;
pub mod hints;
mod index;
pub mod inventory;
mod pins;
pub mod plays;
mod reads;
mod tagged;
pub mod upgrades;
mod words;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::repo::outline::{self, Node};

pub use apps::{App, Pin, Switch, UnitKind};
pub use hints::{HINTS_FILE, Hints};
pub use inventory::Inventory;
pub use plays::{Playbook, Reach};
pub use upgrades::PackageUpgrade;

/// A repository as Chiffon understands it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Repository {
    /// Ansible project folders, relative ("" for the root).
    pub projects: Vec<String>,
    pub inventory: Inventory,
    pub playbooks: Vec<Playbook>,
    /// Role folders, relative.
    pub roles: Vec<String>,
    /// Every variable set at the top of a vars file (group_vars, host_vars, role defaults and
    /// vars, vars files): name → definitions.
    pub vars: BTreeMap<String, Vec<VarDef>>,
    /// The scalars inside a mapping of a vars file, by dotted path (`deploy_images.traefik.tag`
    /// in a central image map), for `{{ deploy_images.traefik.tag }}` and pins, and the facts
    /// tasks set (`set_fact:`) for the paths later tasks write; kept apart from `vars` so that
    /// none is taken for a switch or a list of its own.
    #[serde(skip)]
    pub nested_vars: BTreeMap<String, Vec<VarDef>>,
    /// Task files and the plays that reach them (with tags), keyed by relative path.
    pub reach: BTreeMap<String, Vec<Reach>>,
    /// Template folders whose files a list entry picks by name: one no entry names is
    /// deployed nowhere.
    pub picked: BTreeSet<String>,
    pub apps: Vec<App>,
    /// The text of every app's configuration file, as lowercase words separated by single
    /// spaces: what a configure request is matched against (`jellyfin_port`, `upstream_dns`,
    /// the Home Assistant tile of a dashboard's services file).
    #[serde(skip)]
    pub settings: BTreeMap<String, String>,
    /// The tags of the task that renders each configuration file (`homepage_config`).
    pub config_tags: BTreeMap<String, Vec<String>>,
    /// The role task file that renders each configuration file (`tasks/prometheus.yml` for
    /// `templates/prometheus.yml.j2`), whose import may carry tags of its own.
    #[serde(skip)]
    pub config_rendered_by: BTreeMap<String, String>,
    /// Per configuration file, the list variables it renders one entry at a time (a devices
    /// template looping over `wolweb_devices`): adding an entry edits the list, not the file.
    #[serde(skip)]
    pub loops: BTreeMap<String, Vec<String>>,
    /// Per configuration file, the variables its Jinja reads (`{{ ntp_server }}` in a chrony
    /// template): a setting read there is changed where the variable is set.
    #[serde(skip)]
    pub reads: BTreeMap<String, Vec<String>>,
    /// Per app (same order as `apps`), the words the repository writes about it (task and play
    /// names, comments, paths, its files' text), stemmed.
    #[serde(skip)]
    pub app_words: Vec<BTreeSet<String>>,
    /// Tags written on single tasks (not plays, roles or includes) → the files holding them.
    pub task_tags: BTreeMap<String, BTreeSet<String>>,
    /// Per variable, the files a play reaches that read it (a role's templates count for its
    /// task files): where a setting named by its variable takes effect.
    #[serde(skip)]
    pub readers: BTreeMap<String, BTreeSet<String>>,
    /// List variables whose readers also remove (`state: absent`) what the list no longer
    /// names: taking an entry out of one removes its app. Elsewhere it only stops managing it.
    pub pruned_lists: BTreeSet<String>,
    /// The tasks that upgrade every package of a machine (`apt: upgrade: dist`).
    pub package_upgrades: Vec<PackageUpgrade>,
    /// Files the walk saw.
    pub files: usize,
    /// The owner's hints (`.chiffon/hints.toml`); empty without the file.
    pub hints: Hints,
    /// Why the hints file was not used (file, line, what is wrong).
    pub hints_error: Option<String>,
}

/// Where a variable is set and to what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VarDef {
    pub file: String,
    pub line: usize,
    /// The inline value, unquoted (`""` for a block value).
    pub value: String,
    /// The items of a list value, unquoted.
    pub items: Vec<String>,
}

/// A file read once: its relative path and text.
#[derive(Debug)]
pub(crate) struct Source {
    pub rel: String,
    pub text: String,
    /// The outline, for YAML (and YAML templates).
    pub nodes: Vec<Node>,
}

/// The text files discovery reads.
fn wanted(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    crate::repo::is_yaml_name(&lower)
        || lower.ends_with(".cfg")
        || lower.ends_with(".ini")
        || lower.ends_with(".service")
        || lower.ends_with(".service.j2")
        // A unit's timer holds its schedule: a candidate for "run them at 3am".
        || lower.ends_with(".timer")
        || lower.ends_with(".container")
        || lower.ends_with(".container.j2")
        || lower == "hosts"
        || lower.starts_with("inventory")
        || lower.ends_with(".j2")
        // Configuration a role ships as is (`nginx.jellyfin.conf`, a `Caddyfile`): candidates
        // for a configure request.
        || lower.ends_with(".conf")
        || lower == "caddyfile"
        // What a compose service built from source runs (`FROM caddy:2`).
        || lower == "dockerfile"
        // An app's own configuration formats, read for configure requests' words.
        || lower.ends_with(".php")
        || lower.ends_with(".toml")
        || lower.ends_with(".xml")
        || lower.ends_with(".env")
        // A YAML file committed as a sample of one the owner keeps out of git
        // (`vars/homelab.yml.example`): read as that file when the repository lacks it.
        || inventory::is_sample(&lower).is_some_and(crate::repo::is_yaml_name)
}

impl Repository {
    /// Whether `umbrella` imports `playbook` (`import_playbook`).
    pub fn imports(&self, umbrella: &str, playbook: &str) -> bool {
        self.playbooks
            .iter()
            .find(|p| p.path == umbrella)
            .is_some_and(|p| p.imports.iter().any(|i| i == playbook))
    }

    /// The playbooks that import `playbook`: umbrellas that give the same result.
    pub fn importers(&self, playbook: &str) -> Vec<String> {
        self.playbooks
            .iter()
            .filter(|p| p.imports.iter().any(|i| i == playbook))
            .map(|p| p.path.clone())
            .collect()
    }

    /// Whether `key` (a normalized name, see `text::normalize`) is one of the apps' names.
    pub fn names_an_app(&self, key: &str) -> bool {
        self.apps
            .iter()
            .any(|a| a.names.iter().any(|n| n == key) || crate::text::normalize(&a.service) == key)
    }

    /// Whether `--limit` leaves `playbook` whole (no first play on localhost that it would skip).
    pub fn limit_safe(&self, playbook: &str) -> bool {
        self.playbooks
            .iter()
            .find(|p| p.path == playbook)
            .is_none_or(|p| p.limit_safe)
    }

    /// The plays that run any task file of a role (`tasks_from` included).
    pub fn role_reaches<'a>(&'a self, role: &str) -> impl Iterator<Item = &'a Reach> + 'a {
        let tasks = format!("{role}/tasks/");
        let files: Vec<&'a Vec<Reach>> =
            index::under(&self.reach, &tasks).map(|(_, r)| r).collect();
        files.into_iter().flatten()
    }

    /// Reads the repository at `root`.
    pub fn discover(root: &Path) -> Repository {
        let mut paths = crate::repo::files(root, root, wanted);
        // Inventory files without an extension in a project's `inventory/` folder, one per
        // machine chosen with `-i` (`inventory/supermicro`).
        let projects: std::collections::BTreeSet<&Path> = paths
            .iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "ansible.cfg"))
            .filter_map(|p| p.parent())
            .chain([root])
            .collect();
        let mut extensionless = Vec::new();
        for project in projects {
            for folder in ["inventory", "inventories"] {
                let dir = project.join(folder);
                if dir.is_dir() {
                    extensionless.extend(crate::repo::files(root, &dir, |name| {
                        !name.contains('.') && !wanted(name)
                    }));
                }
            }
        }
        paths.extend(extensionless);
        // A sample stands for its file only where the file itself is not in the repository.
        let present: BTreeSet<std::path::PathBuf> = paths.iter().cloned().collect();
        paths.retain(|path| {
            let name = path.to_string_lossy();
            inventory::is_sample(&name)
                .is_none_or(|real| !present.contains(std::path::Path::new(real)))
        });
        let files = paths.len();
        let sources: Vec<Source> = paths
            .iter()
            .filter_map(|path| {
                let text = crate::repo::read_text(path)?;
                if text.starts_with("$ANSIBLE_VAULT") {
                    return None;
                }
                let rel = crate::repo::relative(root, path);
                let lower = rel.to_ascii_lowercase();
                let yaml_template = lower.ends_with(".j2")
                    && !lower.ends_with(".service.j2")
                    && !lower.ends_with(".container.j2");
                let yaml =
                    crate::repo::is_yaml_name(inventory::is_sample(&lower).unwrap_or(&lower));
                let nodes = if yaml || yaml_template {
                    outline::parse(&text)
                } else {
                    Vec::new()
                };
                Some(Source { rel, text, nodes })
            })
            .collect();
        let mut repository = Self::from_sources(root, &sources, files);
        match hints::read(root) {
            Ok(hints) => repository.hints = hints,
            Err(error) => {
                tracing::warn!("{error}; the hints are not used until it is fixed");
                repository.hints_error = Some(error);
            }
        }
        repository
    }

    fn from_sources(root: &Path, sources: &[Source], files: usize) -> Repository {
        let by_path: BTreeMap<&str, &Source> =
            sources.iter().map(|s| (s.rel.as_str(), s)).collect();
        let projects = projects(sources);
        let roles = roles(root, sources, &projects);
        let inventory = inventory::read(sources, &projects);
        let (vars, nested_vars) = variables(sources, &roles);
        let playbooks = plays::playbooks(sources);
        let mut vars = vars;
        for playbook in &playbooks {
            let Some(source) = by_path.get(playbook.path.as_str()) else {
                continue;
            };
            for item in &source.nodes {
                let Some(play_vars) = item.get("vars") else {
                    continue;
                };
                for node in &play_vars.children {
                    if let Some(key) = &node.key {
                        vars.entry(key.clone()).or_default().push(VarDef {
                            file: playbook.path.clone(),
                            line: node.line,
                            value: node.scalar().to_owned(),
                            // A list set for the play (`roles_list: [actual, vdf]`) that a
                            // loop of its own includes from.
                            items: list_entries(node).into_iter().map(|(v, _)| v).collect(),
                        });
                    }
                }
            }
        }
        let mut repository = Repository {
            projects,
            inventory,
            playbooks,
            roles,
            vars,
            nested_vars,
            files,
            ..Repository::default()
        };
        let reached = plays::reach(&repository, &by_path);
        (repository.reach, repository.picked) = (reached.reach, reached.picked);
        repository.apps = apps::find(&repository, sources, &by_path);
        let settings = apps::settings(&repository.apps, &by_path);
        repository.settings = settings.text;
        repository.config_tags = settings.tags;
        repository.config_rendered_by = settings.rendered_by;
        repository.loops = settings.loops;
        repository.reads = settings.reads;
        let added = added::added_hosts(&repository, sources, &by_path);
        added::apply(&mut repository, &added);
        // A play on a group with no hosts, or on a host no inventory has, runs nothing — unless
        // a play fills that group at run time (`add_host`).
        let inventory = &repository.inventory;
        let filled_at_run_time = |pattern: &str| {
            sources
                .iter()
                .any(|s| s.text.contains("add_host") && s.text.contains(pattern.trim()))
        };
        for app in &mut repository.apps {
            app.reach
                .retain(|r| !inventory.targets_nothing(&r.hosts) || filled_at_run_time(&r.hosts));
        }
        repository.app_words = words::app_words(&repository, &by_path);
        repository.package_upgrades = upgrades::find(sources);
        repository.task_tags = tagged::task_tags(sources);
        repository.readers = reads::readers(&repository.reach, &repository.roles, &by_path);
        repository.pruned_lists = reads::pruned_lists(&repository, &by_path);
        repository
    }

    /// The role folder a reference names, seen from a file at `from`: a path relative to the
    /// project (`roles/homelab_svc/ha`), a name under a roles folder (`homelab_svc/ha`), or the
    /// last part of one (`jellyfin`). The nearest match to `from` wins.
    pub fn find_role(&self, reference: &str, from: &str) -> Option<&str> {
        let reference = reference.trim().trim_end_matches('/');
        if reference.is_empty() || reference.contains("{{") {
            return None;
        }
        let reference = reference.trim_start_matches("./");
        // `acme.homelab.jellyfin`: a role of a collection kept in the repository
        // (`collections/ansible_collections/acme/homelab/roles/jellyfin`); a collection from
        // Galaxy has no folder here, so nothing matches it.
        if let [namespace, collection, name] = reference.split('.').collect::<Vec<_>>()[..]
            && !reference.contains('/')
        {
            let tail = format!("{namespace}/{collection}/roles/{name}");
            return self
                .roles
                .iter()
                .filter(|role| role.as_str() == tail || role.ends_with(&format!("/{tail}")))
                .min_by_key(|role| role.len())
                .map(String::as_str);
        }
        let matches = |role: &&String| {
            role.as_str() == reference
                || role.ends_with(&format!("/{reference}"))
                || role.rsplit('/').next() == reference.rsplit('/').next()
                    && !reference.contains('/')
        };
        let mut found: Vec<&String> = self.roles.iter().filter(matches).collect();
        // Exact suffix beats last-part; then the role sharing the longest prefix with `from`.
        found.sort_by_key(|role| {
            let suffix = role.as_str() == reference || role.ends_with(&format!("/{reference}"));
            let shared = common_prefix(role, from);
            (!suffix, std::cmp::Reverse(shared), role.len())
        });
        found.first().map(|r| r.as_str())
    }

    /// Where `file` sits among what list entries pick: the picked folder holding it, and the
    /// entry that would pick it — the file's own name in a folder of picked files
    /// (`templates/paperless.j2`), or its folder's name in a folder of picked folders
    /// (`services/plex/docker-compose.yml`). `None` when no list picks beside it.
    pub fn picked_place<'f>(&self, file: &'f str) -> Option<(&'f str, &'f str)> {
        let folder = parent(file);
        if self.picked.contains(folder) {
            let name = file.rsplit('/').next().unwrap_or(file);
            return Some((folder, name.split('.').next().unwrap_or(name)));
        }
        let holder = parent(folder);
        self.picked
            .contains(holder)
            .then(|| (holder, folder.rsplit('/').next().unwrap_or(folder)))
    }

    /// The role folder holding `file`, if any.
    pub fn role_of(&self, file: &str) -> Option<&str> {
        self.roles
            .iter()
            .filter(|r| {
                file.strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|r| r.len())
            .map(String::as_str)
    }

    /// The Ansible project folder holding `file` ("" for the root).
    pub fn project_of(&self, file: &str) -> &str {
        self.projects
            .iter()
            .filter(|p| {
                p.is_empty()
                    || file
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|p| p.len())
            .map_or("", String::as_str)
    }

    /// A variable's value with `{{ other }}` references replaced (enough for
    /// `{{ image }}:{{ tag }}` and `{{ root }}/app`), following a value that refers on
    /// (`immich_redis_image: "docker.io/valkey/valkey:{{ immich_redis_version }}"`) two levels
    /// deep; what stays unknown is kept as written.
    pub fn expand(&self, text: &str) -> String {
        self.expand_deep(text, 2)
    }

    fn expand_deep(&self, text: &str, depth: usize) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            let inner = rest[start + 2..start + end].trim();
            let name = inner.split(['|', ' ']).next().unwrap_or("");
            match self.var_value(name) {
                Some(value) if !value.contains("{{") => out.push_str(&value),
                Some(value) if depth > 0 && !value.trim_start().starts_with("{{") => {
                    out.push_str(&self.expand_deep(&value, depth - 1));
                }
                _ => out.push_str(&rest[start..start + end + 2]),
            }
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Like [`Repository::expand`], preferring definitions in `host_vars/<name>` or
    /// `group_vars/<name>` of the given hosts and groups (a per-host project name).
    pub fn expand_for(&self, text: &str, scope: &[String]) -> String {
        let mut out = text.to_owned();
        for _ in 0..3 {
            if !out.contains("{{") {
                break;
            }
            let mut next = String::new();
            let mut rest = out.as_str();
            while let Some(start) = rest.find("{{") {
                next.push_str(&rest[..start]);
                let Some(end) = rest[start..].find("}}") else {
                    next.push_str(&rest[start..]);
                    rest = "";
                    break;
                };
                let inner = rest[start + 2..start + end].trim();
                let name = inner.split(['|', ' ']).next().unwrap_or("");
                let scoped = self.vars.get(name).and_then(|defs| {
                    defs.iter().find(|d| {
                        scope.contains(&d.file)
                            || scope.iter().any(|s| {
                                d.file.contains(&format!("host_vars/{s}/"))
                                    || d.file.contains(&format!("host_vars/{s}."))
                                    || d.file.contains(&format!("group_vars/{s}/"))
                                    || d.file.contains(&format!("group_vars/{s}."))
                            })
                    })
                });
                match scoped.or_else(|| self.var_def(name)) {
                    Some(d) if !d.value.is_empty() => next.push_str(&d.value),
                    _ => next.push_str(&rest[start..start + end + 2]),
                }
                rest = &rest[start + end + 2..];
            }
            next.push_str(rest);
            if next == out {
                break;
            }
            out = next;
        }
        out
    }

    /// The best definition of a variable: host_vars, then group_vars, then role vars, then
    /// defaults (Ansible's precedence, roughly); production inventories before others.
    pub fn var_def(&self, name: &str) -> Option<&VarDef> {
        self.vars
            .get(name)
            .or_else(|| self.nested_vars.get(name))?
            .iter()
            .min_by_key(|d| var_rank(&d.file))
    }

    fn var_value(&self, name: &str) -> Option<String> {
        self.var_def(name)
            .map(|d| d.value.clone())
            .filter(|v| !v.is_empty())
    }
}

/// Lower is more specific.
pub(crate) fn var_rank(file: &str) -> (u8, u8, usize) {
    let place = if file.contains("host_vars/") {
        0
    } else if file.contains("group_vars/") {
        1
    } else if file.contains("/vars/") {
        2
    } else if file.contains("/defaults/") {
        4
    } else if file.contains("vars/") || file.contains("version") {
        3
    } else {
        5 // a play's own vars: only for that play
    };
    let environment = if file.contains("prod") {
        0
    } else if file.contains("stag") || file.contains("test") {
        2
    } else {
        1
    };
    (place, environment, file.len())
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| x == y)
        .count()
}

/// Folders with an `ansible.cfg`, plus the root; a folder named `ansible` with playbooks counts
/// too (a project without its own configuration).
fn projects(sources: &[Source]) -> Vec<String> {
    let mut projects = vec![String::new()];
    for source in sources {
        if source.rel == "ansible.cfg" || source.rel.ends_with("/ansible.cfg") {
            projects.push(parent(&source.rel).to_owned());
        }
        if let Some(dir) = source
            .rel
            .strip_suffix("/inventory.yaml")
            .or(source.rel.strip_suffix("/inventory.yml"))
        {
            projects.push(dir.to_owned());
        }
    }
    projects.sort();
    projects.dedup();
    projects
}

/// Role folders: a folder with `tasks/`, `defaults/`, `handlers/` or `meta/main.yml` below a
/// folder named `roles` (at any depth, also nested: `roles/homelab_svc/ha`), and a folder with
/// `tasks/main.yml` beside a project's playbooks (Ansible looks for roles there too:
/// `common/tasks/main.yml` next to `site.yml`).
fn roles(root: &Path, sources: &[Source], projects: &[String]) -> Vec<String> {
    let _ = root;
    // Folders holding roles by their name: `roles`, `linux-roles`, `ansible_roles`, and the
    // folder names an `ansible.cfg`'s `roles_path` gives (also a sample's, which may point
    // from where the real file would be).
    let configured: BTreeSet<&str> = sources
        .iter()
        .filter(|s| s.rel.ends_with("ansible.cfg"))
        .flat_map(|s| s.text.lines())
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "roles_path").then_some(value)
        })
        .flat_map(|value| value.split(':'))
        .filter_map(|entry| entry.trim().trim_end_matches('/').rsplit('/').next())
        .filter(|name| !name.is_empty() && !matches!(*name, "." | ".." | "~"))
        .collect();
    let holds_roles = |part: &str| {
        part == "roles"
            || part.ends_with("-roles")
            || part.ends_with("_roles")
            || configured.contains(part)
    };
    let mut roles: Vec<String> = Vec::new();
    for source in sources {
        let beside_playbooks = ["/tasks/main.yml", "/tasks/main.yaml"]
            .iter()
            .find_map(|entry| source.rel.strip_suffix(entry))
            .filter(|folder| {
                let parent = folder.rsplit_once('/').map_or("", |(parent, _)| parent);
                projects.iter().any(|p| p == parent) && !folder.contains("roles/")
            });
        if let Some(folder) = beside_playbooks {
            roles.push(folder.to_owned());
            continue;
        }
        let parts: Vec<&str> = source.rel.split('/').collect();
        let Some(roles_at) = parts.iter().position(|p| holds_roles(p)) else {
            // Outside a roles folder: a role only where a play names it by its path.
            if let Some(folder) = named_by_path(source, sources, projects) {
                roles.push(folder.to_owned());
            }
            continue;
        };
        for (i, part) in parts.iter().enumerate().skip(roles_at + 2) {
            if matches!(
                *part,
                "tasks" | "defaults" | "handlers" | "meta" | "vars" | "templates" | "files"
            ) && i + 1 < parts.len()
            {
                roles.push(parts[..i].join("/"));
                break;
            }
        }
    }
    roles.sort();
    roles.dedup();
    // A folder that only holds other roles is not a role. Paths sorted once, so "has a file
    // under" is a binary search rather than a scan per role.
    let mut paths: Vec<&str> = sources.iter().map(|s| s.rel.as_str()).collect();
    paths.sort_unstable();
    let has_under = |sorted: &[&str], prefix: &str| {
        let at = sorted.partition_point(|p| *p < prefix);
        sorted.get(at).is_some_and(|p| p.starts_with(prefix))
    };
    let all = roles.clone();
    let all_sorted: Vec<&str> = all.iter().map(String::as_str).collect();
    roles.retain(|r| {
        let has_own = has_under(&paths, &format!("{r}/tasks/"))
            || has_under(&paths, &format!("{r}/defaults/"));
        has_own || !has_under(&all_sorted, &format!("{r}/"))
    });
    roles
}

/// The role folder of a `tasks/main.yml` that a play or task names by its path from the project
/// (`role: roles_intserver/docker_pihole`): Ansible takes a role name holding a `/` as a path
/// from the playbook's folder, so the folder is a role wherever it lies.
fn named_by_path<'s>(
    source: &'s Source,
    sources: &[Source],
    projects: &[String],
) -> Option<&'s str> {
    let folder = ["/tasks/main.yml", "/tasks/main.yaml"]
        .iter()
        .find_map(|entry| source.rel.strip_suffix(entry))?;
    let from_project = projects.iter().find_map(|project| {
        if project.is_empty() {
            Some(folder)
        } else {
            folder.strip_prefix(project.as_str())?.strip_prefix('/')
        }
    })?;
    if !from_project.contains('/') {
        return None;
    }
    let named = |text: &str| {
        text.match_indices(from_project).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + from_project.len()..].chars().next();
            let ends = after
                .is_none_or(|c| c.is_whitespace() || matches!(c, ',' | '}' | ']' | '"' | '\''));
            ends && matches!(before, Some(' ' | '"' | '\'' | '[' | ',' | '{'))
        })
    };
    sources
        .iter()
        .filter(|s| crate::repo::is_yaml_name(&s.rel) && s.rel != source.rel)
        .any(|s| named(&s.text))
        .then_some(folder)
}

/// A `host_vars` or `group_vars` file, and the host or group it sets variables for
/// (`host_vars/hypervisor.yaml`, `group_vars/docker/containers.yml`).
pub(crate) fn inventory_vars_place(rel: &str) -> Option<&str> {
    ["host_vars/", "group_vars/"].iter().find_map(|marker| {
        let at = rel.find(marker)?;
        let rest = &rel[at + marker.len()..];
        let name = rest.split('/').next()?;
        let name = inventory::is_sample(name).unwrap_or(name);
        let name = name
            .strip_suffix(".yml")
            .or_else(|| name.strip_suffix(".yaml"))
            .unwrap_or(name);
        (!name.is_empty()).then_some(name)
    })
}

/// Whether `rel` is a `host_vars` or `group_vars` file.
pub(crate) fn is_inventory_vars(rel: &str) -> bool {
    inventory_vars_place(rel).is_some()
}

/// Variables set at the top of vars files.
#[allow(clippy::type_complexity)]
fn variables(
    sources: &[Source],
    roles: &[String],
) -> (BTreeMap<String, Vec<VarDef>>, BTreeMap<String, Vec<VarDef>>) {
    let mut nested: BTreeMap<String, Vec<VarDef>> = BTreeMap::new();
    let mut vars: BTreeMap<String, Vec<VarDef>> = BTreeMap::new();
    // Files a play loads with `vars_files:` (`vars.yml` beside `main.yml`).
    let loaded: BTreeSet<String> = sources
        .iter()
        .flat_map(|s| s.nodes.iter().map(move |play| (s, play)))
        .filter(|(_, play)| play.is_item())
        .filter_map(|(s, play)| Some((s, play.get("vars_files")?)))
        .flat_map(|(s, files)| {
            files
                .children
                .iter()
                .map(|f| unquote(f.scalar()))
                .filter(|f| !f.contains("{{"))
                .map(|f| join(parent(&s.rel), f))
                .collect::<Vec<_>>()
        })
        .collect();
    for source in sources {
        let rel = source.rel.as_str();
        let in_role_vars = roles.iter().any(|r| {
            rel.strip_prefix(r.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|rest| rest.starts_with("defaults/") || rest.starts_with("vars/"))
        });
        let is_vars = in_role_vars
            || rel.contains("group_vars/")
            || rel.contains("host_vars/")
            || (rel.contains("vars/") && !rel.ends_with(".j2"))
            || rel.ends_with("versions.yml")
            || rel.ends_with("versions.yaml")
            || loaded.contains(rel)
            || inventory::sample_of(rel).is_some_and(|real| loaded.contains(&real));
        if !is_vars || rel.ends_with(".j2") {
            if !rel.ends_with(".j2") {
                set_facts(source, &source.nodes, &mut nested);
            }
            continue;
        }
        for node in &source.nodes {
            let Some(key) = &node.key else { continue };
            let mut items: Vec<String> = list_entries(node)
                .into_iter()
                .map(|(value, _)| value)
                .collect();
            let inline = node.scalar();
            if let Some(flow) = inline.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                items.extend(
                    flow.split(',')
                        .map(|x| unquote(x.trim()).to_owned())
                        .filter(|x| !x.is_empty()),
                );
            }
            vars.entry(key.clone()).or_default().push(VarDef {
                file: source.rel.clone(),
                line: node.line,
                value: inline.to_owned(),
                items,
            });
            nested_scalars(&source.rel, key, node, 2, &mut nested);
            // A list one mapping down (`docker: { composes: [...] }`) is `docker.composes`.
            for child in node.children.iter().filter(|c| !c.is_item()) {
                let Some(child_key) = &child.key else {
                    continue;
                };
                let entries = list_entries(child);
                if !entries.is_empty() {
                    vars.entry(format!("{key}.{child_key}"))
                        .or_default()
                        .push(VarDef {
                            file: source.rel.clone(),
                            line: child.line,
                            value: String::new(),
                            items: entries.into_iter().map(|(value, _)| value).collect(),
                        });
                }
            }
        }
    }
    (vars, nested)
}

/// The scalars a task sets with `set_fact:` (`nebula_sync_project_dir: "/home/{{ user
/// }}/nebula-sync"`), also inside blocks: where a later task's path comes from.
fn set_facts(source: &Source, nodes: &[Node], out: &mut BTreeMap<String, Vec<VarDef>>) {
    for task in nodes.iter().filter(|n| n.is_item()) {
        for module in &task.children {
            let Some(key) = module.key.as_deref() else {
                continue;
            };
            if matches!(key, "block" | "rescue" | "always") {
                set_facts(source, &module.children, out);
            } else if key.rsplit('.').next() == Some("set_fact") {
                for fact in &module.children {
                    let (Some(name), value) = (&fact.key, unquote(fact.scalar())) else {
                        continue;
                    };
                    if !value.is_empty() && name != "cacheable" {
                        out.entry(name.clone()).or_default().push(VarDef {
                            file: source.rel.clone(),
                            line: fact.line,
                            value: value.to_owned(),
                            items: Vec::new(),
                        });
                    }
                }
            }
        }
    }
}

/// The scalars of a mapping value, `depth` levels down, by their dotted path.
fn nested_scalars(
    file: &str,
    path: &str,
    node: &Node,
    depth: usize,
    out: &mut BTreeMap<String, Vec<VarDef>>,
) {
    for child in node.children.iter().filter(|c| !c.is_item()) {
        let Some(key) = &child.key else { continue };
        let dotted = format!("{path}.{key}");
        if !child.scalar().is_empty() {
            out.entry(dotted).or_default().push(VarDef {
                file: file.to_owned(),
                line: child.line,
                value: unquote(child.scalar()).to_owned(),
                items: Vec::new(),
            });
        } else if depth > 0 {
            nested_scalars(file, &dotted, child, depth - 1, out);
        }
    }
}

/// The entries of a block list: each one's value (a mapping stands for its first value, `-
/// name: x`) and its fields.
pub(crate) fn list_entries(node: &Node) -> Vec<(String, BTreeMap<String, String>)> {
    node.children
        .iter()
        .filter(|c| c.is_item())
        .filter_map(|c| {
            let fields: BTreeMap<String, String> = c
                .children
                .iter()
                .filter_map(|f| Some((f.key.clone()?, unquote(f.scalar()).to_owned())))
                .collect();
            let value = if c.scalar().is_empty() {
                c.children
                    .first()
                    .map(|f| unquote(f.scalar()).to_owned())
                    .unwrap_or_default()
            } else {
                unquote(c.scalar()).to_owned()
            };
            (!value.is_empty()).then_some((value, fields))
        })
        .collect()
}

pub(crate) fn unquote(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(v)
}

/// The folder part of a relative path ("" at the top).
pub(crate) fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Joins a relative folder and a path, resolving `..` and `.`.
pub(crate) fn join(dir: &str, path: &str) -> String {
    let mut parts: Vec<&str> = if path.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_a_file_system() {
        assert_eq!(
            join("roles/a/tasks", "../templates/x.j2"),
            "roles/a/templates/x.j2"
        );
        assert_eq!(join("", "./site.yml"), "site.yml");
        assert_eq!(parent("roles/a/tasks/main.yml"), "roles/a/tasks");
    }
}
