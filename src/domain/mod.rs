//! Pure domain types. Depends on nothing else in the crate.

pub mod approval;
pub mod batches;
pub mod deploy_policy;
pub mod ports;
pub mod release;
pub mod split;
pub mod state;
pub mod tracks;
pub mod window_parse;
pub mod windows;

pub use batches::BatchSize;
pub use release::Version;
pub use split::{weight_label, Split, TrackWeights};
pub use state::{DeploymentState, InvalidTransition, Transition};
pub use tracks::{StackState, TrackName};
