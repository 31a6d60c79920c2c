//! The analysis settings added beside `model::Analysis`: the prometheus provider's queries,
//! and the canary-against-stable comparison.

use std::time::Duration;

/// PromQL templates. `{service}`, `{track}` (stable or canary) and `{window}` (a PromQL
/// duration such as `60s`) are expanded before each query; each must give one number.
#[derive(Debug, Clone, PartialEq)]
pub struct Queries {
    /// Requests over the window (a count).
    pub requests: String,
    /// Share of failed requests over the window (0..1).
    pub error_rate: String,
    /// 99th percentile of latency over the window, in seconds.
    pub p99: String,
    /// Seconds since the track's newest sample: older than `max_age` is stale.
    pub age: String,
}

/// How the lab's Prometheus labels the demo service's targets: `service`, `track` (and `host`).
const SELECTOR: &str = r#"service="{service}",track="{track}""#;

impl Default for Queries {
    fn default() -> Self {
        Queries {
            requests: format!("sum(increase(demo_requests_total{{{SELECTOR}}}[{{window}}]))"),
            error_rate: format!(
                "sum(rate(demo_requests_total{{{SELECTOR},status=~\"5..\"}}[{{window}}])) / sum(rate(demo_requests_total{{{SELECTOR}}}[{{window}}]))"
            ),
            p99: format!(
                "histogram_quantile(0.99, sum by (le) (rate(demo_request_duration_seconds_bucket{{{SELECTOR}}}[{{window}}])))"
            ),
            age: format!("time() - max(timestamp(demo_requests_total{{{SELECTOR}}}))"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prometheus {
    /// Per HTTP request to Prometheus; a slower answer is inconclusive.
    pub timeout: Duration,
    /// A track whose newest sample is older than this is stale: inconclusive.
    pub max_age: Duration,
    pub queries: Queries,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            timeout: Duration::from_secs(5),
            max_age: Duration::from_secs(30),
            queries: Queries::default(),
        }
    }
}

/// The canary fails when it is worse than stable by more than these margins (judged only when
/// both tracks have at least `min_requests`).
#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    /// Absolute difference in error rate (0.01 = one percentage point).
    pub error_rate_margin: Option<f64>,
    pub p99_margin: Option<Duration>,
}
