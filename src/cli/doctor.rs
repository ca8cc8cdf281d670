//! `chiffon doctor`: checks a set-up (`ops::doctor`) and prints each problem with its fix;
//! exit 1 when there is a problem.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::config::{Overrides, ServeConfig};
use crate::ops::doctor::{self, Depth, Level};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The server's data directory. Default: ./.chiffon
    #[arg(long, env = "CHIFFON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The homelab's Ansible repository. Default: the bundled example.
    #[arg(long, env = "CHIFFON_PLAYBOOKS")]
    playbooks: Option<PathBuf>,
    /// The server's configuration file.
    #[arg(long, env = "CHIFFON_CONFIG")]
    config: Option<PathBuf>,
    /// The server's database URL.
    #[arg(long, env = "CHIFFON_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The RabbitMQ URL, in distributed mode.
    #[arg(long, env = "CHIFFON_AMQP_URL", hide_env_values = true)]
    amqp_url: Option<String>,
    /// The ansible-playbook the server uses.
    #[arg(long, env = "CHIFFON_ANSIBLE_PLAYBOOK")]
    ansible_playbook: Option<PathBuf>,
    /// The address the server listens on.
    #[arg(long, env = "CHIFFON_LISTEN")]
    listen: Option<SocketAddr>,
    /// The API token the server runs with.
    #[arg(long, env = "CHIFFON_API_TOKEN", hide = true, hide_env_values = true)]
    api_token: Option<String>,
    /// A file holding the API token.
    #[arg(long, env = "CHIFFON_API_TOKEN_FILE")]
    api_token_file: Option<PathBuf>,
    /// Skip `ansible all -m ping` (it can take a while with many hosts).
    #[arg(long)]
    no_ping: bool,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        data_dir: args.data_dir,
        playbooks: args.playbooks,
        database_url: args.database_url,
        amqp_url: args.amqp_url,
        ansible_playbook: args.ansible_playbook,
        listen: args.listen,
        api_token: args.api_token,
        api_token_file: args.api_token_file,
        ..Default::default()
    };
    let config = ServeConfig::load(args.config.as_deref(), overrides)?;
    let depth = Depth {
        ping: !args.no_ping,
        ..Depth::FULL
    };
    let findings = doctor::check(&config, depth).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        println!("Chiffon {}", crate::ops::VERSION);
        print!("{}", doctor::render(&findings));
    }
    Ok(if findings.iter().any(|f| f.level == Level::Problem) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
