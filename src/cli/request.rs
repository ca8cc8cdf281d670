//! `chiffon request "…"`: asks for something in plain words and prints the plan; with `--yes`
//! approves it at once.

use std::process::ExitCode;

use clap::Args;

use crate::client::render;

#[derive(Debug, Args)]
pub struct RequestArgs {
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
}

pub async fn run(server: &str, args: RequestArgs) -> anyhow::Result<ExitCode> {
    let client = crate::cli::connect(server)?;
    let view = client
        .create_request(&args.text.join(" "), args.high_value)
        .await?;
    print!("{}", render::plan(&view));
    // A plan that cannot run is not a success: the person has a question to answer first.
    if view.needs_answer {
        return Ok(ExitCode::FAILURE);
    }
    if !args.yes {
        return Ok(ExitCode::SUCCESS);
    }
    crate::cli::approve::approve(
        &client,
        view.request.id.as_str(),
        Some(view.request.plan.version),
        args.follow,
    )
    .await
}
