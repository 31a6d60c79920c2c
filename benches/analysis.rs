//! Benchmark: what the NGINX-log follower costs per request — splitting the polled bytes into
//! lines (the cursor counts bytes, each line decoded alone), parsing a JSON log line and adding
//! it to its track's sliding window — at a simulated 20 000 requests per second, and the cost
//! of a judgement over a full one-minute window.

use std::time::Instant;

use sluice::analysis::nginx_log::{advance, parse_line, Cursor, READ_LIMIT};
use sluice::analysis::{judge, Thresholds, Window};

const RPS: i64 = 20_000;
const SECONDS: i64 = 60;

fn main() {
    let start_ms: i64 = 1_795_507_200_000;
    let lines: Vec<String> = (0..RPS * SECONDS)
        .map(|i| {
            let at = start_ms + i * 1000 / RPS;
            format!(
                r#"{{"time":"2026-11-24T08:00:00+00:00","msec":{}.{:03},"upstream":"127.0.0.11:808{}","status":{},"request_time":0.0{:02},"upstream_time":"0.010","request":"GET / HTTP/1.1"}}"#,
                at / 1000,
                at % 1000,
                1 + (i % 10 == 0) as i64,
                if i % 97 == 0 { 500 } else { 200 },
                i % 90 + 5
            )
        })
        .collect();
    // What the host sends: the log's bytes in polls of at most READ_LIMIT, each after its
    // header line.
    let mut file = Vec::new();
    for l in &lines {
        file.extend_from_slice(l.as_bytes());
        file.push(b'\n');
    }
    let polls: Vec<Vec<u8>> = file
        .chunks(READ_LIMIT as usize)
        .scan(0usize, |at, chunk| {
            let mut out = format!("7 {} {at} 1795507260.0\n", file.len()).into_bytes();
            out.extend_from_slice(chunk);
            *at += chunk.len();
            Some(out)
        })
        .collect();
    let mut cursor = Cursor::default();
    let _ = advance(&mut cursor, b"7 0 0\n");
    let mut stable = Window::new(SECONDS + 5);
    let mut canary = Window::new(SECONDS + 5);
    let mut seen = 0usize;
    let t = Instant::now();
    for out in &polls {
        let Ok(poll) = advance(&mut cursor, out) else {
            panic!("the bench's poll output is malformed");
        };
        for l in &poll.lines {
            seen += 1;
            if let Some(e) = parse_line(l) {
                if e.upstream.ends_with(":8082") {
                    canary.add(e.sample);
                } else {
                    stable.add(e.sample);
                }
            }
        }
    }
    let per = t.elapsed().as_nanos() as f64 / lines.len() as f64;
    assert_eq!(seen, lines.len(), "every line came through the cursor");
    let t = Instant::now();
    let rounds = 200;
    let thresholds = Thresholds {
        error_rate_max: 0.02,
        p99_max_ms: 1000.0,
        min_requests: 50,
    };
    let mut verdicts = 0;
    for _ in 0..rounds {
        let s = stable.stats(start_ms + SECONDS * 1000, 60_000);
        verdicts += usize::from(judge(&s, &thresholds).verdict == sluice::analysis::Verdict::Pass);
    }
    let judge_us = t.elapsed().as_micros() as f64 / f64::from(rounds);
    println!(
        "log follower: {per:.0} ns/request = {:.0} k requests/s per core (split + parse + aggregate; {:.1} % of one core at {RPS} req/s); \
         judging a 60 s window: {judge_us:.0} µs ({verdicts} passes)",
        1e6 / per,
        per * RPS as f64 / 1e9 * 100.0
    );
}
