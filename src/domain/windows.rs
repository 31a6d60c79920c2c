//! Deploy windows in a time zone: blackouts and business-critical hours, as weekly ranges
//! ("Fri 16:00 - Mon 08:00") or date ranges, plus working hours and high-risk days. Pure: the
//! caller passes the instant to judge.
//!
//! Clock changes never shorten a window. Each occurrence of a window is a span of local
//! wall-clock time, turned into instants with these rules:
//! - a local time that happens twice (the repeated hour in autumn) starts a window at its
//!   first occurrence and ends one at its second;
//! - a local time that never happens (the skipped hour in spring, e.g. 02:30 in Berlin on the
//!   last Sunday of March) becomes the moment the clocks jump (03:00 CEST), for starts and
//!   ends alike.
//!
//! So a weekly window "Sun 02:30 - Sun 04:00" in Europe/Berlin lasts 1 h on the March change
//! day (03:00-04:00 CEST), 1.5 h on an ordinary Sunday, and 2.5 h on the October change day
//! (02:30 CEST - 04:00 CET).

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

pub const WEEK_MINUTES: u32 = 7 * 24 * 60;

/// When a window applies, in local wall-clock time of its zone.
#[derive(Debug, Clone, PartialEq)]
pub enum Span {
    /// Every week, from `start` to `end`, in minutes since Monday 00:00 (`end` may be 10080,
    /// "Sun 24:00"). An `end` at or before `start` wraps into the next week.
    Weekly { start: u32, end: u32 },
    /// Once, from `from` up to (not including) `to`.
    Dates {
        from: NaiveDateTime,
        to: NaiveDateTime,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub span: Span,
    pub tz: Tz,
    /// Shown in refusals ("christmas freeze").
    pub reason: Option<String>,
    /// Only these environments (empty: all).
    pub environments: Vec<String>,
    /// How the window was written, for messages.
    pub text: String,
}

impl Window {
    pub fn applies_to(&self, environment: &str) -> bool {
        self.environments.is_empty() || self.environments.iter().any(|e| e == environment)
    }

    /// The occurrence of this window that contains `now`, as [start, end).
    pub fn occurrence_at(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.occurrences_near(now)
            .into_iter()
            .find(|(s, e)| *s <= now && now < *e)
    }

    /// The first start of this window after `now`, if any.
    pub fn next_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.occurrences_near(now)
            .into_iter()
            .map(|(s, _)| s)
            .filter(|s| *s > now)
            .min()
    }

    /// Occurrences that may contain or follow `now` within about a week.
    fn occurrences_near(&self, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        match &self.span {
            Span::Dates { from, to } => {
                vec![(
                    resolve(self.tz, *from, Edge::Start),
                    resolve(self.tz, *to, Edge::End),
                )]
            }
            Span::Weekly { start, end } => {
                let len = match (end + WEEK_MINUTES - start) % WEEK_MINUTES {
                    0 => WEEK_MINUTES,
                    l => l,
                };
                let (wd, t) = week_time(*start);
                let today = now.with_timezone(&self.tz).date_naive();
                (-8..=8)
                    .map(|k| today + Duration::days(k))
                    .filter(|d| d.weekday() == wd)
                    .map(|d| {
                        let s = d.and_time(t);
                        let e = s + Duration::minutes(i64::from(len));
                        (
                            resolve(self.tz, s, Edge::Start),
                            resolve(self.tz, e, Edge::End),
                        )
                    })
                    .collect()
            }
        }
    }
}

