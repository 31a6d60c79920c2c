//! A canary carrying traffic is judged in every state, not only while a step bakes (issue 11):
//! paused for a decision (a manual canary, `finally: pause`), paused by an operator mid-bake,
//! and after a take-over of a canary nobody watched. Real load through every lab host's nginx,
//! the demo canary broken at run time; each breach must roll back by itself after exactly
//! `failure_limit` failed judgements. A headless deploy stays at a pause, judging, until a
//! `promote` from another shell ends it; `--exit-on-pause` leaves the canary UNWATCHED, which
//! `status` shows and exits 3 for.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::engine::{engine, until, until_the_end};
use common::load::{knob, Load};
use common::*;
use sluice::analysis::Verdict;
use sluice::domain::TrackName;
use sluice::domain::{DeploymentState, Version};
use sluice::engine::{Command, EngineHandle, EventKind};

const FAILURE_LIMIT: usize = 2;

/// The lab with a fast judge (1 s interval, 5 s window), two failed judgements in a row to
/// roll back, its own store, and strategies that stop for a decision.
fn paused_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(lab_config())
        .unwrap()
        .replace(
            "store: { kind: local, path: /var/lib/sluice-lab/state }",
            &format!("store: {{ kind: local, path: {} }}", dir.display()),
        )
        .replace("  interval: 10s", "  interval: 1s")
        .replace("  window: 1m", "  window: 5s")
        .replace("  min_requests: 50", "  min_requests: 20")
        .replace(
            "  on_inconclusive: pause",
            &format!("  on_inconclusive: pause\n  failure_limit: {FAILURE_LIMIT}"),
        )
        .replace(
            "strategies:\n",
            "strategies:\n  steps-then-pause: { kind: canary, steps: [10, 40, 70], bake: 3s, finally: pause }\n  \
             long-bake: { kind: canary, steps: [10, 40], bake: 60s, finally: promote }\n",
        );
    let p = dir.join("paused.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn breaks_the_canary() {
    knob(8082, "error_rate=0.5");
}

/// Failed canary judgements before the rollback started, and the rollback's reason.
fn fails_before_rollback(events: &[serde_json::Value]) -> (usize, String) {
    let start = events
        .iter()
        .position(|e| e["event"] == "rollback-started")
        .expect("a rollback started");
    let since_healthy = events[..start]
        .iter()
        .rev()
        .take_while(|e| {
            !(e["event"] == "analysis" && e["track"] == "canary" && e["verdict"] == "pass")
        })
        .filter(|e| e["event"] == "analysis" && e["track"] == "canary" && e["verdict"] == "fail")
        .count();
    let reason = events[start]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (since_healthy, reason)
}

fn assert_rolled_back_by_the_judge(events: &[serde_json::Value]) {
    let (fails, reason) = fails_before_rollback(events);
    assert!(reason.starts_with("analysis of the canary"), "{reason}");
    assert_eq!(
        fails, FAILURE_LIMIT,
        "rolled back after failure_limit failed judgements"
    );
    assert!(events.iter().any(|e| e["event"] == "rolled-back"));
    assert_baseline("1.0.0");
}

#[test]
fn headless_manual_canary_paused_at_10_that_breaks_rolls_back_by_itself() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = paused_config(dir.path());
    let _load = Load::start(120);
    let mut d = Deploy::staying(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-manual"],
    );
    assert_eq!(d.until("awaiting-decision")["canary_percent"], 10);
    // Healthy while paused: it is judged (pass), and the deploy does not walk away.
    while d.until("analysis")["track"] != "canary" {}
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "deploy stays at the pause"
    );
    breaks_the_canary();
    let (code, events) = d.finish();
    assert_eq!(code, Some(1), "rolled back");
    assert_rolled_back_by_the_judge(&events);
}

#[test]
fn headless_deploy_stays_at_the_pause_and_a_promote_from_another_shell_ends_it() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = paused_config(dir.path());
    let _load = Load::start(120);
    let mut d = Deploy::staying(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-manual"],
    );
    d.until("awaiting-decision");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "deploy stays at the pause"
    );
    // The deploy holds the lease: the other shell's promote is carried out by it.
    let weight = run(sluice(&cfg).args(["weight", "demo", "30"]));
    assert_eq!(weight.status.code(), Some(0), "weight through the holder");
    assert!(
        String::from_utf8_lossy(&weight.stdout).contains("driven by"),
        "asked the holder"
    );
    for h in HOSTS {
        assert_eq!(weights(h), (70, 30), "{h}");
    }
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "a weight change is no decision"
    );
    let promote = run(sluice(&cfg).args(["promote", "demo"]));
    assert_eq!(promote.status.code(), Some(0), "promote through the holder");
    let (code, events) = d.finish();
    assert_eq!(code, Some(0), "the deploy ends with the promote's outcome");
    assert!(events.iter().any(|e| e["event"] == "promoted"));
    assert_baseline("1.2.0");
}

