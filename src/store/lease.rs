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

/// The start time of a live process; `None` for a zombie (`Z`) or a dead one (`X`, `x`): a
/// holder killed with `kill -9` whose parent has not reaped it yet is dead all the same.
fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses; fields resume after the
    // last ')'. Field 3 (the state) is the first after it, so field 22 is the 20th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
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
#[path = "lease_tests.rs"]
mod tests;
