//! Live analysis: request samples per track into sliding windows, and the judge over them.

pub mod judge;
pub mod nginx_log;
pub mod window;

pub use judge::{judge, Judgement, Thresholds, Verdict};
pub use window::{Sample, Stats, Window};
