//! Service leases with fencing tokens.
//!
//! One lease per service. Taking it issues a fencing token from a table with AUTOINCREMENT, so
//! tokens only grow and are never reused, not even after a lease is broken or its row deleted.
//! A lease lasts [`TTL`] and its holder renews it every [`HEARTBEAT`] while it works. A holder
//! on this machine whose process is gone (or whose pid now belongs to another process) is
//! treated as expired at once; a holder elsewhere expires with its TTL.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::{from_millis, to_millis, Store, StoreError};

pub const TTL: std::time::Duration = std::time::Duration::from_secs(30);
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// Who holds (or wants) a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub operator: String,
    pub machine: String,
    pub pid: u32,
    /// The process's start time (clock ticks since boot, from /proc), so a reused pid is not
    /// mistaken for the holder.
    pub pid_start: Option<u64>,
    /// What for, e.g. `deploy demo 1.2.0`.
    pub purpose: String,
}

impl Holder {
    /// This process, acting for `operator`.
    pub fn current(operator: &str, purpose: impl Into<String>) -> Holder {
        let pid = std::process::id();
        Holder {
            operator: operator.to_string(),
            machine: machine_name(),
            pid,
            pid_start: ProcProbe.start_time(pid),
            purpose: purpose.into(),
        }
    }

    fn same_process(&self, other: &Holder) -> bool {
        self.machine == other.machine && self.pid == other.pid && self.pid_start == other.pid_start
    }

