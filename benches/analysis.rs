//! Benchmark: what the NGINX-log follower costs per request — parsing a JSON log line and
//! adding it to its track's sliding window — at a simulated 20 000 requests per second, and
//! the cost of a judgement over a full one-minute window.

use std::time::Instant;

use sluice::analysis::nginx_log::parse_line;
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
    let mut stable = Window::new(SECONDS + 5);
    let mut canary = Window::new(SECONDS + 5);
    let t = Instant::now();
    for l in &lines {
        if let Some(e) = parse_line(l) {
            if e.upstream.ends_with(":8082") {
                canary.add(e.sample);
            } else {
                stable.add(e.sample);
            }
        }
    }
    let per = t.elapsed().as_nanos() as f64 / lines.len() as f64;
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
        "log follower: {per:.0} ns/request (parse + aggregate; {:.1} % of one core at {RPS} req/s); \
         judging a 60 s window: {judge_us:.0} µs ({verdicts} passes)",
        per * RPS as f64 / 1e9 * 100.0
    );
}
