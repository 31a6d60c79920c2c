//! What this engine remembers of each service's past deployments, folded from its events, for
//! the risk score's history factor. Pure fold; the durable journal will seed it across restarts.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::event::{Event, EventKind};
use crate::domain::DeploymentState;
use crate::policy::HistoryStats;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    services: HashMap<String, Service>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Service {
    stats: HistoryStats,
    /// A rollback in progress, since when.
    recovering: Option<DateTime<Utc>>,
    recoveries: u32,
    recovery_total: Duration,
}

impl History {
    pub fn stats(&self, service: &str) -> HistoryStats {
        self.services
            .get(service)
            .map(|s| s.stats.clone())
            .unwrap_or_default()
    }

    pub fn apply(&mut self, e: &Event) {
        let s = self.services.entry(e.service.clone()).or_default();
        match &e.kind {
            EventKind::DeployStarted { .. } => s.stats.deployments += 1,
            EventKind::State { to, .. } if e.deployment.is_some() => match to {
                DeploymentState::Failed => s.stats.failures += 1,
                DeploymentState::RolledBack => s.stats.rollbacks += 1,
                _ => {}
            },
            EventKind::RollbackStarted { .. } => {
                s.recovering.get_or_insert(e.at);
            }
            EventKind::TrafficOnStable { .. } => {
                if let Some(since) = s.recovering.take() {
                    s.recoveries += 1;
                    s.recovery_total += (e.at - since).to_std().unwrap_or_default();
                    s.stats.mean_time_to_recover = Some(s.recovery_total / s.recoveries);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: i64, deployment: Option<u64>, kind: EventKind) -> Event {
        Event {
            at: DateTime::from_timestamp(at, 0).unwrap_or_default(),
            service: "demo".into(),
            deployment,
            kind,
        }
    }

    #[test]
    fn counts_outcomes_and_time_to_recover() {
        let mut h = History::default();
        let started = || EventKind::DeployStarted {
            version: "1.1.0".into(),
            strategy: "s".into(),
            operator: "o".into(),
            hosts: vec![],
            steps: vec![],
        };
        let to = |to| EventKind::State {
            from: DeploymentState::Progressing,
            to,
        };
        h.apply(&ev(0, Some(1), started()));
        h.apply(&ev(1, Some(1), to(DeploymentState::Succeeded)));
        h.apply(&ev(2, Some(2), started()));
        h.apply(&ev(
            10,
            Some(2),
            EventKind::RollbackStarted { reason: "x".into() },
        ));
        h.apply(&ev(
            16,
            Some(2),
            EventKind::TrafficOnStable { hosts: vec![] },
        ));
        h.apply(&ev(17, Some(2), to(DeploymentState::RolledBack)));
        h.apply(&ev(20, Some(3), started()));
        h.apply(&ev(21, Some(3), to(DeploymentState::Failed)));
        let s = h.stats("demo");
        assert_eq!((s.deployments, s.failures, s.rollbacks), (3, 1, 1));
        assert_eq!(s.mean_time_to_recover, Some(Duration::from_secs(6)));
        assert_eq!(h.stats("other"), HistoryStats::default());
    }
}
