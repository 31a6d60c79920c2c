//! `analysis.watch` (judging the new stable after a promotion) and `analysis.compare`
//! (the canary against stable).

use super::*;
use crate::config::Compare;

const COMPARE_KEYS: &[&str] = &["error_rate_margin", "p99_margin"];

pub(super) fn watch(v: &mut V, f: &Fields, default: Duration) -> Duration {
    v.opt(f, "watch", default, |v, d| v.duration(d, "analysis.watch"))
}

pub(super) fn compare(v: &mut V, f: &Fields) -> Option<Compare> {
    let cf = v.section(f, "compare", "analysis.compare", COMPARE_KEYS)?;
    let error_rate_margin = cf.get("error_rate_margin").and_then(|e| match &e.value {
        Value::Float(x) if (0.0..=1.0).contains(x) => Some(*x),
        Value::Int(0) => Some(0.0),
        Value::Int(1) => Some(1.0),
        other => {
            v.err(
                e,
                format!(
                    "compare.error_rate_margin must be a fraction between 0 and 1 (0.01 = one percentage point), found {}",
                    other.found()
                ),
            );
            None
        }
    });
    let p99_margin = cf
        .get("p99_margin")
        .and_then(|d| v.duration(d, "compare.p99_margin"));
    if cf.get("error_rate_margin").is_none() && cf.get("p99_margin").is_none() {
        v.err(
            cf.anchor,
            "analysis.compare needs error_rate_margin, p99_margin or both",
        );
        return None;
    }
    Some(Compare {
        error_rate_margin,
        p99_margin,
    })
}
