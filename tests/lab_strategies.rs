//! Blue/green and rolling rollouts against the local lab: every host's upstream file and
//! containers are checked at each phase, to success and rolled back mid-way.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::load::Load;
use common::*;

/// The mechanics config (no metric source) with short blue/green and rolling strategies.
fn strategies_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(mechanics_config())
        .unwrap()
        .replace(
            "strategies:\n",
            "strategies:\n  bg-fast: { kind: blue-green, verify: 3s, keep: 8s }\n  bg-hold: { kind: blue-green, verify: 2s, keep: 5m }\n  rolling-fast: { kind: rolling, batch: 1, bake: 3s }\n  rolling-slow: { kind: rolling, batch: 1, bake: 8s }\n",
        );
    let p = dir.join("strategies.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn states(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "state")
        .map(|e| e["to"].as_str().unwrap().to_string())
        .collect()
}

fn at(e: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    e["at"].as_str().unwrap().parse().unwrap()
}

fn no_canary(h: &str) -> bool {
    canary_of(h).is_none_or(|(_, running)| !running)
}

#[test]
fn blue_green_verifies_green_switches_every_host_at_once_then_finishes() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = strategies_config(dir.path());
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "bg-fast"],
    );
    d.until("verify-started");
    // Green beside blue on every host, no traffic on it yet.
    for h in HOSTS {
        assert_eq!(weights(h), (100, 0), "{h} while green is verified");
        assert_eq!(canary_of(h), Some(("1.1.0".into(), true)), "{h} green");
        assert_eq!(stable_of(h), Some(("1.0.0".into(), true)), "{h} blue");
    }
    d.until("traffic-switched");
    for h in HOSTS {
        assert_eq!(weights(h), (0, 100), "{h} switched");
        assert_eq!(
            stable_of(h),
            Some(("1.0.0".into(), true)),
            "{h}: blue is kept running"
        );
        assert_eq!(canary_of(h), Some(("1.1.0".into(), true)), "{h} green");
    }
    // One step: the three hosts were verified at 100 % within moments of each other.
    let switch: Vec<_> = d
        .seen
        .iter()
        .filter(|e| e["event"] == "weights-verified" && e["canary_percent"] == 100)
        .collect();
    assert_eq!(switch.len(), 3, "{switch:#?}");
    let first = switch.iter().map(|e| at(e)).min().unwrap();
    let last = switch.iter().map(|e| at(e)).max().unwrap();
    eprintln!(
        "switch spread across hosts: {} ms",
        (last - first).num_milliseconds()
    );
    assert!((last - first).num_milliseconds() < 2000);
    let (code, events) = d.finish();
    assert_eq!(code, Some(0), "blue/green should succeed");
    let s = states(&events);
    for want in ["verifying", "switched", "succeeded"] {
        assert!(s.iter().any(|x| x == want), "{want} in {s:?}");
    }
    assert_baseline("1.1.0");
}

#[test]
fn rollback_during_keep_puts_every_host_back_on_blue_at_once() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = strategies_config(dir.path());
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "bg-hold"],
    );
    d.until("traffic-switched");
    for h in HOSTS {
        assert_eq!(weights(h), (0, 100), "{h} switched");
    }
    // Another operator rolls back from a second process while blue is kept.
    let t = Instant::now();
    let out = run(sluice(&cfg).args(["rollback", "demo"]));
    let took = t.elapsed();
    assert!(out.status.success());
    eprintln!("rollback during keep (new process, cold SSH): {took:?}");
    for h in HOSTS {
        assert_eq!(weights(h), (100, 0), "{h} back on blue");
        assert!(no_canary(h), "{h}: green stopped, is {:?}", canary_of(h));
        assert_eq!(stable_of(h), Some(("1.0.0".into(), true)), "{h} blue");
    }
    // The rollback took the deploy's lease over: within a heartbeat the deploy finds its lease
    // gone (the hosts refuse its old fencing token) and ends, changing nothing.
    let (code, events) = d.finish();
    assert_eq!(
        code,
        Some(1),
        "a deploy whose lease was taken over exits non-zero"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "failed" && e["error"].as_str().unwrap_or("").contains("lost")),
        "the deploy reports the lost lease: {events:?}"
    );
    for h in HOSTS {
        assert_eq!(weights(h), (100, 0), "{h} still on blue");
    }
}

#[test]
fn interrupting_blue_green_during_keep_rolls_back_through_the_engine() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = strategies_config(dir.path());
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "bg-hold"],
    );
    d.until("traffic-switched");
    let pid = d.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let started = at(&d.until("rollback-started"));
    let back = d.until("traffic-on-stable");
    eprintln!(
        "engine rollback during keep, warm connections: {} ms to every host verified on blue",
        (at(&back) - started).num_milliseconds()
    );
    let (code, events) = d.finish();
    assert_eq!(code, Some(1));
    assert!(states(&events).iter().any(|s| s == "rolled-back"));
    assert_baseline("1.0.0");
}

