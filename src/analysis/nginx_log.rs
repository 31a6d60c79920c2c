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
    parse_entry(line).ok().flatten()
}

/// A line that is not in sluice's JSON log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// As [`parse_line`], telling a malformed line (`Err`, counted by the follower) from a request
/// that no upstream server answered (`Ok(None)`).
pub fn parse_entry(line: &str) -> Result<Option<Entry>, Malformed> {
    let l: Line = serde_json::from_str(line.trim()).map_err(|_| Malformed)?;
    if !l.msec.is_finite() || !l.request_time.is_finite() {
        return Err(Malformed);
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
        return Ok(None);
    }
    Ok(Some(Entry {
        upstream,
        sample: Sample {
            at_ms: (l.msec * 1000.0) as i64,
            status: l.status,
            latency_ms: l.request_time * 1000.0,
        },
    }))
}

/// Where a follower is in a host's log file. Offsets count bytes of the file, whatever they
/// hold: a line need not be UTF-8 (nginx writes a request's raw bytes), and is decoded alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// (inode, byte offset) once the file was seen; `None` before the first poll.
    pub at: Option<(u64, u64)>,
    /// An incomplete last line, kept for the next poll.
    pub partial: Vec<u8>,
    /// The data until the next newline is the tail of a line whose start was skipped (or that
    /// was too long to keep): drop it.
    pub resync: bool,
}

/// At most this much is read per poll; a log further ahead is skipped to its last READ_LIMIT
/// bytes (the follower fell behind: it judges the newest requests and says so).
pub const READ_LIMIT: u64 = 8 * 1024 * 1024;

/// A line longer than this is not a request line nginx wrote for sluice: it is dropped (and
/// counted) rather than kept in memory until its end arrives.
pub const MAX_LINE: usize = 64 * 1024;

/// The host-side script of one poll; see the file for its arguments and output.
pub const POLL_SCRIPT: &str = include_str!("../remote/scripts/log_follow.sh");

/// The arguments of [`POLL_SCRIPT`] for this cursor: file, first, inode, offset, limit.
pub fn poll_args(path: &str, cursor: &Cursor, limit: u64) -> [String; 5] {
    let (first, (inode, offset)) = match cursor.at {
        None => (1, (0, 0)),
        Some(at) => (0, at),
    };
    [
        path.to_string(),
        first.to_string(),
        inode.to_string(),
        offset.to_string(),
        limit.to_string(),
    ]
}

/// What one poll brought.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Poll {
    /// The complete lines read, each decoded on its own (invalid UTF-8 replaced, so the
    /// request still counts: the fields sluice reads are ASCII).
    pub lines: Vec<String>,
    /// Lines dropped because they were longer than [`MAX_LINE`].
    pub overlong: u64,
    /// Bytes of the file that were never read: the follower was more than [`READ_LIMIT`]
    /// behind (or a new file was already that long when it was found).
    pub skipped: u64,
    /// The host's clock when it answered, in milliseconds since the epoch, if it said.
    pub host_now_ms: Option<i64>,
}

