//! Playbooks, their plays, and what each play reaches: roles (by name or path, through `roles:`,
//! `include_role` and `import_role`, also looped over a list of names) and task files (through
//! `include_tasks` / `import_tasks`, also looped: `{{ item }}.yml` over a list). A commented-out
//! include reaches nothing, which is how a file that exists but no play runs is told apart.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::discovery::{Repository, Source, VarDef, join, parent, unquote};
use crate::repo::outline::Node;

/// A playbook file.
#[derive(Debug, Clone, Serialize)]
pub struct Playbook {
    pub path: String,
    pub plays: Vec<Play>,
    /// Playbooks it imports (`import_playbook`).
    pub imports: Vec<String>,
    /// False when a play runs on `localhost` first (a resolver or preflight play that
    /// `--limit <host>` would skip).
    pub limit_safe: bool,
}

/// One play.
#[derive(Debug, Clone, Serialize)]
pub struct Play {
    pub hosts: String,
    pub tags: Vec<String>,
    pub line: usize,
}

/// `(variable, file setting it, item)`: the list entry that switched a looped include on.
pub type ListEntry = (String, String, String);

/// How a play reaches a file: the playbook, the play's hosts, the tags on the way (outermost
/// first: play, role, include, …), and the list entry that switched it on, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reach {
    pub playbook: String,
    pub play: usize,
    pub hosts: String,
    pub tags: Vec<Vec<String>>,
    /// The role the file belongs to, when reached through one.
    pub role: Option<String>,
    /// `(variable, file setting it, item)` when a loop over a list variable reached it.
    pub list: Option<ListEntry>,
    /// The `when:` of the role entry that applies it (`xray_enabled | default(false)`).
    pub when: Option<String>,
}

const INCLUDE_TASKS: &[&str] = &[
    "include_tasks",
    "import_tasks",
    "include",
    "ansible.builtin.include_tasks",
    "ansible.builtin.import_tasks",
    "ansible.builtin.include",
];
const INCLUDE_ROLE: &[&str] = &[
    "include_role",
    "import_role",
    "ansible.builtin.include_role",
    "ansible.builtin.import_role",
];
const IMPORT_PLAYBOOK: &[&str] = &[
    "import_playbook",
    "ansible.builtin.import_playbook",
    "include_playbook",
];

/// Every playbook: a YAML list whose items are plays (`hosts:`) or playbook imports.
pub(crate) fn playbooks(sources: &[Source]) -> Vec<Playbook> {
    let mut out = Vec::new();
    for source in sources {
        let rel = source.rel.as_str();
        if rel.ends_with(".j2")
            || rel.split('/').any(|p| {
                matches!(
                    p,
                    "roles"
                        | "group_vars"
                        | "host_vars"
                        | "tasks"
                        | "vars"
                        | "defaults"
                        | "handlers"
                        | "templates"
                        | "files"
                        // Molecule scenarios (`converge.yml` on `hosts: all`) test a role;
                        // they deploy nothing on the homelab.
                        | "molecule"
                )
            })
        {
            continue;
        }
        if source.nodes.is_empty() || !source.nodes.iter().all(Node::is_item) {
            continue;
        }
        let mut plays = Vec::new();
        let mut imports = Vec::new();
        let mut localhost_first = false;
        for item in &source.nodes {
            if let Some(import) = IMPORT_PLAYBOOK.iter().find_map(|k| item.get(k)) {
                imports.push(join(parent(rel), unquote(import.scalar())));
            } else if let Some(hosts) = item.get("hosts") {
                let hosts = hosts_of(hosts);
                // A first play on localhost that resolves or adds hosts: `--limit` would skip it.
                if plays.is_empty()
                    && matches!(hosts.as_str(), "localhost" | "127.0.0.1")
                    && (item.get("roles").is_some() || adds_hosts(&item.children))
                {
                    localhost_first = true;
                }
                plays.push(Play {
                    tags: tags_of(item),
                    hosts,
                    line: item.line,
                });
            }
        }
        if plays.is_empty() && imports.is_empty() {
            continue;
        }
        out.push(Playbook {
            path: rel.to_owned(),
            plays,
            imports,
            limit_safe: !localhost_first,
        });
    }
    // Playbooks kept in an `archive/` (`old/`, `legacy/`, …) folder are retired: while the
    // repository has live ones, what only they run runs nowhere.
    if out.iter().any(|p| !retired(&p.path)) {
        out.retain(|p| !retired(&p.path));
    }
    out
}

/// Whether `path` lies in a folder its owner keeps retired work in.
fn retired(path: &str) -> bool {
    path.split('/').rev().skip(1).any(|folder| {
        matches!(
            folder.to_ascii_lowercase().as_str(),
            "archive"
                | "archived"
                | "old"
                | "legacy"
                | "deprecated"
                | "attic"
                | "unused"
                | "retired"
        )
    })
}

