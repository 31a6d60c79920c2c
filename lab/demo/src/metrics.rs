//! Request counter by status and a latency histogram, in Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const STATUSES: [u16; 5] = [200, 400, 404, 500, 503];

#[derive(Default)]
pub struct Metrics {
    by_status: [AtomicU64; 5],
    /// Cumulative counts per bucket, plus +Inf.
    buckets: [AtomicU64; 12],
    sum_micros: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, status: u16, took: Duration) {
        if let Some(i) = STATUSES.iter().position(|s| *s == status) {
            self.by_status[i].fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.buckets[11].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn render(&self, version: &str, track: &str) -> String {
        let mut out = String::new();
        out.push_str("# HELP demo_info The running version and track.\n# TYPE demo_info gauge\n");
        out.push_str(&format!(
            "demo_info{{version=\"{version}\",track=\"{track}\"}} 1\n"
        ));
        out.push_str("# HELP demo_requests_total Requests served, by status.\n# TYPE demo_requests_total counter\n");
        for (i, s) in STATUSES.iter().enumerate() {
            out.push_str(&format!(
                "demo_requests_total{{status=\"{s}\"}} {}\n",
                self.by_status[i].load(Ordering::Relaxed)
            ));
        }
        out.push_str("# HELP demo_request_duration_seconds Request latency.\n# TYPE demo_request_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            out.push_str(&format!(
                "demo_request_duration_seconds_bucket{{le=\"{b}\"}} {}\n",
                self.buckets[i].load(Ordering::Relaxed)
            ));
        }
        let count = self.buckets[11].load(Ordering::Relaxed);
        out.push_str(&format!(
            "demo_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n"
        ));
        out.push_str(&format!(
            "demo_request_duration_seconds_sum {}\ndemo_request_duration_seconds_count {count}\n",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe(200, Duration::from_millis(3));
        m.observe(500, Duration::from_millis(300));
        let text = m.render("1.0.0", "canary");
        assert!(text.contains("demo_requests_total{status=\"200\"} 1"));
        assert!(text.contains("demo_requests_total{status=\"500\"} 1"));
        assert!(text.contains("demo_request_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("demo_request_duration_seconds_bucket{le=\"0.5\"} 2"));
        assert!(text.contains("demo_request_duration_seconds_count 2"));
        assert!(text.contains("demo_info{version=\"1.0.0\",track=\"canary\"} 1"));
    }
}
