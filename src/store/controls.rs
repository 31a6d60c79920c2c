//! Requests to a rollout that another process drives: `sluice promote` or `sluice weight` from
//! a second shell (or a console on the same store) cannot take the lease a live rollout holds,
//! so they leave a request here; the holder polls its service's requests, carries each out as
//! if its own operator had asked, and writes the outcome back. Every state change is one
//! `UPDATE … WHERE state = <expected>`, so a request is taken at most once and a requester that
//! gave up (the holder never answered) cannot have it carried out later.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{from_millis, to_millis, Store, StoreError};

/// What is asked of the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ControlAsk {
    Promote,
    Weight { canary_percent: u8 },
}

impl ControlAsk {
    fn encode(self) -> (&'static str, Option<i64>) {
        match self {
            ControlAsk::Promote => ("promote", None),
            ControlAsk::Weight { canary_percent } => ("weight", Some(i64::from(canary_percent))),
        }
    }

    fn decode(kind: &str, value: Option<i64>) -> Option<ControlAsk> {
        match (kind, value) {
            ("promote", _) => Some(ControlAsk::Promote),
            ("weight", Some(v)) if (0..=100).contains(&v) => Some(ControlAsk::Weight {
                canary_percent: v as u8,
            }),
            _ => None,
        }
    }

    pub fn describe(self) -> String {
        match self {
            ControlAsk::Promote => "promote".to_string(),
            ControlAsk::Weight { canary_percent } => {
                format!("set the canary to {canary_percent} %")
            }
        }
    }
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlState {
    /// Waiting for the holder to take it.
    Pending,
    /// The holder took it and is carrying it out.
    Taken,
    Done,
    Failed,
    /// Nobody took it in time; it will never be carried out.
    Abandoned,
}

impl ControlState {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlState::Pending => "pending",
            ControlState::Taken => "taken",
            ControlState::Done => "done",
            ControlState::Failed => "failed",
            ControlState::Abandoned => "abandoned",
        }
    }

    fn parse(s: &str) -> ControlState {
        match s {
            "pending" => ControlState::Pending,
            "taken" => ControlState::Taken,
            "done" => ControlState::Done,
            "failed" => ControlState::Failed,
            _ => ControlState::Abandoned,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            ControlState::Done | ControlState::Failed | ControlState::Abandoned
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlRequest {
    pub id: u64,
    pub service: String,
    pub deployment: u64,
    /// `None` when the row holds a kind this version does not know (it is failed unread).
    pub ask: Option<ControlAsk>,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub state: ControlState,
    pub outcome: Option<String>,
}

const SELECT: &str = "SELECT id, service, deployment, kind, value, requested_by, requested_at, \
                      state, outcome FROM controls";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ControlRequest> {
    let kind: String = r.get(3)?;
    Ok(ControlRequest {
        id: r.get::<_, i64>(0)? as u64,
        service: r.get(1)?,
        deployment: r.get::<_, i64>(2)? as u64,
        ask: ControlAsk::decode(&kind, r.get(4)?),
        requested_by: r.get(5)?,
        requested_at: from_millis(r.get(6)?),
        state: ControlState::parse(&r.get::<_, String>(7)?),
        outcome: r.get(8)?,
    })
}

impl Store {
    /// Leave `ask` for whoever drives `deployment` of `service`.
    pub fn request_control(
        &self,
        service: &str,
        deployment: u64,
        ask: ControlAsk,
        requested_by: &str,
    ) -> Result<ControlRequest, StoreError> {
        let now = self.now();
        let (kind, value) = ask.encode();
        let id = {
            let conn = self.conn();
            conn.execute(
                "INSERT INTO controls(service, deployment, kind, value, requested_by, \
                 requested_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
                params![
                    service,
                    deployment as i64,
                    kind,
                    value,
                    requested_by,
                    to_millis(now)
                ],
            )
            .map_err(|e| self.error(e))?;
            conn.last_insert_rowid() as u64
        };
        Ok(ControlRequest {
            id,
            service: service.to_string(),
            deployment,
            ask: Some(ask),
            requested_by: requested_by.to_string(),
            requested_at: now,
            state: ControlState::Pending,
            outcome: None,
        })
    }

    pub fn control_request(&self, id: u64) -> Result<Option<ControlRequest>, StoreError> {
        self.conn()
            .query_row(&format!("{SELECT} WHERE id = ?1"), [id as i64], row)
            .optional()
            .map_err(|e| self.error(e))
    }

    /// The pending requests for `deployment`, oldest first.
    pub fn pending_controls(&self, deployment: u64) -> Result<Vec<ControlRequest>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!(
                "{SELECT} WHERE deployment = ?1 AND state = 'pending' ORDER BY id"
            ))
            .map_err(|e| self.error(e))?;
        let rows = st
            .query_map([deployment as i64], row)
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Move request `id` from `from` to `to` (with an outcome); false when it was not in
    /// `from` any more (taken by someone else, or abandoned by its requester).
    pub fn move_control(
        &self,
        id: u64,
        from: ControlState,
        to: ControlState,
        outcome: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE controls SET state = ?1, outcome = coalesce(?2, outcome) \
                 WHERE id = ?3 AND state = ?4",
                params![to.as_str(), outcome, id as i64, from.as_str()],
            )
            .map_err(|e| self.error(e))?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{store, TestClock, TestProbe};

    #[test]
    fn a_request_is_taken_once_and_an_abandoned_one_never() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(
            dir.path(),
            TestClock::new(),
            std::sync::Arc::new(TestProbe::default()),
        );
        let a = s
            .request_control("demo", 7, ControlAsk::Promote, "bob")
            .unwrap();
        let b = s
            .request_control("demo", 7, ControlAsk::Weight { canary_percent: 30 }, "bob")
            .unwrap();
        assert_eq!(
            s.request_control("demo", 8, ControlAsk::Promote, "x")
                .unwrap()
                .id,
            b.id + 1
        );
        let pending = s.pending_controls(7).unwrap();
        assert_eq!(
            pending.iter().map(|c| c.ask).collect::<Vec<_>>(),
            vec![
                Some(ControlAsk::Promote),
                Some(ControlAsk::Weight { canary_percent: 30 })
            ]
        );
        assert!(s
            .move_control(a.id, ControlState::Pending, ControlState::Taken, None)
            .unwrap());
        assert!(!s
            .move_control(a.id, ControlState::Pending, ControlState::Taken, None)
            .unwrap());
        assert!(s
            .move_control(
                a.id,
                ControlState::Taken,
                ControlState::Done,
                Some("promoted")
            )
            .unwrap());
        let done = s.control_request(a.id).unwrap().unwrap();
        assert_eq!(done.state, ControlState::Done);
        assert_eq!(done.outcome.as_deref(), Some("promoted"));
        // The requester gives up first: the holder can no longer take it.
        assert!(s
            .move_control(
                b.id,
                ControlState::Pending,
                ControlState::Abandoned,
                Some("no answer")
            )
            .unwrap());
        assert!(!s
            .move_control(b.id, ControlState::Pending, ControlState::Taken, None)
            .unwrap());
        assert!(s.pending_controls(7).unwrap().is_empty());
    }

    #[test]
    fn an_unknown_kind_decodes_to_none() {
        assert_eq!(ControlAsk::decode("dance", None), None);
        assert_eq!(ControlAsk::decode("weight", Some(101)), None);
        assert_eq!(ControlAsk::decode("weight", None), None);
        assert_eq!(
            ControlAsk::decode("weight", Some(0)),
            Some(ControlAsk::Weight { canary_percent: 0 })
        );
    }
}