/// A playbook named for one machine of the group its play targets (`playbooks/r740xd.yml` on
/// `veggie_nas`, which also holds `r720xd`) sets up that machine: its plays run there, as its
/// owner runs it (`--limit r740xd`).
fn own_machine(repository: &Repository, playbook: &str, pattern: String) -> String {
    let stem = playbook
        .rsplit('/')
        .next()
        .unwrap_or(playbook)
        .split('.')
        .next()
        .unwrap_or("")
        .to_lowercase();
    let inventory = &repository.inventory;
    let machines = inventory.resolve(&pattern);
    if stem.is_empty() || machines.len() < 2 {
        return pattern;
    }
    let mut named = machines
        .iter()
        .filter(|host| host.to_lowercase().split('.').next() == Some(stem.as_str()));
    match (named.next(), named.next()) {
        (Some(host), None) if *host != pattern => host.clone(),
        _ => pattern,
    }
}

/// A play's `hosts:` as a pattern: written inline, as a flow list (`hosts: [oddish]`) or as a
/// block list (`hosts:` then `- servarr`); Ansible joins a list's entries like `servarr,media`.
fn hosts_of(hosts: &Node) -> String {
    let written = hosts.scalar();
    let items: Vec<&str> = match written.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        Some(flow) => flow.split(',').map(|h| unquote(h.trim())).collect(),
        None => hosts
            .children
            .iter()
            .filter(|c| c.is_item())
            .map(|c| unquote(c.scalar()))
            .collect(),
    };
    let items: Vec<&str> = items.into_iter().filter(|h| !h.is_empty()).collect();
    if (written.is_empty() || written.starts_with('[')) && !items.is_empty() {
        items.join(",")
    } else {
        unquote(written).to_owned()
    }
}

fn adds_hosts(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| {
        n.key
            .as_deref()
            .is_some_and(|k| k.ends_with("add_host") || k.ends_with("group_by"))
            || adds_hosts(&n.children)
    })
}

/// The tags of a play, role entry or task (`tags: x`, `tags: [a, b]`, or a block list).
pub(crate) fn tags_of(node: &Node) -> Vec<String> {
    let mut out = tags_written(node);
    out.retain(|t| !t.contains("{{"));
    out
}

/// A node's tags as written, also those a variable writes (`"{{ role_item }}"`).
fn tags_written(node: &Node) -> Vec<String> {
    let Some(tags) = node.get("tags") else {
        return Vec::new();
    };
    let mut out: Vec<String> = tags
        .children
        .iter()
        .filter(|c| c.is_item())
        .map(|c| unquote(c.scalar()).to_owned())
        .collect();
    let inline = tags.scalar();
    let inline = inline
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(inline);
    out.extend(inline.split(',').map(|t| unquote(t.trim()).to_owned()));
    out.retain(|t| !t.is_empty());
    out
}

struct Walker<'a> {
    repository: &'a Repository,
    by_path: &'a BTreeMap<&'a str, &'a Source>,
    reach: BTreeMap<String, Vec<Reach>>,
    seen: BTreeSet<(String, String)>,
    /// Variables an include sets from its loop item, innermost last: `(variable, value, the
    /// including role)`.
    bindings: Vec<(String, String, Option<String>)>,
    /// Folders whose templates a list entry picks by name.
    picked: BTreeSet<String>,
    /// Inventory vars files that list containers as data, and the host or group each is for.
    data_lists: Vec<(String, String)>,
    /// The roles whose dependencies are being applied, outermost first (a cycle stops there).
    depending: Vec<String>,
    /// The playbook being walked: a variable its plays set is its own.
    playbook: String,
}

/// What the plays reach, and the template folders whose files a list entry picks by name
/// (`src: "{{ stack_name }}.j2"` in a role included once per entry of a list): a template
/// there that no entry names is deployed nowhere.
pub(crate) struct Reached {
    pub reach: BTreeMap<String, Vec<Reach>>,
    pub picked: BTreeSet<String>,
}

