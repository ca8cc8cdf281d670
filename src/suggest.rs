//! Improvement suggestions for a homelab's Ansible repository: rules a seasoned homelabber
//! applies when reading playbooks, roles, variables and compose files. Each suggestion names
//! its rule, file and line, explains itself, and carries a unified diff when the fix is
//! mechanical (for example `restart: unless-stopped`); where only a person can choose the
//! change (which image version to pin), `diff` is absent and the message says what to decide.
//!
//! Invariant: finding suggestions only reads (no writes, no processes), and a vault-encrypted
//! file is never opened past its header; `apply` is the one place that changes the repository.

pub mod apply;
pub mod runs;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::repo::outline::{self, Node};
use crate::repo::relative;

/// How much a suggestion matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
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
}

/// Task keywords: every other key of a task is its module.
const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "become",
    "become_user",
    "become_method",
    "register",
    "tags",
    "notify",
    "listen",
    "loop",
    "loop_control",
    "with_items",
    "with_dict",
    "with_fileglob",
    "vars",
    "args",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "delegate_to",
    "delegate_facts",
    "environment",
    "no_log",
    "until",
    "retries",
    "delay",
    "check_mode",
    "diff",
    "run_once",
    "block",
    "rescue",
    "always",
    "timeout",
    "throttle",
    "any_errors_fatal",
    "collections",
    "module_defaults",
    "debugger",
    "async",
    "poll",
    "connection",
    "local_action",
];

/// Passwords that ship as defaults and are the first ones tried.
const DEFAULT_PASSWORDS: &[&str] = &[
    "admin", "password", "changeme", "changeit", "secret", "123456", "default", "root", "pass",
];

/// Every suggestion for the repository at `root`, ordered by file and line.
pub fn analyse(root: &Path) -> Vec<Suggestion> {
    let files = yaml_files(root);
    // All text once, for "is this variable used anywhere".
    let texts: Vec<(String, String)> = files
        .iter()
        .filter_map(|path| {
            let text = crate::repo::read_text(path)?;
            (!text.starts_with("$ANSIBLE_VAULT")).then(|| (relative(root, path), text))
        })
        .collect();
    let mut out = Vec::new();
    for (file, text) in &texts {
        let mut found = Findings {
            file,
            text,
            out: &mut out,
        };
        let nodes = outline::parse(text);
        match classify(file, &nodes) {
            Kind::Compose => compose_rules(&mut found, &nodes),
            Kind::Playbook => {
                for play in &nodes {
                    if let Some(vars) = play.get("vars") {
                        vars_rules(&mut found, vars, &texts, false);
                    }
                    for section in ["pre_tasks", "tasks", "post_tasks", "handlers"] {
                        if let Some(tasks) = play.get(section) {
                            task_rules(&mut found, &tasks.children, section == "handlers");
                        }
                    }
                }
            }
            Kind::Tasks { handlers } => task_rules(&mut found, &nodes, handlers),
            Kind::Vars => {
                for node in nodes.iter().filter(|n| n.key.is_some()) {
                    vars_rules(&mut found, node, &texts, true);
                }
            }
            Kind::Other => {}
        }
    }
    out.sort_by(|a, b| (&a.file, a.line, &a.rule).cmp(&(&b.file, b.line, &b.rule)));
    out
}

/// Adds ansible-lint's findings (rule `ansible-lint/<check>`, no diff), skipping those on a
/// line a Chiffon rule already covers with the same meaning.
pub fn merge_lint(
    root: &Path,
    found: &mut Vec<Suggestion>,
    lint: Vec<crate::tools::ansible::LintFinding>,
) {
    for finding in lint {
        let file = finding.file.trim_start_matches("./").to_owned();
        let text = std::fs::read_to_string(root.join(&file)).unwrap_or_default();
        let severity = match finding.severity.as_str() {
            "blocker" | "critical" => Severity::High,
            "major" => Severity::Medium,
            _ => Severity::Low,
        };
        // ansible-lint points at the task's first line, Chiffon at the module's.
        let duplicate = found.iter().any(|s| {
            s.file == file
                && s.line.abs_diff(finding.line) <= 2
                && matches!(
                    (s.rule.as_str(), finding.check.as_str()),
                    ("command-not-idempotent", "no-changed-when")
                )
        });
        if duplicate {
            continue;
        }
        let mut findings = Findings {
            file: &file,
            text: &text,
            out: found,
        };
        findings.add(
            &format!("ansible-lint/{}", finding.check),
            finding.line,
            severity,
            finding.message,
            None,
        );
    }
    found.sort_by(|a, b| (&a.file, a.line, &a.rule).cmp(&(&b.file, b.line, &b.rule)));
}

