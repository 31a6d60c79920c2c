//! Issue 13, fault 11: where a CLI command logs, and that logging can never make it fail.
//! `sluice history` needs only the local store, so these run on any machine.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const LAB: &str = include_str!("../config/lab.yaml");

/// The lab's configuration with its store in `store`.
fn config(dir: &Path, store: &Path) -> std::path::PathBuf {
    let text = LAB.replace(
        "store: { kind: local, path: /var/lib/sluice-lab/state }",
        &format!("store: {{ kind: local, path: {} }}", store.display()),
    );
    assert_ne!(
        text, LAB,
        "config/lab.yaml's store line moved; update this test"
    );
    let f = dir.join("sluice.yaml");
    std::fs::write(&f, text).unwrap();
    f
}

fn history(cfg: &Path, tmpdir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["history", "--config"])
        .arg(cfg)
        .env("TMPDIR", tmpdir)
        .env_remove("SLUICE_LOG_DIR")
        .output()
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_command_logs_to_the_store_directory_privately() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store = dir.path().join("state");
    let out = history(&config(dir.path(), &store), tmp.path());
    assert!(out.status.success(), "{out:?}");
    assert!(
        !tmp.path().join("sluice.log").exists(),
        "the log went to $TMPDIR"
    );
    assert_eq!(mode(&store), 0o700);
    assert_eq!(mode(&store.join("sluice.log")), 0o600);
    assert_eq!(mode(&store.join("sluice.db")), 0o600);
}

#[test]
fn a_log_that_cannot_be_opened_is_a_warning_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store = dir.path().join("state");
    std::fs::create_dir(&store).unwrap();
    // Somebody else's `sluice.log` in the way (here a directory; a foreign user's file fails
    // the same way).
    std::fs::create_dir(store.join("sluice.log")).unwrap();
    std::fs::create_dir(tmp.path().join("sluice.log")).unwrap();
    let out = history(&config(dir.path(), &store), tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{out:?}");
    assert!(
        stderr.contains("going on without a log file"),
        "the operator is told: {stderr}"
    );
}