/// What every play of every playbook reaches.
pub(crate) fn reach(repository: &Repository, by_path: &BTreeMap<&str, &Source>) -> Reached {
    let mut walker = Walker {
        repository,
        by_path,
        reach: BTreeMap::new(),
        seen: BTreeSet::new(),
        bindings: Vec::new(),
        picked: BTreeSet::new(),
        depending: Vec::new(),
        playbook: String::new(),
        data_lists: by_path
            .iter()
            .filter(|(_, source)| !super::apps::listed::data_containers(source).is_empty())
            .filter_map(|(rel, _)| {
                let place = crate::discovery::inventory_vars_place(rel)?;
                Some(((*rel).to_owned(), place.to_owned()))
            })
            .collect(),
    };
    for playbook in &repository.playbooks {
        let Some(source) = by_path.get(playbook.path.as_str()) else {
            continue;
        };
        walker.playbook.clone_from(&playbook.path);
        let mut index = 0;
        for item in &source.nodes {
            let Some(hosts) = item.get("hosts") else {
                continue;
            };
            let context = Reach {
                playbook: playbook.path.clone(),
                play: index,
                hosts: own_machine(repository, &playbook.path, hosts_of(hosts)),
                tags: vec![tags_of(item)],
                role: None,
                list: None,
                when: None,
            };
            index += 1;
            walker
                .reach
                .entry(playbook.path.clone())
                .or_default()
                .push(context.clone());
            if let Some(roles) = item.get("roles") {
                // `roles: [a, b]`
                if let Some(flow) = roles
                    .scalar()
                    .strip_prefix('[')
                    .and_then(|v| v.strip_suffix(']'))
                {
                    for name in flow
                        .split(',')
                        .map(|n| unquote(n.trim()).to_owned())
                        .filter(|n| !n.is_empty())
                    {
                        let mut inner = context.clone();
                        inner.tags.push(Vec::new());
                        walker.role(&name, None, &inner, &playbook.path);
                    }
                }
                for entry in &roles.children {
                    let (name, tags) = role_entry(entry);
                    let mut inner = context.clone();
                    inner.tags.push(tags);
                    inner.when = entry.get("when").map(|w| w.scalar().to_owned());
                    if let Some(hosts) = host_gate(entry) {
                        inner.hosts = hosts;
                    }
                    walker.role(&name, None, &inner, &playbook.path);
                }
            }
            for key in ["pre_tasks", "tasks", "post_tasks"] {
                if let Some(tasks) = item.get(key) {
                    walker.tasks(&tasks.children, &context, parent(&playbook.path), 0);
                }
            }
        }
    }
    Reached {
        reach: walker.reach,
        picked: walker.picked,
    }
}

/// The role a `roles:` (or `dependencies:`) entry applies, and the entry's tags: `- x`, `- {
/// role: x, tags: [a] }` or `- role: x` with `tags:`.
fn role_entry(entry: &Node) -> (String, Vec<String>) {
    if let Some(flow) = entry.scalar().strip_prefix('{') {
        let name = flow_field(flow, "role")
            .or_else(|| flow_field(flow, "name"))
            .unwrap_or_default();
        (name, flow_tags(flow))
    } else if entry.children.is_empty() {
        (unquote(entry.scalar()).to_owned(), Vec::new())
    } else {
        let name = entry
            .get("role")
            .or_else(|| entry.get("name"))
            .map(|n| unquote(n.scalar()).to_owned())
            .unwrap_or_default();
        (name, tags_of(entry))
    }
}

/// The machines a task or role entry is kept to by its `when:` naming them
/// (`inventory_hostname == "vm-docker"`, `inventory_hostname in ["a", "b"]`, `'media' in
/// group_names`), as a host pattern; `None` when its conditions name no machine.
fn host_gate(node: &Node) -> Option<String> {
    let when = node.get("when")?;
    let conditions: Vec<&str> = if when.children.is_empty() {
        vec![when.scalar()]
    } else {
        when.children.iter().map(Node::scalar).collect()
    };
    let quoted = |text: &str| -> Vec<String> {
        text.split(['"', '\''])
            .skip(1)
            .step_by(2)
            .filter(|name| !name.is_empty() && !name.contains(char::is_whitespace))
            .map(str::to_owned)
            .collect()
    };
    conditions.into_iter().find_map(|condition| {
        let condition = unquote(condition).trim();
        if condition.contains(" or ") || condition.contains("not ") || condition.contains("!=") {
            return None;
        }
        let names = if let Some(rest) = condition.strip_prefix("inventory_hostname") {
            let rest = rest.trim_start();
            // `inventory_hostname in groups['media']` (or `groups.get('media', [])`,
            // `groups.media`): the members of that group.
            if let Some(group) = rest.strip_prefix("in ").and_then(member_of_group) {
                return Some(group);
            }
            if rest.contains("groups") || rest.contains("hostvars") {
                return None;
            }
            if rest.starts_with("==") || rest.starts_with("in ") {
                quoted(rest)
            } else {
                return None;
            }
        } else if let Some(names) = condition.strip_suffix("in group_names") {
            quoted(names)
        } else {
            return None;
        };
        (!names.is_empty()).then(|| names.join(":"))
    })
}

/// The group of `groups['media']`, `groups["media"]`, `groups.get('media', [])` or
/// `groups.media`.
fn member_of_group(expression: &str) -> Option<String> {
    let rest = expression.trim().strip_prefix("groups")?;
    let name = if let Some(inner) = rest.strip_prefix('[') {
        inner.split(']').next()?
    } else if let Some(inner) = rest.strip_prefix(".get(") {
        inner.split(',').next()?.trim_end_matches(')')
    } else {
        rest.strip_prefix('.')?.split_whitespace().next()?
    };
    let name = name.trim().trim_matches(['"', '\'']);
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    plain.then(|| name.to_owned())
}

