//! Suggestions from a failed run: what Ansible's error messages usually mean in a homelab
//! (a port already taken, a permission missing, a host that cannot be reached, Docker not
//! running, a full disk, a name that does not resolve), pointing at the failed task's line.
//! They carry no diff: the fix is on the host, not in the playbook.

use std::path::Path;

use super::{Severity, Suggestion};
use crate::protocol::Failure;

/// (rule, severity, needles in the lowercased message, advice; `{host}` and `{task}` filled in).
const RULES: &[(&str, Severity, &[&str], &str)] = &[
    (
        // Before `permission-denied`: ssh's "Permission denied (publickey)" is a login, not
        // a missing `become`.
        "ssh-login-refused",
        Severity::High,
        &[
            "permission denied (publickey",
            "host key verification failed",
            "remote host identification has changed",
        ],
        "the agent's SSH login to {host} was refused: the step's error says whether the key or the host key is missing and what to change (docs/deploy.md, \"Reaching your hosts over SSH\")",
    ),
    (
        "port-in-use",
        Severity::High,
        &[
            "address already in use",
            "port is already allocated",
            "bind: address",
        ],
        "a port the service needs is already taken on {host}: find what holds it (`ss -ltnp`) and stop it, or publish the service on another port",
    ),
    (
        "permission-denied",
        Severity::Medium,
        &[
            "permission denied",
            "operation not permitted",
            "requires root",
        ],
        "task {task} lacked a permission on {host}: add `become: true` to the task (or play), or give the connecting user ownership of the path",
    ),
    (
        "read-only-filesystem",
        Severity::Medium,
        &["read-only file system"],
        "task {task} wrote to a read-only file system on {host}: point the path at a writable volume",
    ),
    (
        "host-unreachable",
        Severity::High,
        &[
            "unreachable",
            "failed to connect to the host",
            "connection timed out",
            "no route to host",
            "connection refused",
        ],
        "{host} could not be reached: check it is up, that `ansible {host} -m ping` works, and its address in the inventory",
    ),
    (
        "docker-not-running",
        Severity::Medium,
        &[
            "cannot connect to the docker daemon",
            "is the docker daemon running",
        ],
        "Docker is not running on {host}: start it (`systemctl enable --now docker`) before deploying containers",
    ),
    (
        "disk-full",
        Severity::High,
        &["no space left on device"],
        "{host} ran out of disk space: prune old images (`docker image prune`) or grow the volume",
    ),
    (
        "name-resolution",
        Severity::Medium,
        &[
            "name or service not known",
            "temporary failure in name resolution",
            "could not resolve host",
        ],
        "a name did not resolve on {host}: check its DNS (is the Pi-hole up?) and the spelling of the host or URL",
    ),
];

/// Suggestions for a failed run of `playbook` in `repo`, from its failed tasks (and its
/// overall error when no task failed). One per rule and host.
pub fn from_failures(
    repo: &Path,
    playbook: Option<&str>,
    failures: &[Failure],
    error: Option<&str>,
) -> Vec<Suggestion> {
    let mut messages: Vec<(String, String, String)> = failures
        .iter()
        .map(|f| (f.host.clone(), f.task.clone(), f.msg.to_lowercase()))
        .collect();
    if messages.is_empty()
        && let Some(error) = error
    {
        messages.push((
            "the host".to_owned(),
            "the run".to_owned(),
            error.to_lowercase(),
        ));
    }
    let mut out: Vec<Suggestion> = Vec::new();
    for (host, task, message) in messages {
        for (rule, severity, needles, advice) in RULES {
            if !needles.iter().any(|n| message.contains(n)) {
                continue;
            }
            if out
                .iter()
                .any(|s| s.rule == *rule && s.message.contains(&host))
            {
                continue;
            }
            let (file, line) = locate(repo, playbook, &task);
            let text = advice
                .replace("{host}", &host)
                .replace("{task}", &format!("{task:?}"));
            let id = format!(
                "{:012x}",
                crate::suggest::findings::fnv(&format!("{rule}\0{file}\0{host}\0{task}"))
                    & 0xffff_ffff_ffff
            );
            out.push(Suggestion {
                id,
                rule: (*rule).to_owned(),
                file,
                line,
                severity: *severity,
                message: format!("The run failed: {text}."),
                diff: None,
                origin: crate::suggest::Origin::Chiffon,
            });
            break;
        }
    }
    out
}

