//! `chiffon revert ID`: plans the undo of a request (`req_…`) or one task (`task_…`) as a new
//! request, runs its check-mode preview (which finds files changed since the run), and prints
//! the plan to approve. A file changed since the run is a question the preview asks
//! (`chiffon answer`), or settled up front with `--keep-theirs PATH` / `--restore-ours PATH`. `chiffon revert --suggestion COMMIT` plans the undo of an
//! applied suggestion: a new commit reverting it in the playbook repository.

use std::process::ExitCode;

use clap::Args;

use crate::api::{ConflictChoice, Resolution, RevertBody};
use crate::client::render;

#[derive(Debug, Args)]
pub struct RevertArgs {
    /// A request id (`req_…`: all its tasks) or a task id (`task_…`: that task only).
    #[arg(required_unless_present = "suggestion")]
    id: Option<String>,
    /// Undo an applied suggestion instead: its commit in the playbook repository is reverted
    /// by a new commit, once the plan is approved.
    #[arg(long, value_name = "COMMIT", conflicts_with_all = ["id", "keep_theirs", "restore_ours"])]
    suggestion: Option<String>,
    /// A file changed since the run: leave it as it is now.
    #[arg(long = "keep-theirs", value_name = "PATH")]
    keep_theirs: Vec<String>,
    /// A file changed since the run: put it back as before the run anyway.
    #[arg(long = "restore-ours", value_name = "PATH")]
    restore_ours: Vec<String>,
    /// Do not run the check-mode preview.
    #[arg(long)]
    no_preview: bool,
}

pub async fn run(server: &str, args: RevertArgs) -> anyhow::Result<ExitCode> {
    let client = crate::cli::connect(server)?;
    let mut body = RevertBody::default();
    let id = match (&args.suggestion, args.id) {
        (Some(commit), _) => {
            let view = client.revert_commit(commit).await?;
            return finish(&client, view, args.no_preview).await;
        }
        (None, Some(id)) => id,
        (None, None) => anyhow::bail!("name a request, a task or --suggestion COMMIT"),
    };
    let request = if id.starts_with("task_") {
        let task = client.task(&id).await?;
        body.tasks.push(id.clone());
        task.task.request_id.to_string()
    } else {
        id.clone()
    };
    for (paths, choice) in [
        (&args.keep_theirs, ConflictChoice::KeepTheirs),
        (&args.restore_ours, ConflictChoice::RestoreOurs),
    ] {
        body.resolve.extend(paths.iter().map(|path| Resolution {
            host: None,
            path: path.clone(),
            choice,
        }));
    }
    let view = client.revert(&request, &body).await?;
    finish(&client, view, args.no_preview).await
}

/// Prints the undo's plan after its preview (unless `no_preview`), then how to approve it,
/// or the conflicts the preview found to answer first (exit 1 then, as `chiffon request`).
async fn finish(
    client: &crate::client::Client,
    mut view: crate::api::RequestView,
    no_preview: bool,
) -> anyhow::Result<ExitCode> {
    if !no_preview {
        eprintln!(
            "Planned {}; running it in check mode (nothing changes)…",
            view.request.id
        );
        view = client.preview(view.request.id.as_str()).await?;
    }
    print!("{}", render::plan(&view));
    if !no_preview {
        print!("{}", render::preview(&view));
    }
    if view.needs_answer {
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "Approve it with `chiffon approve {} --follow`.",
        view.request.id
    );
    Ok(ExitCode::SUCCESS)
}
