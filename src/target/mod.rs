//! Everything that touches hosts: SSH, the NGINX upstream editor, compose stacks, health checks.

pub mod fence;
pub mod host;
pub mod nginx;
pub mod ports;
pub mod remote;
pub mod ssh;

pub use remote::{quote, Output, Remote, RemoteError, Script};
