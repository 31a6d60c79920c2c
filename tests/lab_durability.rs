//! Durable state against the local lab: leases, fencing on the hosts, the journal across a
//! `kill -9`, and the audit chain. Each test has its own store directory (a config variant),
//! so tests never see each other's leases; `lab()` resets the hosts' fence files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use sluice::domain::{Split, Version};
use sluice::remote::host::{HostError, ServiceOnHost, TrackName};
use sluice::remote::ssh::SshPool;
use sluice::store::{Holder, ProcProbe, ProcessProbe, Store};

/// The mechanics config (no metric source) with a fresh store directory of its own.
fn durable_config(name: &str) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(mechanics_config()).expect("read the mechanics config");
    let store = std::env::temp_dir().join(format!("sluice-dur-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("store:") {
                format!("store: {{ kind: local, path: {} }}\n", store.display())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let p = std::env::temp_dir().join(format!("sluice-dur-{name}-{}.yaml", std::process::id()));
    std::fs::write(&p, text).expect("write the config variant");
    (p, store)
}

fn status_rows(cfg: &Path) -> Vec<serde_json::Value> {
    let out = run(sluice(cfg).args(["status", "demo", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let rows = v.as_array().expect("an array").clone();
    // Every host was read; exit 3 exactly when a canary carries traffic nobody watches (a
    // killed sluice's canary does).
    let unwatched = rows.iter().any(|r| r["unwatched"] == true);
    assert_eq!(
        out.status.code(),
        Some(if unwatched { 3 } else { 0 }),
        "status exit code"
    );
    rows
}

fn history(cfg: &Path) -> Vec<serde_json::Value> {
    let out = run(sluice(cfg).args(["history", "demo", "--json"]));
    assert!(out.status.success(), "history fails");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("history JSON");
    v.as_array().expect("an array").clone()
}

fn kill9(d: &mut Deploy) {
    let pid = d.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    let _ = d.child.wait();
}

#[test]
fn a_stale_holder_is_refused_by_every_host_after_a_takeover() {
    let _lab = lab();
    let (cfg_path, store_dir) = durable_config("fence");
    let config = sluice::config::load(&cfg_path).expect("config variant is valid");
    let store = Store::open(&store_dir).unwrap();
    let svc = config.services["demo"].clone();
    let pool = SshPool::new(&config);
    // Alice's sluice is another live process on this machine (pid 1 stands in for it).
    let alice = Holder {
        pid: 1,
        pid_start: ProcProbe.start_time(1),
        ..Holder::current("alice", "deploy demo 1.1.0")
    };
    let old = store.acquire("demo", &alice, false).unwrap().lease;
    let new = store
        .acquire("demo", &Holder::current("bob", "rollback demo"), true)
        .unwrap();
    assert_eq!(new.took_over.as_ref().map(|l| l.token), Some(old.token));
    let new = new.lease;
    assert!(new.token > old.token);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        for h in HOSTS {
            let host = &config.hosts[h];
            // The new holder acts first: the host records its token.
            let fresh = ServiceOnHost::new(&pool, host, &svc).fenced(Ok(new.token));
            fresh.apply_split(Split::STABLE).await.expect("new holder");
            fresh
                .stack_down(TrackName::Canary)
                .await
                .expect("new holder");
            // The stale holder wakes up: weights and compose are both refused.
            let stale = ServiceOnHost::new(&pool, host, &svc).fenced(Ok(old.token));
            for e in [
                stale
                    .apply_split(Split::new(40).unwrap())
                    .await
                    .unwrap_err(),
                stale
                    .stack_up(TrackName::Canary, &Version::parse("1.1.0").unwrap())
                    .await
                    .unwrap_err(),
                stale.stack_down(TrackName::Stable).await.unwrap_err(),
            ] {
                match &e {
                    HostError::Fenced {
                        host,
                        service,
                        seen,
                        offered,
                    } => {
                        assert_eq!((host.as_str(), service.as_str()), (h, "demo"));
                        assert_eq!((*seen, *offered), (new.token, old.token));
                    }
                    other => panic!("{h}: expected a fencing refusal, got {other}"),
                }
                let msg = e.to_string();
                assert!(msg.contains(h) && msg.contains("demo"), "{msg}");
            }
            // No token at all: refused before anything is sent.
            let none = ServiceOnHost::new(&pool, host, &svc);
            let e = none.apply_split(Split::new(40).unwrap()).await.unwrap_err();
            assert!(e.to_string().contains("no lease"), "{e}");
        }
    });
    assert_baseline("1.0.0");
    nginx_t_everywhere();
}

#[test]
fn two_deploys_started_together_exactly_one_runs() {
    let _lab = lab();
    let (cfg, _store) = durable_config("two");
    let spawn = |cfg: PathBuf| {
        std::thread::spawn(move || {
            run(sluice(&cfg).args([
                "deploy",
                "demo",
                "--version",
                "1.1.0",
                "--strategy",
                "canary-fast",
                "--yes",
                "--exit-on-pause",
            ]))
        })
    };
    let a = spawn(cfg.clone());
    let b = spawn(cfg.clone());
    let outs = [a.join().unwrap(), b.join().unwrap()];
    let ok: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
    let refused: Vec<_> = outs.iter().filter(|o| !o.status.success()).collect();
    assert_eq!((ok.len(), refused.len()), (1, 1), "exactly one deploy runs");
    let msg = String::from_utf8_lossy(&refused[0].stderr);
    assert!(
        msg.contains("is locked by test on") && msg.contains("deploy demo 1.1.0"),
        "the refusal names the holder and its purpose: {msg}"
    );
    assert_baseline("1.1.0");
    let h = history(&cfg);
    assert_eq!(h.len(), 1, "only the deploy that ran is in the journal");
    assert_eq!(h[0]["state"], "succeeded");
    assert_eq!(h[0]["previous"], "1.0.0");
    let out = run(sluice(&cfg).args(["audit", "--verify"]));
    assert!(out.status.success());
}

#[test]
fn kill_9_mid_bake_leaves_the_truth_on_the_hosts_and_rollback_finishes_it() {
    let _lab = lab();
    let (cfg, _store) = durable_config("bake");
    let mut d = Deploy::start(&cfg, &["demo", "--version", "1.2.0"]);
    let ev = d.until("step-reached");
    assert_eq!(ev["canary_percent"], 10);
    kill9(&mut d);
    nginx_t_everywhere();
    for r in status_rows(&cfg) {
        assert_eq!(
            (&r["stable_weight"], &r["canary_weight"]),
            (&90.into(), &10.into())
        );
        assert_eq!(r["canary"]["version"], "1.2.0");
    }
    let h = history(&cfg);
    assert_eq!(
        h[0]["state"], "progressing",
        "the journal knows it was in flight"
    );
    assert_eq!(h[0]["canary_percent"], 10);
    // The dead holder's lease binds no one.
    let out = run(sluice(&cfg).args(["lock", "--json"]));
    let locks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(locks[0]["state"], "holder-dead");
    // A restart recovers it: paused at the step the hosts have, nothing moved, nothing new
    // started.
    let out = restart(&cfg, "1.2.0");
    assert!(
        out.contains("step 1 of 3") && out.contains("paused"),
        "{out}"
    );
    for h in HOSTS {
        assert_eq!(weights(h), (90, 10), "{h}: recovery moves no traffic");
    }
    assert_eq!(history(&cfg)[0]["state"], "paused");
    let rows = status_rows(&cfg);
    assert_eq!(rows[0]["deployment"]["state"], "paused");
    // A new sluice rolls back cleanly and closes the deployment in the journal.
    let out = run(sluice(&cfg).args(["rollback", "demo"]));
    assert!(out.status.success());
    assert_baseline("1.0.0");
    assert_eq!(history(&cfg)[0]["state"], "rolled-back");
    nginx_t_everywhere();
}

#[test]
fn an_edited_or_removed_audit_record_fails_verification_naming_it() {
    let _lab = lab();
    let (cfg, store) = durable_config("audit");
    let out = run(sluice(&cfg).args(["rollback", "demo", "--reason", "drill"]));
    assert!(out.status.success());
    let out = run(sluice(&cfg).args(["audit", "--json"]));
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = records.as_array().unwrap().len();
    assert!(
        n >= 3,
        "rollback started, weights, rollback done: {records}"
    );
    assert!(run(sluice(&cfg).args(["audit", "--verify"]))
        .status
        .success());

    let db = rusqlite::Connection::open(store.join("sluice.db")).unwrap();
    db.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2", [])
        .unwrap();
    let out = run(sluice(&cfg).args(["audit", "--verify"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("#2"));
    db.execute("UPDATE audit SET actor = 'test' WHERE seq = 2", [])
        .unwrap();
    assert!(run(sluice(&cfg).args(["audit", "--verify"]))
        .status
        .success());

    db.execute(&format!("DELETE FROM audit WHERE seq = {n}"), [])
        .unwrap();
    let out = run(sluice(&cfg).args(["audit", "--verify"]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("#{n}")),
        "names the removed last record"
    );
}

/// Start `sluice deploy` again after a crash: it recovers the deployment in flight, reports it
/// paused (exit 3) and starts nothing new. Returns its stderr.
fn restart(cfg: &Path, version: &str) -> String {
    let out = run(sluice(cfg).args([
        "deploy",
        "demo",
        "--version",
        version,
        "--yes",
        "--exit-on-pause",
    ]));
    assert_eq!(
        out.status.code(),
        Some(3),
        "a recovered deployment waits paused"
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn kill_9_mid_bake_and_resume_walks_the_remaining_steps_to_promote() {
    let _lab = lab();
    let (cfg, _store) = durable_config("resume");
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-fast"],
    );
    let ev = d.until("step-reached");
    assert_eq!(ev["canary_percent"], 10);
    let id = ev["deployment"].clone();
    kill9(&mut d);
    // `resume` recovers it (paused at step 1), re-bakes step 1, then 40 % and 70 %, then
    // promotes (canary-fast), under a new lease, as the same deployment.
    let out = run(sluice(&cfg).args(["resume", "demo", "--json"]));
    assert_eq!(out.status.code(), Some(0), "resumed to the end");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let steps: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "step-reached")
        .map(|e| (e["step"].clone(), e["canary_percent"].clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (1.into(), 10.into()),
            (2.into(), 40.into()),
            (3.into(), 70.into())
        ],
        "step 1 baked again, then the rest"
    );
    assert!(events
        .iter()
        .filter(|e| e["event"] == "step-reached")
        .all(|e| e["deployment"] == id));
    assert_baseline("1.2.0");
    let h = history(&cfg);
    assert_eq!(h.len(), 1, "the same deployment, not a new one");
    assert_eq!(h[0]["state"], "succeeded");
    nginx_t_everywhere();
    // Nothing is left to resume.
    let out = run(sluice(&cfg).args(["resume", "demo"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no deployment in flight"));
    assert!(run(sluice(&cfg).args(["audit", "--verify"]))
        .status
        .success());
}

#[test]
fn kill_9_during_a_weight_change_recovers_paused_and_rolls_back_cleanly() {
    let _lab = lab();
    let (cfg, _store) = durable_config("weight");
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.2.0", "--strategy", "canary-fast"],
    );
    loop {
        let ev = d.until("step-started");
        if ev["step"] == 2 {
            break;
        }
    }
    kill9(&mut d);
    nginx_t_everywhere();
    // Whatever each host has, status reads it back as it is.
    let rows = status_rows(&cfg);
    for (r, h) in rows.iter().zip(HOSTS) {
        let (s, c) = weights(h);
        assert_eq!(
            (&r["stable_weight"], &r["canary_weight"]),
            (&s.into(), &c.into()),
            "{h}"
        );
        assert!(c == 10 || c == 40, "{h}: canary at {c}");
    }
    let out = restart(&cfg, "1.2.0");
    assert!(out.contains("paused") || out.contains("DISAGREE"), "{out}");
    let out = run(sluice(&cfg).args(["rollback", "demo", "--reason", "after the crash"]));
    assert!(out.status.success());
    assert_baseline("1.0.0");
    assert_eq!(history(&cfg)[0]["state"], "rolled-back");
    nginx_t_everywhere();
    assert!(run(sluice(&cfg).args(["audit", "--verify"]))
        .status
        .success());
}

#[test]
fn kill_9_during_promote_recovers_paused_and_promote_finishes_it() {
    let _lab = lab();
    let (cfg, _store) = durable_config("promote");
    let mut d = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "canary-fast"],
    );
    // The promotion's first move: all traffic to the canary.
    loop {
        let ev = d.until("weights-verified");
        if ev["canary_percent"] == 100 {
            break;
        }
    }
    kill9(&mut d);
    nginx_t_everywhere();
    let out = restart(&cfg, "1.1.0");
    assert!(out.contains("deployment #"), "{out}");
    assert_eq!(history(&cfg)[0]["state"], "paused");
    let out = run(sluice(&cfg).args(["promote", "demo"]));
    assert!(out.status.success());
    assert_baseline("1.1.0");
    assert_eq!(history(&cfg)[0]["state"], "succeeded");
    nginx_t_everywhere();
    // Deploying the version that now runs is a no-op that says so.
    let out = run(sluice(&cfg).args([
        "deploy",
        "demo",
        "--version",
        "1.1.0",
        "--yes",
        "--exit-on-pause",
    ]));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to do"));
    assert_baseline("1.1.0");
}

#[test]
fn an_operator_rollback_takes_the_lease_over_and_the_deploy_stops_acting() {
    let _lab = lab();
    let (cfg, _store) = durable_config("takeover");
    let mut d = Deploy::start(&cfg, &["demo", "--version", "1.2.0"]);
    let ev = d.until("step-reached");
    assert_eq!(ev["canary_percent"], 10);
    // Another sluice (another console, another operator) rolls back while the deploy bakes.
    let out = run(sluice(&cfg).env("SLUICE_OPERATOR", "bob").args([
        "rollback",
        "demo",
        "--reason",
        "bad canary",
    ]));
    assert!(out.status.success());
    assert_baseline("1.0.0");
    // Within a heartbeat the deploy finds its lease gone and stops, changing nothing.
    let t = std::time::Instant::now();
    let (code, events) = d.finish();
    assert!(t.elapsed() < std::time::Duration::from_secs(25));
    assert_ne!(code, Some(0));
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "failed" && e["error"].as_str().unwrap_or("").contains("lost")),
        "the deploy reports the lost lease"
    );
    assert_baseline("1.0.0");
    // The journal keeps the new holder's word; the audit names the takeover.
    assert_eq!(history(&cfg)[0]["state"], "rolled-back");
    let out = run(sluice(&cfg).args(["audit", "demo", "--json"]));
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let takeover = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "lease-takeover")
        .expect("the takeover is audited");
    assert_eq!(takeover["actor"], "bob");
    assert!(takeover["detail"].as_str().unwrap().contains("bad canary"));
    assert!(run(sluice(&cfg).args(["audit", "--verify"]))
        .status
        .success());
}
