//! `environments.NAME.approval_timeout`: default 24 h, a duration between 1s and 30 days,
//! errors located at the value.

use std::path::Path;
use std::time::Duration;

use sluice::config::parse;

const LAB: &str = include_str!("../config/lab.yaml");

fn with_production(line: &str) -> String {
    LAB.lines()
        .map(|l| {
            if l.trim_start().starts_with("production:") {
                format!("  production: {line}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

#[test]
fn the_timeout_defaults_to_a_day_and_can_be_set() {
    let c = parse(Path::new("t.yaml"), LAB).expect("the lab config is valid");
    assert_eq!(
        c.environments["production"].approval_timeout,
        Duration::from_secs(24 * 3600)
    );
    let text =
        with_production("{ approval: required, approvers: [alice, bob], approval_timeout: 30m }");
    let c = parse(Path::new("t.yaml"), &text).expect("valid");
    assert_eq!(
        c.environments["production"].approval_timeout,
        Duration::from_secs(1800)
    );
}

#[test]
fn a_bad_timeout_is_located_and_explained() {
    for (value, needle) in [
        ("0s", "between 1s and 30 days"),
        ("1000h", "between 1s and 30 days"),
        ("10", "has no unit"),
        ("soon", "approval_timeout"),
    ] {
        let text = with_production(&format!(
            "{{ approval: required, approvers: [alice, bob], approval_timeout: {value} }}"
        ));
        let d = parse(Path::new("t.yaml"), &text).expect_err("invalid");
        let line = text
            .lines()
            .position(|l| l.contains("approval_timeout"))
            .unwrap() as u64
            + 1;
        assert!(
            d.iter()
                .any(|d| d.line == line && d.message.contains(needle)),
            "{value}: {d:#?}"
        );
    }
}
