//! Durable state in one SQLite file per store directory: service leases with fencing tokens,
//! the deployment journal and the hash-chained audit trail.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a committed transaction survives a
//! `kill -9` or a power cut and a crash never leaves a half-written database. Several sluice
//! processes (a console, a CI job) share one store; SQLite's locking serialises them and every
//! lease decision is one `BEGIN IMMEDIATE` transaction.

pub mod approvals;
pub mod audit;
pub mod controls;
mod history;
pub mod journal;
pub mod lease;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

pub use approvals::{Approval, DecideError, NewApproval};
pub use audit::{AuditBreak, AuditRecord, NewAudit};
pub use controls::{ControlAsk, ControlRequest, ControlState};
pub use journal::{DeploymentRecord, JournalChange, JournalEntry, NewDeployment};
pub use lease::{Holder, Lease, LeaseError, Liveness, ProcProbe, ProcessProbe};

/// The database file inside the store directory.
pub const DB_FILE: &str = "sluice.db";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state store {path}: {message}")]
pub struct StoreError {
    pub path: String,
    pub message: String,
}

/// Where "now" comes from; tests record their own.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: leases, tokens, journal, audit.
    r#"
    CREATE TABLE tokens (
        token     INTEGER PRIMARY KEY AUTOINCREMENT,
        service   TEXT NOT NULL,
        issued_at INTEGER NOT NULL
    );
    CREATE TABLE leases (
        service     TEXT PRIMARY KEY,
        token       INTEGER NOT NULL,
        operator    TEXT NOT NULL,
        machine     TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        pid_start   INTEGER,
        purpose     TEXT NOT NULL,
        acquired_at INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
    );
    CREATE TABLE deployments (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        service        TEXT NOT NULL,
        version        TEXT NOT NULL,
        previous       TEXT,
        strategy       TEXT NOT NULL,
        operator       TEXT NOT NULL,
        state          TEXT NOT NULL,
        step           INTEGER,
        steps          INTEGER,
        canary_percent INTEGER,
        token          INTEGER,
        started_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
    );
    CREATE INDEX deployments_service ON deployments(service, id);
    CREATE TABLE journal (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment     INTEGER NOT NULL REFERENCES deployments(id),
        at             INTEGER NOT NULL,
        state          TEXT NOT NULL,
        step           INTEGER,
        canary_percent INTEGER,
        note           TEXT NOT NULL
    );
    CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        service   TEXT NOT NULL,
        from_     TEXT NOT NULL,
        to_       TEXT NOT NULL,
        result    TEXT NOT NULL,
        detail    TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    "#,
    // 2: approvals (see approvals.rs).
    r#"
    CREATE TABLE approvals (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment   INTEGER NOT NULL,
        service      TEXT NOT NULL,
        environment  TEXT NOT NULL,
        stage        TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        risk_score   INTEGER,
        risk_level   TEXT,
        decided_by   TEXT,
        decided_at   INTEGER,
        decision     TEXT,
        reason       TEXT
    );
    CREATE INDEX approvals_pending ON approvals(decision, deployment);
    "#,
    // 3: requests to a rollout another process drives (see controls.rs).
    r#"
    CREATE TABLE controls (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        service      TEXT NOT NULL,
        deployment   INTEGER NOT NULL,
        kind         TEXT NOT NULL,
        value        INTEGER,
        requested_by TEXT NOT NULL,
        requested_at INTEGER NOT NULL,
        state        TEXT NOT NULL,
        outcome      TEXT
    );
    CREATE INDEX controls_pending ON controls(deployment, state);
    "#,
];

pub struct Store {
    conn: Mutex<Connection>,
    dir: PathBuf,
    clock: Arc<dyn Clock>,
    probe: Arc<dyn ProcessProbe>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

impl Store {
    /// Open (creating it and applying migrations when needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, Arc::new(SystemClock), Arc::new(ProcProbe))
    }

    /// The store the configuration names (`store: { kind: local, path }`).
    pub fn for_config(config: &crate::config::Config) -> Result<Store, StoreError> {
        match &config.store {
            crate::config::Store::Local { path } => Store::open(path),
            crate::config::Store::Redis { url } => Err(StoreError {
                path: url.clone(),
                message: "a redis store is not supported by this version; use \
                          `store: { kind: local, path: DIR }`"
                    .to_string(),
            }),
        }
    }

