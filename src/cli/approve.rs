//! `chiffon approve ID`: approves a plan so it runs; with `--follow`, shows its progress live
//! until the end and exits 1 when it failed or was aborted.

use std::process::ExitCode;

use clap::Args;

use crate::api::{LiveEvent, RequestView};
use crate::client::{Client, LiveStream, render};

#[derive(Debug, Args)]
pub struct ApproveArgs {
    id: String,
    /// Show progress live until the end, then a summary.
    #[arg(long)]
    follow: bool,
    /// Refuse if the plan is no longer this version.
    #[arg(long)]
    plan_version: Option<u32>,
}

pub async fn run(server: &str, args: ApproveArgs) -> anyhow::Result<ExitCode> {
    approve(
        &crate::cli::connect(server)?,
        &args.id,
        args.plan_version,
        args.follow,
    )
    .await
}

/// Approves `id` (refusing another plan version than `plan_version`), following it when asked.
pub async fn approve(
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

/// Prints each live event until the request ends, then the summary.
pub async fn follow_to_end(
    client: &Client,
    stream: &mut LiveStream,
    view: RequestView,
) -> anyhow::Result<ExitCode> {
    let id = view.request.id.to_string();
    // A finished task is announced again when its audit commit lands: print it once.
    let mut finished = std::collections::HashSet::new();
    while let Some(event) = stream.next().await {
        if let LiveEvent::Task {
            task_id, status, ..
        } = &event
            && status.is_terminal()
            && render::live(&event, &view).is_some()
            && !finished.insert(task_id.clone())
        {
            continue;
        }
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
    let audit_dir = client.audit_dir().await;
    print!("{}", render::summary(&view, audit_dir.as_deref()));
    Ok(exit_for(&view))
}

/// 1 when the request failed or was aborted.
pub fn exit_for(view: &RequestView) -> ExitCode {
    use crate::model::RequestStatus::{Aborted, Failed};
    if matches!(view.request.status, Failed | Aborted) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