    pub fn describe(&self) -> String {
        format!(
            "{} on {} (pid {}) for \"{}\"",
            self.operator, self.machine, self.pid, self.purpose
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub service: String,
    pub token: u64,
    pub holder: Holder,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Lease {
    pub fn describe(&self) -> String {
        format!(
            "{} since {} (token {}, expires {})",
            self.holder.describe(),
            self.acquired_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.token,
            self.expires_at.format("%H:%M:%S UTC"),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Liveness {
    Live,
    /// The TTL passed without a renewal.
    Expired,
    /// The holder ran on this machine and its process is gone.
    HolderDead,
}

/// Whether a lease still binds anyone. Pure: the caller supplies the clock, this machine's
/// name and what the process table says about the holder's pid.
pub fn liveness(
    lease: &Lease,
    now: DateTime<Utc>,
    this_machine: &str,
    holder_start: Option<u64>,
) -> Liveness {
    if lease.holder.machine == this_machine {
        let alive = match (holder_start, lease.holder.pid_start) {
            (None, _) => false,
            (Some(now_start), Some(then)) => now_start == then,
            (Some(_), None) => true,
        };
        if !alive {
            return Liveness::HolderDead;
        }
    }
    if now >= lease.expires_at {
        Liveness::Expired
    } else {
        Liveness::Live
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("service {} is locked by {}; wait for it, or if that sluice is gone: `sluice lock break {} --reason TEXT`", .0.service, .0.describe(), .0.service)]
    Held(Box<Lease>),
    #[error("lease on service {service} (token {token}) was lost{}; this sluice stops acting on it", match .now { Some(l) => format!(" to {}", l.describe()), None => " (broken)".to_string() })]
    Lost {
        service: String,
        token: u64,
        now: Option<Box<Lease>>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What acquiring did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquired {
    pub lease: Lease,
    /// A live lease of someone else that this acquisition took over.
    pub took_over: Option<Lease>,
}

/// Reads a process's start time; `None` when no such process runs.
pub trait ProcessProbe: Send + Sync {
    fn start_time(&self, pid: u32) -> Option<u64>;
}

/// Field 22 of /proc/PID/stat.
pub struct ProcProbe;

impl ProcessProbe for ProcProbe {
    fn start_time(&self, pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        parse_start_time(&stat)
    }
}

fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses; fields resume after the
    // last ')'. Field 3 is the first after it, so field 22 is the 20th.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-machine".to_string())
}

fn row_to_lease(r: &rusqlite::Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease {
        service: r.get(0)?,
        token: r.get::<_, i64>(1)? as u64,
        holder: Holder {
            operator: r.get(2)?,
            machine: r.get(3)?,
            pid: r.get::<_, i64>(4)? as u32,
            pid_start: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
            purpose: r.get(6)?,
        },
        acquired_at: from_millis(r.get(7)?),
        expires_at: from_millis(r.get(8)?),
    })
}

const SELECT: &str = "SELECT service, token, operator, machine, pid, pid_start, purpose, \
                      acquired_at, expires_at FROM leases";

impl Store {
    fn liveness_of(&self, lease: &Lease) -> Liveness {
        let start = if lease.holder.machine == machine_name() {
            self.probe.start_time(lease.holder.pid)
        } else {
            None
        };
        liveness(lease, self.now(), &machine_name(), start)
    }

    /// Take the lease on `service`. Refused with [`LeaseError::Held`] while someone else holds
    /// a live one, unless `takeover` (an operator's rollback: moving to stable must always be
    /// possible), which replaces it and reports whom it replaced. Always issues a new token.
    pub fn acquire(
        &self,
        service: &str,
        holder: &Holder,
        takeover: bool,
    ) -> Result<Acquired, LeaseError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let existing = tx
            .query_row(
                &format!("{SELECT} WHERE service = ?1"),
                [service],
                row_to_lease,
            )
            .optional()
            .map_err(|e| self.error(e))?;
        let mut took_over = None;
        if let Some(l) = existing {
            let live = self.liveness_of(&l) == Liveness::Live;
            if live && !l.holder.same_process(holder) {
                if !takeover {
                    return Err(LeaseError::Held(Box::new(l)));
                }
                took_over = Some(l);
            }
        }
        let now = self.now();
        tx.execute(
            "INSERT INTO tokens(service, issued_at) VALUES (?1, ?2)",
            params![service, to_millis(now)],
        )
        .map_err(|e| self.error(e))?;
        let token = tx.last_insert_rowid() as u64;
        let lease = Lease {
            service: service.to_string(),
            token,
            holder: holder.clone(),
            acquired_at: now,
            expires_at: now + ttl(),
        };
        tx.execute(
            "INSERT OR REPLACE INTO leases(service, token, operator, machine, pid, pid_start, \
             purpose, acquired_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                service,
                token as i64,
                holder.operator,
                holder.machine,
                holder.pid as i64,
                holder.pid_start.map(|v| v as i64),
                holder.purpose,
                to_millis(lease.acquired_at),
                to_millis(lease.expires_at),
            ],
        )
        .map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(Acquired { lease, took_over })
    }

    /// Extend the lease held with `token` by another TTL. Fails with [`LeaseError::Lost`] when
    /// the lease now carries another token (taken over) or is gone (broken).
    pub fn renew(&self, service: &str, token: u64) -> Result<Lease, LeaseError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let current = tx
            .query_row(
                &format!("{SELECT} WHERE service = ?1"),
                [service],
                row_to_lease,
            )
            .optional()
            .map_err(|e| self.error(e))?;
        match current {
            Some(mut l) if l.token == token => {
                l.expires_at = self.now() + ttl();
                tx.execute(
                    "UPDATE leases SET expires_at = ?1 WHERE service = ?2 AND token = ?3",
                    params![to_millis(l.expires_at), service, token as i64],
                )
                .map_err(|e| self.error(e))?;
                tx.commit().map_err(|e| self.error(e))?;
                Ok(l)
            }
            other => Err(LeaseError::Lost {
                service: service.to_string(),
                token,
                now: other.map(Box::new),
            }),
        }
    }

    /// Give the lease up (only if it still carries `token`).
    pub fn release(&self, service: &str, token: u64) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM leases WHERE service = ?1 AND token = ?2",
                params![service, token as i64],
            )
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Remove the lease whoever holds it; returns what was removed.
    pub fn break_lease(&self, service: &str) -> Result<Option<Lease>, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.error(e))?;
        let l = tx
            .query_row(
                &format!("{SELECT} WHERE service = ?1"),
                [service],
                row_to_lease,
            )
            .optional()
            .map_err(|e| self.error(e))?;
        tx.execute("DELETE FROM leases WHERE service = ?1", [service])
            .map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(l)
    }

