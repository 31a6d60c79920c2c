//! Pre-deploy checks and the canary warm-up against the lab: every failure on every host is
//! reported together and nothing moves; a canary that cannot warm up gets no traffic.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use sluice::domain::TrackName;
use sluice::engine::{checks, ops, Ctx, Emitter, EventKind};
use sluice::remote::ssh::SshPool;

/// The mechanics config (no metric source) with `edit` applied to its text.
fn variant(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = edit(std::fs::read_to_string(mechanics_config()).unwrap());
    let p = dir.join("variant.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn with_warmup(text: String, warmup: &str) -> String {
    let out = text.replace(
        "    strategy: canary-auto\n",
        &format!("    strategy: canary-auto\n    warmup: {warmup}\n"),
    );
    assert_ne!(out, text, "config/lab.yaml changed shape; update this test");
    out
}

/// Restores a file when dropped, even when the test panics.
struct Restore(PathBuf, String);
impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, &self.1);
    }
}

fn canaries_absent() {
    for h in HOSTS {
        assert!(
            canary_of(h).is_none_or(|(_, running)| !running),
            "{h}: no canary may run, found {:?}",
            canary_of(h)
        );
    }
}

#[test]
fn every_check_failure_on_every_host_is_reported_together_and_nothing_moves() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = variant(dir.path(), |t| {
        let out = t.replace("checks: { disk_min: 1GiB }", "checks: { disk_min: 900TiB }");
        assert_ne!(
            out, t,
            "config/lab.yaml no longer sets checks.disk_min; update this test"
        );
        out
    });
    // A stray listener on web-1's canary address, nginx.conf broken on web-2.
    let stray = std::net::TcpListener::bind("127.0.0.11:8082")
        .expect("bind a stray listener on web-1's canary port (is a canary running?)");
    let main_conf = PathBuf::from(format!("{LAB}/hosts/web-2/nginx/nginx.conf"));
    let original = std::fs::read_to_string(&main_conf).unwrap();
    let _restore = Restore(main_conf.clone(), original.clone());
    std::fs::write(
        &main_conf,
        format!("{original}\nthis_is_not_a_directive;\n"),
    )
    .unwrap();
    let before: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();

    let (code, events) = Deploy::start(&cfg, &["demo", "--version", "1.1.0"]).finish();
    drop(stray);
    assert_eq!(code, Some(1), "the deploy is refused");
    let failed = events
        .iter()
        .find(|e| e["event"] == "failed")
        .expect("a failed event");
    let msg = failed["error"].as_str().unwrap();
    eprintln!("{msg}");
    assert!(
        msg.contains("pre-deploy checks failed on 5 host(s)"),
        "{msg}"
    );
    assert!(
        msg.contains("host web-1, service demo: port 8082 for the canary track is already taken on the host (127.0.0.11:8082)"),
        "{msg}"
    );
    assert!(
        msg.contains("host web-2, service demo: `/usr/sbin/nginx"),
        "{msg}"
    );
    assert!(msg.contains("this_is_not_a_directive"), "{msg}");
    for h in HOSTS {
        assert!(
            msg.contains(&format!("host {h}, service demo: not enough disk space:"))
                && msg.contains("checks.disk_min is 900.0 TiB"),
            "{h}: {msg}"
        );
        assert!(events
            .iter()
            .any(|e| e["event"] == "host-failed" && e["host"] == h));
    }
    assert!(!events.iter().any(|e| e["event"] == "stack-started"));
    let after: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    assert_eq!(before, after, "no upstream file changed");
    canaries_absent();
}

#[test]
fn a_forbidden_host_is_reported_with_the_others_and_untouched() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = variant(dir.path(), |t| {
        t.replacen(
            "cloud: lab, region: lab-b, environment: staging }",
            "cloud: lab, region: lab-b, environment: staging, forbidden: true }",
            1,
        )
    });
    let (code, events) = Deploy::start(&cfg, &["demo", "--version", "7.7.7"]).finish();
    assert_eq!(code, Some(1));
    let msg = events.iter().find(|e| e["event"] == "failed").unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("host web-3, service demo: host is marked `forbidden: true`"),
        "{msg}"
    );
    // The other hosts were still checked, in the same report.
    for h in ["web-1", "web-2"] {
        assert!(
            msg.contains(&format!(
                "host {h}, service demo: image sluice-demo:7.7.7 is not on the host"
            )),
            "{msg}"
        );
    }
    assert_baseline("1.0.0");
}

