//! `--metrics-listen`: sluice's own metrics, scraped over HTTP after a real rollout on the lab.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use sluice::domain::Version;
use sluice::engine::{Command, Engine, EventKind, Reply};
use sluice::remote::ssh::SshPool;

/// The lab config with a fast analysis loop, a short watch, and a one-step strategy.
fn short_config(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(lab_config())
        .unwrap()
        .replace("  interval: 10s", "  interval: 1s")
        .replace("  window: 1m", "  window: 5s")
        .replace("  min_requests: 50", "  min_requests: 20")
        .replace("  watch: 10s", "  watch: 3s")
        .replace(
            "strategies:\n",
            "strategies:\n  canary-short: { kind: canary, steps: [50], bake: 4s, finally: promote }\n",
        );
    let p = dir.join("short.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A GET with sluice's own client (its TLS provider installed, like every sluice client).
async fn get(url: &str) -> reqwest::Result<reqwest::Response> {
    sluice::http::client_builder()
        .build()?
        .get(url)
        .send()
        .await
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let resp = get(&format!("http://{addr}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("GET http://{addr}/metrics: {e}"));
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    resp.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_real_rollout_and_a_rollback() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(sluice::config::load(&short_config(dir.path())).unwrap());
    let _load = common::load::Load::start(60);
    let addr = sluice::metrics::listen("127.0.0.1:0").unwrap();
    let handle = Engine::start(config.clone(), Arc::new(SshPool::new(&config)));
    // Whoever starts an engine attaches the metrics (the engine knows nothing of them).
    sluice::metrics::attach(handle.subscribe());
    let mut events = handle.subscribe();
    let Ok(Reply::Started(id)) = handle
        .send(Command::Deploy {
            service: "demo".into(),
            version: Version::parse("1.1.0").unwrap(),
            strategy: Some("canary-short".into()),
            operator: "test".into(),
            override_reason: None,
        })
        .await
    else {
        panic!("deploy not started");
    };
    let end = tokio::time::timeout(Duration::from_secs(240), async {
        loop {
            let e = events.recv().await.unwrap();
            if e.deployment == Some(id) {
                if let EventKind::State { to, .. } = e.kind {
                    if to.is_terminal() {
                        return to;
                    }
                }
            }
        }
    })
    .await
    .expect("the rollout ends within 4 minutes");
    assert_eq!(end.as_str(), "succeeded");
    // An operator rollback (nothing in flight: a standalone one). The engine learns that the
    // deployment ended from the same event stream, a moment later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    handle
        .send(Command::Rollback {
            service: "demo".into(),
            reason: "operator rollback".into(),
        })
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), async {
        while !matches!(
            events.recv().await.unwrap().kind,
            EventKind::RolledBack { .. }
        ) {}
    })
    .await
    .expect("the rollback ends");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = scrape(addr).await;
    eprintln!("{text}");
    assert!(
        text.contains(r#"sluice_deployments_total{service="demo",status="succeeded"} 1"#),
        "{text}"
    );
    assert!(text.contains("sluice_deployment_duration_seconds_count 1"));
    assert!(text.contains("# TYPE sluice_deployment_duration_seconds histogram"));
    assert!(text.contains(r#"sluice_rollbacks_total{service="demo",reason="operator"} 1"#));
    assert!(
        text.contains(r#"sluice_analysis_results_total{service="demo",result="pass"}"#),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
    let missing = get(&format!("http://{addr}/other")).await.unwrap();
    assert_eq!(missing.status(), 404);
    // Back to the lab's baseline for the next test.
    let out = std::process::Command::new("bash")
        .arg(root().join("lab/reset.sh"))
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn the_cli_serves_metrics_while_a_deploy_runs() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = short_config(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _load = common::load::Load::start(60);
    let mut d = Deploy::start_with(
        &cfg,
        &["--metrics-listen", &format!("127.0.0.1:{port}")],
        &["demo", "--version", "1.1.0", "--strategy", "canary-short"],
    );
    d.until("step-reached");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = rt.block_on(scrape(([127, 0, 0, 1], port).into()));
    assert!(
        text.contains("# TYPE sluice_deployment_duration_seconds histogram"),
        "{text}"
    );
    let (code, _) = d.finish();
    assert_eq!(code, Some(0));
    // A taken address is a usage error that says so.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = run(sluice(&cfg)
        .arg("--metrics-listen")
        .arg(busy.local_addr().unwrap().to_string())
        .arg("status"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen there"));
}