#[test]
fn rolling_switches_the_hosts_batch_by_batch_then_finishes() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = strategies_config(dir.path());
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "rolling-fast"],
    );
    for n in 1..=3usize {
        let ev = d.until("batch-reached");
        assert_eq!(
            (ev["batch"].as_u64(), ev["of"].as_u64()),
            (Some(n as u64), Some(3))
        );
        assert_eq!(ev["hosts"], serde_json::json!([HOSTS[n - 1]]));
        for (i, h) in HOSTS.iter().enumerate() {
            assert_eq!(stable_of(h), Some(("1.0.0".into(), true)), "{h} stable");
            if i < n {
                assert_eq!(weights(h), (0, 100), "{h} switched in batch {n}");
                assert_eq!(canary_of(h), Some(("1.1.0".into(), true)), "{h} new");
            } else {
                assert_eq!(weights(h), (100, 0), "{h} untouched in batch {n}");
                assert!(no_canary(h), "{h}: no new stack yet in batch {n}");
            }
        }
    }
    let (code, events) = d.finish();
    assert_eq!(code, Some(0), "rolling should succeed");
    assert!(events.iter().any(|e| e["event"] == "promoted"));
    assert_baseline("1.1.0");
}

#[test]
fn a_failed_batch_rolls_back_the_batches_already_done() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = strategies_config(dir.path());
    let main_conf = format!("{LAB}/hosts/web-2/nginx/nginx.conf");
    let original = std::fs::read_to_string(&main_conf).unwrap();
    let before: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "rolling-slow"],
    );
    let ev = d.until("batch-reached");
    assert_eq!(ev["batch"], 1);
    assert_eq!(weights("web-1"), (0, 100));
    // Break web-2's nginx config during batch 1's bake: batch 2 cannot be applied there.
    std::fs::write(
        &main_conf,
        format!("{original}\nthis_is_not_a_directive;\n"),
    )
    .unwrap();
    let (code, events) = d.finish();
    std::fs::write(&main_conf, &original).unwrap();
    assert_eq!(code, Some(1), "a rolled-back deploy exits non-zero");
    assert!(states(&events).iter().any(|s| s == "rolled-back"));
    assert!(events
        .iter()
        .any(|e| e["event"] == "host-failed" && e["host"] == "web-2"));
    let rb = events
        .iter()
        .find(|e| e["event"] == "rollback-started")
        .unwrap();
    assert!(rb["reason"].as_str().unwrap().contains("batch 2/3"), "{rb}");
    // Batch 1 (web-1) back on stable; web-2's file never changed; web-3 never touched.
    assert_eq!(weights("web-1"), (100, 0));
    assert_eq!(upstream_text("web-2"), before[1], "web-2 byte-identical");
    assert_eq!(upstream_text("web-3"), before[2], "web-3 byte-identical");
    assert!(!events
        .iter()
        .any(|e| e["host"] == "web-3" && e["event"] != "host-observed"));
    let on_stable = events
        .iter()
        .find(|e| e["event"] == "traffic-on-stable")
        .unwrap();
    assert_eq!(on_stable["hosts"], serde_json::json!(["web-1", "web-2"]));
    for h in HOSTS {
        assert!(
            no_canary(h),
            "{h}: new stack stopped, is {:?}",
            canary_of(h)
        );
    }
    assert_baseline("1.0.0");
}

// ---- with live analysis (the lab's access logs, a fast judge) ------------------------------

/// The lab config with a fast analysis loop and judged blue/green and rolling strategies.
fn judged_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(lab_config())
        .unwrap()
        .replace("  interval: 10s", "  interval: 1s")
        .replace("  window: 1m", "  window: 5s")
        .replace("  min_requests: 50", "  min_requests: 20")
        .replace(
            "strategies:\n",
            "strategies:\n  bg-judged: { kind: blue-green, verify: 3s, keep: 40s }\n  bg-quiet: { kind: blue-green, verify: 3s, keep: 4s }\n  rolling-judged: { kind: rolling, batch: 1, bake: 6s }\n",
        );
    let p = dir.join("judged.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Set a knob of the new version's container (port 8082) on `hosts`.
fn knob(hosts: &[&str], query: &str) {
    for h in hosts {
        let ok = std::process::Command::new("curl")
            .args(["-fsS", "-X", "POST", "-o", "/dev/null"])
            .arg(format!("http://{}:8082/knobs?{query}", host_ip(h)))
            .status()
            .unwrap();
        assert!(ok.success(), "setting {query} on {h}'s new stack");
    }
}

#[test]
fn no_traffic_is_inconclusive_and_does_not_fail_blue_green() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = judged_config(dir.path());
    let (code, events) = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "bg-quiet"],
    )
    .finish();
    assert_eq!(code, Some(0), "inconclusive must not fail blue/green");
    assert!(events.iter().any(|e| e["event"] == "analysis"
        && e["track"] == "canary"
        && e["verdict"] == "inconclusive"));
    assert!(!events.iter().any(|e| e["event"] == "rollback-started"));
    assert_baseline("1.2.0");
}

