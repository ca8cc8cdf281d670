//! Plain words for a host Ansible could not reach or log in to over SSH, or could not become
//! root on: which host, what happened and what to do, for a failed step's error. Ansible's own
//! message ("Data could not be sent to remote host …") buries ssh's one useful line; an owner
//! needs that line and the inventory variable to fix.
//!
//! Only ssh's and sudo's own words are quoted (they name users, addresses, ports and file
//! paths, never a key's contents); the message has already been through `redact`.

/// What stopped the run on a host, read from ssh's and sudo's words in Ansible's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// Nothing listens on that address and port.
    ConnectionRefused,
    /// The address does not answer: timed out, no route, network unreachable.
    NoAnswer,
    /// The host name does not resolve.
    UnknownName,
    /// The SSH server refused every key the agent offered.
    KeyRefused,
    /// The host's key is not in the agent's known_hosts (host key checking is on).
    UnknownHostKey,
    /// The host's key differs from the one recorded in known_hosts.
    ChangedHostKey,
    /// `become` needs a password the agent does not have.
    SudoPassword,
    /// The login user may not use sudo, or sudo is missing on the host.
    NoSudo,
    /// Unreachable for a reason not listed here.
    Other,
}

/// Reads what happened from Ansible's message for one host.
pub fn classify(msg: &str) -> Trouble {
    let lower = msg.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if has(&["remote host identification has changed"]) {
        Trouble::ChangedHostKey
    } else if has(&["host key verification failed"]) {
        Trouble::UnknownHostKey
    } else if has(&[
        "permission denied (publickey",
        "too many authentication failures",
    ]) {
        Trouble::KeyRefused
    } else if has(&["connection refused"]) {
        Trouble::ConnectionRefused
    } else if has(&["could not resolve hostname", "name or service not known"]) {
        Trouble::UnknownName
    } else if has(&[
        "timed out",
        "no route to host",
        "network is unreachable",
        "connection reset",
    ]) {
        Trouble::NoAnswer
    } else if has(&["missing sudo password", "sudo: a password is required"]) {
        Trouble::SudoPassword
    } else if has(&[
        "is not in the sudoers file",
        "not allowed to execute",
        "sudo: not found",
        "sudo: command not found",
    ]) {
        Trouble::NoSudo
    } else {
        Trouble::Other
    }
}

/// The step error for a failure on `host`, with advice when it is about reaching the host or
/// becoming root there; `None` leaves an ordinary task failure as it was.
pub fn describe(host: &str, task: &str, msg: &str, unreachable: bool) -> Option<String> {
    let trouble = classify(msg);
    let words = ssh_words(msg, trouble);
    match trouble {
        Trouble::SudoPassword | Trouble::NoSudo => Some(format!(
            "{task} on {host}: become failed: {words}. {}",
            advice(host, &words, trouble)
        )),
        _ if unreachable => Some(format!(
            "{host} UNREACHABLE{} ({}) at task {task:?}: {words}. {}",
            // Another connection plugin (docker, winrm, …) fails in its own words.
            if msg.to_lowercase().contains("ssh") {
                " over SSH"
            } else {
                ""
            },
            what(trouble),
            advice(host, &words, trouble)
        )),
        _ => None,
    }
}

fn what(trouble: Trouble) -> &'static str {
    match trouble {
        Trouble::ConnectionRefused => "connection refused",
        Trouble::NoAnswer => "no answer",
        Trouble::UnknownName => "unknown host name",
        Trouble::KeyRefused => "key refused",
        Trouble::UnknownHostKey => "unknown host key",
        Trouble::ChangedHostKey => "host key changed",
        Trouble::SudoPassword | Trouble::NoSudo => "become failed",
        Trouble::Other => "could not connect",
    }
}

fn advice(host: &str, words: &str, trouble: Trouble) -> String {
    let user = login_user(words).unwrap_or("the ansible_user");
    match trouble {
        Trouble::ConnectionRefused | Trouble::NoAnswer => format!(
            "Check the host is up and its SSH server is running, and that ansible_host and \
             ansible_port for {host} in the inventory point at it; `ansible {host} -m ping` run \
             as the agent's user tries again"
        ),
        Trouble::UnknownName => format!(
            "Check the spelling of ansible_host for {host} in the inventory, or give its address \
             instead of a name the agent's machine cannot resolve"
        ),
        Trouble::KeyRefused => format!(
            "Add the agent's public key to ~/.ssh/authorized_keys of {user} on {host}, or set \
             ansible_ssh_private_key_file (and ansible_user) for {host} to a key that host \
             accepts"
        ),
        Trouble::UnknownHostKey => format!(
            "Host key checking is on and {host}'s key is not in the agent's known_hosts: check \
             its fingerprint on the host (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`), \
             then add it (`ssh-keyscan -p PORT ADDRESS >> ~/.ssh/known_hosts`) or point \
             UserKnownHostsFile in ansible_ssh_common_args at the file that has it"
        ),
        Trouble::ChangedHostKey => format!(
            "{host}'s key is not the one recorded in known_hosts: if {host} was reinstalled, \
             remove the old line (`ssh-keygen -R ADDRESS`) and add the new key after checking \
             its fingerprint; otherwise do not connect, something may be in between"
        ),
        Trouble::SudoPassword => format!(
            "Give {user} passwordless sudo on {host} (a line `{user} ALL=(ALL) NOPASSWD: ALL` in \
             /etc/sudoers.d/), or keep ansible_become_password for {host} in an Ansible Vault \
             file"
        ),
        Trouble::NoSudo => format!(
            "Install sudo on {host} and allow {user} to use it (/etc/sudoers.d/), or set \
             ansible_become_method for {host} to one the host has"
        ),
        Trouble::Other => format!(
            "Check that `ansible {host} -m ping`, run as the agent's user, reaches {host} with \
             the inventory's ansible_connection, ansible_host, ansible_port and ansible_user"
        ),
    }
}