/// The file and line of the task named `task`: the playbook first, then any task file of the
/// repository; else the playbook's first line.
fn locate(repo: &Path, playbook: Option<&str>, task: &str) -> (String, usize) {
    let fallback = (playbook.unwrap_or("").to_owned(), 1);
    // Ansible reports a role's task as "role : name".
    let (role, task) = match task.split_once(" : ") {
        Some((role, name)) => (Some(role), name),
        None => (None, task),
    };
    if task.is_empty() {
        return fallback;
    }
    let needle = format!("name: {task}");
    let mut files: Vec<String> = playbook.map(str::to_owned).into_iter().collect();
    for dir in ["roles", "tasks"] {
        files.extend(
            crate::repo::files(repo, &repo.join(dir), |name| {
                name.ends_with(".yml") || name.ends_with(".yaml")
            })
            .iter()
            .map(|path| crate::repo::relative(repo, path)),
        );
    }
    // The role's own files first.
    if let Some(role) = role {
        files.sort_by_key(|f| !f.contains(&format!("/{role}/")));
    }
    for file in files {
        let Some(text) = crate::repo::read_text(&repo.join(&file)) else {
            continue;
        };
        if let Some(index) = text.lines().position(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            l == needle
                || l == format!("name: \"{task}\"")
                || l == format!("name: '{task}'")
                || templated_name_matches(l, task)
        }) {
            return (file, index + 1);
        }
    }
    fallback
}

/// `name: Create the directory for {{ title }}` names the task Ansible reports as "Create the
/// directory for Uptime Kuma": the literal text around the template must match.
fn templated_name_matches(line: &str, task: &str) -> bool {
    let Some(name) = line.strip_prefix("name: ") else {
        return false;
    };
    let name = name
        .split(" # ")
        .next()
        .unwrap_or(name)
        .trim()
        .trim_matches(['"', '\'']);
    let (Some(open), Some(close)) = (name.find("{{"), name.rfind("}}")) else {
        return false;
    };
    let (prefix, suffix) = (&name[..open], &name[close + 2..]);
    !prefix.trim().is_empty() && task.starts_with(prefix) && task.ends_with(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(host: &str, task: &str, msg: &str) -> Failure {
        Failure {
            host: host.into(),
            task: task.into(),
            msg: msg.into(),
        }
    }

    #[test]
    fn common_failures_become_advice_at_the_failed_task() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("roles/app/tasks")).unwrap();
        std::fs::write(
            repo.path().join("roles/app/tasks/main.yml"),
            "---\n- name: Start the app\n  ansible.builtin.command: docker compose up -d\n",
        )
        .unwrap();
        std::fs::write(repo.path().join("app.yml"), "- name: App\n  hosts: lola\n").unwrap();
        let found = from_failures(
            repo.path(),
            Some("app.yml"),
            &[
                failure(
                    "lola",
                    "Start the app",
                    "Error response from daemon: driver failed programming external connectivity: Bind for 0.0.0.0:8080 failed: port is already allocated",
                ),
                failure(
                    "nas",
                    "Gathering Facts",
                    "Failed to connect to the host via ssh: ssh: connect to host 192.168.1.20 port 22: No route to host",
                ),
                failure("pi", "Start the app", "mkdir /srv/app: permission denied"),
                failure("lola", "Pull", "Something odd"),
            ],
            None,
        );
        let rules: Vec<(&str, &str, usize)> = found
            .iter()
            .map(|s| (s.rule.as_str(), s.file.as_str(), s.line))
            .collect();
        assert_eq!(
            rules,
            [
                ("port-in-use", "roles/app/tasks/main.yml", 2),
                ("host-unreachable", "app.yml", 1),
                ("permission-denied", "roles/app/tasks/main.yml", 2),
            ]
        );
        assert!(found[1].message.contains("nas could not be reached"));
        assert!(found.iter().all(|s| s.diff.is_none()));
        // Without task failures, the run's error is read.
        let found = from_failures(
            repo.path(),
            Some("app.yml"),
            &[],
            Some("write error: No space left on device"),
        );
        assert_eq!(found[0].rule, "disk-full");
    }

    #[test]
    fn a_refused_ssh_login_is_not_taken_for_a_missing_become() {
        let repo = tempfile::tempdir().unwrap();
        let found = from_failures(
            repo.path(),
            None,
            &[failure(
                "pi",
                "Render",
                "Make sure this host can be reached over ssh: chiffon@192.168.1.2: Permission denied (publickey).",
            )],
            None,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "ssh-login-refused");
        assert!(
            found[0].message.contains("SSH login to pi"),
            "{}",
            found[0].message
        );
    }
}
