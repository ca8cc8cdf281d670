//! `chiffon doctor`: checks what a set-up needs and says, for each problem, how to fix it.
//! This file holds the findings, the checks of this machine (ansible-playbook, the playbook
//! repository, the inventory's hosts, the API token, disk space) and the report; the checks of
//! the services Chiffon talks to (database, RabbitMQ, audit repository, agents' clocks) are in
//! `doctor/services.rs`. `serve` runs the quick checks at start-up and logs what they find.

pub mod services;

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::config::ServeConfig;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    /// Works, but worth knowing (a database that will be migrated, little disk left).
    Warning,
    /// Something Chiffon needs is missing or broken: `doctor` exits 1.
    Problem,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Which check: `ansible`, `playbooks`, `inventory`, `database`, `rabbitmq`, `audit`,
    /// `token`, `disk`, `clocks`.
    pub check: &'static str,
    pub level: Level,
    /// What was found, in plain words.
    pub summary: String,
    /// What to do about it, for warnings and problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: &'static str, summary: impl Into<String>) -> Self {
        Self {
            check,
            level: Level::Ok,
            summary: summary.into(),
            fix: None,
        }
    }

    pub fn warning(
        check: &'static str,
        summary: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check,
            level: Level::Warning,
            summary: summary.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn problem(
        check: &'static str,
        summary: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check,
            level: Level::Problem,
            summary: summary.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Which checks to run.
#[derive(Debug, Clone, Copy)]
pub struct Depth {
    /// Ping every inventory host with `ansible -m ping` (seconds).
    pub ping: bool,
    /// Everything that starts a program or opens a connection: `ansible-playbook --version`,
    /// discovery, the database, RabbitMQ, `audit verify`, agents' clocks.
    pub thorough: bool,
}

impl Depth {
    /// `chiffon doctor`.
    pub const FULL: Depth = Depth {
        ping: true,
        thorough: true,
    };
    /// `serve` at start-up: only what takes milliseconds (it opens the database, the
    /// broker and the audit repository itself right after, and fails loudly if it cannot).
    pub const START_UP: Depth = Depth {
        ping: false,
        thorough: false,
    };
}

/// Runs the checks `depth` names against `config`, in a fixed order.
pub async fn check(config: &ServeConfig, depth: Depth) -> Vec<Finding> {
    let mut findings = Vec::new();
    let ansible = locate_ansible(config);
    findings.push(ansible_finding(config, ansible.as_deref(), depth).await);
    findings.extend(playbooks_findings(&config.playbooks, depth));
    if depth.ping
        && let Some(bin) = &ansible
    {
        findings.push(ping_finding(bin, &config.playbooks).await);
    }
    if depth.thorough {
        findings.extend(services::database_and_audit(config).await);
        findings.push(services::rabbitmq(config).await);
    } else {
        findings.push(services::audit_writable(config));
    }
    findings.push(token_finding(config));
    findings.push(disk_finding(&config.data_dir));
    findings
}

/// Logs what the quick checks find (`serve` at start-up): a warning per problem, with its fix.
pub async fn warn_at_start_up(config: &ServeConfig) {
    for finding in check(config, Depth::START_UP).await {
        if finding.level != Level::Ok {
            tracing::warn!(
                check = finding.check,
                "{} Fix: {} (`chiffon doctor` checks everything)",
                finding.summary,
                finding.fix.as_deref().unwrap_or_default()
            );
        }
    }
}

/// The report `chiffon doctor` prints: one line per check, each problem with its fix.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in findings {
        let mark = match finding.level {
            Level::Ok => "ok     ",
            Level::Warning => "warning",
            Level::Problem => "PROBLEM",
        };
        let _ = writeln!(out, "{mark}  {:<10} {}", finding.check, finding.summary);
        if let Some(fix) = &finding.fix {
            let _ = writeln!(out, "         {:<10} fix: {fix}", "");
        }
    }
    let problems = findings
        .iter()
        .filter(|f| f.level == Level::Problem)
        .count();
    let warnings = findings
        .iter()
        .filter(|f| f.level == Level::Warning)
        .count();
    let _ = writeln!(
        out,
        "\n{problems} problem(s), {warnings} warning(s) in {} checks.",
        findings.len()
    );
    out
}

