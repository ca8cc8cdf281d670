//! `chiffon agents`: the agents, their status and capacity, the fleet's totals and whether the
//! dispatch queue is paused.

use std::process::ExitCode;

use clap::Args;

use crate::client::render;

#[derive(Debug, Args)]
pub struct AgentsArgs {
    /// Only agents that are online.
    #[arg(long)]
    online: bool,
    /// Only agents with at least this much free memory on one GPU, in GB.
    #[arg(long)]
    min_free_vram_gb: Option<f64>,
    /// Only agents with at least this many idle cores.
    #[arg(long)]
    min_free_cores: Option<f64>,
}

pub async fn run(server: &str, args: AgentsArgs) -> anyhow::Result<ExitCode> {
    let client = crate::cli::connect(server)?;
    let mut query = Vec::new();
    if args.online {
        query.push(("online", "true".to_owned()));
    }
    if let Some(gb) = args.min_free_vram_gb {
        query.push(("min_free_vram_gb", gb.to_string()));
    }
    if let Some(cores) = args.min_free_cores {
        query.push(("min_free_cores", cores.to_string()));
    }
    let page = client.agents(&query).await?;
    let totals = client.resources().await?;
    let queue = client.queue().await?;
    print!("{}", render::agents(&page.items));
    print!("{}", render::resources(&totals, &queue));
    Ok(ExitCode::SUCCESS)
}
