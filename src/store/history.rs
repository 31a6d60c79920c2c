//! A service's deployment history for the risk score, read from the journal: so it covers every
//! process that deployed with this store and survives restarts.

use rusqlite::params;

use super::{Store, StoreError};
use crate::policy::HistoryStats;

/// How many of a service's latest deployments the history looks at (old failures fade out).
pub const HISTORY_DEPLOYMENTS: usize = 100;

impl Store {
    /// Deployments, failures and rollbacks among the service's latest
    /// [`HISTORY_DEPLOYMENTS`], and the mean time from a rollback's start (traffic ordered
    /// back to stable) to the deployment closed as rolled back.
    pub fn history_stats(&self, service: &str) -> Result<HistoryStats, StoreError> {
        let conn = self.conn();
        let (deployments, failures, rollbacks, mttr_ms): (i64, i64, i64, Option<f64>) = conn
            .query_row(
                "WITH d AS (SELECT id, state FROM deployments WHERE service = ?1 \
                            ORDER BY id DESC LIMIT ?2), \
                 r AS (SELECT \
                   (SELECT MAX(at) FROM journal WHERE deployment = d.id AND note = 'state rolled-back') AS end_at, \
                   d.id AS id FROM d WHERE d.state = 'rolled-back'), \
                 t AS (SELECT end_at - (SELECT MAX(at) FROM journal \
                          WHERE deployment = r.id AND note = 'canary to 0 %' AND at <= r.end_at) AS took \
                       FROM r WHERE end_at IS NOT NULL) \
                 SELECT (SELECT COUNT(*) FROM d), \
                        (SELECT COUNT(*) FROM d WHERE state = 'failed'), \
                        (SELECT COUNT(*) FROM d WHERE state = 'rolled-back'), \
                        (SELECT AVG(took) FROM t WHERE took IS NOT NULL)",
                params![service, HISTORY_DEPLOYMENTS as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .map_err(|e| self.error(e))?;
        Ok(HistoryStats {
            deployments: deployments as u32,
            failures: failures as u32,
            rollbacks: rollbacks as u32,
            mean_time_to_recover: mttr_ms
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map(|ms| std::time::Duration::from_millis(ms.round() as u64)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::testing::{store, TestClock, TestProbe};
    use super::super::{JournalChange, NewDeployment};
    use crate::domain::DeploymentState;
    use crate::policy::HistoryStats;

    #[test]
    fn counts_outcomes_and_time_to_recover_across_deployments() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let s = store(dir.path(), clock.clone(), Arc::new(TestProbe::default()));
        let begin = |service: &str| {
            s.begin_deployment(&NewDeployment {
                service: service.into(),
                version: "1.1.0".into(),
                strategy: "c".into(),
                operator: "o".into(),
                token: None,
            })
            .unwrap()
        };
        assert_eq!(s.history_stats("demo").unwrap(), HistoryStats::default());

        let ok = begin("demo");
        s.record(ok, &JournalChange::State(DeploymentState::Succeeded))
            .unwrap();
        // Rolled back: 6 s from the order to stable until closed; an earlier manual 0 % does
        // not count as the start.
        let rb = begin("demo");
        s.record(rb, &JournalChange::Split(0)).unwrap();
        clock.advance(chrono::Duration::seconds(30));
        s.record(rb, &JournalChange::Split(0)).unwrap();
        clock.advance(chrono::Duration::seconds(6));
        s.record(rb, &JournalChange::State(DeploymentState::RolledBack))
            .unwrap();
        let rb2 = begin("demo");
        s.record(rb2, &JournalChange::Split(0)).unwrap();
        clock.advance(chrono::Duration::seconds(2));
        s.record(rb2, &JournalChange::State(DeploymentState::RolledBack))
            .unwrap();
        let failed = begin("demo");
        s.record(failed, &JournalChange::State(DeploymentState::Failed))
            .unwrap();
        begin("other");

        let h = s.history_stats("demo").unwrap();
        assert_eq!((h.deployments, h.failures, h.rollbacks), (4, 1, 2));
        assert_eq!(h.mean_time_to_recover, Some(Duration::from_secs(4)));
        assert_eq!(s.history_stats("other").unwrap().deployments, 1);
    }
}
