//! The Prometheus provider against a real Prometheus (the lab's, started by lab/up.sh via
//! lab/prometheus.sh, scraping the demo's tracks each second): a breaking canary rolls back by
//! itself, a healthy one is not failed, and Prometheus gone mid-rollout is inconclusive (the
//! rollout pauses), never a pass.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::load::{knob, Load};
use common::*;

const PROM: &str = "http://127.0.0.1:9190";

/// Fails with instructions when the lab's Prometheus does not answer.
fn prometheus_ready() {
    let ready = Command::new("curl")
        .args(["-fsS", "-m", "2", "-o", "/dev/null"])
        .arg(format!("{PROM}/-/ready"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ready,
        "the lab's Prometheus does not answer at {PROM}; start it as root with \
         `bash lab/prometheus.sh start` (lab/up.sh and lab/test.sh do)"
    );
}

fn prometheus_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(lab_config()).unwrap();
    let at = text
        .find("\nanalysis:")
        .expect("config/lab.yaml has an analysis section");
    let text = format!(
        "{}\nanalysis:\n  provider: prometheus\n  prometheus: {{ url: \"{PROM}\", timeout: 2s, max_age: 10s }}\n  \
         interval: 1s\n  window: 5s\n  error_rate_max: 0.02\n  p99_max: 1s\n  min_requests: 20\n  \
         on_inconclusive: pause\n  watch: 0s\n",
        &text[..at]
    )
    .replace(
        "strategies:\n",
        "strategies:\n  canary-judged: { kind: canary, steps: [20, 50], bake: 12s, finally: promote }\n",
    );
    let p = dir.join("prometheus.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Starts the lab's Prometheus again on drop, so later tests find it whatever happened.
struct RestartPrometheus;

impl Drop for RestartPrometheus {
    fn drop(&mut self) {
        let out = Command::new("bash")
            .arg(root().join("lab/prometheus.sh"))
            .arg("start")
            .output()
            .expect("run lab/prometheus.sh start");
        assert!(
            out.status.success() || std::thread::panicking(),
            "restarting the lab's Prometheus failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn deploy(cfg: &Path) -> Deploy {
    Deploy::start(
        cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-judged"],
    )
}

#[test]
fn canary_error_rate_raised_rolls_back_on_prometheus_figures() {
    let _lab = lab();
    prometheus_ready();
    let dir = tempfile::tempdir().unwrap();
    let cfg = prometheus_config(dir.path());
    let _load = Load::start(60);
    let mut d = deploy(&cfg);
    assert_eq!(d.until("step-reached")["canary_percent"], 20);
    knob(8082, "error_rate=0.5");
    let rb = d.until("rollback-started");
    let reason = rb["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("analysis of the canary: FAIL"), "{reason}");
    let (code, events) = d.finish();
    assert_eq!(code, Some(1));
    let failed = events
        .iter()
        .find(|e| e["event"] == "analysis" && e["track"] == "canary" && e["verdict"] == "fail")
        .expect("a recorded failing judgement");
    assert_eq!(failed["provider"], "prometheus");
    assert!(failed["error_rate"].as_f64().unwrap() > 0.02, "{failed}");
    assert!(failed["requests"].as_u64().unwrap() >= 20, "{failed}");
    assert_eq!(failed["window_secs"], 5);
    let check = failed["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "error_rate")
        .expect("the error-rate check");
    assert_eq!(check["threshold"], 0.02);
    assert_eq!(check["ok"], false);
    assert_baseline("1.0.0");
}

#[test]
fn a_healthy_canary_is_not_failed_by_prometheus() {
    let _lab = lab();
    prometheus_ready();
    let dir = tempfile::tempdir().unwrap();
    let cfg = prometheus_config(dir.path());
    let _load = Load::start(60);
    let (code, events) = deploy(&cfg).finish();
    assert_eq!(code, Some(0), "a healthy canary should be promoted");
    let canary: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "analysis" && e["track"] == "canary")
        .collect();
    assert!(canary.iter().any(|e| e["verdict"] == "pass"));
    assert!(
        !canary.iter().any(|e| e["verdict"] == "fail"),
        "{canary:#?}"
    );
    assert!(canary.iter().all(|e| e["provider"] == "prometheus"));
    assert_baseline("1.2.0");
}

#[test]
fn prometheus_stopped_mid_rollout_is_inconclusive_and_pauses() {
    let _lab = lab();
    prometheus_ready();
    let dir = tempfile::tempdir().unwrap();
    let cfg = prometheus_config(dir.path());
    let _load = Load::start(60);
    let mut d = deploy(&cfg);
    assert_eq!(d.until("step-reached")["canary_percent"], 20);
    let restart = RestartPrometheus;
    let out = Command::new("bash")
        .arg(root().join("lab/prometheus.sh"))
        .arg("stop")
        .output()
        .unwrap();
    assert!(out.status.success(), "stopping Prometheus");
    let (code, events) = d.finish();
    drop(restart);
    assert_eq!(code, Some(3), "paused for a decision, not promoted");
    assert!(!events.iter().any(|e| e["event"] == "promoted"));
    let last = events
        .iter()
        .rev()
        .find(|e| e["event"] == "analysis" && e["track"] == "canary")
        .expect("canary judgements");
    assert_eq!(last["verdict"], "inconclusive", "{last}");
    let summary = last["summary"].as_str().unwrap();
    assert!(summary.contains("cannot reach Prometheus"), "{summary}");
    for h in HOSTS {
        assert_eq!(weights(h), (80, 20), "{h} stays at the first step");
    }
    // Prometheus is back for the tests after this one.
    std::thread::sleep(Duration::from_millis(200));
    prometheus_ready();
    let out = run(sluice(&cfg).args(["rollback", "demo"]));
    assert!(out.status.success());
    assert_baseline("1.0.0");
}
