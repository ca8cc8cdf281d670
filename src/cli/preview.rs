//! `chiffon preview ID`: runs a plan in check mode and prints what each step would change,
//! then the questions it raised (an undo's paths changed since the run; exit 1 then).

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
    if view.needs_answer {
        print!("{}", crate::client::questions::open(&view));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
