//! `chiffon modify ID "…"`: changes a plan awaiting approval and prints the new version.

use std::process::ExitCode;

use clap::Args;

use crate::client::render;

#[derive(Debug, Args)]
pub struct ModifyArgs {
    id: String,
    /// The change, in plain words.
    #[arg(required = true, num_args = 1..)]
    text: Vec<String>,
}

pub async fn run(server: &str, args: ModifyArgs) -> anyhow::Result<ExitCode> {
    let view = crate::cli::connect(server)?
        .modify(&args.id, &args.text.join(" "))
        .await?;
    print!("{}", render::plan(&view));
    Ok(ExitCode::SUCCESS)
}