    pub fn open_with(
        dir: &Path,
        clock: Arc<dyn Clock>,
        probe: Arc<dyn ProcessProbe>,
    ) -> Result<Store, StoreError> {
        let err = |m: String| StoreError {
            path: dir.display().to_string(),
            message: m,
        };
        if let Err(e) = crate::local_files::private_dir(dir) {
            if !dir.is_dir() {
                return Err(err(format!("cannot create the directory: {e}")));
            }
            // Not ours to narrow (another owner): the store still works, and a rollback must.
            tracing::warn!(dir = %dir.display(), "cannot make the store directory 0700: {e}");
        }
        let file = dir.join(DB_FILE);
        // SQLite gives its WAL and shared-memory files the database file's mode: create the
        // database 0600 before SQLite does, and narrow the files an older sluice left.
        crate::local_files::private_append(&file)
            .map_err(|e| err(format!("cannot create {DB_FILE} as 0600: {e}")))?;
        for extra in ["-wal", "-shm"] {
            let p = dir.join(format!("{DB_FILE}{extra}"));
            if p.exists() {
                crate::local_files::narrow(&p, crate::local_files::FILE_MODE)
                    .map_err(|e| err(format!("cannot make {} 0600: {e}", p.display())))?;
            }
        }
        let mut conn = Connection::open(&file).map_err(|e| err(format!("cannot open: {e}")))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| err(e.to_string()))?;
        // Switching a new database to WAL and migrating it need it to themselves; another
        // sluice opening it at the same moment makes SQLite answer "busy" at once (the busy
        // timeout does not cover these), so retry for a while.
        retry_busy(|| {
            conn.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
            )
        })
        .map_err(|e| err(format!("cannot set WAL mode: {e}")))?;
        retry_busy(|| migrate(&mut conn))
            .map_err(|e| err(format!("schema migration failed: {e}")))?;
        Ok(Store {
            conn: Mutex::new(conn),
            dir: dir.to_path_buf(),
            clock,
            probe,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.dir.join(DB_FILE).display().to_string(),
            message: e.to_string(),
        }
    }
}

fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let mut attempt = 0;
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if attempt < 100
                    && matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let done: usize = tx.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()
}

pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A clock tests move by hand.
    pub struct TestClock(pub Mutex<DateTime<Utc>>);

    impl TestClock {
        pub fn new() -> Arc<TestClock> {
            Arc::new(TestClock(Mutex::new(
                Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
            )))
        }
        pub fn advance(&self, d: chrono::Duration) {
            let mut t = self.0.lock().unwrap();
            *t += d;
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    /// Processes tests declare alive: pid -> start time.
    #[derive(Default)]
    pub struct TestProbe(pub Mutex<std::collections::HashMap<u32, u64>>);

    impl ProcessProbe for TestProbe {
        fn start_time(&self, pid: u32) -> Option<u64> {
            self.0.lock().unwrap().get(&pid).copied()
        }
    }

    pub fn store(dir: &Path, clock: Arc<TestClock>, probe: Arc<TestProbe>) -> Store {
        Store::open_with(dir, clock, probe).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_twice_keeps_the_schema_and_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            let v: i64 = s
                .conn()
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(v, MIGRATIONS.len() as i64);
            s.conn()
                .execute("INSERT INTO tokens(service, issued_at) VALUES ('x', 0)", [])
                .unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let n: i64 = s
            .conn()
            .query_row("SELECT count(*) FROM tokens", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        let mode: String = s
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    /// Issue 13, fault 11: the store directory and its files took the umask (0755/0644).
    #[test]
    fn the_store_directory_and_its_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        {
            let s = Store::open(&dir).unwrap();
            s.audit(&audit::NewAudit {
                actor: "alice".into(),
                action: "rollback".into(),
                service: "demo".into(),
                from: String::new(),
                to: "stable".into(),
                result: "ok".into(),
                detail: "test".into(),
            })
            .unwrap();
        }
        assert_eq!(mode(&dir), 0o700);
        for f in ["sluice.db", "sluice.db-wal", "sluice.db-shm", "audit.head"] {
            let p = dir.join(f);
            if f == "sluice.db" || f == "audit.head" || p.exists() {
                assert_eq!(mode(&p), 0o600, "{f}");
            }
        }
        // A store an older sluice left readable is narrowed when opened.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(
            dir.join("sluice.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        Store::open(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&dir.join("sluice.db"))), (0o700, 0o600));
    }

    #[test]
    fn many_processes_opening_a_new_store_at_once_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let p = dir.path().to_path_buf();
                std::thread::spawn(move || Store::open(&p).map(|_| ()))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
    }

    #[test]
    fn an_unwritable_directory_is_named() {
        let e = Store::open(Path::new("/proc/sluice-no-such-dir")).unwrap_err();
        assert!(e.to_string().contains("/proc/sluice-no-such-dir"), "{e}");
    }
}
