//! `chiffon playbooks list|match|template|apply|lint`: works on a playbook repository directly,
//! no server needed. What it prints with `--json` has the API's shapes (`crate::api`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::client::render;
use crate::config;

#[derive(Debug, Subcommand)]
pub enum PlaybooksCommand {
    /// List the deployable units: playbooks, roles (also nested or orphaned), per-service task
    /// files and compose services, with how to run each.
    List {
        /// The repository (default: the example homelab).
        #[arg(long, env = "CHIFFON_PLAYBOOKS")]
        playbooks: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Which unit deploys what `text` asks for: match, ambiguous or none, ranked with reasons.
    Match {
        /// What you want, e.g. "set up the status page".
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        /// The repository (default: the example homelab).
        #[arg(long, env = "CHIFFON_PLAYBOOKS")]
        playbooks: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Write a playbook and role that deploy a service with docker compose (pinned image,
    /// restart policy, healthcheck, idempotent). Never overwrites a file.
    Template {
        /// The service name: lowercase letters, digits and '-'.
        service: String,
        /// The image with a version tag, e.g. gitea/gitea:1.22.3.
        #[arg(long)]
        image: String,
        /// The port the service listens on.
        #[arg(long)]
        port: u16,
        /// Inventory group or host pattern to deploy to.
        #[arg(long, default_value = "docker_hosts")]
        hosts: String,
        /// The repository to write into (default: the example homelab).
        #[arg(long, env = "CHIFFON_PLAYBOOKS")]
        playbooks: Option<PathBuf>,
    },
    /// Apply one suggestion's change: patch the file, check it with `ansible-playbook
    /// --syntax-check`, and commit it to the repository (which must be a git repository).
    Apply {
        /// The suggestion's id, from `chiffon playbooks lint`.
        id: String,
        /// The repository (default: the example homelab).
        #[arg(long, env = "CHIFFON_PLAYBOOKS")]
        playbooks: Option<PathBuf>,
        /// Path to ansible-playbook. Default: on PATH.
        #[arg(long, env = "CHIFFON_ANSIBLE_PLAYBOOK")]
        ansible_playbook: Option<PathBuf>,
    },
    /// Suggest improvements: non-idempotent commands, unpinned images, missing restart
    /// policies and healthchecks, plaintext secrets, unguarded reboots, moving downloads, …
    Lint {
        /// The repository (default: the example homelab).
        dir: Option<PathBuf>,
        /// The answer as JSON: `{items: [{id, rule, file, line, severity, message, diff,
        /// origin}], groups, lint, tree}` instead of text.
        #[arg(long)]
        json: bool,
        /// Where ansible-lint's results are cached per repository tree (default: the user's
        /// cache folder, `~/.cache/chiffon/ansible-lint`).
        #[arg(long, env = "CHIFFON_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
        /// Skip ansible-lint even when it is installed.
        #[arg(long)]
        no_ansible_lint: bool,
        /// ansible-lint to run. Default: next to CHIFFON_ANSIBLE_PLAYBOOK, else on PATH.
        #[arg(long, env = "CHIFFON_ANSIBLE_LINT")]
        ansible_lint: Option<PathBuf>,
    },
}

pub async fn run(command: PlaybooksCommand) -> anyhow::Result<ExitCode> {
    match command {
        PlaybooksCommand::List { playbooks, json } => list(&repository(playbooks)?, json)?,
        PlaybooksCommand::Match {
            text,
            playbooks,
            json,
        } => matched(&repository(playbooks)?, &text.join(" "), json)?,
        PlaybooksCommand::Template {
            service,
            image,
            port,
            hosts,
            playbooks,
        } => {
            let dir = match playbooks {
                Some(dir) => dir,
                None => config::example_playbooks()?,
            };
            let spec = crate::template::TemplateSpec {
                service,
                image,
                port,
                hosts,
            };
            for file in crate::template::write(&dir, &spec)? {
                println!("wrote {}", dir.join(file).display());
            }
        }
        PlaybooksCommand::Apply {
            id,
            playbooks,
            ansible_playbook,
        } => apply(&id, playbooks, ansible_playbook).await?,
        PlaybooksCommand::Lint {
            dir,
            json,
            no_ansible_lint,
            ansible_lint,
            cache_dir,
        } => lint(dir, json, no_ansible_lint, ansible_lint, cache_dir).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn list(dir: &Path, json: bool) -> anyhow::Result<()> {
    let scan = crate::api::Scan::from(crate::matcher::scan(dir));
    if json {
        println!("{}", serde_json::to_string_pretty(&scan)?);
    } else {
        print!("{}", render::units(&scan.units));
        for problem in &scan.problems {
            println!(
                "cannot read {}:{}: {} (skipped)",
                problem.file, problem.line, problem.message
            );
        }
        for file in &scan.encrypted {
            println!("{file}: vault-encrypted, not opened");
        }
    }
    Ok(())
}

fn matched(dir: &Path, text: &str, json: bool) -> anyhow::Result<()> {
    // The planner's answer, as `GET /playbooks/match` gives it.
    let catalogue = crate::catalogue::Catalogue::discover(dir)?;
    let units = crate::matcher::units(dir);
    let found = crate::api::Match::from(crate::planner::finder::find(text, &catalogue, &units));
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        print!("{}", render::matched(&found));
    }
    Ok(())
}

async fn apply(
    id: &str,
    playbooks: Option<PathBuf>,
    ansible_playbook: Option<PathBuf>,
) -> anyhow::Result<()> {
    let dir = match playbooks {
        Some(dir) => dir,
        None => config::example_playbooks()?,
    };
    let ansible = ansible_playbook
        .or_else(|| crate::tools::find_on_path("ansible-playbook"))
        .context("ansible-playbook is needed to check the change: pass --ansible-playbook")?;
    let applied =
        crate::suggest::apply::apply(&dir, id, &ansible, "chiffon playbooks apply").await?;
    println!(
        "Applied {} ({}) to {}:{} — commit {}",
        applied.suggestion.id,
        applied.suggestion.rule,
        applied.suggestion.file,
        applied.suggestion.line,
        &applied.commit[..12.min(applied.commit.len())]
    );
    Ok(())
}

async fn lint(
    dir: Option<PathBuf>,
    json: bool,
    no_ansible_lint: bool,
    ansible_lint: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let dir = match dir {
        Some(dir) => dir,
        None => config::example_playbooks()?,
    };
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let configured = std::env::var_os("CHIFFON_ANSIBLE_PLAYBOOK").map(PathBuf::from);
    let program = (!no_ansible_lint)
        .then(|| {
            ansible_lint.or_else(|| crate::tools::ansible::find_ansible_lint(configured.as_deref()))
        })
        .flatten();
    let cache_dir = cache_dir.unwrap_or_else(default_cache_dir);
    let linter =
        crate::suggest::lint::Linter::new(cache_dir, program, crate::suggest::lint::DEFAULT_LIMIT);
    // Progress on stderr while ansible-lint runs; the answer waits for it (or its limit).
    let progress = |elapsed: std::time::Duration| {
        let seconds = elapsed.as_secs();
        if seconds.is_multiple_of(5) || seconds < 2 {
            eprintln!(
                "chiffon: ansible-lint is reading the repository ({seconds} s; the result is cached for this tree)…"
            );
        }
    };
    let report = linter
        .report(&dir, crate::suggest::lint::DEFAULT_LIMIT, &progress)
        .await;
    if no_ansible_lint {
        eprintln!(
            "chiffon: ansible-lint skipped (--no-ansible-lint): only Chiffon's own rules ran"
        );
    }
    let answer = crate::api::Suggestions::from(report);
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", render::suggestion_report(&answer));
    }
    Ok(())
}

/// `$XDG_CACHE_HOME/chiffon/ansible-lint`, else `~/.cache/chiffon/ansible-lint`, else a
/// folder in the system's temporary directory.
fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("chiffon")
        .join("ansible-lint")
}

/// `--playbooks DIR`, else the example homelab; it must be a directory.
fn repository(playbooks: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match playbooks {
        Some(dir) => dir,
        None => config::example_playbooks()?,
    };
    if !dir.is_dir() {
        anyhow::bail!("{} is not a directory: pass --playbooks DIR", dir.display());
    }
    Ok(dir)
}