/// The `ansible-playbook` the server would use, without installing one: the configured path,
/// the data dir's venv, then PATH.
fn locate_ansible(config: &ServeConfig) -> Option<PathBuf> {
    if let Some(path) = &config.ansible_playbook {
        return path.is_file().then(|| path.clone());
    }
    let in_venv = config.data_dir.join("ansible-venv/bin/ansible-playbook");
    if in_venv.is_file() {
        return Some(in_venv);
    }
    crate::tools::find_on_path("ansible-playbook")
}

async fn ansible_finding(config: &ServeConfig, found: Option<&Path>, depth: Depth) -> Finding {
    const CHECK: &str = "ansible";
    let Some(bin) = found else {
        if let Some(configured) = &config.ansible_playbook {
            return Finding::problem(
                CHECK,
                format!(
                    "ansible-playbook is configured as {} but there is no such file",
                    configured.display()
                ),
                "install ansible-core (`pipx install ansible-core`) and set ansible.playbook_bin / CHIFFON_ANSIBLE_PLAYBOOK / --ansible-playbook to its ansible-playbook, or unset it so the server finds or installs one",
            );
        }
        if !config.local_agents {
            return Finding::ok(
                CHECK,
                "ansible-playbook not found here; this server runs no agents, so only agent hosts need it",
            );
        }
        return Finding::warning(
            CHECK,
            "ansible-playbook is not on PATH; `chiffon serve` will install ansible-core into the data directory at its first start (needs python3 with venv and access to PyPI)",
            "install it yourself to skip that: `pipx install ansible-core`, or `python3 -m pip install --user ansible-core`",
        );
    };
    if !depth.thorough {
        return Finding::ok(CHECK, format!("{}", bin.display()));
    }
    match crate::tools::ansible::version(bin).await {
        Ok(version) => Finding::ok(CHECK, format!("{version} at {}", bin.display())),
        Err(error) => Finding::problem(
            CHECK,
            format!("{} does not run: {error:#}", bin.display()),
            "reinstall ansible-core (`pipx reinstall ansible-core`), or remove the data directory's ansible-venv/ so the server installs a fresh one",
        ),
    }
}

/// The playbook repository: there, under git, parseable, and what discovery finds in it.
fn playbooks_findings(root: &Path, depth: Depth) -> Vec<Finding> {
    const CHECK: &str = "playbooks";
    if !root.is_dir() {
        return vec![Finding::problem(
            CHECK,
            format!("the playbook repository {} does not exist", root.display()),
            "point --playbooks (CHIFFON_PLAYBOOKS, `playbooks` in the config) at a clone of your Ansible repository",
        )];
    }
    let mut findings = Vec::new();
    match crate::tools::git::is_work_tree(root) {
        Ok(true) => {}
        Ok(false) => findings.push(Finding::problem(
            CHECK,
            format!("{} is not a git repository: Chiffon commits accepted suggestions and templates there, and reads its history", root.display()),
            format!("cd {} && git init && git add -A && git commit -m 'Homelab as it is'", root.display()),
        )),
        Err(error) => findings.push(Finding::problem(
            CHECK,
            format!("cannot tell whether {} is under git: {error:#}", root.display()),
            "install git (`apt install git`)",
        )),
    }
    if !depth.thorough {
        return findings;
    }
    let broken = unparseable_yaml(root);
    if !broken.is_empty() {
        findings.push(Finding::warning(
            CHECK,
            format!(
                "{} YAML file(s) do not parse and are skipped: {}",
                broken.len(),
                broken.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ),
            "fix the YAML (`ansible-playbook --syntax-check <file>` shows the line), or move the file out of the repository",
        ));
    }
    let repository = crate::discovery::Repository::discover(root);
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let summary = format!(
        "{}: {}, {} in {}, {}, {} ({} read)",
        root.display(),
        count(repository.playbooks.len(), "playbook"),
        count(repository.inventory.hosts.len(), "inventory host"),
        count(repository.inventory.groups.len(), "group"),
        count(repository.roles.len(), "role"),
        count(repository.apps.len(), "app"),
        count(repository.files, "file")
    );
    findings.push(if repository.playbooks.is_empty() {
        Finding::problem(
            CHECK,
            summary,
            "point --playbooks at the folder that holds your playbooks (or its parent)",
        )
    } else if repository.inventory.hosts.is_empty() {
        Finding::warning(
            CHECK,
            summary,
            "add an inventory (inventory/hosts.yml, and `inventory =` in ansible.cfg) so plans can name hosts",
        )
    } else {
        Finding::ok(CHECK, summary)
    });
    findings
}