enum Kind {
    Compose,
    Playbook,
    Tasks { handlers: bool },
    Vars,
    Other,
}

fn classify(file: &str, nodes: &[Node]) -> Kind {
    let name = file.rsplit('/').next().unwrap_or(file);
    if file.split('/').any(|part| part == "molecule") {
        return Kind::Other;
    }
    if name.starts_with("compose") || name.starts_with("docker-compose") {
        return Kind::Compose;
    }
    if nodes.iter().any(|n| n.key.as_deref() == Some("services")) {
        return Kind::Compose;
    }
    let in_dir = |dir: &str| file.split('/').any(|part| part == dir);
    if nodes
        .iter()
        .any(|n| n.is_item() && n.get("hosts").is_some())
    {
        return Kind::Playbook;
    }
    if in_dir("handlers") {
        return Kind::Tasks { handlers: true };
    }
    if in_dir("tasks") {
        return Kind::Tasks { handlers: false };
    }
    if ["defaults", "vars", "group_vars", "host_vars"]
        .iter()
        .any(|dir| in_dir(dir))
    {
        return Kind::Vars;
    }
    Kind::Other
}

struct Findings<'a> {
    file: &'a str,
    text: &'a str,
    out: &'a mut Vec<Suggestion>,
}

impl Findings<'_> {
    fn add(
        &mut self,
        rule: &str,
        line: usize,
        severity: Severity,
        message: String,
        diff: Option<String>,
    ) {
        let line_text = self.text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        let id = format!(
            "{:012x}",
            fnv(&format!("{rule}\0{}\0{line}\0{line_text}", self.file)) & 0xffff_ffff_ffff
        );
        self.out.push(Suggestion {
            id,
            rule: rule.to_owned(),
            file: self.file.to_owned(),
            line,
            severity,
            message,
            diff,
        });
    }

    /// A diff inserting `lines` (already indented) after line `after`.
    fn insert_after(&self, after: usize, lines: &[String]) -> String {
        let mut new: Vec<String> = self.text.lines().map(str::to_owned).collect();
        let at = after.min(new.len());
        for (i, line) in lines.iter().enumerate() {
            new.insert(at + i, line.clone());
        }
        unified(self.file, self.text, &new)
    }

    /// A diff replacing line `line` with `with` (or deleting it).
    fn replace_line(&self, line: usize, with: Option<String>) -> String {
        let mut new: Vec<String> = self.text.lines().map(str::to_owned).collect();
        let at = line.saturating_sub(1).min(new.len().saturating_sub(1));
        match with {
            Some(with) => new[at] = with,
            None => {
                new.remove(at);
            }
        }
        unified(self.file, self.text, &new)
    }

    fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }
}

/// FNV-1a, for short stable ids.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One hunk around the lines that differ, three lines of context, `a/` and `b/` prefixes.
pub fn unified(file: &str, old_text: &str, new: &[String]) -> String {
    let old: Vec<&str> = old_text.lines().collect();
    let prefix = old
        .iter()
        .zip(new)
        .take_while(|(a, b)| **a == b.as_str())
        .count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| **a == b.as_str())
        .count();
    let start = prefix.saturating_sub(3);
    let old_end = (old.len() - suffix + 3).min(old.len());
    let new_end = (new.len() - suffix + 3).min(new.len());
    let mut out = format!(
        "--- a/{file}\n+++ b/{file}\n@@ -{},{} +{},{} @@\n",
        start + 1,
        old_end - start,
        start + 1,
        new_end - start
    );
    for line in &old[start..prefix] {
        let _ = writeln!(out, " {line}");
    }
    for line in &old[prefix..old.len() - suffix] {
        let _ = writeln!(out, "-{line}");
    }
    for line in &new[prefix..new.len() - suffix] {
        let _ = writeln!(out, "+{line}");
    }
    for line in &old[old.len() - suffix..old_end] {
        let _ = writeln!(out, " {line}");
    }
    out
}

