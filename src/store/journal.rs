//! The deployment journal: one row per deployment (its latest state) and an append-only log of
//! every transition, each written in a committed transaction before the engine acts on it.
//! Deployment ids come from here, so they survive restarts and never repeat.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{from_millis, to_millis, Store, StoreError};
use crate::domain::DeploymentState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    pub service: String,
    pub version: String,
    pub strategy: String,
    pub operator: String,
    pub token: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentRecord {
    pub id: u64,
    pub service: String,
    pub version: String,
    /// The stable version before this deployment (known once validation read the hosts).
    pub previous: Option<String>,
    pub strategy: String,
    pub operator: String,
    pub state: DeploymentState,
    pub step: Option<u32>,
    pub steps: Option<u32>,
    /// The split this deployment last asked for (canary percent).
    pub canary_percent: Option<u8>,
    pub token: Option<u64>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    pub seq: u64,
    pub deployment: u64,
    pub at: DateTime<Utc>,
    pub state: DeploymentState,
    pub step: Option<u32>,
    pub canary_percent: Option<u8>,
    pub note: String,
}

/// One change to a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalChange {
    State(DeploymentState),
    /// The stable version found on the hosts.
    Previous(String),
    /// Step `step` of `of` is about to move traffic to `canary_percent`.
    Step {
        step: u32,
        of: u32,
        canary_percent: u8,
    },
    /// Traffic is about to move to this canary share (outside the step plan: an override,
    /// promote's hand-over, a rollback).
    Split(u8),
    Note(String),
}

fn parse_state(s: &str) -> DeploymentState {
    DeploymentState::ALL
        .into_iter()
        .find(|d| d.as_str() == s)
        .unwrap_or(DeploymentState::Failed)
}

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        id: r.get::<_, i64>(0)? as u64,
        service: r.get(1)?,
        version: r.get(2)?,
        previous: r.get(3)?,
        strategy: r.get(4)?,
        operator: r.get(5)?,
        state: parse_state(&r.get::<_, String>(6)?),
        step: r.get::<_, Option<i64>>(7)?.map(|v| v as u32),
        steps: r.get::<_, Option<i64>>(8)?.map(|v| v as u32),
        canary_percent: r.get::<_, Option<i64>>(9)?.map(|v| v.clamp(0, 100) as u8),
        token: r.get::<_, Option<i64>>(10)?.map(|v| v as u64),
        started_at: from_millis(r.get(11)?),
        updated_at: from_millis(r.get(12)?),
    })
}

const SELECT: &str = "SELECT id, service, version, previous, strategy, operator, state, step, \
                      steps, canary_percent, token, started_at, updated_at FROM deployments";