/// Minutes since Monday 00:00 as (weekday, time of day).
fn week_time(m: u32) -> (Weekday, NaiveTime) {
    let m = m % WEEK_MINUTES;
    let day = match m / 1440 {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    };
    let min = m % 1440;
    (
        day,
        NaiveTime::from_hms_opt(min / 60, min % 60, 0).unwrap_or(NaiveTime::MIN),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Start,
    End,
}

/// A local time that ends something (a freeze), by the rules in the module comment.
pub fn resolve_end(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    resolve(tz, local, Edge::End)
}

/// A local wall-clock time as an instant, by the rules in the module comment.
fn resolve(tz: Tz, local: NaiveDateTime, edge: Edge) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, second) => match edge {
            Edge::Start => first.with_timezone(&Utc),
            Edge::End => second.with_timezone(&Utc),
        },
        LocalResult::None => {
            // Skipped by a clock change: the first local minute after the gap is the moment
            // the clocks jumped. Gaps are at most a few hours; a day bounds the search.
            let mut t = local;
            for _ in 0..(24 * 60) {
                t += Duration::minutes(1);
                let t0 = t.with_second(0).unwrap_or(t);
                if let Some(x) = tz.from_local_datetime(&t0).earliest() {
                    return x.with_timezone(&Utc);
                }
            }
            // Not reached for any real zone; fall back to reading the time as UTC.
            Utc.from_utc_datetime(&local)
        }
    }
}

/// When a run of windows ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    At(DateTime<Utc>),
    /// The windows cover every moment for the foreseeable future (e.g. a whole-week range).
    Open,
}

/// The first window among `windows` (for `environment`) that contains `now`, and when the
/// blocked period ends: overlapping and back-to-back windows are followed to their end.
pub fn active<'w>(
    windows: &'w [Window],
    environment: &str,
    now: DateTime<Utc>,
) -> Option<(&'w Window, Until)> {
    let relevant: Vec<&Window> = windows
        .iter()
        .filter(|w| w.applies_to(environment))
        .collect();
    let first = relevant
        .iter()
        .find(|w| w.occurrence_at(now).is_some())
        .copied()?;
    let mut t = now;
    // A year of back-to-back weekly windows is far more than any real calendar holds.
    for _ in 0..600 {
        let ends: Vec<DateTime<Utc>> = relevant
            .iter()
            .filter_map(|w| w.occurrence_at(t).map(|(_, e)| e))
            .collect();
        match ends.into_iter().max() {
            Some(e) => t = e,
            None => return Some((first, Until::At(t))),
        }
    }
    Some((first, Until::Open))
}

/// Working hours: these weekdays, from `start` to `end` local time.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingHours {
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Default for WorkingHours {
    fn default() -> Self {
        WorkingHours {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

impl WorkingHours {
    pub fn contains(&self, tz: Tz, now: DateTime<Utc>) -> bool {
        let l = now.with_timezone(&tz);
        let t = l.time();
        self.days.contains(&l.weekday()) && self.start <= t && t < self.end
    }
}

/// The calendar's high-risk days: weekdays (every Friday) and dates (2026-12-24).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HighRiskDays {
    pub weekdays: Vec<Weekday>,
    pub dates: Vec<NaiveDate>,
}

impl HighRiskDays {
    pub fn contains(&self, tz: Tz, now: DateTime<Utc>) -> bool {
        let d = now.with_timezone(&tz).date_naive();
        self.weekdays.contains(&d.weekday()) || self.dates.contains(&d)
    }
}

/// Friday from 12:00 local time on.
pub fn friday_afternoon(tz: Tz, now: DateTime<Utc>) -> bool {
    let l = now.with_timezone(&tz);
    l.weekday() == Weekday::Fri && l.hour() >= 12
}

/// "2026-03-29 03:00 CEST (01:00 UTC)": an instant in a zone and in UTC.
pub fn show(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    if tz == Tz::UTC {
        format!("{} UTC", t.format("%a %Y-%m-%d %H:%M"))
    } else {
        format!(
            "{} {} ({} UTC)",
            l.format("%a %Y-%m-%d %H:%M"),
            l.format("%Z"),
            t.format("%Y-%m-%d %H:%M")
        )
    }
}

#[cfg(test)]
#[path = "windows_tests.rs"]
mod tests;