/// The module a task calls, with its node: the first key that is not a task keyword.
fn module(task: &Node) -> Option<&Node> {
    task.children.iter().find(|c| {
        c.key
            .as_deref()
            .is_some_and(|k| !TASK_KEYWORDS.contains(&k))
    })
}

/// `ansible.builtin.command` → `command`.
fn short(module: &str) -> &str {
    module.rsplit('.').next().unwrap_or(module)
}

/// An argument of a task's module: `module: {arg: …}` children, `args:`, or `arg=` free form.
fn arg<'a>(task: &'a Node, module: &'a Node, name: &str) -> Option<String> {
    if let Some(node) = module
        .get(name)
        .or_else(|| task.get("args").and_then(|a| a.get(name)))
    {
        return Some(node.scalar().to_owned());
    }
    module
        .value
        .split_whitespace()
        .find_map(|part| part.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

fn task_rules(found: &mut Findings<'_>, tasks: &[Node], handlers: bool) {
    for task in tasks.iter().filter(|t| t.is_item()) {
        for nested in ["block", "rescue", "always"] {
            if let Some(block) = task.get(nested) {
                task_rules(found, &block.children, handlers);
            }
        }
        let Some(module) = module(task) else { continue };
        let name = module.key.as_deref().unwrap_or_default();
        let indent = task.children.first().map_or(task.indent + 2, |c| c.indent);
        let pad = " ".repeat(indent);
        let label = task.get("name").map_or_else(
            || format!("this {} task", short(name)),
            |n| format!("task {:?}", n.scalar()),
        );
        match short(name) {
            "command" | "shell" | "raw" => {
                let guarded = task.get("changed_when").is_some()
                    || ["creates", "removes"]
                        .iter()
                        .any(|a| arg(task, module, a).is_some());
                if guarded {
                    continue;
                }
                let command = module
                    .get("cmd")
                    .map_or_else(|| module.scalar().to_owned(), |c| c.scalar().to_owned());
                let read_only = is_read_only(&command);
                let diff = read_only.then(|| {
                    found.insert_after(task.last_line(), &[format!("{pad}changed_when: false")])
                });
                found.add(
                    "command-not-idempotent",
                    module.line,
                    Severity::Medium,
                    if read_only {
                        format!("{label} runs `{command}`, which only reads, yet Ansible reports it as changed on every run; say so with `changed_when: false`.")
                    } else {
                        format!("{label} runs `{command}` on every run and always reports a change. Add `creates:`/`removes:` naming what it makes, or a `changed_when:` that tests its output, so a second run is quiet and honest.")
                    },
                    diff,
                );
            }
            "service" | "systemd" | "systemd_service" if !handlers => {
                let state = arg(task, module, "state").unwrap_or_default();
                if state == "restarted" || state == "reloaded" {
                    found.add(
                        "restart-in-tasks",
                        module.line,
                        Severity::Low,
                        format!("{label} {state} the service on every run. Make it a handler and `notify:` it from the tasks that change the service's configuration, so it only restarts when something changed."),
                        None,
                    );
                }
            }
            "reboot" if task.get("when").is_none() => {
                found.add(
                    "unconditional-reboot",
                    module.line,
                    Severity::High,
                    format!("{label} reboots the host on every run. Guard it, for example with a `reboot_required` fact set by the tasks that need it."),
                    Some(found.insert_after(
                        task.last_line(),
                        &[format!("{pad}when: reboot_required | default(false) | bool")],
                    )),
                );
            }
            "get_url" | "unarchive" => {
                let url = arg(task, module, "url")
                    .or_else(|| arg(task, module, "src"))
                    .unwrap_or_default();
                let moving = ["/latest", "latest/", "/master/", "/main/", "/nightly"]
                    .iter()
                    .any(|m| url.contains(m));
                if url.starts_with("http") && moving {
                    found.add(
                        "moving-download",
                        module.line,
                        Severity::Medium,
                        format!("{label} downloads {url}, which changes under you: two runs can install two versions. Pin a release URL and add a `checksum:`."),
                        None,
                    );
                } else if url.starts_with("http")
                    && arg(task, module, "checksum").is_none()
                    && short(name) == "get_url"
                {
                    found.add(
                        "download-without-checksum",
                        module.line,
                        Severity::Low,
                        format!("{label} downloads {url} without a `checksum:`, so a tampered or truncated file goes unnoticed."),
                        None,
                    );
                }
            }
            "docker_container" => {
                if let Some(image) = module.get("image") {
                    unpinned_image(found, image, &label);
                }
            }
            _ => {}
        }
    }
}

/// Commands that only look: reporting them as changed is wrong.
fn is_read_only(command: &str) -> bool {
    let first = command.split_whitespace().next().unwrap_or_default();
    let first = first.rsplit('/').next().unwrap_or(first);
    const READERS: &[&str] = &[
        "cat", "ls", "grep", "test", "which", "stat", "id", "uname", "whoami", "hostname", "df",
        "free", "lsblk", "getent", "head", "tail",
    ];
    READERS.contains(&first)
        || command.starts_with("docker ps")
        || command.starts_with("docker inspect")
        || command.starts_with("systemctl status")
        || command.starts_with("systemctl is-active")
        || command.starts_with("systemctl is-enabled")
}

/// The health probe an app's image ships with, by the image's name or, when the image is a
/// template variable, the service's name. Only probes that use what the image itself contains.
fn known_healthcheck(service: &str, image: &str) -> Option<&'static str> {
    const KNOWN: &[(&str, &str)] = &[
        ("uptime-kuma", r#"["CMD", "extra/healthcheck"]"#),
        (
            "jellyfin",
            r#"["CMD", "curl", "-fsS", "http://localhost:8096/health"]"#,
        ),
        (
            "home-assistant",
            r#"["CMD", "curl", "-fsS", "http://localhost:8123/"]"#,
        ),
        (
            "homeassistant",
            r#"["CMD", "curl", "-fsS", "http://localhost:8123/"]"#,
        ),
        ("ollama", r#"["CMD", "ollama", "list"]"#),
    ];
    let repository = image
        .rsplit('/')
        .next()
        .unwrap_or(image)
        .split(':')
        .next()
        .unwrap_or_default();
    let name = if image.contains("{{") || image.contains("${") {
        service
    } else {
        repository
    };
    KNOWN
        .iter()
        .find(|(app, _)| *app == name)
        .map(|(_, test)| *test)
}

fn unpinned_image(found: &mut Findings<'_>, image: &Node, owner: &str) {
    let reference = image.scalar();
    if reference.contains("{{") || reference.contains("${") || reference.contains('@') {
        return;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let tag = last.split_once(':').map(|(_, t)| t);
    let problem = match tag {
        None => "has no tag, which means `latest`",
        Some("latest") => "is on `latest`",
        Some(_) => return,
    };
    found.add(
        "unpinned-image",
        image.line,
        Severity::High,
        format!("{owner}: image {reference} {problem}, so a re-deploy can silently upgrade (or break) it. Pin the version you run, e.g. `{}:<version>`.", reference.split(':').next().unwrap_or(reference)),
        None,
    );
}

fn compose_rules(found: &mut Findings<'_>, nodes: &[Node]) {
    let Some(services) = nodes.iter().find(|n| n.key.as_deref() == Some("services")) else {
        return;
    };
    for service in services.children.iter().filter(|s| s.key.is_some()) {
        let name = service.key.as_deref().unwrap_or_default();
        let owner = format!("service {name}");
        let Some(image) = service.get("image") else {
            continue;
        };
        unpinned_image(found, image, &owner);
        if service.get("restart").is_none() && service.get("deploy").is_none() {
            let pad = " ".repeat(image.indent);
            found.add(
                "no-restart-policy",
                service.line,
                Severity::Medium,
                format!("{owner} has no restart policy: after a crash or a reboot it stays down. `restart: unless-stopped` brings it back unless you stopped it yourself."),
                Some(found.insert_after(image.last_line(), &[format!("{pad}restart: unless-stopped")])),
            );
        }
        if service.get("healthcheck").is_none() {
            // For apps whose own health probe is known, the change is written out.
            let known = known_healthcheck(name, image.scalar());
            let change = known.map(|test| {
                let pad = " ".repeat(image.indent);
                found.insert_after(
                    image.last_line(),
                    &[
                        format!("{pad}healthcheck:"),
                        format!("{pad}  test: {test}"),
                        format!("{pad}  interval: 60s"),
                        format!("{pad}  timeout: 30s"),
                        format!("{pad}  retries: 5"),
                        format!("{pad}  start_period: 3m"),
                    ],
                )
            });
            let how = match known {
                Some(test) => format!("this image's own probe is `{test}`"),
                None => "add a `healthcheck:` that calls the app (its HTTP status page or CLI)"
                    .to_owned(),
            };
            found.add(
                "no-healthcheck",
                service.line,
                Severity::Low,
                format!("{owner} has no healthcheck, so Docker (and Chiffon) report it running while the app inside is stuck; {how}."),
                change,
            );
        }
        if let Some(environment) = service.get("environment") {
            for entry in &environment.children {
                let (key, value, line_text) = match &entry.key {
                    Some(key) => (key.clone(), entry.scalar().to_owned(), None),
                    None => match entry.scalar().split_once('=') {
                        Some((k, v)) => (k.to_owned(), v.to_owned(), Some(())),
                        None => continue,
                    },
                };
                if !crate::redact::is_secret_key(&key) || value.is_empty() || value.contains("${") {
                    continue;
                }
                let original = found.line_text(entry.line).to_owned();
                let replaced = match line_text {
                    Some(()) => original.replacen(
                        &format!("{key}={value}"),
                        &format!("{key}=${{{key}}}"),
                        1,
                    ),
                    None => {
                        let indent = &original[..original.len() - original.trim_start().len()];
                        format!("{indent}{key}: ${{{key}}}")
                    }
                };
                let default = DEFAULT_PASSWORDS.contains(&value.to_ascii_lowercase().as_str());
                found.add(
                    if default { "default-password" } else { "plaintext-secret" },
                    entry.line,
                    Severity::High,
                    format!(
                        "{owner} sets {key} {} in the compose file, where anyone who can read the repository sees it. Move it to an `.env` file next to it (kept out of git) and refer to it as `${{{key}}}`.",
                        if default { "to a well-known default password" } else { "in clear text" }
                    ),
                    Some(found.replace_line(entry.line, Some(replaced))),
                );
            }
        }
    }
}

fn vars_rules(found: &mut Findings<'_>, vars: &Node, texts: &[(String, String)], toggles: bool) {
    let entries: Vec<&Node> = if vars.children.is_empty() {
        vec![vars]
    } else {
        vars.children.iter().filter(|c| c.key.is_some()).collect()
    };
    for entry in entries {
        let key = entry.key.as_deref().unwrap_or_default();
        let value = entry.scalar();
        if crate::redact::is_secret_key(key)
            && !value.is_empty()
            && !value.contains("{{")
            && !value.starts_with("!vault")
            && !value.starts_with('|')
            && !value.starts_with('>')
        {
            let original = found.line_text(entry.line).to_owned();
            let indent = &original[..original.len() - original.trim_start().len()];
            let replacement = format!("{indent}{key}: \"{{{{ vault_{key} }}}}\"");
            let default = DEFAULT_PASSWORDS.contains(&value.to_ascii_lowercase().as_str());
            found.add(
                if default { "default-password" } else { "plaintext-secret" },
                entry.line,
                Severity::High,
                format!(
                    "{key} is {} in plain text. Put the real value in an ansible-vault encrypted file as `vault_{key}` and refer to it here.",
                    if default { "a well-known default password" } else { "a secret" }
                ),
                Some(found.replace_line(entry.line, Some(replacement))),
            );
        }
        if toggles && key.ends_with("_enabled") {
            let used = texts.iter().any(|(file, text)| {
                text.match_indices(key).any(|(at, _)| {
                    // Any mention but this definition.
                    !(file == found.file && text[..at].lines().count() + 1 == entry.line)
                })
            });
            if !used {
                found.add(
                    "toggle-gates-nothing",
                    entry.line,
                    Severity::Low,
                    format!("{key} looks like an on/off switch, but no task, template or `when:` uses it: changing it does nothing. Use it in a `when:`, or remove it."),
                    Some(found.replace_line(entry.line, None)),
                );
            }
        }
    }
}

/// YAML files (and Jinja templates of YAML) under `root`, by the repository walker's rules.
fn yaml_files(root: &Path) -> Vec<PathBuf> {
    crate::repo::files(root, root, crate::repo::is_yaml_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

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
