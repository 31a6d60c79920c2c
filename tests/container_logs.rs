//! Issue 13, fault 10: a failed health check's last container log lines (which often hold
//! DSNs and tokens) went into the error text, and from there into events, the journal, the
//! hash-chained audit trail, notifications and raw terminal output. Now they travel apart, in
//! a `container-logs` event that only the operator's screens show, cleaned of escapes.

use chrono::Utc;
use sluice::engine::{Event, EventKind};
use sluice::remote::host::{HostError, TrackName};

const LEAK: &str = "FATAL: cannot connect to postgres://app:S3CRETpw@db:5432/app";

fn unhealthy() -> HostError {
    HostError::StackUnhealthy {
        host: "web-1".into(),
        service: "demo".into(),
        track: TrackName::Canary,
        detail: "GET http://127.0.0.11:8082/health gave HTTP 503 after 4 attempts".into(),
        logs: vec![LEAK.into()],
    }
}

#[test]
fn the_error_that_is_recorded_and_notified_holds_no_log_line() {
    let e = unhealthy().to_string();
    assert!(!e.contains("S3CRET"), "{e}");
    assert!(
        e.contains(
            "the canary stack is unhealthy: GET http://127.0.0.11:8082/health gave HTTP 503"
        ),
        "{e}"
    );
}

fn logs_event(lines: Vec<String>) -> Event {
    Event {
        at: Utc::now(),
        service: "demo".into(),
        deployment: Some(7),
        kind: EventKind::ContainerLogs {
            host: "web-1".into(),
            track: TrackName::Canary,
            lines,
        },
    }
}

#[test]
fn container_logs_are_shown_clean_and_never_notified() {
    let e = logs_event(vec![
        "\u{1b}[31mpanic\u{1b}[0m: boom".into(),
        "\u{1b}]0;pwned\u{7}title".into(),
    ]);
    let shown = sluice::cli::human(&e);
    assert!(shown.contains("| panic: boom"), "{shown}");
    assert!(shown.contains("| title"), "{shown}");
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    let mut t = sluice::notify::Tracker::default();
    assert!(t
        .on_event(&logs_event(vec![LEAK.into()]), "staging")
        .is_none());
}

#[test]
fn any_event_is_shown_without_control_characters() {
    let e = Event {
        at: Utc::now(),
        service: "demo".into(),
        deployment: Some(7),
        kind: EventKind::HostFailed {
            host: "web-1".into(),
            error: "nginx: \u{1b}[2J\u{1b}[Hreset".into(),
        },
    };
    let shown = sluice::cli::human(&e);
    assert!(shown.ends_with("web-1: FAILED: nginx: reset"), "{shown:?}");
}
