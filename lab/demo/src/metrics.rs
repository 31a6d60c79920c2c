//! Request counter by status and a latency histogram, in Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::knobs::Values;

pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    /// Requests by status; 200 and 500 are always shown (so rates exist from the start).
    by_status: Mutex<BTreeMap<u16, u64>>,
    /// Count per bucket (not cumulative; summed when rendered), the last one is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            by_status: Mutex::new(BTreeMap::from([(200, 0), (500, 0)])),
            buckets: Default::default(),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn observe(&self, status: u16, took: Duration) {
        {
            let mut m = self.by_status.lock().unwrap_or_else(|p| p.into_inner());
            *m.entry(status).or_insert(0) += 1;
        }
        let secs = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn render(&self, version: &str, track: &str, knobs: Values) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP demo_info The running version and track.\n# TYPE demo_info gauge\n\
             demo_info{{version=\"{}\",track=\"{}\"}} 1",
            escape(version),
            escape(track)
        );
        let _ = writeln!(
            out,
            "# HELP demo_requests_total Requests served (not /health, /metrics, /knobs), by status.\n\
             # TYPE demo_requests_total counter"
        );
        let statuses = self
            .by_status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (s, n) in statuses {
            let _ = writeln!(out, "demo_requests_total{{status=\"{s}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP demo_request_duration_seconds Time to answer a request.\n\
             # TYPE demo_request_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "demo_request_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "demo_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
             demo_request_duration_seconds_sum {}\n\
             demo_request_duration_seconds_count {cumulative}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP demo_knob_error_rate Share of requests failed on purpose.\n\
             # TYPE demo_knob_error_rate gauge\ndemo_knob_error_rate {}\n\
             # HELP demo_knob_latency_seconds Delay added on purpose (before ±10 % jitter).\n\
             # TYPE demo_knob_latency_seconds gauge\ndemo_knob_latency_seconds {}",
            knobs.error_rate,
            knobs.latency_ms as f64 / 1000.0
        );
        out
    }
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOBS: Values = Values {
        error_rate: 0.0,
        latency_ms: 0,
    };

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe(200, Duration::from_millis(3));
        m.observe(500, Duration::from_millis(300));
        m.observe(200, Duration::from_secs(11));
        let text = m.render("1.0.0", "canary", KNOBS);
        assert!(text.contains("demo_requests_total{status=\"200\"} 2\n"));
        assert!(text.contains("demo_requests_total{status=\"500\"} 1\n"));
        assert!(text.contains("demo_request_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("demo_request_duration_seconds_bucket{le=\"0.25\"} 1\n"));
        assert!(text.contains("demo_request_duration_seconds_bucket{le=\"0.5\"} 2\n"));
        assert!(text.contains("demo_request_duration_seconds_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("demo_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("demo_request_duration_seconds_count 3\n"));
        assert!(text.contains("demo_request_duration_seconds_sum 11.303\n"));
        assert!(text.contains("demo_info{version=\"1.0.0\",track=\"canary\"} 1\n"));
    }

    #[test]
    fn every_bucket_is_listed_and_zero_counters_exist() {
        let text = Metrics::default().render("1.0.0", "stable", KNOBS);
        for le in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
        ] {
            assert!(
                text.contains(&format!("_bucket{{le=\"{le}\"}} 0\n")),
                "bucket {le}"
            );
        }
        assert!(text.contains("demo_requests_total{status=\"200\"} 0\n"));
        assert!(text.contains("demo_requests_total{status=\"500\"} 0\n"));
    }

    #[test]
    fn other_statuses_and_knobs() {
        let m = Metrics::default();
        m.observe(405, Duration::ZERO);
        let text = m.render(
            "9.9.9-\"odd\"",
            "stable",
            Values {
                error_rate: 0.1,
                latency_ms: 1200,
            },
        );
        assert!(text.contains("demo_requests_total{status=\"405\"} 1\n"));
        assert!(text.contains("demo_info{version=\"9.9.9-\\\"odd\\\"\",track=\"stable\"} 1\n"));
        assert!(text.contains("demo_knob_error_rate 0.1\n"));
        assert!(text.contains("demo_knob_latency_seconds 1.2\n"));
    }
}
