//! `chiffon preview ID`: runs a plan in check mode and prints what each step would change.

use std::process::ExitCode;

use clap::Args;

use crate::client::render;

#[derive(Debug, Args)]
pub struct PreviewArgs {
    id: String,
}

pub async fn run(server: &str, args: PreviewArgs) -> anyhow::Result<ExitCode> {
    eprintln!("Running the plan in check mode (nothing on the hosts changes)…");
    let view = crate::cli::connect(server)?.preview(&args.id).await?;
    print!("{}", render::preview(&view));
    Ok(ExitCode::SUCCESS)
}
