//! Rules for tasks: commands that report a change on every run, restarts done as tasks
//! instead of handlers, unconditional reboots, downloads that move or go unchecked,
//! deprecated modules, and `ignore_errors` that hides failures nobody looks at.

use crate::repo::outline::Node;
use crate::suggest::Severity;
use crate::suggest::findings::Findings;
use crate::suggest::source::{Source, View, arg, module, short, tasks_of};

pub(crate) fn check(found: &mut Findings<'_>, source: &Source, view: &View) {
    let tasks = tasks_of(source);
    for (task, handler) in &tasks {
        let Some(module) = module(task) else { continue };
        let name = module.key.as_deref().unwrap_or_default();
        let label = task.get("name").map_or_else(
            || format!("this {} task", short(name)),
            |n| format!("task {:?}", n.scalar()),
        );
        match short(name) {
            "command" | "shell" | "raw" => {
                command(found, task, module, &label);
                shell_download(found, module, &label);
            }
            "service" | "systemd" | "systemd_service" | "docker_compose_v2" | "docker_compose"
                if !handler =>
            {
                restart(found, task, module, &label);
            }
            "reboot" if !handler => reboot(found, task, module, &label),
            "get_url" | "unarchive" => download(found, task, module, &label, view, &tasks),
            _ => {}
        }
        deprecated(found, module, &label);
        ignore_errors(found, task, module, &label);
    }
}

