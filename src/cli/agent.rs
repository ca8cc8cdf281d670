//! `chiffon agent infra|desktop`: runs an agent on this host, talking to the orchestrator over
//! RabbitMQ.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::cli::probe::ProbeArgs;
use crate::cli::serve::shutdown_signal;
use crate::config::AgentSettings;
use crate::model::AgentType;
use crate::protocol::signing::VerifyingKey;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Runs playbooks from a repository on this host.
    Infra {
        #[command(flatten)]
        common: AgentArgs,
        /// The homelab's Ansible repository on this host.
        #[arg(long, env = "CHIFFON_PLAYBOOKS")]
        playbooks: PathBuf,
        /// Where the callback plugin (and, if needed, an ansible-core venv) are kept.
        /// Default: $XDG_STATE_HOME/chiffon/agent, else ~/.local/state/chiffon/agent.
        #[arg(long, env = "CHIFFON_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Path to ansible-playbook. Default: found on PATH, else installed into the data dir.
        #[arg(long, env = "CHIFFON_ANSIBLE_PLAYBOOK")]
        ansible_playbook: Option<PathBuf>,
    },
    /// Reports this machine's free CPU, memory and each GPU's memory; runs GPU-heavy steps
    /// when given a playbook repository.
    Desktop {
        #[command(flatten)]
        common: AgentArgs,
        /// The homelab's Ansible repository on this host. Without it the agent only reports
        /// capacity and refuses work with the reason.
        #[arg(long, env = "CHIFFON_PLAYBOOKS")]
        playbooks: Option<PathBuf>,
        /// Where the callback plugin (and, if needed, an ansible-core venv) are kept.
        /// Default: $XDG_STATE_HOME/chiffon/agent, else ~/.local/state/chiffon/agent.
        #[arg(long, env = "CHIFFON_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Path to ansible-playbook. Default: found on PATH, else installed into the data dir.
        #[arg(long, env = "CHIFFON_ANSIBLE_PLAYBOOK")]
        ansible_playbook: Option<PathBuf>,
        #[command(flatten)]
        probe: ProbeArgs,
    },
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// RabbitMQ, e.g. amqp://chiffon:secret@mq.home.arpa:5672/%2f
    #[arg(long, env = "CHIFFON_AMQP_URL")]
    amqp_url: String,
    /// This agent's name (letters, digits, . _ -). Default: <type>-<hostname>.
    #[arg(long, env = "CHIFFON_AGENT_ID")]
    id: Option<String>,
    /// A TOML file with [amqp], [ansible] and [timeouts] sections (see `chiffon config example`).
    #[arg(long, env = "CHIFFON_CONFIG")]
    config: Option<PathBuf>,
    /// The orchestrator's public key file (`<data_dir>/orchestrator.pub` on the server): the
    /// agent runs only dispatches signed with that key, and will not start without one.
    #[arg(
        long,
        env = "CHIFFON_ORCHESTRATOR_KEY_FILE",
        conflicts_with = "orchestrator_key"
    )]
    orchestrator_key_file: Option<PathBuf>,
    /// The orchestrator's public key itself (64 hex digits), instead of the file.
    #[arg(long, env = "CHIFFON_ORCHESTRATOR_KEY")]
    orchestrator_key: Option<String>,
}

impl AgentArgs {
    /// The key this agent obeys; starting without one is refused, since an agent that trusts
    /// no key could only refuse work and one that trusts anyone would run an impostor's.
    fn orchestrator_key(&self) -> anyhow::Result<VerifyingKey> {
        let (text, from) = match (&self.orchestrator_key, &self.orchestrator_key_file) {
            (Some(key), _) => (key.clone(), "--orchestrator-key".to_owned()),
            (None, Some(path)) => (
                std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the orchestrator key {}", path.display())
                })?,
                path.display().to_string(),
            ),
            (None, None) => anyhow::bail!(
                "no orchestrator key: copy <data_dir>/orchestrator.pub from the server and pass --orchestrator-key-file FILE (or CHIFFON_ORCHESTRATOR_KEY_FILE); the agent runs only dispatches signed with that key"
            ),
        };
        VerifyingKey::parse(&text)
            .with_context(|| format!("{from} is not an orchestrator public key (64 hex digits)"))
    }
}

pub async fn run(kind: AgentCommand) -> anyhow::Result<ExitCode> {
    let (common, agent_type) = match &kind {
        AgentCommand::Infra { common, .. } => (common, "infra"),
        AgentCommand::Desktop { common, .. } => (common, "desktop"),
    };
    let orchestrator_key = common.orchestrator_key()?;
    let agent = AgentSettings::load(
        common.config.as_deref(),
        &common.amqp_url,
        common.id.as_deref(),
        agent_type,
    )?;
    let bus = agent.bus.open().await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    eprintln!(
        "Chiffon {agent_type} agent {} connected to RabbitMQ",
        agent.id
    );
    let (agent_type, playbooks, data_dir, ansible_playbook, probe) = match kind {
        AgentCommand::Infra {
            playbooks,
            data_dir,
            ansible_playbook,
            ..
        } => (
            AgentType::Infra,
            Some(playbooks),
            data_dir,
            ansible_playbook,
            crate::agent::probe::ProbeConfig::default(),
        ),
        AgentCommand::Desktop {
            playbooks,
            data_dir,
            ansible_playbook,
            probe,
            ..
        } => (
            AgentType::Desktop,
            playbooks,
            data_dir,
            ansible_playbook,
            probe.config(),
        ),
    };
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => default_data_dir()?,
    };
    let ansible = match &playbooks {
        Some(_) => {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            Some(
                crate::agent::ansible::Ansible::locate_or_install(
                    ansible_playbook.or(agent.ansible_playbook).as_deref(),
                    &data_dir,
                )
                .await?
                .with_vault_password_file(agent.vault_password_file.as_deref())?,
            )
        }
        None => None,
    };
    let config = crate::agent::AgentConfig {
        agent_type,
        id: agent.id,
        playbooks,
        extra_vars: agent.extra_vars,
        heartbeat_interval: agent.heartbeat_interval,
        probe,
        orchestrator_key: Some(orchestrator_key),
    };
    crate::agent::run(config, ansible, bus, stopped).await?;
    Ok(ExitCode::SUCCESS)
}

/// The agent's own files live in the user's state directory (the XDG base directory
/// specification), never in whatever directory it was started from.
fn default_data_dir() -> anyhow::Result<PathBuf> {
    state_data_dir(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
        .context("neither XDG_STATE_HOME nor HOME is set: pass --data-dir")
}

/// `$XDG_STATE_HOME/chiffon/agent` (a relative one is ignored, as the specification says),
/// else `$HOME/.local/state/chiffon/agent`.
fn state_data_dir(
    xdg_state_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let state = xdg_state_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|home| PathBuf::from(home).join(".local/state")))?;
    Some(state.join("chiffon").join("agent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_keeps_its_files_in_the_users_state_directory() {
        let dir = |xdg: Option<&str>, home: Option<&str>| {
            state_data_dir(xdg.map(Into::into), home.map(Into::into))
        };
        assert_eq!(
            dir(Some("/var/state"), Some("/home/lola")),
            Some(PathBuf::from("/var/state/chiffon/agent"))
        );
        assert_eq!(
            dir(Some("relative"), Some("/home/lola")),
            Some(PathBuf::from("/home/lola/.local/state/chiffon/agent"))
        );
        assert_eq!(
            dir(None, Some("/home/lola")),
            Some(PathBuf::from("/home/lola/.local/state/chiffon/agent"))
        );
        assert_eq!(dir(None, None), None);
    }
}
