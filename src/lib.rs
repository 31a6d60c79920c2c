//! sluice: a terminal console and deploy engine for safe rollouts of docker compose services
//! behind NGINX. ARCHITECTURE.md (repository root) maps the modules, how a command flows, and
//! the invariants; README.md is the user's guide.

pub mod analysis;
pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod http;
pub mod identity;
pub mod local_files;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod remote;
pub mod sanitize;
pub mod store;

pub mod tui;