/// Apply a poll's output (the header line, then the file's bytes) to the cursor.
pub fn advance(cursor: &mut Cursor, output: &[u8]) -> Result<Poll, String> {
    let split = output.iter().position(|&b| b == b'\n');
    let (head, data) = match split {
        Some(i) => (&output[..i], &output[i + 1..]),
        None => (output, &[][..]),
    };
    let bad_head = || {
        format!(
            "unexpected answer from the log poll: `{}`",
            crate::sanitize::line(&String::from_utf8_lossy(&head[..head.len().min(80)]))
        )
    };
    let head = std::str::from_utf8(head).map_err(|_| bad_head())?;
    let mut fields = head.split_whitespace();
    let mut num = || fields.next().and_then(|n| n.parse::<u64>().ok());
    let (Some(inode), Some(_size), Some(start)) = (num(), num(), num()) else {
        return Err(bad_head());
    };
    let host_now_ms = fields
        .next()
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0)
        .map(|t| (t * 1000.0) as i64);
    let mut poll = Poll {
        host_now_ms,
        ..Poll::default()
    };
    let expected = match cursor.at {
        Some((i, o)) if i == inode && start >= o => Some(o),
        // Rotated or truncated: a partial line from the old file means nothing now.
        Some(_) => {
            cursor.partial.clear();
            cursor.resync = false;
            Some(0)
        }
        None => None,
    };
    if let Some(expected) = expected {
        if start > expected {
            poll.skipped = start - expected;
            cursor.partial.clear();
            // START is anywhere in a line: what comes before the next newline is its tail.
            cursor.resync = true;
        }
    }
    cursor.at = Some((inode, start + data.len() as u64));
    let mut rest = data;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let piece = &rest[..i];
        rest = &rest[i + 1..];
        if std::mem::take(&mut cursor.resync) {
            cursor.partial.clear();
            continue;
        }
        let line: std::borrow::Cow<'_, [u8]> = if cursor.partial.is_empty() {
            piece.into()
        } else {
            let mut l = std::mem::take(&mut cursor.partial);
            l.extend_from_slice(piece);
            l.into()
        };
        if line.len() > MAX_LINE {
            poll.overlong += 1;
        } else if !line.iter().all(u8::is_ascii_whitespace) {
            poll.lines.push(String::from_utf8_lossy(&line).into_owned());
        }
    }
    if !cursor.resync {
        cursor.partial.extend_from_slice(rest);
        if cursor.partial.len() > MAX_LINE {
            cursor.partial.clear();
            cursor.resync = true;
            poll.overlong += 1;
        }
    }
    Ok(poll)
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

    fn lines(c: &mut Cursor, out: &[u8]) -> Vec<String> {
        advance(c, out).unwrap().lines
    }

    #[test]
    fn cursor_keeps_partial_lines_and_restarts_after_rotation() {
        let mut c = Cursor::default();
        assert_eq!(
            lines(&mut c, b"7 100 100 1795507200.5\n"),
            Vec::<String>::new()
        );
        assert_eq!(c.at, Some((7, 100)));
        assert_eq!(lines(&mut c, b"7 120 100\nline one\nline t"), ["line one"]);
        assert_eq!(c.at, Some((7, 115)));
        assert_eq!(lines(&mut c, b"7 125 115\nwo\n"), ["line two"]);
        // A new inode: start over, drop the partial line of the old file.
        c.partial = b"stale".to_vec();
        assert_eq!(lines(&mut c, b"9 6 0\nfresh\n"), ["fresh"]);
        assert_eq!(c.at, Some((9, 6)));
        assert!(advance(&mut c, b"garbage\n").is_err());
    }

    #[test]
    fn the_host_clock_is_read_from_the_header() {
        let mut c = Cursor::default();
        let p = advance(&mut c, b"7 100 100 1795507200.123456789\n").unwrap();
        assert_eq!(p.host_now_ms, Some(1_795_507_200_123));
        let p = advance(&mut c, b"7 100 100 -\n").unwrap();
        assert_eq!(p.host_now_ms, None);
    }

    /// Issue 13, fault 3: a request with 4000 raw 0xff bytes decoded lossily became 12000
    /// bytes of text (3 per U+FFFD), and the cursor ran 8000 bytes past the end of the file.
    #[test]
    fn the_cursor_counts_bytes_not_decoded_characters() {
        let mut c = Cursor::default();
        advance(&mut c, b"7 0 0\n").unwrap();
        let mut bad = LINE.replace("GET / HTTP/1.1", "GET /").into_bytes();
        let at = bad.len() - 3;
        bad.splice(at..at, std::iter::repeat_n(0xff, 4000));
        bad.push(b'\n');
        let good = format!("{LINE}\n");
        let mut file = bad.clone();
        file.extend_from_slice(good.as_bytes());
        let mut out = format!("7 {} 0\n", file.len()).into_bytes();
        out.extend_from_slice(&file);
        let p = advance(&mut c, &out).unwrap();
        assert_eq!(c.at, Some((7, file.len() as u64)));
        assert_eq!(p.lines.len(), 2);
        // Both requests count: the fields sluice reads are ASCII.
        assert!(p.lines.iter().all(|l| parse_line(l).is_some()));
        assert_eq!(p.skipped, 0);
    }

    #[test]
    fn a_line_split_inside_a_character_is_joined_as_bytes() {
        let mut c = Cursor::default();
        advance(&mut c, b"7 0 0\n").unwrap();
        let text = "caf\u{e9}\n".as_bytes();
        let mut first = b"7 4 0\n".to_vec();
        first.extend_from_slice(&text[..4]);
        assert!(lines(&mut c, &first).is_empty());
        let mut second = b"7 6 4\n".to_vec();
        second.extend_from_slice(&text[4..]);
        assert_eq!(lines(&mut c, &second), ["caf\u{e9}"]);
        assert_eq!(c.at, Some((7, 6)));
    }

    #[test]
    fn a_follower_that_fell_behind_skips_ahead_and_says_how_far() {
        let mut c = Cursor::default();
        advance(&mut c, b"7 100 100\n").unwrap();
        // The host sent the last bytes only: START is mid-line, so that line's tail goes.
        let p = advance(&mut c, b"7 5000 4990\nil of a line\nnext\n").unwrap();
        assert_eq!(p.skipped, 4890);
        assert_eq!(p.lines, ["next"]);
        assert_eq!(c.at, Some((7, 5008)));
    }

    #[test]
    fn overlong_lines_are_dropped_and_counted() {
        let mut c = Cursor::default();
        advance(&mut c, b"7 0 0\n").unwrap();
        let mut out = b"7 0 0\n".to_vec();
        out.extend(std::iter::repeat_n(b'x', MAX_LINE + 1));
        let p = advance(&mut c, &out).unwrap();
        assert_eq!((p.overlong, c.partial.len()), (1, 0));
        let p = advance(&mut c, b"7 0 65537\nxxx\nok\n").unwrap();
        assert_eq!(p.lines, ["ok"]);
    }

    #[test]
    fn the_poll_script_takes_its_inputs_as_arguments() {
        let a = poll_args("/x/access.log", &Cursor::default(), 10);
        assert_eq!(a, ["/x/access.log", "1", "0", "0", "10"]);
        assert!(POLL_SCRIPT.contains("file=$1 first=$2 inode=$3 offset=$4 limit=$5"));
    }

    /// The script itself, run with the local `sh` on a real file: first poll at the end, then
    /// the bytes appended, a truncation, and the skip ahead past the limit.
    #[test]
    fn the_poll_script_reads_a_real_file_in_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("access.log");
        let path = f.to_str().unwrap();
        std::fs::write(&f, b"old\n").unwrap();
        let run = |c: &mut Cursor, limit: u64| -> Poll {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(POLL_SCRIPT)
                .arg("sh")
                .args(poll_args(path, c, limit))
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            advance(c, &out.stdout).unwrap()
        };
        let mut c = Cursor::default();
        assert!(run(&mut c, 100).lines.is_empty());
        let mut bytes = b"old\n".to_vec();
        bytes.extend_from_slice(b"\xff\xfe new\n");
        std::fs::write(&f, &bytes).unwrap();
        let p = run(&mut c, 100);
        assert_eq!(p.lines, ["\u{fffd}\u{fffd} new"]);
        assert_eq!(c.at.map(|a| a.1), Some(bytes.len() as u64));
        assert!(p.host_now_ms.is_some());
        bytes.extend_from_slice(b"one\ntwo\nthree\n");
        std::fs::write(&f, &bytes).unwrap();
        let p = run(&mut c, 8);
        assert_eq!((p.skipped, p.lines.clone()), (6, vec!["three".to_string()]));
        std::fs::write(&f, b"x\n").unwrap();
        let p = run(&mut c, 100);
        assert_eq!(p.lines, ["x"]);
    }
}
