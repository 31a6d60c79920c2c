//! Approvals: a deployment that needs a human's yes waits on a row here; `sluice approve` /
//! `reject` (from any process) decide it, and the waiting rollout polls it. Deciding is one
//! `UPDATE … WHERE decision IS NULL`, so two approvers racing cannot both decide, and every
//! decision (expiry included) is written to the audit trail.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{from_millis, to_millis, NewAudit, Store, StoreError};
use crate::domain::approval::ApprovalDecision;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewApproval {
    pub deployment: u64,
    pub service: String,
    pub environment: String,
    /// Which stage waits: "first traffic step", "switch", "first batch".
    pub stage: String,
    pub requested_by: String,
    pub timeout: std::time::Duration,
    pub risk_score: Option<u8>,
    pub risk_level: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub id: u64,
    pub deployment: u64,
    pub service: String,
    pub environment: String,
    pub stage: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub risk_score: Option<u8>,
    pub risk_level: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision: Option<ApprovalDecision>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("no approval #{0}; `sluice approvals` lists the pending ones")]
    Unknown(u64),
    #[error("approval #{id} was already {decision}{by}", by = by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default())]
    Decided {
        id: u64,
        decision: ApprovalDecision,
        by: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

const SELECT: &str = "SELECT id, deployment, service, environment, stage, requested_by, \
                      requested_at, expires_at, risk_score, risk_level, decided_by, decided_at, \
                      decision, reason FROM approvals";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Approval> {
    Ok(Approval {
        id: r.get::<_, i64>(0)? as u64,
        deployment: r.get::<_, i64>(1)? as u64,
        service: r.get(2)?,
        environment: r.get(3)?,
        stage: r.get(4)?,
        requested_by: r.get(5)?,
        requested_at: from_millis(r.get(6)?),
        expires_at: from_millis(r.get(7)?),
        risk_score: r.get::<_, Option<i64>>(8)?.map(|v| v.clamp(0, 100) as u8),
        risk_level: r.get(9)?,
        decided_by: r.get(10)?,
        decided_at: r.get::<_, Option<i64>>(11)?.map(from_millis),
        decision: r
            .get::<_, Option<String>>(12)?
            .and_then(|s| ApprovalDecision::parse(&s)),
        reason: r.get(13)?,
    })
}

impl Store {
    /// Ask for an approval; it expires `timeout` from now.
    pub fn request_approval(&self, a: &NewApproval) -> Result<Approval, StoreError> {
        let now = self.now();
        let expires = now + chrono::Duration::from_std(a.timeout).unwrap_or(chrono::Duration::MAX);
        let id = {
            let conn = self.conn();
            conn.execute(
                "INSERT INTO approvals(deployment, service, environment, stage, requested_by, \
                 requested_at, expires_at, risk_score, risk_level) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    a.deployment as i64,
                    a.service,
                    a.environment,
                    a.stage,
                    a.requested_by,
                    to_millis(now),
                    to_millis(expires),
                    a.risk_score.map(i64::from),
                    a.risk_level
                ],
            )
            .map_err(|e| self.error(e))?;
            conn.last_insert_rowid() as u64
        };
        self.audit(&NewAudit {
            actor: a.requested_by.clone(),
            action: "approval-requested".into(),
            service: a.service.clone(),
            from: String::new(),
            to: a.environment.clone(),
            result: "pending".into(),
            detail: format!(
                "approval #{id} for deployment #{} ({}), expires {}",
                a.deployment,
                a.stage,
                expires.to_rfc3339()
            ),
        })?;
        self.approval(id)?
            .ok_or_else(|| self.error(format!("approval #{id} vanished")))
    }

    pub fn approval(&self, id: u64) -> Result<Option<Approval>, StoreError> {
        self.conn()
            .query_row(&format!("{SELECT} WHERE id = ?1"), [id as i64], row)
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Undecided approvals, oldest first (expired ones are marked so first).
    pub fn pending_approvals(&self) -> Result<Vec<Approval>, StoreError> {
        self.expire_due()?;
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!("{SELECT} WHERE decision IS NULL ORDER BY id"))
            .map_err(|e| self.error(e))?;
        let rows = st.query_map([], row).map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Decide a pending approval. Refuses one already decided (or expired by now).
    pub fn decide_approval(
        &self,
        id: u64,
        decision: ApprovalDecision,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Approval, DecideError> {
        let a = self.approval(id)?.ok_or(DecideError::Unknown(id))?;
        if a.decision.is_none() && crate::domain::approval::expired(a.expires_at, self.now()) {
            self.expire_due()?;
        }
        if self.set_decision(id, decision, by, reason)? {
            let a = self.approval(id)?.ok_or(DecideError::Unknown(id))?;
            self.audit_decision(&a)?;
            Ok(a)
        } else {
            let a = self.approval(id)?.ok_or(DecideError::Unknown(id))?;
            Err(DecideError::Decided {
                id,
                decision: a.decision.unwrap_or(ApprovalDecision::Expired),
                by: a.decided_by,
            })
        }
    }

    /// Mark every pending approval past its expiry as expired (and audit each); returns them.
    pub fn expire_due(&self) -> Result<Vec<Approval>, StoreError> {
        let now = to_millis(self.now());
        let due: Vec<u64> = {
            let conn = self.conn();
            let mut st = conn
                .prepare("SELECT id FROM approvals WHERE decision IS NULL AND expires_at <= ?1")
                .map_err(|e| self.error(e))?;
            let rows = st
                .query_map([now], |r| r.get::<_, i64>(0))
                .map_err(|e| self.error(e))?;
            rows.map(|r| r.map(|v| v as u64))
                .collect::<Result<_, _>>()
                .map_err(|e| self.error(e))?
        };
        let mut out = Vec::new();
        for id in due {
            if self.set_decision(
                id,
                ApprovalDecision::Expired,
                "sluice",
                Some("approval expired"),
            )? {
                if let Some(a) = self.approval(id)? {
                    self.audit_decision(&a)?;
                    out.push(a);
                }
            }
        }
        Ok(out)
    }

    /// The deployment ended for another reason: its pending approvals expire with `reason`.
    pub fn expire_approvals_of(&self, deployment: u64, reason: &str) -> Result<(), StoreError> {
        let ids: Vec<u64> = {
            let conn = self.conn();
            let mut st = conn
                .prepare("SELECT id FROM approvals WHERE decision IS NULL AND deployment = ?1")
                .map_err(|e| self.error(e))?;
            let rows = st
                .query_map([deployment as i64], |r| r.get::<_, i64>(0))
                .map_err(|e| self.error(e))?;
            rows.map(|r| r.map(|v| v as u64))
                .collect::<Result<_, _>>()
                .map_err(|e| self.error(e))?
        };
        for id in ids {
            if self.set_decision(id, ApprovalDecision::Expired, "sluice", Some(reason))? {
                if let Some(a) = self.approval(id)? {
                    self.audit_decision(&a)?;
                }
            }
        }
        Ok(())
    }

    /// True when this call decided it (it was pending).
    fn set_decision(
        &self,
        id: u64,
        decision: ApprovalDecision,
        by: &str,
        reason: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE approvals SET decision = ?1, decided_by = ?2, decided_at = ?3, \
                 reason = ?4 WHERE id = ?5 AND decision IS NULL",
                params![
                    decision.as_str(),
                    by,
                    to_millis(self.now()),
                    reason,
                    id as i64
                ],
            )
            .map_err(|e| self.error(e))?;
        Ok(n == 1)
    }

    fn audit_decision(&self, a: &Approval) -> Result<(), StoreError> {
        let decision = a.decision.unwrap_or(ApprovalDecision::Expired);
        self.audit(&NewAudit {
            actor: a.decided_by.clone().unwrap_or_default(),
            action: format!("approval-{decision}"),
            service: a.service.clone(),
            from: "pending".into(),
            to: decision.to_string(),
            result: decision.to_string(),
            detail: format!(
                "approval #{} for deployment #{} ({}, {}) asked by {}{}",
                a.id,
                a.deployment,
                a.environment,
                a.stage,
                a.requested_by,
                a.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{store, TestClock, TestProbe};
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn ask(s: &Store, timeout: Duration) -> Approval {
        s.request_approval(&NewApproval {
            deployment: 7,
            service: "demo".into(),
            environment: "production".into(),
            stage: "first traffic step".into(),
            requested_by: "alice".into(),
            timeout,
            risk_score: Some(61),
            risk_level: Some("high".into()),
        })
        .unwrap()
    }

    #[test]
    fn a_request_is_pending_until_decided_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), TestClock::new(), Arc::new(TestProbe::default()));
        let a = ask(&s, Duration::from_secs(60));
        assert_eq!(s.pending_approvals().unwrap(), vec![a.clone()]);
        assert_eq!(a.risk_score, Some(61));
        let d = s
            .decide_approval(a.id, ApprovalDecision::Approved, "bob", None)
            .unwrap();
        assert_eq!(d.decision, Some(ApprovalDecision::Approved));
        assert_eq!(d.decided_by.as_deref(), Some("bob"));
        assert!(s.pending_approvals().unwrap().is_empty());
        let e = s
            .decide_approval(a.id, ApprovalDecision::Rejected, "carol", Some("no"))
            .unwrap_err();
        assert!(e.to_string().contains("already approved by bob"), "{e}");
        assert!(matches!(
            s.decide_approval(99, ApprovalDecision::Approved, "bob", None),
            Err(DecideError::Unknown(99))
        ));
    }

    #[test]
    fn a_pending_approval_expires_on_the_recorded_clock_and_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let s = store(dir.path(), clock.clone(), Arc::new(TestProbe::default()));
        let a = ask(&s, Duration::from_secs(3));
        clock.advance(chrono::Duration::seconds(2));
        assert!(s.expire_due().unwrap().is_empty());
        clock.advance(chrono::Duration::seconds(1));
        let gone = s.expire_due().unwrap();
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].decision, Some(ApprovalDecision::Expired));
        let e = s
            .decide_approval(a.id, ApprovalDecision::Approved, "bob", None)
            .unwrap_err();
        assert!(e.to_string().contains("already expired"), "{e}");
        let actions: Vec<String> = s
            .audit_records(Some("demo"))
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(actions, ["approval-requested", "approval-expired"]);
        assert_eq!(s.verify_audit().unwrap(), 2);
    }

    #[test]
    fn deciding_after_the_expiry_instant_is_refused_even_before_a_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let s = store(dir.path(), clock.clone(), Arc::new(TestProbe::default()));
        let a = ask(&s, Duration::from_secs(3));
        clock.advance(chrono::Duration::seconds(5));
        assert!(s
            .decide_approval(a.id, ApprovalDecision::Approved, "bob", None)
            .is_err());
    }

    #[test]
    fn a_deployment_that_ends_expires_its_pending_approval() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), TestClock::new(), Arc::new(TestProbe::default()));
        let a = ask(&s, Duration::from_secs(60));
        s.expire_approvals_of(7, "deployment rolled back").unwrap();
        let a = s.approval(a.id).unwrap().unwrap();
        assert_eq!(a.decision, Some(ApprovalDecision::Expired));
        assert_eq!(a.reason.as_deref(), Some("deployment rolled back"));
    }
}
