//! Configuration: YAML (read with serde-saphyr) into a located tree, then validated into the
//! model that the rest of sluice consumes. Every error is reported, at once, as
//! `FILE:LINE:COL: message`.

pub mod analysis_model;
mod diagnostic;
mod duration;
pub mod model;
pub(crate) mod node;
pub mod safety;
mod validate;

use std::path::Path;

pub use analysis_model::{Compare, Prometheus, Queries};
pub use diagnostic::Diagnostic;
pub use duration::parse_duration;
pub use model::*;
pub use safety::*;
pub(crate) use validate::did_you_mean;
pub use validate::is_name;

/// Read and validate a configuration file.
pub fn load(path: &Path) -> Result<Config, Vec<Diagnostic>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => Err(vec![Diagnostic::new(
            path,
            1,
            1,
            format!("cannot read the configuration: {e}"),
        )]),
    }
}

/// Validate the text of a configuration file; `path` names it in messages.
pub fn parse(path: &Path, text: &str) -> Result<Config, Vec<Diagnostic>> {
    let root = match node::read(text) {
        Ok(n) => n,
        Err(e) => return Err(vec![Diagnostic::from_yaml(path, text, &e)]),
    };
    validate::validate(path, root)
}
