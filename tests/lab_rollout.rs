//! End-to-end rollouts against the local lab: real sshd, nginx, docker-compose.

mod common;

use common::*;

#[test]
fn canary_auto_walks_every_step_then_promotes() {
    let _lab = lab();
    assert_baseline("1.0.0");
    let mut d = Deploy::start(
        &mechanics_config(),
        &["demo", "--version", "1.1.0", "--strategy", "canary-fast"],
    );
    for want in [10u32, 40, 70] {
        let ev = d.until("step-reached");
        assert_eq!(ev["canary_percent"], want);
        // While the step bakes, every host's file and containers are what the step says.
        for h in HOSTS {
            assert_eq!(weights(h), (100 - want, want), "{h} at step {want}");
            assert_eq!(
                canary_of(h),
                Some(("1.1.0".to_string(), true)),
                "{h} canary"
            );
            assert_eq!(
                stable_of(h),
                Some(("1.0.0".to_string(), true)),
                "{h} stable"
            );
        }
    }
    d.until("promoted");
    let (code, events) = d.finish();
    assert_eq!(code, Some(0), "deploy should succeed");
    assert!(events
        .iter()
        .any(|e| e["event"] == "state" && e["to"] == "succeeded"));
    assert_baseline("1.1.0");

    // `status` reads the same back from the hosts.
    let out = run(sluice(&mechanics_config()).args(["status", "demo", "--json"]));
    assert!(out.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        assert_eq!(r["stable_weight"], 100);
        assert_eq!(r["canary_weight"], 0);
        assert_eq!(r["stable"]["version"], "1.1.0");
    }
}

#[test]
fn interrupting_a_rollout_mid_bake_rolls_every_host_back() {
    let _lab = lab();
    let mut d = Deploy::start(&mechanics_config(), &["demo", "--version", "1.2.0"]);
    let ev = d.until("step-reached");
    assert_eq!(ev["canary_percent"], 10);
    // canary-auto bakes 30 s per step; interrupt it in the middle of the bake.
    let pid = d.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    d.until("traffic-on-stable");
    let (code, events) = d.finish();
    assert_eq!(code, Some(1), "a rolled-back deploy exits non-zero");
    assert!(events
        .iter()
        .any(|e| e["event"] == "state" && e["to"] == "rolled-back"));
    assert_baseline("1.0.0");
}

#[test]
fn rollback_command_returns_a_paused_canary_to_stable() {
    let _lab = lab();
    let out = run(sluice(&mechanics_config()).args([
        "deploy",
        "demo",
        "--version",
        "1.2.0",
        "--strategy",
        "canary-manual",
        "--yes",
        "--exit-on-pause",
    ]));
    assert_eq!(
        out.status.code(),
        Some(3),
        "a manual canary ends paused for a decision"
    );
    for h in HOSTS {
        assert_eq!(weights(h), (90, 10), "{h}");
    }
    let out = run(sluice(&mechanics_config()).args(["weight", "demo", "25"]));
    assert!(out.status.success());
    for h in HOSTS {
        assert_eq!(weights(h), (75, 25), "{h}");
    }
    let out = run(sluice(&mechanics_config()).args(["rollback", "demo"]));
    assert!(out.status.success());
    assert_baseline("1.0.0");
    // Idempotent: a second rollback changes nothing and succeeds.
    let before: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    let out = run(sluice(&mechanics_config()).args(["rollback", "--all"]));
    assert!(out.status.success());
    let after: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    assert_eq!(before, after);
}

#[test]
fn unhealthy_canary_never_receives_traffic() {
    let _lab = lab();
    let before: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    let (code, events) = Deploy::start(
        &mechanics_config(),
        &["demo", "--version", "9.9.9-unhealthy"],
    )
    .finish();
    assert_eq!(code, Some(1));
    assert!(
        !events.iter().any(|e| e["event"] == "weights-verified"),
        "no weight may move"
    );
    let failed = events
        .iter()
        .find(|e| e["event"] == "failed")
        .expect("a failed event");
    let msg = failed["error"].as_str().unwrap();
    assert!(msg.contains("unhealthy") && msg.contains("503"), "{msg}");
    // The stack's log lines are shown apart (issue 13, fault 10), never in the error that
    // the journal, the audit trail and notifiers get.
    let logs = events
        .iter()
        .find(|e| e["event"] == "container-logs")
        .expect("a container-logs event for the operator");
    assert_eq!(logs["track"], "canary");
    assert!(logs["lines"].is_array(), "{logs}");
    for line in logs["lines"].as_array().unwrap() {
        let line = line.as_str().unwrap_or("");
        assert!(!line.is_empty() && !line.contains('\u{1b}'), "{line:?}");
        assert!(!msg.contains(line), "a log line is in the error: {msg}");
    }
    let after: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    assert_eq!(before, after, "upstream files must be byte-identical");
    assert_baseline("1.0.0");
}

