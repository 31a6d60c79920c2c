//! The NGINX upstream editor: pure functions over the text of a config file. The engine, the
//! `nginx plan` command and the tests all use the same code path.

mod edit;
mod tokenize;

pub use edit::{read_upstream, set_weights, traffic_shares, EditError, ServerEntry};