/// ssh's own line from Ansible's message: what follows "over ssh:" / "via ssh:", on one line,
/// without the `@@@@` banner of a changed host key, at most 300 characters.
fn ssh_words(msg: &str, trouble: Trouble) -> String {
    let lower = msg.to_lowercase();
    let start = ["over ssh: ", "via ssh: "]
        .iter()
        .filter_map(|marker| lower.rfind(marker).map(|at| at + marker.len()))
        .max()
        .unwrap_or(0);
    let tail = msg.get(start..).unwrap_or(msg);
    let words: Vec<&str> = if trouble == Trouble::ChangedHostKey {
        let mut kept = vec!["REMOTE HOST IDENTIFICATION HAS CHANGED"];
        kept.extend(
            tail.lines()
                .map(str::trim)
                .filter(|l| l.starts_with("Offending") || l.starts_with("Host key for")),
        );
        kept
    } else {
        tail.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('@'))
            .collect()
    };
    let joined = words.join(" ");
    let joined = joined.trim_end_matches('.');
    joined.chars().take(300).collect()
}

/// `user` from ssh's "user@address: Permission denied" line.
fn login_user(words: &str) -> Option<&str> {
    let at = words.find('@')?;
    let before = &words[..at];
    let user = before
        .rsplit(|c: char| c.is_whitespace() || c == ':' || c == '"')
        .next()?;
    let valid = !user.is_empty()
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    valid.then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSED: &str = "Task failed: Data could not be sent to remote host \"127.0.0.1\". Make sure this host can be reached over ssh: ssh: connect to host 127.0.0.1 port 22299: Connection refused";
    const WRONG_KEY: &str = "Task failed: Data could not be sent to remote host \"127.0.0.1\". Make sure this host can be reached over ssh: chiffon-ssh@127.0.0.1: Permission denied (publickey).";

    #[test]
    fn a_refused_connection_names_the_host_the_cause_and_the_inventory_variables() {
        let error = describe("nas", "Create the stack directory", REFUSED, true).unwrap();
        assert!(
            error.starts_with("nas UNREACHABLE over SSH (connection refused)"),
            "{error}"
        );
        assert!(error.contains("ssh: connect to host 127.0.0.1 port 22299: Connection refused"));
        assert!(error.contains("ansible_port for nas"), "{error}");
        assert!(!error.contains("Data could not be sent"), "{error}");
    }

    #[test]
    fn a_refused_key_names_the_login_user_and_both_fixes() {
        let error = describe("pi", "Render", WRONG_KEY, true).unwrap();
        assert!(
            error.contains("pi UNREACHABLE over SSH (key refused)"),
            "{error}"
        );
        assert!(error.contains("Permission denied (publickey)"), "{error}");
        assert!(
            error.contains("~/.ssh/authorized_keys of chiffon-ssh on pi"),
            "{error}"
        );
        assert!(error.contains("ansible_ssh_private_key_file"), "{error}");
    }

    #[test]
    fn host_keys_become_and_ordinary_failures_are_told_apart() {
        let changed = "Make sure this host can be reached over ssh: @@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n@@@@@@\r\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\nOffending ED25519 key in /root/.ssh/known_hosts:3\r\nHost key verification failed.";
        assert_eq!(classify(changed), Trouble::ChangedHostKey);
        let error = describe("lola", "t", changed, true).unwrap();
        assert!(error.contains("Offending ED25519 key in /root/.ssh/known_hosts:3"));
        assert!(!error.contains('@'), "{error}");
        assert_eq!(
            classify("over ssh: Host key verification failed."),
            Trouble::UnknownHostKey
        );
        let sudo = describe("nas", "Install", "Missing sudo password", false).unwrap();
        assert!(sudo.contains("NOPASSWD"), "{sudo}");
        let docker = describe(
            "db",
            "Start",
            "Failed to create temporary directory. docker exec failed",
            true,
        )
        .unwrap();
        assert!(
            docker.starts_with("db UNREACHABLE (could not connect)"),
            "{docker}"
        );
        assert_eq!(
            describe("nas", "Render", "Permission denied: '/srv'", false),
            None
        );
    }
}
