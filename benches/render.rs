//! Benchmark: drawing one console frame (160x48) with 200 services, each on 3 hosts, with a
//! full event log, and the selected service's detail charts holding one hour of 1-second
//! judgements for both tracks (drawn at the 5 min, 1 h and 24 h windows). Prints the median
//! and p99 over many frames. No hosts needed.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use sluice::analysis::Verdict;
use sluice::domain::StackState;
use sluice::domain::TrackName;
use sluice::engine::{Event, EventKind};
use sluice::tui::app::{App, ChartWindow};
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
    frames(&mut terminal, &app, now, "no chart history");

    // One hour of judgements, one a second, for both tracks of the selected service.
    let selected = format!("svc-{:03}", SERVICES / 2);
    for s in (0..3600).rev() {
        for track in [TrackName::Stable, TrackName::Canary] {
            app.on_event(&Event {
                at: now - chrono::Duration::seconds(s),
                service: selected.clone(),
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
                    summary: "bench".into(),
                    checks: Vec::new(),
                },
            });
        }
    }
    for window in [
        ChartWindow::FiveMinutes,
        ChartWindow::Hour,
        ChartWindow::Day,
    ] {
        app.chart_window = window;
        frames(
            &mut terminal,
            &app,
            now,
            &format!(
                "charts: 1 h of 1-second samples x 2 tracks, {} window",
                window.label()
            ),
        );
    }
}

fn frames(terminal: &mut Terminal<TestBackend>, app: &App, now: chrono::DateTime<Utc>, what: &str) {
    let mut times: Vec<Duration> = Vec::new();
    for round in 0..2_000 {
        let t = Instant::now();
        terminal.draw(|f| ui::draw(f, app, now)).expect("draw");
        if round >= 100 {
            times.push(t.elapsed());
        }
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "console frame, {SERVICES} services x 3 hosts, 160x48, {what}: median {:.3} ms, p99 {:.3} ms ({} frames)",
        pct(50).as_secs_f64() * 1000.0,
        pct(99).as_secs_f64() * 1000.0,
        times.len()
    );
}
