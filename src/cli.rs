//! The `chiffon` command line: `serve` runs the orchestrator; every other verb is a client of
//! its REST API. Exit codes: 0 ok, 1 failure, 2 usage error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::client::{Client, DEFAULT_SERVER, render};
use crate::config::{self, AgentSettings, Overrides, ServeConfig};
use crate::model::AgentType;
use crate::orchestrator::api::RequestView;
use crate::orchestrator::live::LiveEvent;

#[derive(Debug, Parser)]
#[command(
    name = "chiffon",
    version,
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
    Serve(ServeArgs),
    /// Ask for something in plain words; prints the plan to approve.
    Request {
        /// What you want done, e.g. "deploy uptime kuma and add our portals to its config".
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        /// Mark the request as high-value (affects LLM routing once configured).
        #[arg(long)]
        high_value: bool,
        /// Approve the plan right away (only if it has no open questions).
        #[arg(long)]
        yes: bool,
        /// With --yes: show progress live until the end.
        #[arg(long, requires = "yes")]
        follow: bool,
    },
    /// Approve a request's plan so it runs.
    Approve {
        id: String,
        /// Show progress live until the end, then a summary.
        #[arg(long)]
        follow: bool,
        /// Refuse if the plan is no longer this version.
        #[arg(long)]
        plan_version: Option<u32>,
    },
    /// Change a plan awaiting approval ("use staging first"): prints the new plan version,
    /// which is the one to approve.
    Modify {
        id: String,
        /// The change, in plain words.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Reject a request's plan; nothing runs.
    Reject {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Run a request's plan in check mode before approving it: nothing changes on the hosts;
    /// prints what each step would change, with the diffs.
    Preview { id: String },
    /// Stop a running request: the playbook in progress is stopped (SIGTERM, then SIGKILL)
    /// and ends aborted; steps not started are not run.
    Abort {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Show one request (with its steps' progress), or the latest requests.
    Status {
        id: Option<String>,
        /// Keep showing progress until the request finishes.
        #[arg(long, requires = "id")]
        follow: bool,
    },
    /// List the agents, their status and capacity, and whether the dispatch queue is paused.
    Agents {
        /// Only agents that are online.
        #[arg(long)]
        online: bool,
        /// Only agents with at least this much free memory on one GPU, in GB.
        #[arg(long)]
        min_free_vram_gb: Option<f64>,
        /// Only agents with at least this many idle cores.
        #[arg(long)]
        min_free_cores: Option<f64>,
    },
    /// Print what a desktop agent on this machine would report (CPU, memory, each GPU) and
    /// where each figure comes from.
    Probe {
        #[command(flatten)]
        probe: ProbeArgs,
    },
    /// Run an agent on this host, talking to the orchestrator over RabbitMQ.
    Agent {
        #[command(subcommand)]
        kind: AgentCommand,
    },
    /// Work on a playbook repository directly (no server needed).
    Playbooks {
        #[command(subcommand)]
        command: PlaybooksCommand,
    },
    /// Look back at what happened: failures, a service's history, one task's audit entry;
    /// check the audit trail against the database.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The agent message protocol.
    Protocol {
        #[command(subcommand)]
        command: ProtocolCommand,
    },
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
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

/// Where capacity is read from: the real machine by default, recorded files for tests and
/// bug reports.
#[derive(Debug, Args)]
struct ProbeArgs {
    /// Read /proc and /sys under this directory instead of /.
    #[arg(long, env = "CHIFFON_SYSTEM_ROOT", default_value = "/")]
    system_root: PathBuf,
    /// Read NVIDIA GPUs from recorded data (nvml.json or nvidia-smi.csv) in this directory
    /// instead of NVML.
    #[arg(long, env = "CHIFFON_GPU_FIXTURE")]
    gpu_fixture: Option<PathBuf>,
}

impl ProbeArgs {
    fn config(&self) -> crate::agent::probe::ProbeConfig {
        crate::agent::probe::ProbeConfig {
            system_root: self.system_root.clone(),
            nvidia: match &self.gpu_fixture {
                Some(dir) => crate::agent::nvidia::NvidiaSource::Fixture(dir.clone()),
                None => crate::agent::nvidia::NvidiaSource::Auto,
            },
        }
    }
}

#[derive(Debug, Args)]
struct AgentArgs {
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

#[derive(Debug, Subcommand)]
enum PlaybooksCommand {
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
        /// An array of {id, rule, file, line, severity, message, diff} instead of text.
        #[arg(long)]
        json: bool,
        /// Skip ansible-lint even when it is installed.
        #[arg(long)]
        no_ansible_lint: bool,
        /// ansible-lint to run. Default: next to CHIFFON_ANSIBLE_PLAYBOOK, else on PATH.
        #[arg(long, env = "CHIFFON_ANSIBLE_LINT")]
        ansible_lint: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ProtocolCommand {
    /// Print the JSON Schema of the envelope (all message types), or of one type's payload.
    Schema {
        /// dispatch, ack, progress, result, cancel, heartbeat, hello, goodbye or error.
        message_type: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented configuration file.
    Example,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Failed tasks, newest first.
    Failures {
        /// How far back: 30m, 24h, 7d, 2w, or an RFC 3339 time.
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Every task that touched a service (a name or alias: "kuma"), newest first.
    Service {
        name: String,
        /// How far back: 30m, 24h, 7d, 2w, or an RFC 3339 time. Default: all history.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One task: what ran, how it ended, and its audit entry with the commit id.
    Show {
        task: String,
        #[arg(long)]
        json: bool,
    },
    /// Check the audit repository against the database (no server needed): every finished
    /// task has its entry, the history is one unbroken line, no entry changed after it was
    /// written. Exit 1 when something is wrong.
    Verify {
        /// The server's data directory (database and audit repository). Default: ./.chiffon
        #[arg(long, env = "CHIFFON_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The server's database, when it is PostgreSQL.
        #[arg(long, env = "CHIFFON_DATABASE_URL")]
        database_url: Option<String>,
        /// The server's configuration file, to find both.
        #[arg(long, env = "CHIFFON_CONFIG")]
        config: Option<PathBuf>,
        /// After a clean check, push the trail to this remote (a URL, or a remote configured
        /// in the audit repository with `git remote add`). Fast-forward only.
        #[arg(long)]
        push: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Require this bearer token on the API (prefer CHIFFON_API_TOKEN or --api-token-file:
    /// command-line arguments are visible to other users in `ps`).
    #[arg(long, env = "CHIFFON_API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// A file holding the API's bearer token.
    #[arg(long, env = "CHIFFON_API_TOKEN_FILE")]
    api_token_file: Option<PathBuf>,
    /// Address for the API, live events and docs.
    #[arg(long, env = "CHIFFON_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where the database, audit repository and ansible venv live. Default: ./.chiffon
    #[arg(long, env = "CHIFFON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The homelab's Ansible repository. Default: the bundled example.
    #[arg(long, env = "CHIFFON_PLAYBOOKS")]
    playbooks: Option<PathBuf>,
    /// Database URL. Default: sqlite:<data-dir>/chiffon.db
    #[arg(long, env = "CHIFFON_DATABASE_URL")]
    database_url: Option<String>,
    /// Path to ansible-playbook. Default: found on PATH, else installed into the data dir.
    #[arg(long, env = "CHIFFON_ANSIBLE_PLAYBOOK")]
    ansible_playbook: Option<PathBuf>,
    /// RabbitMQ URL for distributed mode. Default: the in-process bus.
    #[arg(long, env = "CHIFFON_AMQP_URL")]
    amqp_url: Option<String>,
    /// Run no agents inside the server (they run elsewhere with `chiffon agent`).
    #[arg(long, env = "CHIFFON_NO_LOCAL_AGENTS")]
    no_local_agents: bool,
    /// A TOML configuration file (see `chiffon config example`).
    #[arg(long, env = "CHIFFON_CONFIG")]
    config: Option<PathBuf>,
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

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let client =
        || Client::new(&cli.server).map(|c| c.with_token(std::env::var("CHIFFON_API_TOKEN").ok()));
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Request {
            text,
            high_value,
            yes,
            follow,
        } => {
            let client = client()?;
            let view = client.create_request(&text.join(" "), high_value).await?;
            print!("{}", render::plan(&view));
            if !yes {
                return Ok(ExitCode::SUCCESS);
            }
            approve(
                &client,
                view.request.id.as_str(),
                Some(view.request.plan.version),
                follow,
            )
            .await
        }
        Command::Approve {
            id,
            follow,
            plan_version,
        } => approve(&client()?, &id, plan_version, follow).await,
        Command::Preview { id } => {
            eprintln!("Running the plan in check mode (nothing on the hosts changes)…");
            let view = client()?.preview(&id).await?;
            print!("{}", render::preview(&view));
            Ok(ExitCode::SUCCESS)
        }
        Command::Abort { id, reason } => {
            let view = client()?.abort(&id, reason.as_deref()).await?;
            println!(
                "Aborting request {}: the step in progress is being stopped.\nFollow it with `chiffon status {} --follow`.",
                view.request.id, view.request.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Modify { id, text } => {
            let view = client()?.modify(&id, &text.join(" ")).await?;
            print!("{}", render::plan(&view));
            Ok(ExitCode::SUCCESS)
        }
        Command::Reject { id, reason } => {
            let view = client()?.reject(&id, &reason).await?;
            println!(
                "Rejected request {}: {reason}\nNothing was run.",
                view.request.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status {
            id: Some(id),
            follow,
        } => {
            let client = client()?;
            let mut stream = if follow {
                Some(client.subscribe(&id).await?)
            } else {
                None
            };
            let view = client.get_request(&id).await?;
            print!("{}", render::plan(&view));
            if !view.tasks.is_empty() && (view.request.status.is_terminal() || stream.is_none()) {
                print!("{}", render::summary(&view, true));
            }
            match stream.as_mut() {
                Some(stream) if !view.request.status.is_terminal() => {
                    follow_to_end(&client, stream, view).await
                }
                _ => Ok(exit_for(&view)),
            }
        }
        Command::Status { id: None, .. } => {
            let page = client()?.list_requests(20).await?;
            if page.items.is_empty() {
                println!("No requests yet. Try: chiffon request \"deploy uptime kuma\"");
            }
            for request in page.items {
                let text: String = request.text.chars().take(60).collect();
                println!(
                    "{}  {:<18} {}  {text}",
                    request.id,
                    request.status.as_str(),
                    request.created_at.format("%Y-%m-%d %H:%M")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Agents {
            online,
            min_free_vram_gb,
            min_free_cores,
        } => {
            let client = client()?;
            let mut query = Vec::new();
            if online {
                query.push(("online", "true".to_owned()));
            }
            if let Some(gb) = min_free_vram_gb {
                query.push(("min_free_vram_gb", gb.to_string()));
            }
            if let Some(cores) = min_free_cores {
                query.push(("min_free_cores", cores.to_string()));
            }
            let page = client.agents(&query).await?;
            let totals = client.resources().await?;
            let queue = client.queue().await?;
            print!("{}", render::agents(&page.items));
            print!("{}", render::resources(&totals, &queue));
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent { kind } => run_agent(kind).await,
        Command::Audit { command } => audit(command, client).await,
        Command::Probe { probe } => {
            let mut probe = crate::agent::probe::Probe::new(probe.config());
            eprintln!("{}", probe.describe());
            let capacity = probe.sample().await;
            println!("{}", serde_json::to_string_pretty(&capacity)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Playbooks {
            command: PlaybooksCommand::List { playbooks, json },
        } => {
            let dir = repository(playbooks)?;
            let scan = crate::matcher::scan(&dir);
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Playbooks {
            command:
                PlaybooksCommand::Match {
                    text,
                    playbooks,
                    json,
                },
        } => {
            let dir = repository(playbooks)?;
            let found = crate::matcher::find(&crate::matcher::units(&dir), &text.join(" "));
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                print!("{}", render::matched(&found));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Playbooks {
            command:
                PlaybooksCommand::Template {
                    service,
                    image,
                    port,
                    hosts,
                    playbooks,
                },
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Playbooks {
            command:
                PlaybooksCommand::Apply {
                    id,
                    playbooks,
                    ansible_playbook,
                },
        } => {
            let dir = match playbooks {
                Some(dir) => dir,
                None => config::example_playbooks()?,
            };
            let ansible = ansible_playbook
                .or_else(|| crate::agent::ansible::find_on_path("ansible-playbook"))
                .context(
                    "ansible-playbook is needed to check the change: pass --ansible-playbook",
                )?;
            let applied =
                crate::suggest::apply::apply(&dir, &id, &ansible, "chiffon playbooks apply")
                    .await?;
            println!(
                "Applied {} ({}) to {}:{} — commit {}",
                applied.suggestion.id,
                applied.suggestion.rule,
                applied.suggestion.file,
                applied.suggestion.line,
                &applied.commit[..12.min(applied.commit.len())]
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Playbooks {
            command:
                PlaybooksCommand::Lint {
                    dir,
                    json,
                    no_ansible_lint,
                    ansible_lint,
                },
        } => {
            let dir = match dir {
                Some(dir) => dir,
                None => config::example_playbooks()?,
            };
            if !dir.is_dir() {
                anyhow::bail!("{} is not a directory", dir.display());
            }
            let mut found = crate::suggest::analyse(&dir);
            let configured = std::env::var_os("CHIFFON_ANSIBLE_PLAYBOOK").map(PathBuf::from);
            let lint = ansible_lint
                .or_else(|| crate::agent::ansible::find_ansible_lint(configured.as_deref()));
            match (no_ansible_lint, lint) {
                (true, _) => {}
                (false, None) => {
                    eprintln!("ansible-lint is not installed: only Chiffon's own rules ran");
                }
                (false, Some(lint)) => {
                    let findings = crate::agent::ansible::ansible_lint(&lint, &dir).await?;
                    crate::suggest::merge_lint(&dir, &mut found, findings);
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                print!("{}", render::suggestions(&found));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Protocol {
            command: ProtocolCommand::Schema { message_type },
        } => {
            let schema = match message_type.as_deref() {
                None => crate::protocol::envelope_schema(),
                Some(kind) => crate::protocol::payload_schema(kind).with_context(|| {
                    format!(
                        "unknown message type {kind:?}; the types are: {}",
                        crate::protocol::MESSAGE_TYPES.join(", ")
                    )
                })?,
            };
            // A closed pipe (`… | head`) is not an error worth a panic.
            let mut stdout = std::io::stdout().lock();
            let _ = std::io::Write::write_all(
                &mut stdout,
                serde_json::to_string_pretty(&schema)?.as_bytes(),
            );
            let _ = std::io::Write::write_all(&mut stdout, b"\n");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", config::EXAMPLE);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn approve(
    client: &Client,
    id: &str,
    plan_version: Option<u32>,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    // Subscribe before approving so the first events are not missed.
    let mut stream = if follow {
        Some(client.subscribe(id).await?)
    } else {
        None
    };
    let view = client.approve(id, plan_version).await?;
    println!(
        "Approved plan v{} of request {}.",
        view.request.plan.version, view.request.id
    );
    match stream.as_mut() {
        Some(stream) => follow_to_end(client, stream, view).await,
        None => {
            println!(
                "It runs now; watch it with: chiffon status {} --follow",
                view.request.id
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn follow_to_end(
    client: &Client,
    stream: &mut crate::client::LiveStream,
    view: RequestView,
) -> anyhow::Result<ExitCode> {
    let id = view.request.id.to_string();
    while let Some(event) = stream.next().await {
        if let Some(line) = render::live(&event, &view) {
            println!("{line}");
        }
        if let LiveEvent::Request { status, .. } = event
            && status.is_terminal()
        {
            break;
        }
    }
    let view = client.get_request(&id).await?;
    print!("{}", render::summary(&view, true));
    Ok(exit_for(&view))
}

fn exit_for(view: &RequestView) -> ExitCode {
    use crate::model::RequestStatus::{Aborted, Failed};
    if matches!(view.request.status, Failed | Aborted) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn audit(
    command: AuditCommand,
    client: impl Fn() -> anyhow::Result<Client>,
) -> anyhow::Result<ExitCode> {
    let connect = &client;
    let list = |query: Vec<(&'static str, String)>, json: bool, empty: String| async move {
        let page = connect()?.tasks(&query).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&page.items)?);
        } else if page.items.is_empty() {
            println!("{empty}");
        } else {
            print!("{}", render::task_rows(&page.items));
            if page.next.is_some() {
                println!("(more: raise --limit)");
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    };
    match command {
        AuditCommand::Failures { since, limit, json } => {
            let query = vec![
                ("status", "failed".to_owned()),
                ("since", since.clone()),
                ("order", "desc".to_owned()),
                ("limit", limit.to_string()),
            ];
            list(query, json, format!("No failed tasks since {since}.")).await
        }
        AuditCommand::Service {
            name,
            since,
            limit,
            json,
        } => {
            let mut query = vec![
                ("service", name.clone()),
                ("order", "desc".to_owned()),
                ("limit", limit.to_string()),
            ];
            if let Some(since) = since {
                query.push(("since", since));
            }
            list(query, json, format!("No tasks touched {name}.")).await
        }
        AuditCommand::Show { task, json } => {
            let client = client()?;
            let view = client.task(&task).await?;
            let entry = match client.audit_entry(&task).await {
                Ok(entry) => Some(entry),
                Err(error) if view.task.status.is_terminal() => return Err(error),
                Err(_) => None, // not finished: no entry yet
            };
            if json {
                let both = serde_json::json!({"task": view, "audit": entry});
                println!("{}", serde_json::to_string_pretty(&both)?);
            } else {
                print!("{}", render::task_audit(&view, entry.as_ref()));
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify {
            data_dir,
            database_url,
            config,
            push,
            json,
        } => verify_audit(data_dir, database_url, config, push, json).await,
    }
}

/// `chiffon audit verify`: reads the database and the repository directly.
async fn verify_audit(
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    config_file: Option<PathBuf>,
    push: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        data_dir,
        database_url,
        ..Default::default()
    };
    let config = ServeConfig::load(config_file.as_deref(), overrides)?;
    let audit_path = config.data_dir.join("audit");
    anyhow::ensure!(
        audit_path.join("HEAD").exists(),
        "no audit repository at {} (is --data-dir the server's data directory?)",
        audit_path.display()
    );
    let store = match &config.database {
        config::Database::Sqlite(path) => {
            anyhow::ensure!(
                path.exists(),
                "no database at {} (is --data-dir the server's data directory?)",
                path.display()
            );
            crate::store::Store::open_sqlite(path).await?
        }
        config::Database::Postgres(url) => crate::store::Store::open_postgres(url).await?,
    };
    let ledger = store.audit_ledger().await?;
    let missing = store.finished_tasks_without_audit().await?;
    let log = crate::audit::AuditLog::open_or_init(&audit_path)?;
    let mut report = tokio::task::spawn_blocking({
        let log = log.clone();
        move || log.verify(&ledger)
    })
    .await??;
    for task in &missing {
        report.problems.push(format!(
            "task {task} finished but has no audit entry, written or queued"
        ));
    }
    let pushed = match &push {
        Some(remote) if report.problems.is_empty() => Some(log.push(remote)?),
        _ => None,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::verification(&report, &audit_path));
        if let (Some(remote), Some(branch)) = (&push, &pushed) {
            println!(
                "Pushed to {} (branch {branch}).",
                crate::redact::text(remote)
            );
        } else if push.is_some() {
            println!("Not pushed: fix the problems first.");
        }
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        api_token: args.api_token,
        api_token_file: args.api_token_file,
        listen: args.listen,
        data_dir: args.data_dir,
        playbooks: args.playbooks,
        database_url: args.database_url,
        ansible_playbook: args.ansible_playbook,
        amqp_url: args.amqp_url,
        no_local_agents: args.no_local_agents,
    };
    let config = ServeConfig::load(args.config.as_deref(), overrides)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another chiffon running? use --listen)",
                config.listen
            )
        })?;
    let address = listener.local_addr()?;
    eprintln!(
        "Chiffon {} starting on http://{address} (data in {}, playbooks from {})",
        env!("CARGO_PKG_VERSION"),
        config.data_dir.display(),
        config.playbooks.display()
    );
    crate::server::serve(config, listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn run_agent(kind: AgentCommand) -> anyhow::Result<ExitCode> {
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

/// Ctrl-C or SIGTERM (systemd's stop).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
