//! `chiffon abort ID`: stops a running request.

use std::process::ExitCode;

use clap::Args;

#[derive(Debug, Args)]
pub struct AbortArgs {
    id: String,
    #[arg(long)]
    reason: Option<String>,
}

pub async fn run(server: &str, args: AbortArgs) -> anyhow::Result<ExitCode> {
    let view = crate::cli::connect(server)?
        .abort(&args.id, args.reason.as_deref())
        .await?;
    println!(
        "Aborting request {}: the step in progress is being stopped.\nFollow it with `chiffon status {} --follow`.",
        view.request.id, view.request.id
    );
    Ok(ExitCode::SUCCESS)
}
