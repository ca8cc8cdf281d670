//! `chiffon answer ID CHOICE`: answers an open question of a plan with one of its choices (or
//! `--template --image … --port …` for a template offer) and prints the new plan version; exits
//! 1 when that version still needs an answer.

use std::process::ExitCode;

use clap::Args;

use crate::api::{Answer, TemplateAnswer};
use crate::client::render;

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// The request.
    id: String,
    /// The choice's id, as `chiffon request` / `chiffon status ID` print it.
    #[arg(required_unless_present = "template")]
    choice: Option<String>,
    /// Which question (needed only when two open questions have the same choice).
    #[arg(long)]
    question: Option<String>,
    /// Answer a template offer: write a playbook for the service, then plan again.
    #[arg(long, requires_all = ["image", "port"], conflicts_with = "choice")]
    template: bool,
    /// With --template: the image, pinned (e.g. deluan/navidrome:0.53.3).
    #[arg(long, requires = "template")]
    image: Option<String>,
    /// With --template: the port the service listens on.
    #[arg(long, requires = "template")]
    port: Option<u16>,
    /// With --template: the inventory group or host pattern (default docker_hosts).
    #[arg(long, requires = "template")]
    hosts: Option<String>,
}

pub async fn run(server: &str, args: AnswerArgs) -> anyhow::Result<ExitCode> {
    let template = match (args.template, args.image, args.port) {
        (true, Some(image), Some(port)) => Some(TemplateAnswer {
            image,
            port,
            hosts: args.hosts,
        }),
        _ => None,
    };
    let answer = Answer {
        question_id: args.question,
        choice: args.choice,
        template,
        by: None,
    };
    let view = crate::cli::connect(server)?
        .answer(&args.id, &answer)
        .await?;
    print!("{}", render::plan(&view));
    Ok(if view.needs_answer {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