/// `file: error` for each YAML file of the repository that does not parse.
fn unparseable_yaml(root: &Path) -> Vec<String> {
    // Jinja templates of YAML (`.yml.j2`) are YAML only once rendered.
    let files = crate::repo::files(root, root, |name| {
        let name = name.to_ascii_lowercase();
        crate::repo::is_yaml_name(&name) && !name.ends_with(".j2")
    });
    files
        .iter()
        .filter_map(|path| {
            let text = crate::repo::read_text(path)?;
            if text.starts_with("$ANSIBLE_VAULT") {
                return None;
            }
            let error = serde_saphyr::from_str::<serde_json::Value>(&text).err()?;
            let first = error.to_string();
            let first = first.lines().next().unwrap_or_default().to_owned();
            Some(format!("{}: {first}", crate::repo::relative(root, path)))
        })
        .collect()
}

async fn ping_finding(ansible_playbook: &Path, repo: &Path) -> Finding {
    const CHECK: &str = "inventory";
    // Where runs happen: the project (a subfolder with its own ansible.cfg, or the folder of
    // the only inventory) whose inventory names hosts, as the agents find it.
    let project = match crate::repo::project::Project::of_hosts(repo, "all") {
        Ok(project) => project,
        Err(error) => {
            return Finding::problem(
                CHECK,
                format!("could not tell which inventory runs use: {error:#}"),
                "name the inventory in ansible.cfg (`inventory =` under [defaults])",
            );
        }
    };
    let answers = crate::tools::ansible::ping_all(
        ansible_playbook,
        &project.dir,
        project.inventory.as_deref(),
        Duration::from_secs(5),
        Duration::from_secs(90),
    )
    .await;
    match answers {
        Err(error) => Finding::problem(
            CHECK,
            format!("could not ping the inventory's hosts: {error:#}"),
            "run `ansible all -m ping` in the playbook repository to see why",
        ),
        Ok(answers) if answers.is_empty() => Finding::warning(
            CHECK,
            "`ansible all -m ping` reached no host: the inventory lists none",
            "add your hosts to the inventory the repository's ansible.cfg names",
        ),
        Ok(answers) => {
            let down: Vec<String> = answers
                .iter()
                .filter(|a| !a.reachable)
                .map(|a| format!("{} ({})", a.host, a.message))
                .collect();
            if down.is_empty() {
                Finding::ok(
                    CHECK,
                    format!("all {} hosts answer `ansible -m ping`", answers.len()),
                )
            } else {
                Finding::problem(
                    CHECK,
                    format!(
                        "{} of {} hosts do not answer `ansible -m ping`: {}",
                        down.len(),
                        answers.len(),
                        down.join("; ")
                    ),
                    "as the user the server runs as, check `ssh <host>` works without a password prompt (ssh-copy-id, ansible_host / ansible_user in the inventory, the host key in known_hosts), or take the host out of the inventory",
                )
            }
        }
    }
}

