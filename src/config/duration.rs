//! Durations as people write them in configs: `500ms`, `30s`, `1m30s`, `2h`.

use std::time::Duration;

const HOW: &str = "write e.g. 30s, 500ms or 1m30s";

/// Parse a duration; the error says what was wrong and how to write it.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {HOW}"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{s}` is not a duration; {HOW}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{s}`: number too large"))?;
        rest = &rest[digits..];
        if rest.starts_with(['.', ',']) {
            return Err(format!(
                "`{s}`: fractions are not supported; use a smaller unit, e.g. 1500ms for 1.5s"
            ));
        }
        let spaced = rest.starts_with(char::is_whitespace);
        let unit_at = rest.trim_start();
        let unit_len = unit_at
            .char_indices()
            .find(|(_, c)| !c.is_alphabetic())
            .map_or(unit_at.len(), |(i, _)| i);
        let unit = &unit_at[..unit_len];
        rest = &unit_at[unit_len..];
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "" => return Err(format!("`{s}` has no unit; write e.g. {n}s or {n}ms")),
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}`; use ms, s, m or h ({HOW})"
                ))
            }
        };
        if spaced {
            return Err(format!(
                "`{s}`: write the unit right after the number, e.g. {n}{unit}"
            ));
        }
        total = total.saturating_add(d);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn refuses_bare_numbers_and_unknown_units() {
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(parse_duration("3d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1 minute")
            .unwrap_err()
            .contains("unknown unit `minute`"));
        assert!(parse_duration("5 s").unwrap_err().contains("e.g. 5s"));
        assert!(parse_duration("1.5s").unwrap_err().contains("1500ms"));
        assert!(parse_duration("1m30").unwrap_err().contains("no unit"));
        assert!(parse_duration("30sec")
            .unwrap_err()
            .contains("unknown unit `sec`"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_duration(&s);
        }
    }
}
