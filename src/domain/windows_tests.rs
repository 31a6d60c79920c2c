use super::*;
use crate::domain::window_parse as parse;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn weekly(text: &str, tz: Tz) -> Window {
    let (start, end) = parse::weekly(text).unwrap();
    Window {
        span: Span::Weekly { start, end },
        tz,
        reason: None,
        environments: vec![],
        text: text.into(),
    }
}

fn dates(from: &str, to: &str, tz: Tz) -> Window {
    let (f, _) = parse::local(from).unwrap();
    let (t, date_only) = parse::local(to).unwrap();
    let t = if date_only { t + Duration::days(1) } else { t };
    Window {
        span: Span::Dates { from: f, to: t },
        tz,
        reason: None,
        environments: vec![],
        text: format!("{from} - {to}"),
    }
}

#[test]
fn weekend_blackout_in_seoul() {
    let w = weekly("Fri 16:00 - Mon 08:00", chrono_tz::Asia::Seoul);
    // Friday 2026-11-27 15:59 KST = 06:59 UTC: not yet.
    assert!(w.occurrence_at(utc("2026-11-27T06:59:00Z")).is_none());
    // 16:00 KST = 07:00 UTC: inside, until Monday 08:00 KST = Sunday 23:00 UTC.
    let (s, e) = w.occurrence_at(utc("2026-11-27T07:00:00Z")).unwrap();
    assert_eq!(s, utc("2026-11-27T07:00:00Z"));
    assert_eq!(e, utc("2026-11-29T23:00:00Z"));
    // Sunday noon UTC is Sunday 21:00 KST: inside.
    assert!(w.occurrence_at(utc("2026-11-29T12:00:00Z")).is_some());
    // Monday 08:00 KST: out again.
    assert!(w.occurrence_at(utc("2026-11-29T23:00:00Z")).is_none());
    assert_eq!(
        w.next_start(utc("2026-11-30T00:00:00Z")),
        Some(utc("2026-12-04T07:00:00Z"))
    );
    let (_, until) = active(
        std::slice::from_ref(&w),
        "production",
        utc("2026-11-28T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(until, Until::At(utc("2026-11-29T23:00:00Z")));
    assert_eq!(
        show(utc("2026-11-29T23:00:00Z"), chrono_tz::Asia::Seoul),
        "Mon 2026-11-30 08:00 KST (2026-11-29 23:00 UTC)"
    );
}

#[test]
fn spring_forward_in_berlin_starts_when_the_clocks_jump() {
    // 2026-03-29: 02:00 CET -> 03:00 CEST (01:00 UTC). 02:30 does not exist that day.
    let w = weekly("Sun 02:30 - Sun 04:00", chrono_tz::Europe::Berlin);
    assert!(w.occurrence_at(utc("2026-03-29T00:59:00Z")).is_none());
    let (s, e) = w.occurrence_at(utc("2026-03-29T01:00:00Z")).unwrap();
    assert_eq!(s, utc("2026-03-29T01:00:00Z")); // 03:00 CEST
    assert_eq!(e, utc("2026-03-29T02:00:00Z")); // 04:00 CEST
                                                // An ordinary Sunday before: 02:30-04:00 CET = 01:30-03:00 UTC.
    let (s, e) = w.occurrence_at(utc("2026-03-22T02:00:00Z")).unwrap();
    assert_eq!(
        (s, e),
        (utc("2026-03-22T01:30:00Z"), utc("2026-03-22T03:00:00Z"))
    );
    // A window that ends in the gap ends when the clocks jump.
    let w = weekly("Sun 01:00 - Sun 02:30", chrono_tz::Europe::Berlin);
    let (_, e) = w.occurrence_at(utc("2026-03-29T00:30:00Z")).unwrap();
    assert_eq!(e, utc("2026-03-29T01:00:00Z"));
}

#[test]
fn fall_back_in_berlin_never_shortens_a_window() {
    // 2026-10-25: 03:00 CEST -> 02:00 CET (01:00 UTC); 02:00-03:00 happens twice.
    let w = weekly("Sun 02:30 - Sun 04:00", chrono_tz::Europe::Berlin);
    let (s, e) = w.occurrence_at(utc("2026-10-25T00:30:00Z")).unwrap();
    assert_eq!(s, utc("2026-10-25T00:30:00Z")); // first 02:30 (CEST)
    assert_eq!(e, utc("2026-10-25T03:00:00Z")); // 04:00 CET
                                                // Ending inside the repeated hour: the second occurrence.
    let w = weekly("Sun 01:00 - Sun 02:30", chrono_tz::Europe::Berlin);
    let (_, e) = w.occurrence_at(utc("2026-10-25T00:00:00Z")).unwrap();
    assert_eq!(e, utc("2026-10-25T01:30:00Z")); // 02:30 CET
    assert!(w.occurrence_at(utc("2026-10-25T01:15:00Z")).is_some());
}

#[test]
fn date_ranges_include_the_last_day() {
    let w = dates("2026-12-24", "2026-12-26", chrono_tz::Asia::Seoul);
    assert!(w.occurrence_at(utc("2026-12-23T14:59:00Z")).is_none());
    assert!(w.occurrence_at(utc("2026-12-23T15:00:00Z")).is_some());
    let (_, e) = w.occurrence_at(utc("2026-12-26T14:00:00Z")).unwrap();
    assert_eq!(e, utc("2026-12-26T15:00:00Z"));
    let w = dates("2026-12-24 18:00", "2026-12-24 20:00", Tz::UTC);
    assert!(w.occurrence_at(utc("2026-12-24T20:00:00Z")).is_none());
}

#[test]
fn back_to_back_windows_are_followed_to_their_end() {
    let ws = vec![
        weekly("Fri 16:00 - Sat 00:00", Tz::UTC),
        weekly("Sat 00:00 - Mon 08:00", Tz::UTC),
    ];
    let (w, until) = active(&ws, "staging", utc("2026-11-27T17:00:00Z")).unwrap();
    assert_eq!(w.text, "Fri 16:00 - Sat 00:00");
    assert_eq!(until, Until::At(utc("2026-11-30T08:00:00Z")));
    let all = vec![weekly("Mon 00:00 - Sun 24:00", Tz::UTC)];
    let (_, until) = active(&all, "staging", utc("2026-11-27T17:00:00Z")).unwrap();
    assert_eq!(until, Until::Open);
}

#[test]
fn windows_can_be_limited_to_environments() {
    let mut w = weekly("Mon 00:00 - Sun 24:00", Tz::UTC);
    w.environments = vec!["production".into()];
    let ws = vec![w];
    assert!(active(&ws, "staging", utc("2026-11-27T17:00:00Z")).is_none());
    assert!(active(&ws, "production", utc("2026-11-27T17:00:00Z")).is_some());
}

#[test]
fn working_hours_high_risk_days_and_friday_afternoon() {
    let seoul = chrono_tz::Asia::Seoul;
    let wh = WorkingHours::default();
    // Friday 2026-11-27 10:00 KST = 01:00 UTC.
    assert!(wh.contains(seoul, utc("2026-11-27T01:00:00Z")));
    assert!(!wh.contains(Tz::UTC, utc("2026-11-27T01:00:00Z")));
    assert!(!friday_afternoon(seoul, utc("2026-11-27T01:00:00Z")));
    assert!(friday_afternoon(seoul, utc("2026-11-27T03:00:00Z")));
    // Friday 23:00 UTC is Saturday in Seoul.
    assert!(!friday_afternoon(seoul, utc("2026-11-27T23:00:00Z")));
    let days = HighRiskDays {
        weekdays: vec![Weekday::Fri],
        dates: vec![NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()],
    };
    assert!(days.contains(seoul, utc("2026-11-27T01:00:00Z")));
    assert!(days.contains(seoul, utc("2026-12-23T16:00:00Z")));
    assert!(!days.contains(Tz::UTC, utc("2026-12-23T16:00:00Z")));
}
