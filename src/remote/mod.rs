//! Everything that touches hosts: SSH, the NGINX upstream editor, compose stacks, health checks.

pub mod fence;
pub mod host;
pub mod nginx;
pub mod ports;
pub mod ssh;
pub mod transport;

pub use transport::{quote, Output, RawOutput, Remote, RemoteError, Script};