fn token_finding(config: &ServeConfig) -> Finding {
    const CHECK: &str = "token";
    let open = !config.listen.ip().is_loopback();
    match (
        open,
        config.api_token.is_some(),
        config.http.insecure_no_token,
    ) {
        (false, true, _) => Finding::ok(
            CHECK,
            format!("listening on {} with an API token", config.listen),
        ),
        (false, false, _) => Finding::ok(
            CHECK,
            format!("listening on loopback ({}): no token needed", config.listen),
        ),
        (true, true, _) => Finding::ok(
            CHECK,
            format!("listening on {} with an API token", config.listen),
        ),
        (true, false, true) => Finding::warning(
            CHECK,
            format!(
                "listening on {} WITHOUT an API token (insecure_no_token): anyone who can reach it can approve and run playbooks",
                config.listen
            ),
            "`openssl rand -hex 24 > /etc/chiffon/api-token`, then set api_token_file (or --api-token-file) and drop insecure_no_token",
        ),
        (true, false, false) => Finding::problem(
            CHECK,
            format!(
                "listening on {} needs an API token; the server refuses to start without one",
                config.listen
            ),
            "`openssl rand -hex 24 > /etc/chiffon/api-token`, then set api_token_file (or --api-token-file), or listen on 127.0.0.1",
        ),
    }
}

/// Free space where the data directory is (or would be).
fn disk_finding(data_dir: &Path) -> Finding {
    const CHECK: &str = "disk";
    const GIB: u64 = 1024 * 1024 * 1024;
    let mut at = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    while !at.exists() {
        match at.parent() {
            Some(parent) => at = parent.to_owned(),
            None => break,
        }
    }
    let stats = match rustix::fs::statvfs(&at) {
        Ok(stats) => stats,
        Err(error) => {
            return Finding::warning(
                CHECK,
                format!("cannot read the free space at {}: {error}", at.display()),
                "check the data directory's file system (`df -h`)",
            );
        }
    };
    let free = stats.f_bavail.saturating_mul(stats.f_frsize);
    let total = stats.f_blocks.saturating_mul(stats.f_frsize).max(1);
    let summary = format!(
        "{:.1} GiB free of {:.1} GiB at {}",
        free as f64 / GIB as f64,
        total as f64 / GIB as f64,
        at.display()
    );
    let fix = "free space there (old backups, journal logs: `journalctl --vacuum-size=200M`) or move the data directory to a larger disk";
    if free < GIB / 2 {
        Finding::problem(CHECK, summary, fix)
    } else if free < 2 * GIB || free * 20 < total {
        Finding::warning(CHECK, summary, fix)
    } else {
        Finding::ok(CHECK, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansible_tags_and_templates_are_not_parse_problems_but_broken_yaml_is() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("site.yml"),
            "- hosts: all\n  vars:\n    secret: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      3132\n    raw: !unsafe '{{ not templated }}'\n  tasks: []\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("compose.yml.j2"), "a: {{ b }}\n").unwrap();
        assert_eq!(unparseable_yaml(dir.path()), Vec::<String>::new());
        std::fs::write(dir.path().join("broken.yml"), "a: [1, 2\nb: c\n").unwrap();
        let found = unparseable_yaml(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("broken.yml: "), "{found:?}");
    }

    #[test]
    fn the_report_puts_each_fix_under_its_problem_and_counts_them() {
        let report = render(&[
            Finding::ok("disk", "plenty"),
            Finding::problem("audit", "cannot write", "chown it"),
        ]);
        assert!(
            report.contains("PROBLEM  audit      cannot write\n"),
            "{report}"
        );
        assert!(report.contains("fix: chown it"), "{report}");
        assert!(
            report.contains("1 problem(s), 0 warning(s) in 2 checks."),
            "{report}"
        );
    }
}
