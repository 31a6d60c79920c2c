//! The approvals pane: what it shows (with the risk), and what `a` and `x` do.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;

use super::app::{App, Input, Mode};
use super::tests::test_config;
use super::ui;
use crate::domain::DeploymentState as S;
use crate::engine::{Command, Event, EventKind};
use crate::store::Approval;

fn at(secs: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + secs, 0).single().unwrap()
}

fn pending(service: &str, environment: &str) -> Approval {
    Approval {
        id: 4,
        deployment: 9,
        service: service.into(),
        environment: environment.into(),
        stage: "first traffic step".into(),
        requested_by: "alice".into(),
        requested_at: at(0),
        expires_at: at(24 * 3600),
        risk_score: Some(61),
        risk_level: Some("high".into()),
        decided_by: None,
        decided_at: None,
        decision: None,
        reason: None,
    }
}

/// demo selected, its deployment awaiting approval in production.
fn waiting() -> App {
    let mut app = App::new(Arc::new(test_config()), "bob".into());
    app.selected = 1; // demo
    let feed = |app: &mut App, kind| {
        app.on_event(&Event {
            at: at(0),
            service: "demo".into(),
            deployment: Some(9),
            kind,
        })
    };
    feed(
        &mut app,
        EventKind::DeployStarted {
            version: "1.1.0".into(),
            strategy: "canary-auto".into(),
            operator: "alice".into(),
            hosts: vec!["web-1".into(), "web-2".into(), "web-3".into()],
            steps: vec![10, 40, 70],
        },
    );
    for (from, to) in [
        (S::Pending, S::Validating),
        (S::Validating, S::Progressing),
        (S::Progressing, S::AwaitingApproval),
    ] {
        feed(&mut app, EventKind::State { from, to });
    }
    app.approvals = vec![pending("demo", "production")];
    app
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app, at(75))).unwrap();
    format!("{}", t.backend())
}

fn press(app: &mut App, code: KeyCode) -> Vec<Command> {
    app.on_key(KeyEvent::from(code))
}

fn type_in(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

#[test]
fn snapshot_pending_production_approval_80x24() {
    let screen = render(&waiting(), 80, 24);
    assert!(screen.contains("approvals waiting (1)"), "{screen}");
    assert!(screen.contains("61 high"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn snapshot_pending_production_approval_160x48() {
    let screen = render(&waiting(), 160, 48);
    assert!(screen.contains("first traffic step"), "{screen}");
    assert!(screen.contains("in 23h58m"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn production_approval_needs_the_service_name_typed() {
    let mut app = waiting();
    assert!(press(&mut app, KeyCode::Char('a')).is_empty());
    assert!(matches!(
        &app.mode,
        Mode::Input {
            purpose: Input::ApproveName { id: 4, .. },
            ..
        }
    ));
    type_in(&mut app, "api");
    assert!(
        press(&mut app, KeyCode::Enter).is_empty(),
        "a wrong name approves nothing"
    );
    assert!(app
        .message
        .as_ref()
        .is_some_and(|m| m.1.contains("type `demo`")));
    press(&mut app, KeyCode::Char('a'));
    type_in(&mut app, "demo");
    let cmds = press(&mut app, KeyCode::Enter);
    assert_eq!(
        cmds,
        vec![Command::DecideApproval {
            id: 4,
            approve: true,
            operator: "bob".into(),
            reason: None,
        }]
    );
}

#[test]
fn a_staging_approval_asked_by_risk_is_approved_at_once() {
    let mut app = waiting();
    app.approvals = vec![pending("demo", "staging")];
    let cmds = press(&mut app, KeyCode::Char('a'));
    assert!(matches!(
        &cmds[..],
        [Command::DecideApproval {
            id: 4,
            approve: true,
            ..
        }]
    ));
}

#[test]
fn rejecting_asks_for_a_reason() {
    let mut app = waiting();
    press(&mut app, KeyCode::Char('x'));
    assert!(
        press(&mut app, KeyCode::Enter).is_empty(),
        "no reason, no rejection"
    );
    press(&mut app, KeyCode::Char('x'));
    type_in(&mut app, "sale today");
    let cmds = press(&mut app, KeyCode::Enter);
    assert_eq!(
        cmds,
        vec![Command::DecideApproval {
            id: 4,
            approve: false,
            operator: "bob".into(),
            reason: Some("sale today".into()),
        }]
    );
}

#[test]
fn the_pane_is_hidden_when_nothing_waits() {
    let mut app = waiting();
    app.approvals.clear();
    assert!(!render(&app, 80, 24).contains("approvals waiting"));
}
