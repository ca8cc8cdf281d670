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
    let client = crate::cli::connect(server)?;
    let view = client.modify(&args.id, &args.text.join(" ")).await?;
    print!("{}", render::plan(&view));
    // What the new version changed, named: "Removed: Ollama (http://…)". Best effort: an
    // older server without the versions list still gets its new plan printed.
    let version = view.request.plan.version;
    if let Ok(versions) = client.plan_versions(&args.id).await
        && let Some(previous) = versions.iter().find(|v| v.plan.version + 1 == version)
    {
        print!(
            "{}",
            render::version_changes(&previous.plan, &view.request.plan)
        );
    }
    Ok(ExitCode::SUCCESS)
}
