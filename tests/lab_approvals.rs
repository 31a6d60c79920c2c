//! Approvals through the CLI against the local lab: a headless deploy to production waits
//! before its first traffic step; four-eyes and the approver list refuse the wrong approvers;
//! bob's approval lets it finish; a rejection and an expiry end it with traffic untouched; the
//! audit trail verifies and lists every decision.
//!
//! The config variant puts the lab's hosts in production (approvers alice and bob, four-eyes),
//! without the weekend blackout, with a store directory of its own.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn production_config(name: &str, timeout: &str) -> PathBuf {
    let text = std::fs::read_to_string(mechanics_config()).expect("read the mechanics config");
    let store = std::env::temp_dir().join(format!("sluice-appr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let text = text
        .lines()
        .filter(|l| !l.contains("environments: [production]"))
        .map(|l| {
            if l.starts_with("store:") {
                format!("store: {{ kind: local, path: {} }}\n", store.display())
            } else if l.trim_start().starts_with("production:") {
                format!(
                    "  production: {{ approval: required, approvers: [alice, bob], four_eyes: true, approval_timeout: {timeout} }}\n"
                )
            } else {
                format!("{}\n", l.replace("environment: staging", "environment: production"))
            }
        })
        .collect::<String>()
        .replace(
            "strategies:\n",
            "strategies:\n  bg-fast: { kind: blue-green, verify: 2s, keep: 3s }\n  rolling-fast: { kind: rolling, batch: 1, bake: 1s }\n",
        );
    let p = std::env::temp_dir().join(format!("sluice-appr-{name}-{}.yaml", std::process::id()));
    std::fs::write(&p, text).expect("write the config variant");
    p
}

fn as_operator(cfg: &Path, who: &str, args: &[&str]) -> std::process::Output {
    run(sluice(cfg).env("SLUICE_OPERATOR", who).args(args))
}

fn untouched() {
    for h in HOSTS {
        assert_eq!(weights(h), (100, 0), "{h}: no traffic moved while waiting");
    }
}

fn approval_id(d: &mut Deploy) -> String {
    let asked = d.until("approval-requested");
    assert_eq!(asked["environment"], "production");
    assert_eq!(asked["requested_by"], "test");
    assert!(asked["risk"].is_string(), "the risk is shown: {asked}");
    asked["id"].as_u64().expect("an approval id").to_string()
}

#[test]
fn production_waits_for_a_second_listed_approver_then_finishes() {
    let _lab = lab();
    let cfg = production_config("approve", "10m");
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "canary-fast"],
    );
    let id = approval_id(&mut d);
    // The canary runs, without traffic, and the deployment is listed as waiting.
    std::thread::sleep(std::time::Duration::from_secs(2));
    untouched();
    let out = as_operator(&cfg, "bob", &["approvals", "--json"]);
    let pending: serde_json::Value = serde_json::from_slice(&out.stdout).expect("approvals JSON");
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "{pending}");
    assert_eq!(pending[0]["service"], "demo");

    // Four-eyes: whoever started it may not approve it.
    let out = as_operator(&cfg, "test", &["approve", &id]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("four-eyes"));
    // Not on the approver list.
    let out = as_operator(&cfg, "mallory", &["approve", &id]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("alice, bob"));
    untouched();

    let out = as_operator(&cfg, "bob", &["approve", &id, "--reason", "looks good"]);
    assert!(out.status.success());
    let decided = d.until("approval-decided");
    assert_eq!(decided["decision"], "approved");
    assert_eq!(decided["by"], "bob");
    let (code, _) = d.finish();
    assert_eq!(code, Some(0), "the approved deploy finishes");
    assert_baseline("1.1.0");

    let out = run(sluice(&cfg).args(["audit", "--verify"]));
    assert!(out.status.success(), "the audit chain verifies");
    let out = run(sluice(&cfg).args(["audit", "--json"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("approval-requested"), "{text}");
    assert!(text.contains("approval-approved"), "{text}");
}

#[test]
fn a_rejection_ends_the_deploy_with_traffic_untouched() {
    let _lab = lab();
    let cfg = production_config("reject", "10m");
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "canary-fast"],
    );
    let id = approval_id(&mut d);
    let out = as_operator(&cfg, "alice", &["reject", &id]);
    assert_eq!(out.status.code(), Some(2), "a rejection needs a reason");
    let out = as_operator(
        &cfg,
        "alice",
        &["reject", &id, "--reason", "not during the sale"],
    );
    assert!(out.status.success());
    let (code, events) = d.finish();
    assert_eq!(code, Some(1));
    let failed = events
        .iter()
        .find(|e| e["event"] == "failed")
        .expect("a failed event");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("rejected by alice: not during the sale")),
        "{failed}"
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "state" && e["to"] == "aborted"));
    assert_baseline("1.0.0");
    let out = run(sluice(&cfg).args(["audit", "--json"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("approval-rejected"));
    assert!(run(sluice(&cfg).args(["audit", "--verify"]))
        .status
        .success());
}

#[test]
fn an_undecided_approval_expires_and_the_deploy_ends() {
    let _lab = lab();
    let cfg = production_config("expire", "3s");
    let d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "canary-fast"],
    );
    let started = std::time::Instant::now();
    let (code, events) = d.finish();
    assert_eq!(code, Some(1));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "it ended, not hung"
    );
    let failed = events
        .iter()
        .find(|e| e["event"] == "failed")
        .expect("a failed event");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("approval expired")),
        "{failed}"
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "approval-decided" && e["decision"] == "expired"));
    assert_baseline("1.0.0");
    let out = run(sluice(&cfg).args(["approvals"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no pending approvals"));
    let out = run(sluice(&cfg).args(["audit", "--json"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("approval-expired"));
    assert!(run(sluice(&cfg).args(["audit", "--verify"]))
        .status
        .success());
}

/// High risk outside production: `policy.risk.approval: low` makes every deploy ask, in
/// staging too; four-eyes applies to such approvals; a rollback ends the wait.
#[test]
fn risk_policy_asks_for_approval_in_staging_and_a_rollback_ends_the_wait() {
    let _lab = lab();
    let text = std::fs::read_to_string(mechanics_config()).expect("read the mechanics config");
    let store = std::env::temp_dir().join(format!("sluice-appr-risk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("store:") {
                format!("store: {{ kind: local, path: {} }}\n", store.display())
            } else if l.trim_start().starts_with("risk:") {
                "  risk: { approval: low, refuse: never }\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let cfg = std::env::temp_dir().join(format!("sluice-appr-risk-{}.yaml", std::process::id()));
    std::fs::write(&cfg, text).expect("write the config variant");

    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "canary-fast"],
    );
    let asked = d.until("approval-requested");
    assert_eq!(asked["environment"], "staging");
    let id = asked["id"].as_u64().unwrap().to_string();
    let out = as_operator(&cfg, "test", &["approve", &id]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "four-eyes applies to risk approvals"
    );
    untouched();
    let out = run(sluice(&cfg).env("SLUICE_OPERATOR", "carol").args([
        "rollback",
        "demo",
        "--reason",
        "not today",
    ]));
    assert!(out.status.success());
    let (code, _) = d.finish();
    assert_eq!(code, Some(1));
    assert_baseline("1.0.0");
    let out = as_operator(&cfg, "carol", &["approvals"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no pending approvals"),
        "the ended deployment's approval expired with it"
    );
}

/// Where the event named `name` is in `events`.
fn index_of(events: &[serde_json::Value], name: &str) -> Option<usize> {
    events.iter().position(|e| e["event"] == name)
}

#[test]
fn blue_green_waits_before_its_switch_and_rolling_before_its_first_batch() {
    let _lab = lab();
    let cfg = production_config("strategies", "10m");
    // Blue/green: approved, then verified and switched.
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "bg-fast"],
    );
    let id = approval_id(&mut d);
    assert_eq!(d.seen.last().unwrap()["stage"], "switch");
    untouched();
    assert!(as_operator(&cfg, "alice", &["approve", &id])
        .status
        .success());
    let (code, events) = d.finish();
    assert_eq!(code, Some(0));
    let decided = index_of(&events, "approval-decided").expect("decided");
    let switched = index_of(&events, "traffic-switched").expect("switched");
    assert!(decided < switched, "the switch comes after the approval");
    assert_baseline("1.1.0");
    drop(_lab);

    // Rolling (the lab is back at 1.0.0): rejected before its first batch; nothing moved.
    let _lab = lab();
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "rolling-fast"],
    );
    let id = approval_id(&mut d);
    assert_eq!(d.seen.last().unwrap()["stage"], "first batch");
    assert!(
        as_operator(&cfg, "bob", &["reject", &id, "--reason", "wait"])
            .status
            .success()
    );
    let (code, events) = d.finish();
    assert_eq!(code, Some(1));
    assert!(
        index_of(&events, "batch-started").is_none(),
        "no batch started"
    );
    assert_baseline("1.0.0");
}