#[test]
fn green_failing_its_analysis_during_keep_rolls_back_to_blue_by_itself() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = judged_config(dir.path());
    let _load = Load::start(90);
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "bg-judged"],
    );
    d.until("traffic-switched");
    knob(&HOSTS, "error_rate=0.5");
    let rb = d.until("rollback-started");
    let reason = rb["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("analysis of green with all traffic switched to it: FAIL"),
        "{reason}"
    );
    let (code, events) = d.finish();
    assert_eq!(code, Some(1));
    assert!(states(&events).iter().any(|s| s == "rolled-back"));
    let failed = events
        .iter()
        .find(|e| e["event"] == "analysis" && e["track"] == "canary" && e["verdict"] == "fail")
        .expect("a recorded failing judgement");
    assert!(failed["error_rate"].as_f64().unwrap() > 0.02, "{failed}");
    assert_baseline("1.0.0");
}

#[test]
fn a_batch_failing_its_analysis_rolls_back_the_batches_done() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = judged_config(dir.path());
    let before_web3 = upstream_text("web-3");
    let _load = Load::start(90);
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "rolling-judged"],
    );
    let ev = d.until("batch-reached");
    assert_eq!(ev["batch"], 1);
    // Batch 1 passes its judgement under load; batch 2 goes bad.
    let ev = d.until("batch-reached");
    assert_eq!(ev["batch"], 2);
    assert!(d
        .seen
        .iter()
        .any(|e| e["event"] == "analysis" && e["track"] == "canary" && e["verdict"] == "pass"));
    knob(&["web-1", "web-2"], "error_rate=0.5");
    let rb = d.until("rollback-started");
    let reason = rb["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("analysis of the canary: FAIL"), "{reason}");
    let (code, events) = d.finish();
    assert_eq!(code, Some(1));
    let on_stable = events
        .iter()
        .find(|e| e["event"] == "traffic-on-stable")
        .unwrap();
    assert_eq!(on_stable["hosts"], serde_json::json!(["web-1", "web-2"]));
    assert_eq!(upstream_text("web-3"), before_web3, "web-3 never touched");
    assert_baseline("1.0.0");
}

// ---- changes made by another process ------------------------------------------------------

#[test]
fn promote_from_another_process_during_keep_is_carried_out_by_the_deploy_holding_the_lease() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = strategies_config(dir.path());
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "bg-hold"],
    );
    d.until("traffic-switched");
    // One rollout at a time touches a service: a promote from elsewhere cannot take the lease;
    // it asks the deploy holding it, which ends its keep now and finishes, and both report it.
    let out = run(sluice(&cfg).args(["promote", "demo"]));
    assert!(out.status.success(), "promoted through the holder");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("is driven by") && said.contains("promoted"),
        "{said}"
    );
    let (code, events) = d.finish();
    assert_eq!(code, Some(0));
    assert!(events.iter().any(|e| e["event"] == "promoted"));
    assert_baseline("1.2.0");
}

#[test]
fn rollback_from_another_process_stops_rolling_before_the_next_batch() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = strategies_config(dir.path());
    let before: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "rolling-slow"],
    );
    let ev = d.until("batch-reached");
    assert_eq!(ev["batch"], 1);
    let out = run(sluice(&cfg).args(["rollback", "demo"]));
    assert!(out.status.success());
    let (code, events) = d.finish();
    assert_eq!(code, Some(1));
    assert!(!events
        .iter()
        .any(|e| e["event"] == "batch-started" && e["batch"] == 2));
    let rb = events
        .iter()
        .find(|e| e["event"] == "rollback-started" && e["deployment"].is_number())
        .unwrap();
    assert!(
        rb["reason"]
            .as_str()
            .unwrap()
            .contains("changed outside this deployment"),
        "{rb}"
    );
    for (i, h) in HOSTS.iter().enumerate().skip(1) {
        assert_eq!(upstream_text(h), before[i], "{h} never touched");
    }
    assert_baseline("1.0.0");
}
