//! Chiffon's integration tests: one binary, a module per area. Each test boots the real
//! orchestrator on port 0 with its own data dir (see `helpers::TestApp`) and drives it the way
//! a user does: through the REST API, the live event stream and the `chiffon` CLI.

#![allow(clippy::unwrap_used)]

mod answer;
mod api_docs;
mod audit;
mod bad_input;
mod capacity;
mod capture;
mod cli;
mod distributed;
mod first_hour;
mod full_loop;
mod golden;
mod helpers;
mod hints;
mod layouts;
mod layouts_run;
mod layouts_served;
mod llm;
mod matching;
mod metrics;
mod operations;
mod pin_upgrades;
mod properties;
mod restart;
mod revert;
mod revert_containers;
mod revert_services;
mod security;
mod security_outbound;
mod ssh;
mod ssh_hosts;
mod store;
mod story;
mod suggestions;
mod tidy;
mod upgrade;