    /// Every lease on record with whether it still binds.
    pub fn leases(&self) -> Result<Vec<(Lease, Liveness)>, StoreError> {
        let list: Vec<Lease> = {
            let conn = self.conn();
            let mut st = conn
                .prepare(&format!("{SELECT} ORDER BY service"))
                .map_err(|e| self.error(e))?;
            let rows = st.query_map([], row_to_lease).map_err(|e| self.error(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.error(e))?
        };
        Ok(list
            .into_iter()
            .map(|l| {
                let live = self.liveness_of(&l);
                (l, live)
            })
            .collect())
    }

    /// The highest token ever issued for `service` (0 when none).
    pub fn last_token(&self, service: &str) -> Result<u64, StoreError> {
        self.conn()
            .query_row(
                "SELECT coalesce(max(token), 0) FROM tokens WHERE service = ?1",
                [service],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v as u64)
            .map_err(|e| self.error(e))
    }
}

fn ttl() -> chrono::Duration {
    chrono::Duration::from_std(TTL).unwrap_or(chrono::Duration::seconds(30))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{store, TestClock, TestProbe};
    use super::*;
    use std::sync::Arc;

    fn holder(op: &str, pid: u32) -> Holder {
        Holder {
            operator: op.into(),
            machine: machine_name(),
            pid,
            pid_start: Some(1000 + pid as u64),
            purpose: format!("deploy demo by {op}"),
        }
    }

    fn setup() -> (tempfile::TempDir, Arc<TestClock>, Arc<TestProbe>, Store) {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let probe = Arc::new(TestProbe::default());
        probe.0.lock().unwrap().insert(1, 1001);
        probe.0.lock().unwrap().insert(2, 1002);
        let s = store(dir.path(), clock.clone(), probe.clone());
        (dir, clock, probe, s)
    }

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let (_d, _c, _p, s) = setup();
        let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
        let e = s.acquire("demo", &holder("bob", 2), false).unwrap_err();
        let LeaseError::Held(l) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(l.token, a.lease.token);
        let msg = e.to_string();
        assert!(
            msg.contains("alice") && msg.contains("deploy demo by alice"),
            "{msg}"
        );
        assert!(msg.contains("sluice lock break demo"), "{msg}");
    }

    #[test]
    fn a_lease_expires_after_its_ttl_unless_renewed() {
        let (_d, clock, _p, s) = setup();
        let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
        clock.advance(chrono::Duration::seconds(20));
        s.renew("demo", a.lease.token).unwrap();
        clock.advance(chrono::Duration::seconds(20));
        // 40 s after acquiring, but renewed at 20 s: still held.
        assert!(s.acquire("demo", &holder("bob", 2), false).is_err());
        clock.advance(chrono::Duration::seconds(11));
        let b = s.acquire("demo", &holder("bob", 2), false).unwrap();
        assert!(b.lease.token > a.lease.token);
        assert_eq!(b.took_over, None, "an expired lease is not a takeover");
        // The old holder's heartbeat now finds it lost, naming the new holder.
        let e = s.renew("demo", a.lease.token).unwrap_err();
        assert!(e.to_string().contains("bob"), "{e}");
    }

    #[test]
    fn a_dead_holder_on_this_machine_expires_at_once() {
        let (_d, _c, probe, s) = setup();
        s.acquire("demo", &holder("alice", 1), false).unwrap();
        probe.0.lock().unwrap().remove(&1);
        assert_eq!(s.leases().unwrap()[0].1, Liveness::HolderDead);
        s.acquire("demo", &holder("bob", 2), false).unwrap();
    }

