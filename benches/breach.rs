//! Benchmark: how long from the moment the canary starts failing to every host verified back
//! at stable 100 %, with the NGINX-log provider judging every 2 s over a 10 s window, under
//! wrk load (1 thread, 8 connections per host) on the 3-host lab. Run as root:
//! `cargo bench --bench breach` (it runs lab/up.sh and lab/reset.sh).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use sluice::domain::Version;
use sluice::engine::{Command as Cmd, Engine, EventKind};
use sluice::remote::ssh::SshPool;

const ROUNDS: usize = 5;
const HOSTS: [&str; 3] = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sh(script: &str) {
    let ok = Command::new("bash")
        .arg(root().join(script))
        .stdout(Stdio::null())
        .status()
        .expect("bash");
    assert!(ok.success(), "{script} failed");
}

fn knob(q: &str) {
    for h in HOSTS {
        let ok = Command::new("curl")
            .args([
                "-fsS",
                "-X",
                "POST",
                "-o",
                "/dev/null",
                &format!("http://{h}:8082/knobs?{q}"),
            ])
            .status()
            .expect("curl");
        assert!(ok.success());
    }
}

struct Load(Vec<Child>);
impl Drop for Load {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn main() {
    sh("lab/up.sh");
    let text = std::fs::read_to_string(root().join("config/lab.yaml"))
        .expect("config/lab.yaml")
        .replace("  interval: 10s", "  interval: 2s")
        .replace("  window: 1m", "  window: 10s")
        .replace("  min_requests: 50", "  min_requests: 20")
        .replace(
            "strategies:\n",
            "strategies:\n  long-bake: { kind: canary, steps: [20], bake: 10m, finally: pause }\n",
        );
    let config =
        Arc::new(sluice::config::parse(&root().join("bench.yaml"), &text).expect("bench config"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut times = Vec::new();
    for round in 0..ROUNDS {
        sh("lab/reset.sh");
        let _load = Load(
            HOSTS
                .iter()
                .map(|h| {
                    Command::new("wrk")
                        .args([
                            "-t1",
                            "-c8",
                            "-d120s",
                            "--timeout",
                            "5s",
                            &format!("http://{h}:8080/"),
                        ])
                        .stdout(Stdio::null())
                        .spawn()
                        .expect("wrk (lab/up.sh installs it)")
                })
                .collect(),
        );
        let took = rt.block_on(async {
            let handle = Engine::start(config.clone(), Arc::new(SshPool::new(&config)));
            let mut events = handle.subscribe();
            handle
                .send(Cmd::Deploy {
                    service: "demo".into(),
                    version: Version::parse("1.2.0").expect("version"),
                    strategy: Some("long-bake".into()),
                    operator: "bench".into(),
                    override_reason: None,
                })
                .await
                .expect("deploy");
            // Wait for the step, then for two passing judgements of the canary.
            let mut passes = 0;
            while passes < 2 {
                let e = events.recv().await.expect("event");
                if let EventKind::Analysis {
                    track: sluice::domain::TrackName::Canary,
                    verdict: sluice::analysis::Verdict::Pass,
                    ..
                } = e.kind
                {
                    passes += 1;
                }
                if let EventKind::Failed { error } = e.kind {
                    panic!("deploy failed: {error}");
                }
            }
            knob("error_rate=0.5");
            let t0 = Instant::now();
            loop {
                let e = events.recv().await.expect("event");
                if let EventKind::TrafficOnStable { .. } = e.kind {
                    break t0.elapsed();
                }
            }
        });
        eprintln!("round {}: {:.2} s", round + 1, took.as_secs_f64());
        times.push(took);
    }
    sh("lab/reset.sh");
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "canary failing (error rate 50 %) -> every host verified at stable 100 %: median {:.2} s, \
         min {:.2} s, max {:.2} s over {ROUNDS} rounds (nginx-log provider, 2 s interval, 10 s window, \
         wrk -t1 -c8 per host on 3 lab hosts)",
        median.as_secs_f64(),
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64()
    );
}
