//! Live analysis: request samples per track into sliding windows, and the judge over them.

pub mod clock;
pub mod judge;
pub mod nginx_follower;
pub mod nginx_log;
pub mod prometheus;
pub mod provider;
pub mod window;

pub use judge::{judge, judge_against, unavailable, Judgement, Margins, Thresholds, Verdict};
pub use provider::{MetricProvider, Reading};
pub use window::{Sample, Stats, Window};
