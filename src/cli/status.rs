//! `chiffon status [ID] [--follow]`: one request with its steps' progress, or the latest
//! requests.

use std::process::ExitCode;

use clap::Args;

use crate::cli::approve::{exit_for, follow_to_end};
use crate::client::render;

#[derive(Debug, Args)]
pub struct StatusArgs {
    id: Option<String>,
    /// Keep showing progress until the request finishes.
    #[arg(long, requires = "id")]
    follow: bool,
}

pub async fn run(server: &str, args: StatusArgs) -> anyhow::Result<ExitCode> {
    match args.id {
        Some(id) => one(server, &id, args.follow).await,
        None => latest(server).await,
    }
}

async fn one(server: &str, id: &str, follow: bool) -> anyhow::Result<ExitCode> {
    let client = crate::cli::connect(server)?;
    let mut stream = if follow {
        Some(client.subscribe(id).await?)
    } else {
        None
    };
    let view = client.get_request(id).await?;
    print!("{}", render::plan(&view));
    if !view.tasks.is_empty() && (view.request.status.is_terminal() || stream.is_none()) {
        let audit_dir = client.audit_dir().await;
        print!("{}", render::summary(&view, audit_dir.as_deref()));
    }
    match stream.as_mut() {
        Some(stream) if !view.request.status.is_terminal() => {
            follow_to_end(&client, stream, view).await
        }
        _ => Ok(exit_for(&view)),
    }
}

async fn latest(server: &str) -> anyhow::Result<ExitCode> {
    let page = crate::cli::connect(server)?.list_requests(20).await?;
    if page.items.is_empty() {
        println!("No requests yet. Try: chiffon request \"deploy uptime kuma\"");
        return Ok(ExitCode::SUCCESS);
    }
    let id_width = page
        .items
        .iter()
        .map(|r| r.request.id.as_str().len())
        .max()
        .unwrap_or(7);
    println!(
        "{:<id_width$}  {:<18} {:<16}  REQUEST",
        "ID", "STATUS", "CREATED (UTC)"
    );
    for crate::api::RequestSummary { request, outcome } in page.items {
        let text: String = request.text.chars().take(60).collect();
        // A plan that cannot run waits for an answer, not for an approval; a run that warned
        // is not a plain success.
        let status = if request.status == crate::model::RequestStatus::AwaitingApproval
            && request.plan.needs_answer()
        {
            "needs your answer"
        } else if outcome.as_deref() == Some("succeeded_with_warnings") {
            "done with warnings"
        } else {
            render::status_word(request.status)
        };
        println!(
            "{:<id_width$}  {:<18} {:<16}  {text}",
            request.id.as_str(),
            status,
            request.created_at.format("%Y-%m-%d %H:%M")
        );
    }
    Ok(ExitCode::SUCCESS)
}