#[test]
fn missing_image_is_refused_before_anything_moves() {
    let _lab = lab();
    let (code, events) =
        Deploy::start(&mechanics_config(), &["demo", "--version", "7.7.7"]).finish();
    assert_eq!(code, Some(1));
    assert!(!events.iter().any(|e| e["event"] == "stack-started"));
    let failed = events.iter().find(|e| e["event"] == "failed").unwrap();
    assert!(failed["error"]
        .as_str()
        .unwrap()
        .contains("sluice-demo:7.7.7 is not on the host"));
    assert_baseline("1.0.0");
}

#[test]
fn nginx_test_failure_on_one_host_leaves_it_untouched_and_rolls_back_the_others() {
    let _lab = lab();
    let main_conf = format!("{LAB}/hosts/web-2/nginx/nginx.conf");
    let original = std::fs::read_to_string(&main_conf).unwrap();
    let mut d = Deploy::start(
        &mechanics_config(),
        &["demo", "--version", "1.1.0", "--strategy", "canary-fast"],
    );
    d.until("step-reached");
    // Break web-2's nginx config after validation, before the next step.
    let web2_before = upstream_text("web-2");
    std::fs::write(
        &main_conf,
        format!("{original}\nthis_is_not_a_directive;\n"),
    )
    .unwrap();
    let (code, events) = d.finish();
    std::fs::write(&main_conf, &original).unwrap();
    assert_ne!(code, Some(0));
    assert_eq!(
        upstream_text("web-2"),
        web2_before,
        "web-2's file must be byte-identical"
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "host-failed" && e["host"] == "web-2"));
    for h in ["web-1", "web-3"] {
        assert_eq!(weights(h), (100, 0), "{h} rolled back");
    }
    // With web-2 repaired, one rollback brings it back too.
    let out = run(sluice(&mechanics_config()).args(["rollback", "demo"]));
    assert!(out.status.success());
    assert_baseline("1.0.0");
}

#[test]
fn host_with_unknown_key_is_refused_before_anything_changes() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    // A known_hosts that records a different key for web-1.
    let key = dir.path().join("other");
    assert!(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let real = std::fs::read_to_string(format!("{LAB}/ssh/known_hosts")).unwrap();
    let mut forged: Vec<String> = real
        .lines()
        .filter(|l| !l.starts_with("[127.0.0.11]"))
        .map(str::to_string)
        .collect();
    forged.push(format!("[127.0.0.11]:2222 {}", pubkey.trim()));
    let kh = dir.path().join("known_hosts");
    std::fs::write(&kh, forged.join("\n") + "\n").unwrap();
    let cfg = std::fs::read_to_string(mechanics_config())
        .unwrap()
        .replace(&format!("{LAB}/ssh/known_hosts"), kh.to_str().unwrap());
    let cfg_path = dir.path().join("lab.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();

    let before: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    let (code, events) = Deploy::start(&cfg_path, &["demo", "--version", "1.1.0"]).finish();
    assert_eq!(code, Some(1));
    let failure = events
        .iter()
        .find(|e| e["event"] == "host-failed" && e["host"] == "web-1")
        .expect("web-1 refused");
    let msg = failure["error"].as_str().unwrap();
    assert!(msg.contains("host key") && msg.contains("SHA256:"), "{msg}");
    assert!(!events.iter().any(|e| e["event"] == "stack-started"));
    let after: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    assert_eq!(before, after);
    assert_baseline("1.0.0");
}

#[test]
fn promote_command_makes_a_paused_canary_the_new_stable() {
    let _lab = lab();
    let out = run(sluice(&mechanics_config()).args([
        "deploy",
        "demo",
        "--version",
        "2.0.0",
        "--strategy",
        "canary-manual",
        "--yes",
        "--exit-on-pause",
    ]));
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sluice promote demo"));
    let out = run(sluice(&mechanics_config()).args(["promote", "demo"]));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("promoted: 2.0.0 is the new stable"));
    assert_baseline("2.0.0");
    // Nothing left to promote: a clear refusal, nothing moves.
    let out = run(sluice(&mechanics_config()).args(["promote", "demo"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to promote"));
    assert_baseline("2.0.0");
}

#[test]
fn deploying_the_running_version_is_a_no_op_that_says_so() {
    let _lab = lab();
    let before: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    let (code, events) =
        Deploy::start(&mechanics_config(), &["demo", "--version", "1.0.0"]).finish();
    assert_eq!(code, Some(0));
    assert!(events.iter().any(|e| e["event"] == "info"
        && e["message"]
            .as_str()
            .unwrap()
            .contains("already runs 1.0.0")));
    assert!(!events.iter().any(|e| e["event"] == "stack-started"));
    let after: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    assert_eq!(before, after);
}
