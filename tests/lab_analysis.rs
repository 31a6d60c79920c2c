//! Live analysis against the lab: real load through nginx, the demo canary broken at run time,
//! and the rollout rolling back by itself — or pausing when there is nothing to judge.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::load::Load;
use common::*;

/// The lab config with a fast analysis loop and a strategy that promotes after two steps.
fn judged_config(dir: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(lab_config())
        .unwrap()
        .replace("  interval: 10s", "  interval: 1s")
        .replace("  window: 1m", "  window: 5s")
        .replace("  min_requests: 50", "  min_requests: 20")
        .replace(
            "strategies:\n",
            "strategies:\n  canary-judged: { kind: canary, steps: [20, 50], bake: 12s, finally: promote }\n",
        );
    let p = dir.join("judged.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn knob(query: &str) {
    for h in HOSTS {
        let ok = Command::new("curl")
            .args(["-fsS", "-X", "POST", "-o", "/dev/null"])
            .arg(format!("http://{}:8082/knobs?{query}", host_ip(h)))
            .status()
            .unwrap();
        assert!(ok.success(), "setting {query} on {h}'s canary");
    }
}

fn breach_rolls_back(query: &str, metric_check: impl Fn(&serde_json::Value) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = judged_config(dir.path());
    let _load = Load::start(60);
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-judged"],
    );
    let ev = d.until("step-reached");
    assert_eq!(ev["canary_percent"], 20);
    knob(query);
    let rb = d.until("rollback-started");
    let reason = rb["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("analysis of the canary: FAIL"), "{reason}");
    let (code, events) = d.finish();
    assert_eq!(code, Some(1));
    assert!(events
        .iter()
        .any(|e| e["event"] == "state" && e["to"] == "rolled-back"));
    let failed = events
        .iter()
        .find(|e| e["event"] == "analysis" && e["track"] == "canary" && e["verdict"] == "fail")
        .expect("a recorded failing judgement");
    assert!(failed["requests"].as_u64().unwrap() >= 20, "{failed}");
    assert_eq!(failed["provider"], "nginx-log");
    assert!(metric_check(failed), "{failed}");
    assert_baseline("1.0.0");
}

#[test]
fn canary_error_rate_past_the_limit_rolls_back_by_itself() {
    let _lab = lab();
    breach_rolls_back("error_rate=0.5", |e| {
        e["error_rate"].as_f64().unwrap() > 0.02
    });
}

#[test]
fn canary_p99_past_one_second_rolls_back_by_itself() {
    let _lab = lab();
    breach_rolls_back("latency_ms=1500", |e| {
        e["p99_ms"].as_f64().unwrap() > 1000.0
    });
}

#[test]
fn a_healthy_canary_under_load_is_promoted() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = judged_config(dir.path());
    let _load = Load::start(60);
    let (code, events) = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-judged"],
    )
    .finish();
    assert_eq!(code, Some(0), "a healthy canary should pass");
    assert!(events
        .iter()
        .any(|e| e["event"] == "analysis" && e["track"] == "canary" && e["verdict"] == "pass"));
    assert_baseline("1.2.0");
}

#[test]
fn no_traffic_is_inconclusive_and_pauses_instead_of_promoting() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = judged_config(dir.path());
    let (code, events) = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-judged"],
    )
    .finish();
    assert_eq!(code, Some(3), "paused for a decision, not promoted");
    assert!(events.iter().any(|e| e["event"] == "analysis"
        && e["track"] == "canary"
        && e["verdict"] == "inconclusive"));
    assert!(!events.iter().any(|e| e["event"] == "promoted"));
    for h in HOSTS {
        assert_eq!(weights(h), (80, 20), "{h} stays at the first step");
    }
    let out = run(sluice(&cfg).args(["rollback", "demo"]));
    assert!(out.status.success());
    assert_baseline("1.0.0");
}
