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

/// No figures to judge: the provider could not give them. Inconclusive, with the reason.
pub fn unavailable(reason: &str) -> Judgement {
    Judgement {
        verdict: Verdict::Inconclusive,
        requests: 0,
        checks: Vec::new(),
        summary: format!("inconclusive: {reason}"),
    }
}

/// How much worse than stable the canary may be.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Margins {
    /// Absolute difference of error rates (0.01 = one percentage point).
    pub error_rate: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The canary judged on its own, then against stable: worse than stable by more than a margin
/// fails. Compared only when both tracks have at least `min_requests`; otherwise the
/// canary's own verdict stands and the summary says why there was no comparison.
pub fn judge_against(canary: &Stats, stable: &Stats, t: &Thresholds, m: &Margins) -> Judgement {
    let mut j = judge(canary, t);
    if j.verdict == Verdict::Inconclusive {
        return j;
    }
    if stable.requests < t.min_requests || stable.error_rate.is_nan() || stable.p99_ms.is_nan() {
        j.summary.push_str(&format!(
            "; not compared with stable ({} requests, fewer than {})",
            stable.requests, t.min_requests
        ));
        return j;
    }
    let mut worse = Vec::new();
    if let Some(margin) = m.error_rate {
        let diff = canary.error_rate - stable.error_rate;
        let ok = diff <= margin;
        if !ok {
            worse.push(format!(
                "error rate {:.2} % vs stable {:.2} % (margin {:.2} points)",
                canary.error_rate * 100.0,
                stable.error_rate * 100.0,
                margin * 100.0
            ));
        }
        j.checks.push(Check {
            metric: "error_rate_over_stable",
            value: diff,
            threshold: margin,
            ok,
        });
    }
    if let Some(margin) = m.p99_ms {
        let diff = canary.p99_ms - stable.p99_ms;
        let ok = diff <= margin;
        if !ok {
            worse.push(format!(
                "P99 {:.0} ms vs stable {:.0} ms (margin {margin:.0} ms)",
                canary.p99_ms, stable.p99_ms
            ));
        }
        j.checks.push(Check {
            metric: "p99_ms_over_stable",
            value: diff,
            threshold: margin,
            ok,
        });
    }
    if worse.is_empty() {
        j.summary.push_str(&format!(
            "; within the margins of stable ({} requests)",
            stable.requests
        ));
    } else {
        let rest = j
            .summary
            .split_once(": ")
            .map_or(j.summary.clone(), |(_, r)| r.to_string());
        j.verdict = Verdict::Fail;
        j.summary = format!("FAIL: worse than stable: {}; {rest}", worse.join(", "));
    }
    j
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

    const M: Margins = Margins {
        error_rate: Some(0.01),
        p99_ms: Some(200.0),
    };

    #[test]
    fn canary_worse_than_stable_by_more_than_the_margin_fails() {
        // 1.5 % errors passes the 2 % limit, but stable has 0 %: 1.5 points > 1 point margin.
        let j = judge_against(&stats(200, 3, 100.0), &stats(1000, 0, 100.0), &T, &M);
        assert_eq!(j.verdict, Verdict::Fail, "{}", j.summary);
        assert!(
            j.summary
                .starts_with("FAIL: worse than stable: error rate 1.50 % vs stable 0.00 %"),
            "{}",
            j.summary
        );
        let c = j
            .checks
            .iter()
            .find(|c| c.metric == "error_rate_over_stable")
            .unwrap();
        assert!(!c.ok && (c.value - 0.015).abs() < 1e-9 && c.threshold == 0.01);
        // P99 600 ms is under 1 s, but 500 ms above stable's 100 ms.
        let j = judge_against(&stats(200, 0, 600.0), &stats(1000, 0, 100.0), &T, &M);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(
            j.summary.contains("P99 600 ms vs stable 100 ms"),
            "{}",
            j.summary
        );
    }

    #[test]
    fn within_the_margin_passes_and_says_so() {
        let j = judge_against(&stats(200, 1, 150.0), &stats(1000, 0, 100.0), &T, &M);
        assert_eq!(j.verdict, Verdict::Pass, "{}", j.summary);
        assert!(j.summary.contains("within the margins of stable"));
        assert_eq!(j.checks.len(), 4);
    }

    #[test]
    fn too_little_stable_traffic_is_not_compared() {
        let j = judge_against(&stats(200, 3, 100.0), &stats(10, 0, 100.0), &T, &M);
        assert_eq!(j.verdict, Verdict::Pass);
        assert!(
            j.summary.contains("not compared with stable (10 requests"),
            "{}",
            j.summary
        );
        assert_eq!(j.checks.len(), 2);
    }

    #[test]
    fn the_canarys_own_verdict_comes_first() {
        // Too few canary requests: inconclusive, whatever stable does.
        let j = judge_against(&stats(10, 0, 1.0), &stats(1000, 900, 5000.0), &T, &M);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        // Failing its own limits fails even when stable is as bad.
        let j = judge_against(&stats(100, 50, 1.0), &stats(1000, 500, 1.0), &T, &M);
        assert_eq!(j.verdict, Verdict::Fail);
        assert_eq!(
            unavailable("prometheus: down").verdict,
            Verdict::Inconclusive
        );
    }

    proptest! {
        #[test]
        fn comparing_never_turns_a_fail_or_inconclusive_into_a_pass(
            r in 0u64..500, e in 0u64..500, p in 0.0f64..3000.0,
            sr in 0u64..500, se in 0u64..500, sp in 0.0f64..3000.0,
        ) {
            let alone = judge(&stats(r, e.min(r), p), &T).verdict;
            let against = judge_against(&stats(r, e.min(r), p), &stats(sr, se.min(sr), sp), &T, &M).verdict;
            if alone != Verdict::Pass {
                prop_assert_eq!(alone, against);
            }
        }

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
