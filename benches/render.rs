//! Benchmark: drawing one console frame (160x48) with 200 services, each on 3 hosts, with a
//! full event log. Prints the median and p99 over many frames. No hosts needed.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use sluice::engine::{Event, EventKind};
use sluice::target::host::StackState;
use sluice::tui::app::App;
use sluice::tui::ui;

const SERVICES: usize = 200;

fn config_yaml() -> String {
    let mut y = String::from("environments:\n  production: { approval: required }\nhosts:\n");
    for h in 1..=3 {
        let _ = writeln!(
            y,
            "  - {{ name: web-{h}, address: 10.0.0.{h}, environment: production }}"
        );
    }
    y.push_str(
        "strategies:\n  auto: { kind: canary, steps: [10, 40, 70], bake: 30s }\nservices:\n",
    );
    for i in 0..SERVICES {
        let _ = write!(
            y,
            "  svc-{i:03}:\n    hosts: [web-1, web-2, web-3]\n    image: example/svc\n    nginx: {{ upstream_file: /etc/nginx/conf.d/s{i}.conf, upstream: s{i} }}\n    tracks:\n      stable: {{ project: s{i}-stable, compose_file: /srv/s{i}/stable.yml, port: {} }}\n      canary: {{ project: s{i}-canary, compose_file: /srv/s{i}/canary.yml, port: {} }}\n    strategy: auto\n",
            10_000 + 2 * i,
            10_001 + 2 * i
        );
    }
    y
}

fn main() {
    let config =
        sluice::config::parse(Path::new("bench.yaml"), &config_yaml()).expect("valid bench config");
    let mut app = App::new(Arc::new(config), "bench".into());
    let now = Utc::now();
    let stack = |v: &str| StackState {
        version: Some(v.into()),
        running: true,
        status: "Up 1 hour".into(),
    };
    for i in 0..SERVICES {
        for h in 1..=3 {
            app.on_event(&Event {
                at: now,
                service: format!("svc-{i:03}"),
                deployment: None,
                kind: EventKind::HostObserved {
                    host: format!("web-{h}"),
                    read_at: now,
                    stable_weight: 60,
                    canary_weight: 40,
                    canary_percent: Some(40),
                    stable: stack("1.0.0"),
                    canary: stack("1.1.0"),
                },
            });
        }
        app.on_event(&Event {
            at: now,
            service: format!("svc-{i:03}"),
            deployment: None,
            kind: EventKind::Info {
                message: "an event for the log".into(),
            },
        });
    }
    app.selected = SERVICES / 2;
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    let mut times: Vec<Duration> = Vec::new();
    for round in 0..2_000 {
        let t = Instant::now();
        terminal.draw(|f| ui::draw(f, &app, now)).expect("draw");
        if round >= 100 {
            times.push(t.elapsed());
        }
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "console frame, {SERVICES} services x 3 hosts, 160x48: median {:.3} ms, p99 {:.3} ms ({} frames)",
        pct(50).as_secs_f64() * 1000.0,
        pct(99).as_secs_f64() * 1000.0,
        times.len()
    );
}
