//! `chiffon revert ID`: plans the undo of a request (`req_…`) or one task (`task_…`) as a new
//! request, runs its check-mode preview (which finds files changed since the run), and prints
//! the plan to approve. Conflicts are settled with `--keep-theirs PATH` / `--restore-ours PATH`
//! on a new `chiffon revert`.

use std::process::ExitCode;

use clap::Args;

use crate::api::{ConflictChoice, Resolution, RevertBody};
use crate::client::render;

#[derive(Debug, Args)]
pub struct RevertArgs {
    /// A request id (`req_…`: all its tasks) or a task id (`task_…`: that task only).
    id: String,
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
    let request = if args.id.starts_with("task_") {
        let task = client.task(&args.id).await?;
        body.tasks.push(args.id.clone());
        task.task.request_id.to_string()
    } else {
        args.id.clone()
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
    let mut view = client.revert(&request, &body).await?;
    print!("{}", render::plan(&view));
    if !args.no_preview {
        eprintln!("Running the undo in check mode (nothing on the hosts changes)…");
        view = client.preview(view.request.id.as_str()).await?;
        print!("{}", render::preview(&view));
    }
    println!(
        "Approve it with `chiffon approve {} --follow`.",
        view.request.id
    );
    Ok(ExitCode::SUCCESS)
}