fn command(found: &mut Findings<'_>, task: &Node, module: &Node, label: &str) {
    let when = task
        .get("when")
        .map(|w| w.value.clone())
        .unwrap_or_default();
    let guarded = task.get("changed_when").is_some()
        || ["creates", "removes"]
            .iter()
            .any(|a| arg(task, module, a).is_some())
        // `when: x.changed` or a file check gates it the way `creates:` would.
        || ["changed", "stat", "exists", "rc "].iter().any(|w| when.contains(w))
        || found.silenced(task.line, &["no-changed-when"])
        || found.silenced(module.line, &["no-changed-when"]);
    if guarded {
        return;
    }
    let command = module.get("cmd").map_or_else(
        || {
            let text = module.scalar();
            if text.starts_with(['|', '>']) {
                let lines: Vec<&str> = found.text.lines().collect();
                lines
                    .get(module.line..module.last_line())
                    .map(|l| l.iter().map(|s| s.trim()).collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            } else {
                text.to_owned()
            }
        },
        |c| c.scalar().to_owned(),
    );
    let read_only = is_read_only(&command);
    let pad = " ".repeat(task.children.first().map_or(task.indent + 2, |c| c.indent));
    let diff = read_only
        .then(|| found.insert_after(task.last_line(), &[format!("{pad}changed_when: false")]));
    let shown: String = command.chars().take(80).collect();
    found.add(
        "command-not-idempotent",
        module.line,
        Severity::Medium,
        if read_only {
            format!("{label} runs `{shown}`, which only reads, yet Ansible reports it as changed on every run; say so with `changed_when: false`.")
        } else {
            format!("{label} runs `{shown}` on every run and always reports a change. Add `creates:`/`removes:` naming what it makes, or a `changed_when:` that tests its output, so a second run is quiet and honest.")
        },
        diff,
    );
}

/// Commands that only look: reporting them as changed is wrong.
fn is_read_only(command: &str) -> bool {
    let first = command.split_whitespace().next().unwrap_or_default();
    let first = first.rsplit('/').next().unwrap_or(first);
    const READERS: &[&str] = &[
        "cat", "ls", "grep", "test", "which", "stat", "id", "uname", "whoami", "hostname", "df",
        "free", "lsblk", "getent", "head", "tail",
    ];
    (READERS.contains(&first)
        || command.starts_with("docker ps")
        || command.starts_with("docker inspect")
        || command.starts_with("systemctl status")
        || command.starts_with("systemctl is-active")
        || command.starts_with("systemctl is-enabled"))
        && !command.contains('>')
        && !command.contains("| tee")
}

fn restart(found: &mut Findings<'_>, task: &Node, module: &Node, label: &str) {
    let state = arg(task, module, "state").unwrap_or_default();
    if !(state == "restarted" || state == "reloaded") {
        return;
    }
    found.add(
        "restart-in-tasks",
        module.line,
        Severity::Low,
        format!("{label} {state} the service as a task. Make it a handler and `notify:` it from the tasks that change the service's configuration: it then runs once, at the end, only when something changed, and a failed run does not leave a half-restarted stack."),
        None,
    );
}

/// Words a condition uses when it asks whether a reboot is needed.
const REBOOT_GUARDS: &[&str] = &["reboot", "restart", "kernel", "needs", "stat.exists"];

fn reboot(found: &mut Findings<'_>, task: &Node, module: &Node, label: &str) {
    let when = task.get("when").map(|w| w.value.to_ascii_lowercase());
    if when.is_some_and(|w| w.is_empty() || REBOOT_GUARDS.iter().any(|g| w.contains(g))) {
        return;
    }
    let pad = " ".repeat(task.children.first().map_or(task.indent + 2, |c| c.indent));
    let diff = task.get("when").is_none().then(|| {
        found.insert_after(
            task.last_line(),
            &[format!(
                "{pad}when: reboot_required | default(false) | bool"
            )],
        )
    });
    found.add(
        "unconditional-reboot",
        module.line,
        Severity::High,
        format!("{label} reboots the host on every run, taking every service on it down. Guard it with the need, for example a `reboot_required` fact from a `stat` of /var/run/reboot-required."),
        diff,
    );
}

/// A URL segment that names a moving target.
fn moving_url(url: &str) -> bool {
    url.split(['/', '?', '&', '=']).any(|segment| {
        matches!(
            segment,
            "latest" | "master" | "main" | "nightly" | "HEAD" | "tarball"
        ) && !url.contains("/download/v")
    }) || url.contains("/releases/latest")
}

fn download(
    found: &mut Findings<'_>,
    task: &Node,
    module: &Node,
    label: &str,
    view: &View,
    tasks: &[(&Node, bool)],
) {
    let raw = arg(task, module, "url")
        .or_else(|| arg(task, module, "src"))
        .unwrap_or_default();
    let url = view.resolve(&raw).unwrap_or_else(|| raw.clone());
    // `{{ x.json.tag_name }}` where x came from a `releases/latest` lookup moves too.
    let from_latest = tasks.iter().any(|(other, _)| {
        other.get("register").is_some_and(|r| {
            raw.contains(&format!("{}.", r.scalar()))
                && module_of_url(other).is_some_and(|u| moving_url(&u))
        })
    });
    if !(url.starts_with("http") || url.contains("://") || from_latest) {
        return;
    }
    if moving_url(&url) || from_latest {
        found.add(
            "moving-download",
            module.line,
            Severity::Medium,
            format!("{label} downloads {url}, which changes under you: two runs (or two hosts) can install two versions, and an upgrade happens without anyone deciding it. Pin a release and add a `checksum:`."),
            None,
        );
    } else if arg(task, module, "checksum").is_none() {
        found.add(
            "download-without-checksum",
            module.line,
            Severity::Low,
            format!("{label} downloads {url} without a `checksum:`, so a tampered or truncated file is installed without a word."),
            None,
        );
    }
}

fn module_of_url(task: &Node) -> Option<String> {
    let module = module(task)?;
    arg(task, module, "url")
}

/// `curl … | sh` and `wget … | tar` in a shell task.
fn shell_download(found: &mut Findings<'_>, module: &Node, label: &str) {
    let lines: Vec<&str> = found.text.lines().collect();
    let end = module.last_line().min(lines.len());
    for number in module.line..=end {
        let text = lines[number - 1];
        let fetches = text.contains("curl ") || text.contains("wget ");
        let Some(url) = text
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
        else {
            continue;
        };
        if !fetches {
            continue;
        }
        let piped = ["| sh", "| bash", "| tar", "| sudo"]
            .iter()
            .any(|p| text.contains(p));
        let checked = lines[module.line - 1..end]
            .iter()
            .any(|l| l.contains("sha256sum") || l.contains("gpg --verify"));
        let (rule, severity, why) = if moving_url(url) {
            (
                "moving-download",
                Severity::Medium,
                "which changes under you: two runs can install two versions. Pin a release",
            )
        } else if piped && !checked {
            (
                "download-without-checksum",
                Severity::Medium,
                "and runs or unpacks it unchecked. Download with `get_url` and a `checksum:`, then run it",
            )
        } else {
            continue;
        };
        found.add(
            rule,
            number,
            severity,
            format!("{label} fetches {url} {why}."),
            None,
        );
        if rule == "moving-download" && piped && !checked {
            found.add(
                "download-without-checksum",
                number,
                Severity::Medium,
                format!("{label} pipes {url} straight into a shell or tar, unchecked. Download with `get_url` and a `checksum:` first."),
                None,
            );
        }
    }
}

/// Modules removed or deprecated, with what replaces them.
const DEPRECATED: &[(&str, &str)] = &[
    (
        "apt_key",
        "apt-key is deprecated and gone from Debian 13 and Ubuntu 24.04: download the key with `get_url` into /etc/apt/keyrings and use `deb822_repository` with `signed_by`",
    ),
    (
        "include",
        "`include` was removed in ansible-core 2.16: use `include_tasks` or `import_tasks`",
    ),
    (
        "docker_service",
        "`docker_service` is gone: use `community.docker.docker_compose_v2`",
    ),
    (
        "docker_compose",
        "`docker_compose` (Compose v1) was removed from community.docker 4: use `community.docker.docker_compose_v2`",
    ),
    (
        "docker",
        "the `docker` module is gone: use `community.docker.docker_container`",
    ),
    (
        "docker_image_facts",
        "use `community.docker.docker_image_info`",
    ),
    ("include_role_vars", "use `include_vars`"),
];

fn deprecated(found: &mut Findings<'_>, module: &Node, label: &str) {
    let name = module.key.as_deref().unwrap_or_default();
    let Some((_, instead)) = DEPRECATED.iter().find(|(m, _)| *m == short(name)) else {
        return;
    };
    // Removing what the old module added is the migration itself, not a use of it.
    if module.get("state").is_some_and(|s| s.scalar() == "absent") {
        return;
    }
    found.add(
        "deprecated-module",
        module.line,
        Severity::Medium,
        format!(
            "{label} uses `{name}`: {instead}. The next upgrade of Ansible or of the OS breaks it."
        ),
        None,
    );
}

/// Words of a task that only tells someone something: its failure may be ignored.
const NOTICES: &[&str] = &[
    "notif", "message", "gotify", "ntfy", "slack", "discord", "telegram", "silence", "webhook",
];

fn ignore_errors(found: &mut Findings<'_>, task: &Node, module: &Node, label: &str) {
    let Some(flag) = task.get("ignore_errors") else {
        return;
    };
    if !matches!(flag.scalar(), "true" | "yes" | "True")
        || found.silenced(flag.line, &["ignore-errors"])
    {
        return;
    }
    let name = task
        .get("name")
        .map(|n| n.scalar().to_ascii_lowercase())
        .unwrap_or_default();
    let probe = task
        .get("changed_when")
        .is_some_and(|c| c.scalar() == "false" || c.value.contains(".rc"));
    let notice = NOTICES.iter().any(|n| name.contains(n))
        || module.children.iter().any(|c| {
            NOTICES
                .iter()
                .any(|n| c.value.to_ascii_lowercase().contains(n))
        });
    // A result that a later condition tests is handled, not hidden.
    let tested = task.get("register").is_some_and(|r| {
        let register = r.scalar();
        found.text.lines().skip(task.last_line()).any(|line| {
            line.contains(register)
                && [
                    "when", "that", "until", "if ", ".rc", ".failed", " is ", ".json", ".stdout",
                    ".status",
                ]
                .iter()
                .any(|w| line.contains(w))
        })
    });
    if probe || notice || tested {
        return;
    }
    found.add(
        "ignore-errors",
        flag.line,
        Severity::Medium,
        format!("{label} ignores its errors, and nothing looks at the result: a failure is reported as success and the next tasks build on it. Use `failed_when:` for the failures you expect, or register the result and test it."),
        None,
    );
}
