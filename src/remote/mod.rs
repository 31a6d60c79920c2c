//! Everything that touches hosts: SSH, the NGINX upstream editor, compose stacks, health checks.

pub mod fence;
pub mod host;
pub mod local;
pub mod nginx;
pub mod ports;
pub mod scripts;
pub mod ssh;
pub mod transport;

pub use scripts::HostExit;
pub use transport::{quote, Output, RawOutput, Remote, RemoteError, Script};
