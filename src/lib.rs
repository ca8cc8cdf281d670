//! Chiffon: plain-language homelab requests become plans a person approves, executed by agents
//! running the homelab's own Ansible playbooks, with every step stored and audited in git.
//!
//! `ARCHITECTURE.md` maps the modules; `docs/protocol.md` describes the agent protocol.

pub mod agent;
pub mod api;
pub mod audit;
pub mod bus;
pub mod catalogue;
pub mod cli;
pub mod client;
pub mod config;
pub mod discovery;
pub mod llm;
pub mod matcher;
pub mod model;
pub mod ops;
pub mod orchestrator;
pub mod planner;
pub mod portals;
pub mod protocol;
pub mod redact;
pub mod registry;
pub mod repo;
pub mod resolve;
pub mod server;
pub mod services;
pub mod store;
pub mod suggest;
pub mod template;
pub mod text;
pub mod tools;
