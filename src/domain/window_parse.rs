//! Reading the policy's small languages: weekdays, times of day, weekly ranges
//! ("Fri 16:00 - Mon 08:00"), dates and local date-times. Errors say what is expected.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Weekday};

use super::windows::WEEK_MINUTES;

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// `mon`, `Monday`, `FRI`.
pub fn weekday(s: &str) -> Result<Weekday, String> {
    let l = s.trim().to_ascii_lowercase();
    DAYS.iter()
        .find(|(short, d)| l == *short || l == full(*d))
        .map(|(_, d)| *d)
        .ok_or_else(|| format!("`{s}` is not a weekday; use mon, tue, wed, thu, fri, sat or sun"))
}

fn full(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// `mon-fri` (a range, in week order) or a single day.
pub fn weekdays(s: &str) -> Result<Vec<Weekday>, String> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (weekday(a)?, weekday(b)?);
            let (a, b) = (a.num_days_from_monday(), b.num_days_from_monday());
            if b < a {
                return Err(format!(
                    "`{s}`: a day range runs from Monday towards Sunday (mon-fri); list days across the weekend one by one"
                ));
            }
            Ok((a..=b).map(|i| DAYS[i as usize].1).collect())
        }
        None => Ok(vec![weekday(s)?]),
    }
}

/// Minutes since midnight of `HH:MM` (24:00 allowed when `allow_24`).
pub fn minutes(s: &str, allow_24: bool) -> Result<u32, String> {
    let bad = || format!("`{s}` is not a time of day; write HH:MM, e.g. 08:00 or 16:30");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if (h, m) == (24, 0) && allow_24 {
        return Ok(1440);
    }
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub fn time(s: &str) -> Result<NaiveTime, String> {
    let m = minutes(s, false)?;
    NaiveTime::from_hms_opt(m / 60, m % 60, 0).ok_or_else(|| format!("`{s}` is not a time of day"))
}

/// `Fri 16:00 - Mon 08:00` as (start, end) minutes since Monday 00:00.
pub fn weekly(s: &str) -> Result<(u32, u32), String> {
    let help = "write a weekly range as `DAY HH:MM - DAY HH:MM`, e.g. `Fri 16:00 - Mon 08:00`";
    let (a, b) = s
        .split_once(" - ")
        .or_else(|| s.split_once('–'))
        .ok_or_else(|| format!("`{s}`: {help}"))?;
    let point = |p: &str, end: bool| -> Result<u32, String> {
        let mut it = p.split_whitespace();
        let (Some(d), Some(t), None) = (it.next(), it.next(), it.next()) else {
            return Err(format!("`{p}`: {help}"));
        };
        let d = weekday(d)?;
        Ok(d.num_days_from_monday() * 1440 + minutes(t, end)?)
    };
    let start = point(a.trim(), false)?;
    let end = point(b.trim(), true)?;
    if start == end % WEEK_MINUTES && end != WEEK_MINUTES {
        return Err(format!(
            "`{s}` starts and ends at the same time; for the whole week write `Mon 00:00 - Sun 24:00`"
        ));
    }
    Ok((start, end))
}

/// A date (`2026-12-24`) or a local date-time (`2026-12-24 18:00` or `2026-12-24T18:00`);
/// the flag says a date was written alone.
pub fn local(s: &str) -> Result<(NaiveDateTime, bool), String> {
    let t = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok((d.and_time(NaiveTime::MIN), true));
    }
    for f in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, f) {
            return Ok((dt, false));
        }
    }
    Err(format!(
        "`{s}` is not a date or local date-time; write 2026-12-24 or 2026-12-24 18:00 (in the policy's time zone)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_ranges() {
        assert_eq!(
            weekly("Fri 16:00 - Mon 08:00"),
            Ok((4 * 1440 + 960, 8 * 60))
        );
        assert_eq!(weekly("mon 00:00 - sun 24:00"), Ok((0, WEEK_MINUTES)));
        assert!(weekly("Fri 16:00 - Fri 16:00").is_err());
        assert!(weekly("Fri 16:00").is_err());
        assert!(weekly("Fry 16:00 - Mon 08:00").is_err());
        assert!(weekly("Fri 25:00 - Mon 08:00").is_err());
        assert!(weekly("Fri 24:00 - Mon 08:00").is_err());
    }

    #[test]
    fn days_and_times() {
        assert_eq!(weekdays("mon-fri").map(|d| d.len()), Ok(5));
        assert_eq!(weekdays("Friday"), Ok(vec![Weekday::Fri]));
        assert!(weekdays("fri-mon").is_err());
        assert_eq!(minutes("9:05", false), Ok(545));
        assert!(minutes("9:5", false).is_err());
        assert_eq!(local("2026-12-24").map(|x| x.1), Ok(true));
        assert_eq!(local("2026-12-24T18:00").map(|x| x.1), Ok(false));
        assert!(local("24.12.2026").is_err());
    }
}
