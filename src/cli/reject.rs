//! `chiffon reject ID --reason …`: rejects a plan; nothing runs.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct RejectArgs {
    id: String,
    #[arg(long)]
    reason: String,
}

pub async fn run(server: &str, args: RejectArgs) -> anyhow::Result<ExitCode> {
    let view = crate::cli::connect(server)?
        .reject(&args.id, &args.reason)
        .await?;
    println!(
        "Rejected request {}: {}\nNothing was run.",
        view.request.id, args.reason
    );
    Ok(ExitCode::SUCCESS)
}
