//! The judge: pass, fail or inconclusive for one track over one window, with the numbers it
//! rested on. Too few requests is inconclusive, never a pass.

use serde::Serialize;

use super::window::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Thresholds {
    pub error_rate_max: f64,
    pub p99_max_ms: f64,
    pub min_requests: u64,
}

/// One check and what it compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub metric: &'static str,
    pub value: f64,
    pub threshold: f64,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub requests: u64,
    pub checks: Vec<Check>,
    /// One line for people: what was seen and why it led to the verdict.
    pub summary: String,
}

pub fn judge(s: &Stats, t: &Thresholds) -> Judgement {
    let checks = vec![
        Check {
            metric: "error_rate",
            value: s.error_rate,
            threshold: t.error_rate_max,
            ok: s.error_rate <= t.error_rate_max,
        },
        Check {
            metric: "p99_ms",
            value: s.p99_ms,
            threshold: t.p99_max_ms,
            ok: s.p99_ms <= t.p99_max_ms,
        },
    ];
    let figures = format!(
        "{} requests, error rate {:.2} % (max {:.2} %), P99 {:.0} ms (max {:.0} ms)",
        s.requests,
        s.error_rate * 100.0,
        t.error_rate_max * 100.0,
        s.p99_ms,
        t.p99_max_ms
    );
    let (verdict, summary) =
        if s.requests < t.min_requests || s.error_rate.is_nan() || s.p99_ms.is_nan() {
            (
                Verdict::Inconclusive,
                format!(
                    "inconclusive: {} requests, fewer than the {} needed to judge",
                    s.requests, t.min_requests
                ),
            )
        } else if checks.iter().all(|c| c.ok) {
            (Verdict::Pass, format!("pass: {figures}"))
        } else {
            (Verdict::Fail, format!("FAIL: {figures}"))
        };
    Judgement {
        verdict,
        requests: s.requests,
        checks,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stats(requests: u64, errors: u64, p99_ms: f64) -> Stats {
        Stats {
            requests,
            errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            p50_ms: p99_ms / 2.0,
            p90_ms: p99_ms,
            p99_ms,
            from_ms: 0,
            to_ms: 60_000,
        }
    }

    const T: Thresholds = Thresholds {
        error_rate_max: 0.02,
        p99_max_ms: 1000.0,
        min_requests: 50,
    };

    #[test]
    fn verdicts() {
        assert_eq!(judge(&stats(100, 1, 200.0), &T).verdict, Verdict::Pass);
        assert_eq!(judge(&stats(100, 10, 200.0), &T).verdict, Verdict::Fail);
        assert_eq!(judge(&stats(100, 0, 1500.0), &T).verdict, Verdict::Fail);
        assert_eq!(
            judge(&stats(10, 10, 5000.0), &T).verdict,
            Verdict::Inconclusive
        );
        assert_eq!(judge(&stats(0, 0, 0.0), &T).verdict, Verdict::Inconclusive);
        let j = judge(&stats(100, 10, 200.0), &T);
        assert!(
            j.summary
                .contains("100 requests, error rate 10.00 % (max 2.00 %)"),
            "{}",
            j.summary
        );
    }

    proptest! {
        #[test]
        fn too_few_requests_never_pass(r in 0u64..50, e in 0u64..50, p in 0.0f64..10_000.0) {
            prop_assert_eq!(judge(&stats(r, e.min(r), p), &T).verdict, Verdict::Inconclusive);
        }

        #[test]
        fn a_pass_means_every_check_held(r in 50u64..10_000, e in 0u64..10_000, p in 0.0f64..5_000.0) {
            let j = judge(&stats(r, e.min(r), p), &T);
            if j.verdict == Verdict::Pass {
                prop_assert!(j.checks.iter().all(|c| c.ok));
            }
        }
    }
}