/// (The demo answers 200 to any path but `GET /knobs?…`, which is 405: a warm-up path that
/// fails on every request.)
#[test]
fn a_canary_that_cannot_warm_up_gets_no_traffic_and_is_stopped() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = variant(dir.path(), |t| {
        with_warmup(
            t,
            "{ requests: 20, concurrency: 4, path: \"/knobs?warmup=1\" }",
        )
    });
    let before: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    let (code, events) = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "canary-fast"],
    )
    .finish();
    assert_eq!(code, Some(1));
    let warmups: Vec<_> = events.iter().filter(|e| e["event"] == "warm-up").collect();
    assert_eq!(warmups.len(), 3, "one warm-up report per host");
    for w in &warmups {
        assert_eq!(w["passed"], false);
        assert_eq!(w["errors"], 20);
    }
    let msg = events.iter().find(|e| e["event"] == "failed").unwrap()["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("the canary did not warm up on GET /knobs?warmup=1 (20 requests, 4 at a time): 20 of 20 requests failed (HTTP 405"),
        "{msg}"
    );
    assert!(
        !events.iter().any(|e| e["event"] == "weights-verified"),
        "no traffic moved"
    );
    assert!(events.iter().any(|e| e["event"] == "stack-stopped"));
    let after: Vec<String> = HOSTS.iter().map(|h| upstream_text(h)).collect();
    assert_eq!(before, after);
    assert_baseline("1.0.0");
}

#[test]
fn warm_up_reports_latency_and_refuses_a_slow_or_failing_canary() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = variant(dir.path(), |t| {
        with_warmup(
            t,
            "{ requests: 40, concurrency: 4, path: /, p99_max: 150ms }",
        )
    });
    let cfg = Arc::new(sluice::config::load(&cfg_path).expect("valid variant"));
    let ctx = Ctx::new(cfg.clone(), Arc::new(SshPool::new(&cfg)));
    // Driving the host layer directly: a fencing token as a lease would give (lab() removed
    // the hosts' fence files, so any token is the highest seen).
    ctx.fences.hold("demo", 1);
    let svc = cfg.services["demo"].clone();
    let (tx, mut rx) = tokio::sync::broadcast::channel(1024);
    let em = Emitter::new(tx, "demo", None);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let version = sluice::domain::Version::parse("1.1.0").unwrap();
    rt.block_on(async {
        let never = tokio_util::sync::CancellationToken::new();
        ops::start_track(&ctx, &svc, TrackName::Canary, &version, &em, &never)
            .await
            .expect("start the canary");
        // Healthy: passes, with its latency reported per host.
        checks::warm_up(&ctx, &svc, &em)
            .await
            .expect("a healthy canary warms up");
        let mut reports = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let EventKind::WarmUp {
                host,
                p50_ms,
                p99_ms,
                errors,
                passed,
                ..
            } = e.kind
            {
                eprintln!(
                    "{host}: warm-up P50 {p50_ms:.1} ms, P99 {p99_ms:.1} ms, {errors} errors"
                );
                assert!(passed && errors == 0 && p99_ms < 150.0);
                reports.push(host);
            }
        }
        assert_eq!(reports.len(), 3);

        // Slower than p99_max.
        knob("latency_ms=300");
        let e = checks::warm_up(&ctx, &svc, &em)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("is above warmup.p99_max 150 ms"), "{e}");
        assert_eq!(e.matches("did not warm up").count(), 3, "{e}");

        // Errors.
        knob("latency_ms=0&error_rate=0.5");
        let e = checks::warm_up(&ctx, &svc, &em)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("requests failed (HTTP 500"), "{e}");

        ops::stop_track(&ctx, &svc, TrackName::Canary, &em)
            .await
            .unwrap();
    });
    assert_baseline("1.0.0");
}

#[test]
fn a_deploy_with_warm_up_walks_its_steps() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = variant(dir.path(), |t| {
        with_warmup(
            t,
            "{ requests: 30, concurrency: 3, path: /, p99_max: 500ms }",
        )
    });
    let (code, events) = Deploy::start(
        &cfg,
        &["demo", "--version", "1.1.0", "--strategy", "canary-fast"],
    )
    .finish();
    assert_eq!(code, Some(0));
    let order: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    let warm = order.iter().position(|e| *e == "warm-up").expect("warm-up");
    let first_weights = order.iter().position(|e| *e == "weights-verified").unwrap();
    assert!(
        warm < first_weights,
        "the warm-up comes before any traffic: {order:?}"
    );
    assert_baseline("1.1.0");
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
