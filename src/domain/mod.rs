//! Pure domain types. Depends on nothing else in the crate.

pub mod split;
pub mod state;

pub use split::{Split, TrackWeights};
pub use state::{DeploymentState, InvalidTransition, Transition};
