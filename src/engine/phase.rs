//! Where a blue/green or rolling deployment is, for the snapshot and the console:
//! "green verify 12s", "switched · blue kept 8s", "batch 2/3 · bake 4s".

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    /// Green runs beside blue without traffic, verified until `until`.
    GreenVerify { until: Option<DateTime<Utc>> },
    /// All traffic on green; blue kept until `until`.
    Switched { until: Option<DateTime<Utc>> },
    /// Rolling: batch `batch` of `of` runs the new version, baking until `bake_until`.
    Batch {
        batch: usize,
        of: usize,
        bake_until: Option<DateTime<Utc>>,
    },
}

impl Phase {
    /// The label of a held (paused) phase: its clock is stopped, so no time is shown.
    pub fn held_label(&self) -> String {
        let held = match self {
            Phase::GreenVerify { .. } => Phase::GreenVerify { until: None },
            Phase::Switched { .. } => Phase::Switched { until: None },
            Phase::Batch { batch, of, .. } => Phase::Batch {
                batch: *batch,
                of: *of,
                bake_until: None,
            },
        };
        format!("paused · {}", held.label(Utc::now()))
    }

    /// A short label with the time left at `now`.
    pub fn label(&self, now: DateTime<Utc>) -> String {
        let left = |u: &Option<DateTime<Utc>>| u.map(|u| (u - now).num_seconds().max(0));
        match self {
            Phase::GreenVerify { until } => match left(until) {
                Some(s) => format!("green verify {s}s"),
                None => "green verify".into(),
            },
            Phase::Switched { until } => match left(until) {
                Some(0) => "switched · finishing".into(),
                Some(s) => format!("switched · blue kept {s}s"),
                None => "switched".into(),
            },
            Phase::Batch {
                batch,
                of,
                bake_until,
            } => match left(bake_until) {
                Some(s) if s > 0 => format!("batch {batch}/{of} · bake {s}s"),
                _ => format!("batch {batch}/{of}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_count_down() {
        let now = Utc::now();
        let at = |s| Some(now + chrono::Duration::seconds(s));
        assert_eq!(
            Phase::GreenVerify { until: at(12) }.label(now),
            "green verify 12s"
        );
        assert_eq!(
            Phase::Switched { until: at(8) }.label(now),
            "switched · blue kept 8s"
        );
        assert_eq!(
            Phase::Switched { until: at(-3) }.label(now),
            "switched · finishing"
        );
        let batch = |b| Phase::Batch {
            batch: 2,
            of: 3,
            bake_until: b,
        };
        assert_eq!(batch(None).label(now), "batch 2/3");
        assert_eq!(batch(at(4)).label(now), "batch 2/3 · bake 4s");
        assert_eq!(batch(at(-1)).label(now), "batch 2/3");
        assert_eq!(batch(at(4)).held_label(), "paused · batch 2/3");
        assert_eq!(
            Phase::Switched { until: at(8) }.held_label(),
            "paused · switched"
        );
    }
}
