//! The NGINX access log as a metric source: parse the lab's JSON log lines, and follow a log
//! file over SSH by polling from a byte offset (a rotated or truncated file starts over).

use serde::Deserialize;

use super::window::Sample;

#[derive(Debug, Deserialize)]
struct Line {
    msec: f64,
    #[serde(default)]
    upstream: String,
    status: u16,
    request_time: f64,
}

/// A parsed log line: which upstream server served it, and the sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub upstream: String,
    pub sample: Sample,
}

/// Parse one line of the `sluice` JSON log format; `None` for lines that are not requests
/// (or are malformed — a log is outside input and never a reason to stop).
pub fn parse_line(line: &str) -> Option<Entry> {
    let l: Line = serde_json::from_str(line.trim()).ok()?;
    if !l.msec.is_finite() || !l.request_time.is_finite() {
        return None;
    }
    // After a retry nginx lists every server tried ("a:1, b:2"); the last one answered.
    let upstream = l
        .upstream
        .rsplit(',')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if upstream.is_empty() || upstream == "-" {
        return None;
    }
    Some(Entry {
        upstream,
        sample: Sample {
            at_ms: (l.msec * 1000.0) as i64,
            status: l.status,
            latency_ms: l.request_time * 1000.0,
        },
    })
}

/// Where a follower is in a host's log file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// (inode, offset) once the file was seen; `None` before the first poll.
    pub at: Option<(u64, u64)>,
    /// An incomplete last line, kept for the next poll.
    pub partial: String,
}

/// At most this much is read per poll; the rest comes next time.
pub const READ_LIMIT: u64 = 8 * 1024 * 1024;

/// The remote script for one poll. Output: `INODE SIZE START`, a newline, then the bytes from
/// START (at most READ_LIMIT). The first poll starts at the end: history is not judged.
pub fn poll_script(quoted_path: &str, cursor: &Cursor) -> String {
    let (inode, offset) = cursor.at.unwrap_or((0, u64::MAX));
    format!(
        r#"f={quoted_path}
set -- $(stat -L -c '%i %s' "$f" 2>/dev/null || echo "0 0")
if [ {first} = 1 ]; then start=$2; elif [ "$1" = {inode} ] && [ "$2" -ge {offset} ]; then start={offset}; else start=0; fi
echo "$1 $2 $start"
[ "$start" -lt "$2" ] && tail -c +$((start + 1)) "$f" 2>/dev/null | head -c {READ_LIMIT}
exit 0
"#,
        first = u8::from(cursor.at.is_none()),
        offset = if offset == u64::MAX { 0 } else { offset },
    )
}

/// Apply a poll's output to the cursor; returns the complete lines read.
pub fn advance(cursor: &mut Cursor, output: &str) -> Result<Vec<String>, String> {
    let (head, data) = output.split_once('\n').unwrap_or((output, ""));
    let nums: Vec<u64> = head
        .split_whitespace()
        .map(|n| n.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            format!(
                "unexpected answer from the log poll: `{}`",
                head.chars().take(80).collect::<String>()
            )
        })?;
    let [inode, _size, start] = nums[..] else {
        return Err(format!("unexpected answer from the log poll: `{head}`"));
    };
    if cursor.at.is_some_and(|(i, o)| i != inode || start < o) {
        // Rotated or truncated: a partial line from the old file means nothing now.
        cursor.partial.clear();
    }
    let mut text = std::mem::take(&mut cursor.partial);
    text.push_str(data);
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    cursor.partial = lines.pop().unwrap_or_default();
    cursor.at = Some((inode, start + data.len() as u64));
    Ok(lines.into_iter().filter(|l| !l.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"time":"2026-11-24T08:00:00+00:00","msec":1795507200.123,"upstream":"127.0.0.11:8082","status":503,"request_time":0.012,"upstream_time":"0.011","request":"GET / HTTP/1.1"}"#;

    #[test]
    fn parses_the_lab_format() {
        let e = parse_line(LINE).unwrap();
        assert_eq!(e.upstream, "127.0.0.11:8082");
        assert_eq!(e.sample.status, 503);
        assert_eq!(e.sample.at_ms, 1_795_507_200_123);
        assert!((e.sample.latency_ms - 12.0).abs() < 1e-6);
    }

    #[test]
    fn retried_requests_count_for_the_last_server() {
        let l = LINE.replace(
            "\"127.0.0.11:8082\"",
            "\"127.0.0.11:8081, 127.0.0.11:8082\"",
        );
        assert_eq!(parse_line(&l).unwrap().upstream, "127.0.0.11:8082");
    }

    #[test]
    fn garbage_is_skipped() {
        for l in [
            "",
            "not json",
            "{}",
            r#"{"msec":"x","status":200,"request_time":1}"#,
            &LINE.replace("127.0.0.11:8082", "-"),
        ] {
            assert_eq!(parse_line(l), None, "{l}");
        }
    }

    #[test]
    fn cursor_keeps_partial_lines_and_restarts_after_rotation() {
        let mut c = Cursor::default();
        assert_eq!(
            advance(&mut c, "7 100 100\n").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(c.at, Some((7, 100)));
        let lines = advance(&mut c, "7 120 100\nline one\nline t").unwrap();
        assert_eq!(lines, ["line one"]);
        assert_eq!(c.at, Some((7, 115)));
        let lines = advance(&mut c, "7 125 115\nwo\n").unwrap();
        assert_eq!(lines, ["line two"]);
        // A new inode: start over, drop the partial line of the old file.
        c.partial = "stale".into();
        let lines = advance(&mut c, "9 6 0\nfresh\n").unwrap();
        assert_eq!(lines, ["fresh"]);
        assert_eq!(c.at, Some((9, 6)));
        assert!(advance(&mut c, "garbage\n").is_err());
    }

    #[test]
    fn first_poll_starts_at_the_end() {
        let s = poll_script("'/x/access.log'", &Cursor::default());
        assert!(s.contains("if [ 1 = 1 ]; then start=$2"));
    }
}
