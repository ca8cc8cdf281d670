//! `chiffon protocol schema [TYPE]`: the JSON Schema of the agent message envelope, or of one
//! message type's payload.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ProtocolCommand {
    /// Print the JSON Schema of the envelope (all message types), or of one type's payload.
    Schema {
        /// dispatch, ack, progress, result, cancel, heartbeat, hello, goodbye or error.
        message_type: Option<String>,
    },
}

pub fn run(command: ProtocolCommand) -> anyhow::Result<ExitCode> {
    let ProtocolCommand::Schema { message_type } = command;
    let schema = match message_type.as_deref() {
        None => crate::protocol::envelope_schema(),
        Some(kind) => crate::protocol::payload_schema(kind).with_context(|| {
            format!(
                "unknown message type {kind:?}; the types are: {}",
                crate::protocol::MESSAGE_TYPES.join(", ")
            )
        })?,
    };
    // A closed pipe (`… | head`) is not an error worth a panic.
    let mut stdout = std::io::stdout().lock();
    let _ = std::io::Write::write_all(
        &mut stdout,
        serde_json::to_string_pretty(&schema)?.as_bytes(),
    );
    let _ = std::io::Write::write_all(&mut stdout, b"\n");
    Ok(ExitCode::SUCCESS)
}
