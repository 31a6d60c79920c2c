//! The audit trail: append-only records, each chained to the previous by a SHA-256 over its
//! canonical fields and the previous hash. The head (last seq and hash) is also kept in
//! `audit.head`, written atomically, so that removing the newest records is detected as well.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{from_millis, to_millis, Store, StoreError};

pub const HEAD_FILE: &str = "audit.head";
/// The previous hash of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewAudit {
    pub actor: String,
    pub action: String,
    pub service: String,
    pub from: String,
    pub to: String,
    pub result: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub service: String,
    pub from: String,
    pub to: String,
    pub result: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditBreak {
    #[error("audit record #{seq} was altered: its hash does not match its contents")]
    Altered { seq: u64 },
    #[error("audit record #{seq} does not follow record #{prev}: a record before it was removed or altered")]
    Unlinked { seq: u64, prev: u64 },
    #[error(
        "audit records after #{last} are missing: the head file says the trail ends at #{head}"
    )]
    Truncated { last: u64, head: u64 },
    #[error("audit record #{seq} differs from the head file's hash for it")]
    HeadMismatch { seq: u64 },
    #[error("audit records run past the head file (#{head}) up to #{last}")]
    PastHead { head: u64, last: u64 },
    #[error("cannot read the audit trail: {0}")]
    Store(String),
}

