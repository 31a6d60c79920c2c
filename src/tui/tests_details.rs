//! The details view (`enter`): the selected service's latest deployment from the journal and
//! its lease; any key closes it, and `!` still rolls everything back from there.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;

use super::app::{App, Mode};
use super::details::Details;
use super::tests::test_config;
use super::ui;
use crate::domain::DeploymentState as S;
use crate::engine::Command;
use crate::store::testing::{store, TestClock, TestProbe};
use crate::store::{JournalChange, NewDeployment};

fn render(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 5, 0).unwrap();
    t.draw(|f| ui::draw(f, app, now)).unwrap();
    format!("{}", t.backend())
}

fn demo_selected() -> App {
    let mut app = App::new(Arc::new(test_config()), "bob".into());
    app.selected = 1; // demo
    app
}

#[test]
fn enter_opens_the_details_of_the_selected_service_and_any_key_closes_them() {
    let mut app = demo_selected();
    assert!(app.on_key(KeyEvent::from(KeyCode::Enter)).is_empty());
    assert_eq!(
        app.mode,
        Mode::Details {
            service: "demo".into()
        }
    );
    assert!(app.on_key(KeyEvent::from(KeyCode::Char('j'))).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    // The emergency key works from the details view too.
    app.on_key(KeyEvent::from(KeyCode::Enter));
    let cmds = app.on_key(KeyEvent::from(KeyCode::Char('!')));
    assert!(
        matches!(&cmds[..], [Command::RollbackAll { .. }]),
        "{cmds:?}"
    );
}

#[test]
fn the_details_show_the_journal_and_the_lease() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let s = store(dir.path(), clock.clone(), Arc::new(TestProbe::default()));
    let id = s
        .begin_deployment(&NewDeployment {
            service: "demo".into(),
            version: "1.1.0".into(),
            strategy: "canary-auto".into(),
            operator: "alice".into(),
            token: Some(7),
        })
        .unwrap();
    let tick = |c: JournalChange| {
        clock.advance(chrono::Duration::seconds(5));
        s.record(id, &c).unwrap();
    };
    tick(JournalChange::State(S::Validating));
    tick(JournalChange::Previous("1.0.0".into()));
    tick(JournalChange::State(S::Progressing));
    tick(JournalChange::Step {
        step: 1,
        of: 3,
        canary_percent: 10,
    });
    tick(JournalChange::Note(
        "judged canary: PASS 812 requests, 0.4 % errors, P99 180 ms".into(),
    ));
    tick(JournalChange::State(S::Paused));

    let mut app = demo_selected();
    app.on_key(KeyEvent::from(KeyCode::Enter));
    app.details = Some(Details::read(&s, "demo"));
    let screen = render(&app, 110, 20);
    for want in [
        "demo · deployment #1 1.0.0 → 1.1.0 by alice (canary-auto) · paused",
        "nobody holds it",
        "step 1  10 %",
        "judged canary: PASS",
    ] {
        assert!(screen.contains(want), "missing {want:?}:\n{screen}");
    }
    insta::assert_snapshot!(screen);
}
