//! The `chiffon` command line: `serve` runs the orchestrator; every other verb is a client of
//! its REST API (or, for `playbooks`, `probe` and `audit verify`, works on local files). One
//! file per command under `cli/`; this file parses and dispatches. Exit codes: 0 ok, 1
//! failure, 2 usage error.

pub mod abort;
pub mod agent;
pub mod agents;
pub mod answer;
pub mod approve;
pub mod audit;
pub mod backup;
pub mod changes;
pub mod config;
pub mod doctor;
pub mod modify;
pub mod playbooks;
pub mod preview;
pub mod probe;
pub mod protocol;
pub mod reject;
pub mod request;
pub mod revert;
pub mod serve;
pub mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::{Client, DEFAULT_SERVER};

#[derive(Debug, Parser)]
#[command(
    name = "chiffon",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("CHIFFON_COMMIT"), ")"),
    about = "Plain-language requests to approved, audited Ansible runs for your homelab"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The Chiffon server the client verbs talk to.
    #[arg(long, global = true, env = "CHIFFON_SERVER", default_value = DEFAULT_SERVER)]
    server: String,
    /// Log format: text or json.
    #[arg(long, global = true, env = "CHIFFON_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the orchestrator, with an infra and a desktop agent inside it.
    Serve(serve::ServeArgs),
    /// Ask for something in plain words; prints the plan to approve.
    Request(request::RequestArgs),
    /// Approve a request's plan so it runs.
    Approve(approve::ApproveArgs),
    /// Change a plan awaiting approval ("use staging first"): prints the new plan version,
    /// which is the one to approve.
    Modify(modify::ModifyArgs),
    /// Answer an open question of a plan with one of its choices (or a template's image and
    /// port): prints the new plan version, which is the one to approve.
    Answer(answer::AnswerArgs),
    /// Reject a request's plan; nothing runs.
    Reject(reject::RejectArgs),
    /// Run a request's plan in check mode before approving it: nothing changes on the hosts;
    /// prints what each step would change, with the diffs.
    Preview(preview::PreviewArgs),
    /// Stop a running request: the playbook in progress is stopped (SIGTERM, then SIGKILL)
    /// and ends aborted; steps not started are not run.
    Abort(abort::AbortArgs),
    /// Show one request (with its steps' progress), or the latest requests.
    Status(status::StatusArgs),
    /// Show what a task (or every task of a request) changed on each host, before → after.
    Changes(changes::ChangesArgs),
    /// Plan the undo of a request, one task or an applied suggestion (`--suggestion COMMIT`): a
    /// new request to preview and approve.
    Revert(revert::RevertArgs),
    /// List the agents, their status and capacity, and whether the dispatch queue is paused.
    Agents(agents::AgentsArgs),
    /// Print what a desktop agent on this machine would report (CPU, memory, each GPU) and
    /// where each figure comes from.
    Probe {
        #[command(flatten)]
        probe: probe::ProbeArgs,
    },
    /// Run an agent on this host, talking to the orchestrator over RabbitMQ.
    Agent {
        #[command(subcommand)]
        kind: agent::AgentCommand,
    },
    /// Work on a playbook repository directly (no server needed).
    Playbooks {
        #[command(subcommand)]
        command: playbooks::PlaybooksCommand,
    },
    /// Look back at what happened: failures, a service's history, one task's audit entry;
    /// check the audit trail against the database.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// The agent message protocol.
    Protocol {
        #[command(subcommand)]
        command: protocol::ProtocolCommand,
    },
    /// Check this set-up (ansible-playbook, the playbook repository and its hosts, the
    /// database, RabbitMQ, the audit trail, the token, disk space, clocks) and print each
    /// problem with its fix. Exit 1 when there is one.
    Doctor(doctor::DoctorArgs),
    /// Back up a data directory into one archive while the server runs: a consistent
    /// database snapshot and the audit repository, secrets left out unless asked.
    Backup(backup::BackupArgs),
    /// Restore a backup into a new data directory: checks every file, verifies the audit
    /// trail, and writes nothing if anything is wrong.
    Restore(backup::RestoreArgs),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli) {
    let default = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHIFFON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{default},sqlx=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A client of the server named by `--server`, with `CHIFFON_API_TOKEN` when it is set.
pub fn connect(server: &str) -> anyhow::Result<Client> {
    Client::new(server).map(|c| c.with_token(std::env::var("CHIFFON_API_TOKEN").ok()))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let server = cli.server.as_str();
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Request(args) => request::run(server, args).await,
        Command::Approve(args) => approve::run(server, args).await,
        Command::Modify(args) => modify::run(server, args).await,
        Command::Answer(args) => answer::run(server, args).await,
        Command::Reject(args) => reject::run(server, args).await,
        Command::Preview(args) => preview::run(server, args).await,
        Command::Abort(args) => abort::run(server, args).await,
        Command::Status(args) => status::run(server, args).await,
        Command::Changes(args) => changes::run(server, args).await,
        Command::Revert(args) => revert::run(server, args).await,
        Command::Agents(args) => agents::run(server, args).await,
        Command::Probe { probe } => probe::run(&probe).await,
        Command::Agent { kind } => agent::run(kind).await,
        Command::Playbooks { command } => playbooks::run(command).await,
        Command::Audit { command } => audit::run(server, command).await,
        Command::Protocol { command } => protocol::run(command),
        Command::Config { command } => config::run(&command),
        Command::Doctor(args) => doctor::run(args).await,
        Command::Backup(args) => backup::run_backup(args).await,
        Command::Restore(args) => backup::run_restore(args).await,
    }
}