#[test]
fn exit_on_pause_leaves_it_unwatched_and_a_take_over_judges_and_rolls_it_back() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = paused_config(dir.path());
    let _load = Load::start(120);
    let (code, _) = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-manual"],
    )
    .finish();
    assert_eq!(code, Some(3), "--exit-on-pause");
    let status = run(sluice(&cfg).args(["status", "demo"]));
    assert_eq!(
        status.status.code(),
        Some(3),
        "status exits 3 for an unwatched canary"
    );
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("demo: UNWATCHED"), "{text}");
    assert!(text.contains("sluice take-over demo"), "{text}");
    let json = run(sluice(&cfg).args(["status", "demo", "--json"]));
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["unwatched"] == true),
        "{rows}"
    );

    // The console's take-over: the same engine command `t` sends.
    rt().block_on(async {
        let (handle, mut rx) = engine(&cfg);
        handle
            .send(Command::TakeOver {
                service: "demo".into(),
            })
            .await
            .expect("take-over starts");
        until(&mut rx, 30, |k| {
            matches!(k, EventKind::AwaitingDecision { canary_percent: 10 })
        })
        .await
        .expect("watched at 10 %");
        let watched = run(sluice(&cfg).args(["status", "demo"]));
        assert_eq!(watched.status.code(), Some(0), "watched now");
        breaks_the_canary();
        let events = until_the_end(&mut rx, 60).await;
        assert_engine_rolled_back_by_the_judge(&events);
    });
    let after = run(sluice(&cfg).args(["status", "demo"]));
    assert_eq!(after.status.code(), Some(0));
}

#[test]
fn a_canary_paused_at_70_after_its_steps_that_breaks_rolls_back_by_itself() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = paused_config(dir.path());
    let _load = Load::start(120);
    rt().block_on(async {
        let (handle, mut rx) = engine(&cfg);
        deploy(&handle, "steps-then-pause").await;
        until(&mut rx, 90, |k| {
            matches!(k, EventKind::AwaitingDecision { canary_percent: 70 })
        })
        .await
        .expect("paused at 70 % after the last step");
        breaks_the_canary();
        let events = until_the_end(&mut rx, 60).await;
        assert_engine_rolled_back_by_the_judge(&events);
    });
}

#[test]
fn a_canary_paused_by_its_operator_mid_bake_that_breaks_rolls_back_by_itself() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = paused_config(dir.path());
    let _load = Load::start(120);
    rt().block_on(async {
        let (handle, mut rx) = engine(&cfg);
        deploy(&handle, "long-bake").await;
        until(&mut rx, 60, |k| {
            matches!(
                k,
                EventKind::StepReached {
                    canary_percent: 10,
                    ..
                }
            )
        })
        .await
        .expect("step 1");
        handle
            .send(Command::Pause {
                service: "demo".into(),
            })
            .await
            .expect("pause");
        until(&mut rx, 10, |k| {
            matches!(
                k,
                EventKind::State {
                    to: DeploymentState::Paused,
                    ..
                }
            )
        })
        .await
        .expect("paused");
        breaks_the_canary();
        let events = until_the_end(&mut rx, 60).await;
        assert_engine_rolled_back_by_the_judge(&events);
    });
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn deploy(handle: &EngineHandle, strategy: &str) {
    handle
        .send(Command::Deploy {
            service: "demo".into(),
            version: Version::parse("1.2.0").unwrap(),
            strategy: Some(strategy.into()),
            operator: "test".into(),
            override_reason: None,
        })
        .await
        .expect("deploy starts");
}

fn assert_engine_rolled_back_by_the_judge(events: &[EventKind]) {
    let start = events
        .iter()
        .position(|k| matches!(k, EventKind::RollbackStarted { .. }))
        .expect("a rollback started");
    let EventKind::RollbackStarted { reason } = &events[start] else {
        unreachable!()
    };
    assert!(reason.starts_with("analysis of the canary"), "{reason}");
    let fails = events[..start]
        .iter()
        .rev()
        .take_while(|k| {
            !matches!(
                k,
                EventKind::Analysis {
                    track: TrackName::Canary,
                    verdict: Verdict::Pass,
                    ..
                }
            )
        })
        .filter(|k| {
            matches!(
                k,
                EventKind::Analysis {
                    track: TrackName::Canary,
                    verdict: Verdict::Fail,
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        fails, FAILURE_LIMIT,
        "rolled back after failure_limit failed judgements"
    );
    assert!(matches!(
        events.last(),
        Some(EventKind::State {
            to: DeploymentState::RolledBack,
            ..
        })
    ));
    assert_baseline("1.0.0");
}