impl Store {
    /// Record a new deployment (pending) and return its durable id.
    pub fn begin_deployment(&self, d: &NewDeployment) -> Result<u64, StoreError> {
        let now = to_millis(self.now());
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.error(e))?;
        tx.execute(
            "INSERT INTO deployments(service, version, strategy, operator, state, token, \
             started_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?6)",
            params![
                d.service,
                d.version,
                d.strategy,
                d.operator,
                d.token.map(|t| t as i64),
                now
            ],
        )
        .map_err(|e| self.error(e))?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO journal(deployment, at, state, note) VALUES (?1, ?2, 'pending', ?3)",
            params![
                id,
                now,
                format!("deploy {} {} with {}", d.service, d.version, d.strategy)
            ],
        )
        .map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(id as u64)
    }

    /// Apply one change to deployment `id` and append it to the journal, in one transaction.
    pub fn record(&self, id: u64, change: &JournalChange) -> Result<(), StoreError> {
        let now = to_millis(self.now());
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.error(e))?;
        let id = id as i64;
        let note = match change {
            JournalChange::State(s) => {
                tx.execute(
                    "UPDATE deployments SET state = ?1, updated_at = ?2 WHERE id = ?3",
                    params![s.as_str(), now, id],
                )
                .map_err(|e| self.error(e))?;
                format!("state {s}")
            }
            JournalChange::Previous(v) => {
                tx.execute(
                    "UPDATE deployments SET previous = ?1, updated_at = ?2 WHERE id = ?3",
                    params![v, now, id],
                )
                .map_err(|e| self.error(e))?;
                format!("stable on the hosts: {v}")
            }
            JournalChange::Step {
                step,
                of,
                canary_percent,
            } => {
                tx.execute(
                    "UPDATE deployments SET step = ?1, steps = ?2, canary_percent = ?3, \
                     updated_at = ?4 WHERE id = ?5",
                    params![step, of, canary_percent, now, id],
                )
                .map_err(|e| self.error(e))?;
                format!("step {step}/{of}: canary to {canary_percent} %")
            }
            JournalChange::Split(p) => {
                tx.execute(
                    "UPDATE deployments SET canary_percent = ?1, updated_at = ?2 WHERE id = ?3",
                    params![p, now, id],
                )
                .map_err(|e| self.error(e))?;
                format!("canary to {p} %")
            }
            // Notes carry error text read from hosts: stored without control characters.
            JournalChange::Note(n) => crate::sanitize::text(n),
        };
        let n = tx
            .execute(
                "INSERT INTO journal(deployment, at, state, step, canary_percent, note) \
                 SELECT id, ?2, state, step, canary_percent, ?3 FROM deployments WHERE id = ?1",
                params![id, now, note],
            )
            .map_err(|e| self.error(e))?;
        if n == 0 {
            return Err(self.error(format!("no deployment #{id} in the journal")));
        }
        tx.commit().map_err(|e| self.error(e))
    }

    pub fn deployment(&self, id: u64) -> Result<Option<DeploymentRecord>, StoreError> {
        self.conn()
            .query_row(
                &format!("{SELECT} WHERE id = ?1"),
                [id as i64],
                row_to_record,
            )
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Deployments, newest first, optionally of one service.
    pub fn deployments(
        &self,
        service: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!(
                "{SELECT} WHERE (?1 IS NULL OR service = ?1) ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(|e| self.error(e))?;
        let rows = st
            .query_map(params![service, limit as i64], row_to_record)
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Deployments that never reached a terminal state, oldest first.
    pub fn in_flight(&self) -> Result<Vec<DeploymentRecord>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!(
                "{SELECT} WHERE state NOT IN ('succeeded', 'failed', 'rolled-back', 'aborted') \
                 ORDER BY id"
            ))
            .map_err(|e| self.error(e))?;
        let rows = st.query_map([], row_to_record).map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// The journal of one deployment, in order.
    pub fn journal(&self, id: u64) -> Result<Vec<JournalEntry>, StoreError> {
        self.journal_after(id, 0)
    }

    /// The entries of deployment `id` after sequence number `seq`, in order.
    pub fn journal_after(&self, id: u64, seq: u64) -> Result<Vec<JournalEntry>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT seq, deployment, at, state, step, canary_percent, note FROM journal \
                 WHERE deployment = ?1 AND seq > ?2 ORDER BY seq",
            )
            .map_err(|e| self.error(e))?;
        let rows = st
            .query_map([id as i64, seq as i64], |r| {
                Ok(JournalEntry {
                    seq: r.get::<_, i64>(0)? as u64,
                    deployment: r.get::<_, i64>(1)? as u64,
                    at: from_millis(r.get(2)?),
                    state: parse_state(&r.get::<_, String>(3)?),
                    step: r.get::<_, Option<i64>>(4)?.map(|v| v as u32),
                    canary_percent: r.get::<_, Option<i64>>(5)?.map(|v| v.clamp(0, 100) as u8),
                    note: r.get(6)?,
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(service: &str) -> NewDeployment {
        NewDeployment {
            service: service.into(),
            version: "1.2.0".into(),
            strategy: "canary-auto".into(),
            operator: "alice".into(),
            token: Some(7),
        }
    }

    #[test]
    fn ids_are_durable_and_monotonic() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path())
            .unwrap()
            .begin_deployment(&new("demo"))
            .unwrap();
        let b = Store::open(dir.path())
            .unwrap()
            .begin_deployment(&new("demo"))
            .unwrap();
        assert!(b > a);
    }

    #[test]
    fn changes_update_the_row_and_append_to_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let id = s.begin_deployment(&new("demo")).unwrap();
        s.record(id, &JournalChange::State(DeploymentState::Validating))
            .unwrap();
        s.record(id, &JournalChange::Previous("1.0.0".into()))
            .unwrap();
        s.record(id, &JournalChange::State(DeploymentState::Progressing))
            .unwrap();
        s.record(
            id,
            &JournalChange::Step {
                step: 2,
                of: 3,
                canary_percent: 40,
            },
        )
        .unwrap();
        let d = s.deployment(id).unwrap().unwrap();
        assert_eq!(d.state, DeploymentState::Progressing);
        assert_eq!(d.previous.as_deref(), Some("1.0.0"));
        assert_eq!(
            (d.step, d.steps, d.canary_percent),
            (Some(2), Some(3), Some(40))
        );
        assert_eq!(s.in_flight().unwrap().len(), 1);
        let j = s.journal(id).unwrap();
        assert_eq!(j.len(), 5);
        assert_eq!(j[4].note, "step 2/3: canary to 40 %");
        assert_eq!(j[4].canary_percent, Some(40));
        s.record(id, &JournalChange::State(DeploymentState::RolledBack))
            .unwrap();
        assert!(s.in_flight().unwrap().is_empty());
        assert_eq!(s.deployments(Some("demo"), 10).unwrap().len(), 1);
        assert!(s.deployments(Some("api"), 10).unwrap().is_empty());
    }

    #[test]
    fn a_change_to_an_unknown_deployment_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.record(42, &JournalChange::Note("x".into())).is_err());
    }
}