/// The key under which the plays applying a role from outside the repository are kept:
/// `galaxy:<name>` for a dotted name (`<namespace>.<role>` or `<namespace>.<collection>.<role>`).
pub(crate) fn galaxy_key(name: &str) -> Option<String> {
    let name = name.trim();
    let parts: Vec<&str> = name.split('.').collect();
    let plain = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    (matches!(parts.len(), 2 | 3) && parts.iter().all(|p| plain(p)))
        .then(|| format!("{GALAXY}{name}"))
}

/// The prefix of `galaxy_key`.
pub(crate) const GALAXY: &str = "galaxy:";

pub(crate) fn flow_field(flow: &str, field: &str) -> Option<String> {
    let flow = flow.trim_end_matches('}');
    flow.split(',').find_map(|part| {
        let (key, value) = part.split_once(':')?;
        (key.trim() == field).then(|| unquote(value.trim()).to_owned())
    })
}

fn flow_tags(flow: &str) -> Vec<String> {
    let flow = flow.trim_end_matches('}');
    let Some(at) = flow.find("tags:") else {
        return Vec::new();
    };
    let rest = flow[at + 5..].trim();
    let rest = if let Some(list) = rest.strip_prefix('[') {
        list.split(']').next().unwrap_or("")
    } else {
        rest.split(',').next().unwrap_or("")
    };
    rest.split(',')
        .map(|t| unquote(t.trim()).to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

impl Walker<'_> {
    fn role(&mut self, name: &str, tasks_from: Option<&str>, context: &Reach, from: &str) {
        let Some(role) = self.repository.find_role(name, from) else {
            // A role installed from Galaxy or a collection (`geerlingguy.docker`,
            // `prometheus.prometheus.node_exporter`): not in the repository, but applied here.
            // Or a role from a `requirements.yml` named `<author>-ansible-role-<app>`.
            let required = name
                .contains("ansible-role-")
                .then(|| format!("{GALAXY}{name}"));
            if let Some(key) = galaxy_key(name).or(required) {
                self.reach.entry(key).or_default().push(context.clone());
            }
            self.rendered_lists(context);
            return;
        };
        let role = role.to_owned();
        // The roles its `meta/main.yml` depends on run first, in the same play, with its tags.
        if tasks_from.is_none() && !self.depending.contains(&role) {
            self.depending.push(role.clone());
            for (name, tags) in self.dependencies(&role) {
                let mut inner = context.clone();
                inner.tags.push(tags);
                let from = if self.repository.find_role(&name, from).is_some() {
                    from.to_owned()
                } else {
                    // A sibling role, as Ansible finds it beside the depending one.
                    format!("{role}/meta/main.yml")
                };
                self.role(&name, None, &inner, &from);
            }
            self.depending.pop();
        }
        let mut inner = context.clone();
        inner.role = Some(role.clone());
        let stem = tasks_from
            .unwrap_or("main")
            .trim_end_matches(".yml")
            .trim_end_matches(".yaml");
        self.reach
            .entry(role.clone())
            .or_default()
            .push(inner.clone());
        for ext in ["yml", "yaml"] {
            let file = format!("{role}/tasks/{stem}.{ext}");
            if self.by_path.contains_key(file.as_str()) {
                self.file(&file, &inner, 0);
            }
        }
    }

    /// The roles `role`'s `meta/main.yml` lists under `dependencies:`, with each entry's tags.
    fn dependencies(&self, role: &str) -> Vec<(String, Vec<String>)> {
        ["yml", "yaml"]
            .iter()
            .filter_map(|ext| self.by_path.get(format!("{role}/meta/main.{ext}").as_str()))
            .flat_map(|source| &source.nodes)
            .filter(|node| node.key.as_deref() == Some("dependencies"))
            .flat_map(|node| &node.children)
            .map(role_entry)
            .filter(|(name, _)| !name.is_empty() && !name.contains("{{"))
            .collect()
    }

    /// A role from outside the repository applied to machines whose inventory vars list
    /// containers as data (`containers:` entries with an image, for a compose generator): each
    /// such file is reached, on the machine or group it is for.
    fn rendered_lists(&mut self, context: &Reach) {
        let inventory = &self.repository.inventory;
        for (rel, place) in &self.data_lists {
            let runs_there = place == "all"
                || context.hosts.split([',', ':']).any(|p| p.trim() == place)
                || inventory.covers(&context.hosts, place);
            if !runs_there {
                continue;
            }
            let mut there = context.clone();
            if place != "all" {
                there.hosts.clone_from(place);
            }
            self.reach.entry(rel.clone()).or_default().push(there);
        }
    }

    fn file(&mut self, rel: &str, context: &Reach, depth: usize) {
        let key = (
            rel.to_owned(),
            format!(
                "{}#{}#{:?}#{:?}",
                context.playbook, context.play, context.tags, context.list
            ),
        );
        if depth > 12 || !self.seen.insert(key) {
            return;
        }
        self.reach
            .entry(rel.to_owned())
            .or_default()
            .push(context.clone());
        let Some(source) = self.by_path.get(rel) else {
            return;
        };
        let nodes = &source.nodes;
        self.tasks(nodes, context, parent(rel), depth + 1);
    }

    fn tasks(&mut self, items: &[Node], context: &Reach, dir: &str, depth: usize) {
        for item in items {
            let mut inner = context.clone();
            if let Some(hosts) = host_gate(item) {
                inner.hosts = hosts;
            }
            let tags = tags_of(item);
            for block in ["block", "rescue", "always"] {
                if let Some(children) = item.get(block) {
                    let mut block_context = inner.clone();
                    block_context.tags.push(tags.clone());
                    self.tasks(&children.children, &block_context, dir, depth);
                }
            }
            if let Some(include) = INCLUDE_TASKS.iter().find_map(|k| item.get(k)) {
                let file = include
                    .get("file")
                    .map_or_else(|| include.scalar().to_owned(), |f| f.scalar().to_owned());
                let apply = include.get("apply").map(tags_of).unwrap_or_default();
                inner.tags.push(tags.into_iter().chain(apply).collect());
                for (target, list) in self.expand_loop(item, unquote(&file)) {
                    let mut looped = inner.clone();
                    if list.is_some() {
                        looped.list = list;
                    }
                    for candidate in self.task_paths(dir, &target, context.role.as_deref()) {
                        if self.by_path.contains_key(candidate.as_str()) {
                            self.file(&candidate, &looped, depth);
                            break;
                        }
                    }
                }
            } else if let Some(include) = INCLUDE_ROLE.iter().find_map(|k| item.get(k)) {
                let name = include
                    .get("name")
                    .map(|n| unquote(n.scalar()).to_owned())
                    .unwrap_or_default();
                let tasks_from = include
                    .get("tasks_from")
                    .map(|n| unquote(n.scalar()).to_owned());
                let apply = include.get("apply").map(tags_written).unwrap_or_default();
                let (looped_tags, apply): (Vec<String>, Vec<String>) =
                    apply.into_iter().partition(|t| t.contains("{{"));
                let own: Vec<String> = tags.into_iter().chain(apply).collect();
                inner.tags.push(own.clone());
                let from = context
                    .role
                    .clone()
                    .unwrap_or_else(|| context.playbook.clone());
                if !name.contains("{{")
                    && let Some(bound) = self.bound_per_item(item)
                {
                    // One role, included once per list entry with variables set from it.
                    for (binds, list) in bound {
                        let mut looped = inner.clone();
                        looped.list = list;
                        let depth = self.bindings.len();
                        self.bindings.extend(
                            binds
                                .into_iter()
                                .map(|(var, value)| (var, value, context.role.clone())),
                        );
                        self.role(&name, tasks_from.as_deref(), &looped, &from);
                        self.bindings.truncate(depth);
                    }
                    continue;
                }
                let expanded = self.expand_loop(item, &name);
                if expanded.is_empty() && name.contains("{{") {
                    self.sibling_roles(&inner, &from);
                }
                // Tags written with the loop item (`apply: { tags: "{{ role_item }}" }`):
                // each role included gets its own.
                let var = loop_var(item);
                let values = if looped_tags.is_empty() {
                    Vec::new()
                } else {
                    self.expand_loop(item, &format!("{{{{ {var} }}}}"))
                };
                for (index, (target, list)) in expanded.into_iter().enumerate() {
                    let mut looped = inner.clone();
                    if list.is_some() {
                        looped.list = list;
                    }
                    if let Some((value, _)) = values.get(index)
                        && let Some(last) = looped.tags.last_mut()
                    {
                        last.extend(
                            looped_tags
                                .iter()
                                .map(|t| substitute(t, &var, value))
                                .filter(|t| !t.contains("{{")),
                        );
                    }
                    self.role(&target, tasks_from.as_deref(), &looped, &from);
                }
            } else if !self.bindings.is_empty() {
                self.picked_template(item, context);
            } else {
                self.picked_by_loop(item, context);
                self.composed_by_loop(item, &inner);
                self.copied_folder(item, &inner, dir);
            }
        }
    }

    /// A role including a role by a name it found at run time with `find` in `{{ role_path
    /// }}/..` (a `containers/apps/all` role): every role beside it is reached, except those a
    /// list whose name says it excludes (`exclude_dockers`) names — those run nowhere.
    fn sibling_roles(&mut self, context: &Reach, from: &str) {
        let Some(role) = context.role.clone() else {
            return;
        };
        let (by_path, repository) = (self.by_path, self.repository);
        let tasks = format!("{role}/tasks/");
        let texts: Vec<&str> = by_path
            .range(tasks.as_str()..)
            .take_while(|(path, _)| path.starts_with(&tasks))
            .map(|(_, source)| source.text.as_str())
            .collect();
        if !texts
            .iter()
            .any(|t| t.contains("role_path") && t.contains("find"))
        {
            return;
        }
        let excluded: BTreeSet<&str> = texts
            .iter()
            .flat_map(|t| super::reads::file_reads(t))
            .filter(|var| var.contains("exclude"))
            .flat_map(|var| repository.vars.get(var).into_iter().flatten())
            .flat_map(|definition| definition.items.iter().map(String::as_str))
            .collect();
        let holder = parent(&role);
        let siblings: Vec<String> = repository
            .roles
            .iter()
            .filter(|r| parent(r) == holder && **r != role)
            .filter(|r| !excluded.contains(r.rsplit('/').next().unwrap_or("")))
            .cloned()
            .collect();
        for sibling in siblings {
            self.role(&sibling, None, context, from);
        }
    }

    /// A task copying a folder of the repository to the host as it is (`synchronize: { src:
    /// ../services/ }`, `copy: { src: stacks/ }`): every file under it is reached, as the
    /// compose files that a later task brings up there are.
    fn copied_folder(&mut self, item: &Node, context: &Reach, dir: &str) {
        const COPY: &[&str] = &[
            "synchronize",
            "ansible.posix.synchronize",
            "copy",
            "ansible.builtin.copy",
        ];
        let Some(src) = COPY
            .iter()
            .find_map(|m| item.get(m))
            .and_then(|module| module.get("src"))
            .map(|s| unquote(s.scalar()).to_owned())
            .filter(|s| !s.contains("{{") && !s.starts_with('/') && !s.is_empty())
        else {
            return;
        };
        let mut bases = Vec::new();
        if let Some(role) = &context.role {
            bases.extend([format!("{role}/files"), role.clone()]);
        }
        bases.extend([join(dir, "files"), dir.to_owned()]);
        for base in bases {
            let folder = join(&base, src.trim_end_matches('/'));
            if folder.is_empty() {
                continue;
            }
            let prefix = format!("{folder}/");
            let files: Vec<String> = self
                .by_path
                .range(prefix.as_str()..)
                .take_while(|(path, _)| path.starts_with(&prefix))
                .map(|(path, _)| (*path).to_owned())
                .collect();
            if files.is_empty() {
                continue;
            }
            for file in files {
                self.reach.entry(file).or_default().push(context.clone());
            }
            return;
        }
    }

    /// A task copying or templating a path named by its loop item (`src: "services/{{ item
    /// }}/"` over `{{ projects }}`, set per host): the file or folder each entry names is
    /// reached, with that entry; a sibling folder that no entry names is deployed nowhere.
    fn picked_by_loop(&mut self, item: &Node, context: &Reach) {
        let Some(role) = context.role.clone() else {
            return;
        };
        for module in &item.children {
            let Some(src) = module.get("src").map(|s| unquote(s.scalar()).to_owned()) else {
                continue;
            };
            if !src.contains("{{") {
                continue;
            }
            for (resolved, list) in self.expand_loop(item, &src) {
                if list.is_none() || resolved.contains("{{") {
                    continue;
                }
                let mut looped = context.clone();
                looped.list = list;
                let resolved = resolved.trim_end_matches('/');
                for dir in [
                    format!("{role}/files"),
                    format!("{role}/templates"),
                    role.clone(),
                ] {
                    let path = join(&dir, resolved);
                    let folder = format!("{path}/");
                    let files: Vec<String> = if self.by_path.contains_key(path.as_str()) {
                        vec![path.clone()]
                    } else {
                        self.by_path
                            .range(folder.as_str()..)
                            .take_while(|(k, _)| k.starts_with(&folder))
                            .map(|(k, _)| (*k).to_owned())
                            .collect()
                    };
                    if files.is_empty() {
                        continue;
                    }
                    // The folder holding what the entries pick, unless that is the role itself.
                    let holder = parent(&path).to_owned();
                    if holder != role {
                        self.picked.insert(holder);
                    }
                    for file in files {
                        self.reach.entry(file).or_default().push(looped.clone());
                    }
                    break;
                }
            }
        }
    }

    /// A task bringing a compose project up in a folder named by its loop item (`chdir: "{{
    /// base }}/{{ item.name }}"` running `docker-compose up`, `project_src:` of a compose
    /// module) over a list variable: the compose files of each entry's folder — a folder of
    /// that name holding a compose file, in the role first, else anywhere in the repository —
    /// are reached with that entry, and a sibling folder no entry names is deployed nowhere.
    fn composed_by_loop(&mut self, item: &Node, context: &Reach) {
        let composes = |n: &Node| {
            n.key.as_deref().is_some_and(|k| k.contains("compose"))
                || n.scalar().contains("compose")
        };
        if !item
            .children
            .iter()
            .any(|n| composes(n) || n.children.iter().any(composes))
        {
            return;
        }
        let folder = item
            .children
            .iter()
            .flat_map(|n| std::iter::once(n).chain(&n.children))
            .find(|n| {
                matches!(
                    n.key.as_deref(),
                    Some("chdir" | "project_src" | "project_directory")
                )
            })
            .map(|n| unquote(n.scalar()).to_owned());
        let Some(folder) = folder.filter(|f| f.contains("{{")) else {
            return;
        };
        for (resolved, list) in self.expand_loop(item, &folder) {
            let Some(entry) = resolved
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|e| list.is_some() && !e.is_empty() && !e.contains("{{"))
            else {
                continue;
            };
            let in_folder = |path: &str| {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                dir.rsplit('/').next() == Some(entry)
                    && matches!(
                        name.trim_end_matches(".j2"),
                        "docker-compose.yml"
                            | "docker-compose.yaml"
                            | "compose.yml"
                            | "compose.yaml"
                    )
            };
            let mut files: Vec<&str> = self
                .by_path
                .keys()
                .copied()
                .filter(|p| in_folder(p))
                .collect();
            if let Some(role) = &context.role
                && files.iter().any(|f| f.starts_with(&format!("{role}/")))
            {
                files.retain(|f| f.starts_with(&format!("{role}/")));
            }
            let mut looped = context.clone();
            looped.list = list;
            for file in files {
                let holder = parent(parent(file));
                self.picked.insert(holder.to_owned());
                self.reach
                    .entry(file.to_owned())
                    .or_default()
                    .push(looped.clone());
            }
        }
    }

    /// An include looped over a list variable that sets its own variables from the loop item
    /// (`vars: { stack_name: "{{ stack.name }}" }`): per entry, those variables' values.
    #[allow(clippy::type_complexity)]
    fn bound_per_item(
        &self,
        item: &Node,
    ) -> Option<Vec<(Vec<(String, String)>, Option<ListEntry>)>> {
        let loop_var = loop_var(item);
        let vars = item.get("vars")?;
        let uses_item: Vec<(String, String)> = vars
            .children
            .iter()
            .filter_map(|v| Some((v.key.clone()?, unquote(v.scalar()).to_owned())))
            .filter(|(_, value)| {
                value.contains(&format!("{{{{ {loop_var} "))
                    || value.contains(&format!("{{{{ {loop_var}."))
            })
            .collect();
        if uses_item.is_empty() {
            return None;
        }
        let entries = self.expand_loop(item, &format!("{{{{ {loop_var} }}}}"));
        if entries.is_empty() {
            return None;
        }
        Some(
            entries
                .into_iter()
                .map(|(value, list)| {
                    let binds = uses_item
                        .iter()
                        .map(|(var, expression)| {
                            (var.clone(), substitute(expression, &loop_var, &value))
                        })
                        .collect();
                    (binds, list)
                })
                .collect(),
        )
    }

    /// A task rendering `src: "{{ stack_name }}.j2"` with `stack_name` bound by the include:
    /// the template that entry picks is reached, with the entry that picked it.
    fn picked_template(&mut self, item: &Node, context: &Reach) {
        for module in &item.children {
            let Some(src) = module.get("src").map(|s| unquote(s.scalar()).to_owned()) else {
                continue;
            };
            if !src.contains("{{") {
                continue;
            }
            let mut resolved = src.clone();
            for (var, value, _) in self.bindings.iter().rev() {
                resolved = substitute(&resolved, var, value);
            }
            if resolved.contains("{{") {
                continue;
            }
            let roles = context.role.iter().chain(
                self.bindings
                    .iter()
                    .filter_map(|(_, _, role)| role.as_ref()),
            );
            let mut dirs: Vec<String> = Vec::new();
            for role in roles {
                for kind in ["templates", "files"] {
                    dirs.push(format!("{role}/{kind}"));
                }
            }
            for dir in dirs {
                let path = join(&dir, &resolved);
                if self.by_path.contains_key(path.as_str()) {
                    self.picked.insert(parent(&path).to_owned());
                    self.reach.entry(path).or_default().push(context.clone());
                    break;
                }
            }
        }
    }

    /// Where an included task file may be: next to the including file, in the role's tasks,
    /// or from the project root.
    fn task_paths(&self, dir: &str, file: &str, role: Option<&str>) -> Vec<String> {
        let mut out = vec![join(dir, file)];
        if let Some(role) = role {
            out.push(join(&format!("{role}/tasks"), file));
        }
        out.push(join(self.repository.project_of(dir), file));
        out
    }

    /// The entries of the list that `file` sets at `line`, with their fields.
    fn entries_at(&self, file: &str, line: usize) -> Vec<(String, BTreeMap<String, String>)> {
        fn at(nodes: &[Node], line: usize) -> Option<&Node> {
            nodes.iter().find_map(|n| {
                if n.line == line && n.key.is_some() {
                    Some(n)
                } else {
                    at(&n.children, line)
                }
            })
        }
        self.by_path
            .get(file)
            .and_then(|source| at(&source.nodes, line))
            .map(crate::discovery::list_entries)
            .unwrap_or_default()
    }

    /// The names an include stands for: itself, or one per loop item when it is templated.
    fn expand_loop(&self, item: &Node, expression: &str) -> Vec<(String, Option<ListEntry>)> {
        if !expression.contains("{{") {
            return vec![(expression.to_owned(), None)];
        }
        let loop_var = loop_var(item);
        let Some(source) = item
            .get("loop")
            .or_else(|| item.get("with_items"))
            .or_else(|| item.get("with_list"))
        else {
            return Vec::new();
        };
        let mut values: Vec<(String, Option<ListEntry>)> = Vec::new();
        let inline = unquote(source.scalar());
        if let Some(var) = inline.strip_prefix("{{").and_then(|v| v.strip_suffix("}}")) {
            let var = var.split('|').next().unwrap_or("").trim();
            let mut rendered = Vec::new();
            // A list the playbook's own plays set, else one set outside any playbook.
            let definitions: Vec<&VarDef> = self
                .repository
                .vars
                .get(var)
                .into_iter()
                .flatten()
                .collect();
            let own = definitions.iter().any(|d| d.file == self.playbook);
            let is_playbook = |file: &str| self.repository.playbooks.iter().any(|p| p.path == file);
            for definition in definitions.into_iter().filter(|d| {
                if own {
                    d.file == self.playbook
                } else {
                    !is_playbook(&d.file)
                }
            }) {
                let entries = self.entries_at(&definition.file, definition.line);
                // Entries in order: two may open with the same field (`user: simon`).
                for (at, value) in definition.items.iter().enumerate() {
                    let fields = entries
                        .get(at)
                        .filter(|(v, _)| v == value)
                        .or_else(|| entries.iter().find(|(v, _)| v == value))
                        .map(|(_, fields)| fields);
                    rendered.push((
                        render_entry(expression, &loop_var, value, fields),
                        Some((var.to_owned(), definition.file.clone(), value.clone())),
                    ));
                }
            }
            return rendered;
        } else {
            for child in source.children.iter().filter(|c| c.is_item()) {
                let value = child
                    .get("name")
                    .map_or_else(|| child.scalar().to_owned(), |n| n.scalar().to_owned());
                values.push((unquote(&value).to_owned(), None));
            }
        }
        values
            .into_iter()
            .map(|(value, list)| (substitute(expression, &loop_var, &value), list))
            .collect()
    }
}

