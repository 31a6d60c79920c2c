//! Benchmark: memory held by the console's chart history: 50 services, both tracks, a
//! judgement every second for 24 hours, folded into the console's snapshot and into a second
//! copy standing for the engine's. Prints the bytes of the history rings and the process's
//! resident set size (VmRSS) before and after. No hosts needed.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use sluice::analysis::Verdict;
use sluice::domain::TrackName;
use sluice::engine::{Event, EventKind, Snapshot};
use sluice::tui::app::App;

const SERVICES: usize = 50;
const SECONDS: i64 = 24 * 3600;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn config_yaml() -> String {
    let mut y = String::from(
        "environments:\n  production: { approval: required }\nhosts:\n  - { name: web-1, address: 10.0.0.1, environment: production }\nstrategies:\n  auto: { kind: canary, steps: [10, 40, 70], bake: 30s }\nservices:\n",
    );
    for i in 0..SERVICES {
        let _ = write!(
            y,
            "  svc-{i:03}:\n    hosts: [web-1]\n    image: example/svc\n    nginx: {{ upstream_file: /etc/nginx/conf.d/s{i}.conf, upstream: s{i} }}\n    tracks:\n      stable: {{ project: s{i}-stable, compose_file: /srv/s{i}/stable.yml, port: {} }}\n      canary: {{ project: s{i}-canary, compose_file: /srv/s{i}/canary.yml, port: {} }}\n    strategy: auto\n",
            10_000 + 2 * i,
            10_001 + 2 * i
        );
    }
    y
}

fn main() {
    let config =
        sluice::config::parse(Path::new("bench.yaml"), &config_yaml()).expect("valid bench config");
    let before = rss_kib();
    let mut app = App::new(Arc::new(config), "bench".into());
    let mut engine_copy = Snapshot::default();
    let now = Utc::now();
    let names: Vec<String> = (0..SERVICES).map(|i| format!("svc-{i:03}")).collect();
    let t = std::time::Instant::now();
    for s in (0..SECONDS).rev() {
        let at = now - chrono::Duration::seconds(s);
        for name in &names {
            for track in [TrackName::Stable, TrackName::Canary] {
                let e = Event {
                    at,
                    service: name.clone(),
                    deployment: None,
                    kind: EventKind::Analysis {
                        track,
                        verdict: Verdict::Pass,
                        requests: 500,
                        error_rate: 0.001 * (s % 17) as f64,
                        p99_ms: 100.0 + (s % 300) as f64,
                        p50_ms: 20.0,
                        window_secs: 60,
                        provider: "nginx-log".into(),
                        summary: String::new(),
                        checks: Vec::new(),
                    },
                };
                app.on_event(&e);
                engine_copy.apply(&e);
            }
        }
    }
    let fed = t.elapsed();
    let after = rss_kib();
    let rings: usize = [&app.snapshot, &engine_copy]
        .iter()
        .flat_map(|s| s.services.values())
        .map(|s| s.stable.history.heap_bytes() + s.canary.history.heap_bytes())
        .sum();
    println!(
        "chart history, {SERVICES} services x 2 tracks x 24 h of 1-second judgements ({} events in {:.1} s), console + engine copies: rings {:.1} MB; RSS {:.1} MB before, {:.1} MB after (+{:.1} MB)",
        SECONDS * SERVICES as i64 * 2,
        fed.as_secs_f64(),
        rings as f64 / 1e6,
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / 1024.0
    );
}
