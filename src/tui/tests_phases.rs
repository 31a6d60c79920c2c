//! Console rendering of blue/green and rolling phases, fed events as the engine emits them.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::App;
use super::tests::test_config;
use super::ui;
use crate::domain::DeploymentState as S;
use crate::domain::StackState;
use crate::engine::{Event, EventKind};

fn at(secs: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + secs, 0).single().unwrap()
}

fn feed(app: &mut App, secs: i64, kind: EventKind) {
    app.on_event(&Event {
        at: at(secs),
        service: "demo".into(),
        deployment: Some(9),
        kind,
    });
}

fn render(app: &App, now: i64) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 30)).unwrap();
    t.draw(|f| ui::draw(f, app, at(now))).unwrap();
    format!("{}", t.backend())
}

fn started(app: &mut App, strategy: &str) {
    app.selected = 1; // demo
    feed(
        app,
        0,
        EventKind::DeployStarted {
            version: "1.1.0".into(),
            strategy: strategy.into(),
            operator: "alice".into(),
            hosts: vec!["web-1".into(), "web-2".into(), "web-3".into()],
            steps: vec![],
        },
    );
    for (from, to) in [(S::Pending, S::Validating), (S::Validating, S::Progressing)] {
        feed(app, 1, EventKind::State { from, to });
    }
}

/// A host read back at `secs`; a host at 0 % has green/the new version running only when
/// `new_running`.
fn host(app: &mut App, secs: i64, h: &str, canary_percent: u8, new_running: bool) {
    let up = |v: &str| StackState {
        version: Some(v.into()),
        running: true,
        status: "Up 1 minute".into(),
    };
    let absent = StackState {
        version: None,
        running: false,
        status: "absent".into(),
    };
    feed(
        app,
        secs,
        EventKind::HostObserved {
            host: h.into(),
            read_at: at(secs),
            stable_weight: if canary_percent == 100 { 0 } else { 100 },
            canary_weight: if canary_percent == 100 { 100 } else { 0 },
            canary_percent: Some(canary_percent),
            stable: up("1.0.0"),
            canary: if new_running { up("1.1.0") } else { absent },
        },
    );
}

fn hosts() -> Vec<String> {
    vec!["web-1".into(), "web-2".into(), "web-3".into()]
}

#[test]
fn blue_green_shows_green_verify_then_switched_with_blue_kept() {
    let mut a = App::new(Arc::new(test_config()), "alice".into());
    started(&mut a, "blue-green");
    feed(
        &mut a,
        3,
        EventKind::State {
            from: S::Progressing,
            to: S::Verifying,
        },
    );
    feed(
        &mut a,
        3,
        EventKind::VerifyStarted {
            hosts: hosts(),
            until: Some(at(23)),
        },
    );
    for h in ["web-1", "web-2", "web-3"] {
        host(&mut a, 4, h, 0, true);
    }
    let screen = render(&a, 11);
    assert!(screen.contains("green verify 12s"), "{screen}");

    feed(
        &mut a,
        24,
        EventKind::State {
            from: S::Verifying,
            to: S::Switched,
        },
    );
    feed(
        &mut a,
        25,
        EventKind::TrafficSwitched {
            hosts: hosts(),
            keep_until: Some(at(85)),
        },
    );
    for h in ["web-1", "web-2", "web-3"] {
        host(&mut a, 75, h, 100, true);
    }
    let screen = render(&a, 77);
    assert!(screen.contains("switched · blue kept 8s"), "{screen}");
    insta::assert_snapshot!(screen);

    // Paused while blue is kept: the clock stops, so no time is shown.
    feed(
        &mut a,
        78,
        EventKind::State {
            from: S::Switched,
            to: S::Paused,
        },
    );
    assert!(render(&a, 80).contains("paused · switched"));
}

#[test]
fn rolling_shows_the_batch() {
    let mut a = App::new(Arc::new(test_config()), "alice".into());
    started(&mut a, "rolling");
    feed(
        &mut a,
        3,
        EventKind::BatchStarted {
            batch: 2,
            of: 3,
            hosts: vec!["web-2".into()],
        },
    );
    assert!(render(&a, 4).contains("batch 2/3"));
    feed(
        &mut a,
        6,
        EventKind::BatchReached {
            batch: 2,
            of: 3,
            hosts: vec!["web-2".into()],
            bake_until: Some(at(26)),
        },
    );
    host(&mut a, 7, "web-1", 100, true);
    host(&mut a, 7, "web-2", 100, true);
    host(&mut a, 7, "web-3", 0, false);
    let screen = render(&a, 10);
    assert!(screen.contains("batch 2/3 · bake 16s"), "{screen}");
    insta::assert_snapshot!(screen);
}
