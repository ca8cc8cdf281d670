//! Chiffon's integration tests: one binary, a module per area. Each test boots the real
//! orchestrator on port 0 with its own data dir (see `helpers::TestApp`) and drives it the way
//! a user does: through the REST API, the live event stream and the `chiffon` CLI.

#![allow(clippy::unwrap_used)]

mod answer;
mod api_docs;
mod audit;
mod bad_input;
mod capacity;
mod cli;
mod distributed;
mod full_loop;
mod golden;
mod helpers;
mod hints;
mod layouts;
mod llm;
mod matching;
mod properties;
mod restart;
mod security;
mod security_outbound;
mod store;
mod story;
mod suggestions;
mod tidy;
