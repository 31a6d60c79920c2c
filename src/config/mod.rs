//! Configuration: YAML schema (read with serde-saphyr), defaults, and validation that reports
//! every error as `FILE:LINE:COL: message`.

pub mod model;

pub use model::*;
