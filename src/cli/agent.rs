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
        #[arg(long, env = "CHIFFON_DATA_DIR", default_value = ".chiffon-agent")]
        data_dir: PathBuf,
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
        #[arg(long, env = "CHIFFON_DATA_DIR", default_value = ".chiffon-agent")]
        data_dir: PathBuf,
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
}

pub async fn run(kind: AgentCommand) -> anyhow::Result<ExitCode> {
    let (common, agent_type) = match &kind {
        AgentCommand::Infra { common, .. } => (common, "infra"),
        AgentCommand::Desktop { common, .. } => (common, "desktop"),
    };
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
    };
    crate::agent::run(config, ansible, bus, stopped).await?;
    Ok(ExitCode::SUCCESS)
}
