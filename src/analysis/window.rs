//! Sliding-window aggregates of requests per track: count, 5xx ratio and latency percentiles.
//! Pure: time is whatever the samples and the caller say it is.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

/// One request as seen by the load balancer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    pub status: u16,
    pub latency_ms: f64,
}

/// What a window holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    /// errors / requests; 0 when there were none.
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    /// The window the figures cover, in milliseconds since the epoch.
    pub from_ms: i64,
    pub to_ms: i64,
}

struct Bucket {
    second: i64,
    requests: u64,
    errors: u64,
    latency_us: Histogram<u64>,
}

/// One-second buckets over a bounded span; old buckets fall off.
pub struct Window {
    buckets: VecDeque<Bucket>,
    span_secs: i64,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 h at 3 significant digits: constant, valid bounds (not input).
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant histogram bounds are valid")
}

impl Window {
    pub fn new(span_secs: i64) -> Window {
        Window {
            buckets: VecDeque::new(),
            span_secs: span_secs.max(1),
        }
    }

    /// How far back the window keeps samples.
    pub fn span_ms(&self) -> i64 {
        self.span_secs * 1000
    }

    pub fn add(&mut self, s: Sample) {
        let second = s.at_ms.div_euclid(1000);
        let pos = self.buckets.iter().rposition(|b| b.second <= second);
        let idx = match pos {
            Some(i) if self.buckets[i].second == second => i,
            Some(i) => {
                self.buckets.insert(
                    i + 1,
                    Bucket {
                        second,
                        requests: 0,
                        errors: 0,
                        latency_us: histogram(),
                    },
                );
                i + 1
            }
            None => {
                self.buckets.push_front(Bucket {
                    second,
                    requests: 0,
                    errors: 0,
                    latency_us: histogram(),
                });
                0
            }
        };
        let b = &mut self.buckets[idx];
        b.requests += 1;
        if s.status >= 500 {
            b.errors += 1;
        }
        let us = (s.latency_ms.max(0.0) * 1000.0).round() as u64;
        let _ = b.latency_us.record(us.clamp(1, 3_600_000_000));
    }

    /// Drop what lies outside the span around `now_ms` (this machine's clock, never a
    /// sample's): older buckets, and any dated more than the span ahead of now. A sample's
    /// time cannot move the window, so one host's clock cannot push the others' out of it.
    pub fn trim(&mut self, now_ms: i64) {
        let now = now_ms.div_euclid(1000);
        while self
            .buckets
            .front()
            .is_some_and(|b| b.second <= now - self.span_secs)
        {
            self.buckets.pop_front();
        }
        while self
            .buckets
            .back()
            .is_some_and(|b| b.second > now + self.span_secs)
        {
            self.buckets.pop_back();
        }
    }

    /// Figures over the last `window_ms` before `now_ms`.
    pub fn stats(&self, now_ms: i64, window_ms: i64) -> Stats {
        let from_ms = now_ms - window_ms;
        let mut h = histogram();
        let (mut requests, mut errors) = (0, 0);
        for b in &self.buckets {
            let start = b.second * 1000;
            if start + 1000 <= from_ms || start > now_ms {
                continue;
            }
            requests += b.requests;
            errors += b.errors;
            let _ = h.add(&b.latency_us);
        }
        let q = |p: f64| {
            if requests == 0 {
                0.0
            } else {
                h.value_at_quantile(p) as f64 / 1000.0
            }
        };
        Stats {
            requests,
            errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            from_ms,
            to_ms: now_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: i64, status: u16, latency_ms: f64) -> Sample {
        Sample {
            at_ms,
            status,
            latency_ms,
        }
    }

    #[test]
    fn counts_errors_and_percentiles_in_the_window() {
        let mut w = Window::new(60);
        for i in 0..100 {
            w.add(s(
                10_000 + i * 10,
                if i < 5 { 503 } else { 200 },
                if i == 99 { 1500.0 } else { 10.0 },
            ));
        }
        let st = w.stats(11_000, 5_000);
        assert_eq!((st.requests, st.errors), (100, 5));
        assert!((st.error_rate - 0.05).abs() < 1e-9);
        assert!((st.p50_ms - 10.0).abs() < 0.1, "{st:?}");
        assert!(st.p99_ms >= 9.9 && st.p99_ms < 1600.0);
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut w = Window::new(60);
        w.add(s(1_000, 500, 5.0));
        w.add(s(20_000, 200, 5.0));
        let st = w.stats(20_500, 10_000);
        assert_eq!((st.requests, st.errors), (1, 0));
        // And buckets older than the span are dropped entirely.
        w.add(s(200_000, 200, 5.0));
        w.trim(200_500);
        assert_eq!(w.stats(200_500, 1_000_000).requests, 1);
    }

    /// Issue 13, fault 12: a sample from a host whose clock ran 90 s ahead trimmed every
    /// other host's samples out of the window; the window is trimmed against now only.
    #[test]
    fn a_sample_from_the_future_does_not_trim_the_present() {
        let mut w = Window::new(65);
        w.add(s(100_000, 200, 5.0));
        w.add(s(100_000 + 90_000, 200, 5.0));
        w.trim(100_500);
        assert_eq!(w.stats(100_500, 60_000).requests, 1);
        // Far-future buckets do not pile up either.
        w.trim(100_500);
        w.add(s(100_000 + 3_600_000, 200, 5.0));
        w.trim(100_500);
        assert_eq!(w.stats(100_000 + 3_600_000, 60_000).requests, 0);
    }

    #[test]
    fn no_requests_means_zeroes_not_nan() {
        let st = Window::new(10).stats(5_000, 1_000);
        assert_eq!(st.requests, 0);
        assert_eq!(st.error_rate, 0.0);
        assert!(!st.p99_ms.is_nan());
    }

    #[test]
    fn out_of_order_samples_land_in_their_second() {
        let mut w = Window::new(60);
        w.add(s(5_500, 200, 1.0));
        w.add(s(3_500, 500, 1.0));
        w.add(s(4_500, 200, 1.0));
        assert_eq!(w.stats(4_999, 1_500).requests, 2);
    }
}