/// The name a loop gives its item (`loop_control: { loop_var: role_item }`), `item` by default.
fn loop_var(item: &Node) -> String {
    item.get("loop_control")
        .and_then(|c| c.get("loop_var"))
        .map_or("item".to_owned(), |v| unquote(v.scalar()).to_owned())
}

/// `expression` for one list entry: `{{ item }}` and `{{ item.name }}` are its value, `{{
/// item.<field> }}` the entry's field, and a missing field takes its `| default(…)`, a quoted
/// text or fields joined with `+` (`item.name + '.yaml'`); else the entry's value.
fn render_entry(
    expression: &str,
    var: &str,
    value: &str,
    fields: Option<&BTreeMap<String, String>>,
) -> String {
    let Some(fields) = fields else {
        return substitute(expression, var, value);
    };
    let field = |name: &str| -> Option<String> {
        if name == var {
            return Some(value.to_owned());
        }
        fields
            .get(name.strip_prefix(var)?.strip_prefix('.')?)
            .cloned()
    };
    let term = |term: &str| -> Option<String> {
        let term = term.trim();
        if let Some(text) = term
            .strip_prefix('\'')
            .and_then(|t| t.strip_suffix('\''))
            .or_else(|| term.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
        {
            return Some(text.to_owned());
        }
        field(term)
    };
    each_expression(expression, |inner| {
        let (head, filter) = inner.split_once('|').unwrap_or((inner, ""));
        let own = head.trim();
        if own != var && !own.starts_with(&format!("{var}.")) {
            return None;
        }
        let fallback = || {
            filter
                .trim()
                .strip_prefix("default(")
                .and_then(|f| f.strip_suffix(')'))
                .and_then(|f| f.split('+').map(term).collect::<Option<String>>())
        };
        // As before fields were read: else the entry's value.
        Some(
            field(own)
                .or_else(fallback)
                .unwrap_or_else(|| value.to_owned()),
        )
    })
}

/// `expression` with each `{{ … }}` that `replace` gives a text for (given what is inside,
/// trimmed) replaced by it; the others stay as written.
fn each_expression(expression: &str, replace: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = expression;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        match replace(rest[start + 2..start + end].trim()) {
            Some(text) => out.push_str(&text),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// `{{ item }}` (any spacing, also `{{ item.name }}`) replaced by a value.
pub(crate) fn substitute(expression: &str, var: &str, value: &str) -> String {
    each_expression(expression, |inner| {
        let mine = inner == var
            || inner.starts_with(&format!("{var}."))
            || inner.starts_with(&format!("{var} "));
        mine.then(|| value.to_owned())
    })
}
