//! The NGINX upstream editor: pure functions over the text of a config file that read and set
//! the weights of one upstream's servers, changing no other byte. The engine, the
//! `sluice nginx plan` command and the tests all use this same code path.

pub mod edit;
pub mod layout;
mod tokenize;

pub use edit::*;
