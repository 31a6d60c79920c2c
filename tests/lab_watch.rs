//! The post-promotion watch on the lab: after a promote the new stable is judged for
//! `analysis.watch`; a healthy one stays, a failing one is reverted to the previous version.

mod common;

use std::path::{Path, PathBuf};

use common::load::{knob, Load};
use common::*;

/// The lab config (nginx-log provider, watch 10s) with a fast analysis loop and a strategy
/// that promotes after two steps.
fn watched_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(lab_config())
        .unwrap()
        .replace("  interval: 10s", "  interval: 1s")
        .replace("  window: 1m", "  window: 5s")
        .replace("  min_requests: 50", "  min_requests: 20")
        .replace(
            "strategies:\n",
            "strategies:\n  canary-judged: { kind: canary, steps: [50], bake: 6s, finally: promote }\n",
        );
    assert!(
        text.contains("watch: 10s"),
        "config/lab.yaml sets analysis.watch: 10s"
    );
    let p = dir.join("watched.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn deploy(cfg: &Path) -> Deploy {
    Deploy::start(
        cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-judged"],
    )
}

#[test]
fn a_healthy_new_stable_passes_its_watch() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = watched_config(dir.path());
    let _load = Load::start(60);
    let (code, events) = deploy(&cfg).finish();
    assert_eq!(code, Some(0));
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    let promoted = kinds
        .iter()
        .position(|k| *k == "promoted")
        .expect("promoted");
    let watching = kinds
        .iter()
        .position(|k| *k == "watching")
        .expect("watching");
    let passed = kinds
        .iter()
        .position(|k| *k == "watch-passed")
        .expect("watch-passed");
    let succeeded = events
        .iter()
        .position(|e| e["event"] == "state" && e["to"] == "succeeded")
        .expect("succeeded");
    assert!(
        promoted < watching && watching < passed && passed < succeeded,
        "{kinds:?}"
    );
    assert!(events
        .iter()
        .skip(watching)
        .any(|e| e["event"] == "analysis" && e["track"] == "stable" && e["verdict"] == "pass"));
    assert_baseline("1.2.0");
}

#[test]
fn a_new_stable_failing_during_its_watch_is_reverted_to_the_previous_version() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = watched_config(dir.path());
    let _load = Load::start(90);
    let mut d = deploy(&cfg);
    d.until("watching");
    // The promoted 1.2.0 now serves as stable, on :8081.
    knob(8081, "error_rate=0.5");
    let failed = d.until("watch-failed");
    assert_eq!(failed["version"], "1.2.0");
    assert_eq!(failed["previous"], "1.0.0");
    let reason = failed["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("analysis of the new stable: FAIL"),
        "{reason}"
    );
    let (code, events) = d.finish();
    assert_eq!(code, Some(1), "a reverted deployment is not a success");
    assert!(events
        .iter()
        .any(|e| e["event"] == "state" && e["to"] == "rolled-back"));
    assert!(events
        .iter()
        .any(|e| e["event"] == "rolled-back" && e["reason"].as_str() == Some(&reason)));
    let judged = events
        .iter()
        .find(|e| e["event"] == "analysis" && e["track"] == "stable" && e["verdict"] == "fail")
        .expect("the failing judgement of the new stable");
    assert!(judged["error_rate"].as_f64().unwrap() > 0.02, "{judged}");
    assert_eq!(judged["provider"], "nginx-log");
    // Stable recreated at the previous version, health-checked, all traffic there.
    assert_baseline("1.0.0");
}

#[test]
fn sluice_promote_watches_too_and_reverts_a_failing_stable() {
    use std::io::BufRead;
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = watched_config(dir.path());
    let _load = Load::start(90);
    // A manual canary: the headless deploy leaves it running for a decision.
    let (code, _) = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-manual"],
    )
    .finish();
    assert_eq!(code, Some(3));
    let mut child = sluice(&cfg)
        .args(["promote", "demo", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        seen.push(v.clone());
        if v["event"] == "watching" {
            break;
        }
    }
    assert!(seen.iter().any(|e| e["event"] == "promoted"), "{seen:#?}");
    knob(8081, "error_rate=0.5");
    for line in lines {
        seen.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "a reverted promotion is not a success"
    );
    let failed = seen
        .iter()
        .find(|e| e["event"] == "watch-failed")
        .expect("watch-failed");
    assert_eq!(failed["previous"], "1.0.0");
    assert!(seen.iter().any(|e| e["event"] == "rolled-back"));
    assert_baseline("1.0.0");
}