    #[test]
    fn a_reused_pid_is_not_the_holder() {
        let (_d, _c, probe, s) = setup();
        s.acquire("demo", &holder("alice", 1), false).unwrap();
        probe.0.lock().unwrap().insert(1, 99_999); // same pid, another process
        s.acquire("demo", &holder("bob", 2), false).unwrap();
    }

    #[test]
    fn a_holder_elsewhere_is_judged_by_its_ttl_alone() {
        let l = Lease {
            service: "demo".into(),
            token: 1,
            holder: Holder {
                machine: "ci-runner-7".into(),
                ..holder("ci", 1)
            },
            acquired_at: DateTime::<Utc>::UNIX_EPOCH,
            expires_at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(30),
        };
        let t = |s| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(s);
        assert_eq!(liveness(&l, t(29), "laptop", None), Liveness::Live);
        assert_eq!(liveness(&l, t(30), "laptop", None), Liveness::Expired);
    }

    #[test]
    fn takeover_replaces_a_live_lease_with_a_higher_token() {
        let (_d, _c, _p, s) = setup();
        let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
        let b = s.acquire("demo", &holder("bob", 2), true).unwrap();
        assert!(b.lease.token > a.lease.token);
        assert_eq!(b.took_over.map(|l| l.token), Some(a.lease.token));
        assert!(matches!(
            s.renew("demo", a.lease.token),
            Err(LeaseError::Lost { .. })
        ));
    }

    #[test]
    fn tokens_are_never_reused_after_a_break() {
        let (_d, _c, _p, s) = setup();
        let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
        assert_eq!(
            s.break_lease("demo").unwrap().map(|l| l.token),
            Some(a.lease.token)
        );
        assert!(matches!(
            s.renew("demo", a.lease.token),
            Err(LeaseError::Lost { now: None, .. })
        ));
        let b = s.acquire("demo", &holder("bob", 2), false).unwrap();
        assert!(b.lease.token > a.lease.token);
        assert_eq!(s.last_token("demo").unwrap(), b.lease.token);
    }

    #[test]
    fn release_only_drops_ones_own_token() {
        let (_d, _c, _p, s) = setup();
        let a = s.acquire("demo", &holder("alice", 1), false).unwrap();
        let b = s.acquire("demo", &holder("bob", 2), true).unwrap();
        s.release("demo", a.lease.token).unwrap();
        assert_eq!(s.leases().unwrap()[0].0.token, b.lease.token);
        s.release("demo", b.lease.token).unwrap();
        assert!(s.leases().unwrap().is_empty());
    }

    #[test]
    fn start_time_is_field_22() {
        let stat = "1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 19";
        assert_eq!(parse_start_time(stat), Some(4242));
        let me = ProcProbe.start_time(std::process::id());
        assert!(me.is_some());
    }

    proptest::proptest! {
        // Every case opens a database and fsyncs each commit: fewer cases, still many orders.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Whatever mix of acquire, takeover, break, release and expiry happens, every token
        /// issued is higher than every token before it, per service and overall.
        #[test]
        fn tokens_only_grow(ops in proptest::collection::vec((0u8..5, 0u8..2), 1..40)) {
            let (_d, clock, _p, s) = setup();
            let mut last = 0u64;
            let services = ["demo", "api"];
            for (op, svc) in ops {
                let svc = services[svc as usize];
                match op {
                    0 | 1 => {
                        if let Ok(a) = s.acquire(svc, &holder("x", 1 + op as u32), op == 1) {
                            proptest::prop_assert!(a.lease.token > last);
                            last = a.lease.token;
                        }
                    }
                    2 => { s.break_lease(svc).unwrap(); }
                    3 => {
                        if let Some((l, _)) = s.leases().unwrap().into_iter().find(|(l, _)| l.service == svc) {
                            s.release(svc, l.token).unwrap();
                        }
                    }
                    _ => clock.advance(chrono::Duration::seconds(31)),
                }
            }
        }
    }
}
