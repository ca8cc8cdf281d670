//! `chiffon config example`: a commented configuration file.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented configuration file.
    Example,
}

pub fn run(command: &ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Example => print!("{}", crate::config::EXAMPLE),
    }
    Ok(ExitCode::SUCCESS)
}