/// The hash of a record: SHA-256 over its canonical fields (a JSON array, so no field can
/// bleed into the next) and the previous hash.
pub fn hash_of(seq: u64, at: DateTime<Utc>, r: &NewAudit, prev_hash: &str) -> String {
    let canonical = serde_json::json!([
        seq,
        at.to_rfc3339_opts(SecondsFormat::Millis, true),
        r.actor,
        r.action,
        r.service,
        r.from,
        r.to,
        r.result,
        r.detail,
        prev_hash
    ]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl AuditRecord {
    fn content(&self) -> NewAudit {
        NewAudit {
            actor: self.actor.clone(),
            action: self.action.clone(),
            service: self.service.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            result: self.result.clone(),
            detail: self.detail.clone(),
        }
    }
}

/// Check a whole trail (in seq order) against the head file's `(seq, hash)`. Pure. Returns the
/// number of records verified. A trail may run at most one record past the head: a crash
/// between the commit and the head write leaves exactly that.
pub fn verify_chain(
    records: &[AuditRecord],
    head: Option<(u64, String)>,
) -> Result<usize, AuditBreak> {
    let mut prev_hash = GENESIS.to_string();
    let mut prev_seq = 0;
    for r in records {
        if r.prev_hash != prev_hash || r.seq != prev_seq + 1 {
            return Err(AuditBreak::Unlinked {
                seq: r.seq,
                prev: prev_seq,
            });
        }
        if hash_of(r.seq, r.at, &r.content(), &r.prev_hash) != r.hash {
            return Err(AuditBreak::Altered { seq: r.seq });
        }
        prev_hash = r.hash.clone();
        prev_seq = r.seq;
    }
    let last = prev_seq;
    if let Some((head_seq, head_hash)) = head {
        if last < head_seq {
            return Err(AuditBreak::Truncated {
                last,
                head: head_seq,
            });
        }
        if last > head_seq + 1 {
            return Err(AuditBreak::PastHead {
                head: head_seq,
                last,
            });
        }
        if head_seq > 0 {
            let at_head = records.iter().find(|r| r.seq == head_seq);
            if at_head.map(|r| r.hash.as_str()) != Some(head_hash.as_str()) {
                return Err(AuditBreak::HeadMismatch { seq: head_seq });
            }
        }
    }
    Ok(records.len())
}

fn parse_head(text: &str) -> Option<(u64, String)> {
    let (seq, hash) = text.trim().split_once(' ')?;
    Some((seq.parse().ok()?, hash.to_string()))
}

impl Store {
    /// Append a record (and move the head file forward).
    pub fn audit(&self, r: &NewAudit) -> Result<AuditRecord, StoreError> {
        // The trail is permanent and printed by `sluice audit`: no control characters in it.
        let clean = |s: &str| crate::sanitize::text(s);
        let r = &NewAudit {
            actor: clean(&r.actor),
            action: clean(&r.action),
            service: clean(&r.service),
            from: clean(&r.from),
            to: clean(&r.to),
            result: clean(&r.result),
            detail: clean(&r.detail),
        };
        let at = from_millis(to_millis(self.now()));
        let rec = {
            let mut conn = self.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.error(e))?;
            let last: Option<(i64, String)> = tx
                .query_row(
                    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                    [],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(|e| self.error(e))?;
            let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS.to_string()));
            let seq = prev_seq as u64 + 1;
            let hash = hash_of(seq, at, r, &prev_hash);
            tx.execute(
                "INSERT INTO audit(seq, at, actor, action, service, from_, to_, result, detail, \
                 prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    seq as i64,
                    to_millis(at),
                    r.actor,
                    r.action,
                    r.service,
                    r.from,
                    r.to,
                    r.result,
                    r.detail,
                    prev_hash,
                    hash
                ],
            )
            .map_err(|e| self.error(e))?;
            // The head is written while the write lock is still held, so heads never go back.
            self.write_head(seq, &hash)?;
            tx.commit().map_err(|e| self.error(e))?;
            AuditRecord {
                seq,
                at,
                actor: r.actor.clone(),
                action: r.action.clone(),
                service: r.service.clone(),
                from: r.from.clone(),
                to: r.to.clone(),
                result: r.result.clone(),
                detail: r.detail.clone(),
                prev_hash,
                hash,
            }
        };
        Ok(rec)
    }

    fn write_head(&self, seq: u64, hash: &str) -> Result<(), StoreError> {
        let path = self.dir.join(HEAD_FILE);
        let tmp = self.dir.join(format!("{HEAD_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = crate::local_files::private_create(&tmp)?;
            writeln!(f, "{seq} {hash}")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| StoreError {
            path: path.display().to_string(),
            message: format!("cannot write the audit head: {e}"),
        })
    }

    /// Audit records in order, optionally of one service.
    pub fn audit_records(&self, service: Option<&str>) -> Result<Vec<AuditRecord>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT seq, at, actor, action, service, from_, to_, result, detail, prev_hash, \
                 hash FROM audit WHERE (?1 IS NULL OR service = ?1) ORDER BY seq",
            )
            .map_err(|e| self.error(e))?;
        let rows = st
            .query_map(params![service], |r| {
                Ok(AuditRecord {
                    seq: r.get::<_, i64>(0)? as u64,
                    at: from_millis(r.get(1)?),
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    service: r.get(4)?,
                    from: r.get(5)?,
                    to: r.get(6)?,
                    result: r.get(7)?,
                    detail: r.get(8)?,
                    prev_hash: r.get(9)?,
                    hash: r.get(10)?,
                })
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.error(e))
    }

    /// Verify the whole trail against the head file.
    pub fn verify_audit(&self) -> Result<usize, AuditBreak> {
        let records = self
            .audit_records(None)
            .map_err(|e| AuditBreak::Store(e.to_string()))?;
        let path = self.dir.join(HEAD_FILE);
        let head = match std::fs::read_to_string(&path) {
            Ok(t) => Some(parse_head(&t).ok_or_else(|| {
                AuditBreak::Store(format!("{} is not `SEQ HASH`", path.display()))
            })?),
            // No head yet is only fine for an empty trail.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if records.is_empty() {
                    None
                } else {
                    Some((0, GENESIS.to_string()))
                }
            }
            Err(e) => return Err(AuditBreak::Store(format!("{}: {e}", path.display()))),
        };
        verify_chain(&records, head)
    }

    #[cfg(test)]
    pub(crate) fn tamper(&self, sql: &str) {
        self.conn().execute_batch(sql).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(action: &str) -> NewAudit {
        NewAudit {
            actor: "alice".into(),
            action: action.into(),
            service: "demo".into(),
            from: "1.0.0".into(),
            to: "1.2.0".into(),
            result: "ok".into(),
            detail: String::new(),
        }
    }

    fn three() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for a in ["deploy-started", "weight", "deploy-ended"] {
            s.audit(&rec(a)).unwrap();
        }
        (dir, s)
    }

    #[test]
    fn an_intact_trail_verifies() {
        let (_d, s) = three();
        assert_eq!(s.verify_audit(), Ok(3));
        let r = s.audit_records(None).unwrap();
        assert_eq!(r[0].prev_hash, GENESIS);
        assert_eq!(r[1].prev_hash, r[0].hash);
    }

    #[test]
    fn an_edited_record_is_named() {
        let (_d, s) = three();
        s.tamper("UPDATE audit SET actor = 'mallory' WHERE seq = 2");
        assert_eq!(s.verify_audit(), Err(AuditBreak::Altered { seq: 2 }));
    }

    #[test]
    fn a_removed_record_in_the_middle_is_named() {
        let (_d, s) = three();
        s.tamper("DELETE FROM audit WHERE seq = 2");
        assert_eq!(
            s.verify_audit(),
            Err(AuditBreak::Unlinked { seq: 3, prev: 1 })
        );
    }

    #[test]
    fn removing_the_last_record_is_detected_by_the_head() {
        let (_d, s) = three();
        s.tamper("DELETE FROM audit WHERE seq = 3");
        assert_eq!(
            s.verify_audit(),
            Err(AuditBreak::Truncated { last: 2, head: 3 })
        );
    }

    #[test]
    fn a_rewritten_tail_is_detected_by_the_head() {
        let (_d, s) = three();
        // Re-chain a forged last record: the chain is consistent but the head disagrees.
        let r = &s.audit_records(None).unwrap()[1];
        let forged = rec("nothing-happened");
        let at = from_millis(0);
        let h = hash_of(3, at, &forged, &r.hash);
        s.tamper(&format!(
            "UPDATE audit SET action = 'nothing-happened', at = 0, hash = '{h}' WHERE seq = 3"
        ));
        assert_eq!(s.verify_audit(), Err(AuditBreak::HeadMismatch { seq: 3 }));
    }

    #[test]
    fn deleting_everything_is_detected_by_the_head() {
        let (_d, s) = three();
        s.tamper("DELETE FROM audit");
        assert_eq!(
            s.verify_audit(),
            Err(AuditBreak::Truncated { last: 0, head: 3 })
        );
    }

    #[test]
    fn the_hash_covers_every_field() {
        let at = from_millis(1_700_000_000_000);
        let base = hash_of(1, at, &rec("x"), GENESIS);
        let mut variants = vec![];
        for f in 0..7 {
            let mut r = rec("x");
            let field = [
                &mut r.actor,
                &mut r.action,
                &mut r.service,
                &mut r.from,
                &mut r.to,
                &mut r.result,
                &mut r.detail,
            ]
            .into_iter()
            .nth(f)
            .unwrap();
            field.push('!');
            variants.push(hash_of(1, at, &r, GENESIS));
        }
        variants.push(hash_of(2, at, &rec("x"), GENESIS));
        variants.push(hash_of(1, from_millis(1), &rec("x"), GENESIS));
        variants.push(hash_of(1, at, &rec("x"), &"1".repeat(64)));
        assert!(variants.iter().all(|v| *v != base));
    }
}
