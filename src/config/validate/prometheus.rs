//! `analysis.prometheus`: where Prometheus is and what to ask it. Written either as
//! `provider: prometheus` with a `prometheus:` section beside it, or (the older form)
//! `provider: { prometheus: { url: … } }`; the keys are the same.

use super::*;
use crate::config::Prometheus;

const KEYS: &[&str] = &["url", "timeout", "max_age", "queries"];
const QUERY_KEYS: &[&str] = &["requests", "error_rate", "p99", "age"];
const PLACEHOLDERS: &[&str] = &["{service}", "{track}", "{window}"];

/// The URL and settings of one `prometheus:` mapping at `key` in `f`.
pub(super) fn section(
    v: &mut V,
    f: &Fields,
    key: &str,
    what: &str,
) -> Option<(String, Prometheus)> {
    let pf = v.section(f, key, what, KEYS)?;
    let mut p = Prometheus::default();
    let (u, url) = v
        .require(&pf, "url", what)
        .and_then(|u| v.string(u, "prometheus.url").map(|s| (u, s)))?;
    let ok = ["http://", "https://"].iter().any(|pre| {
        url.strip_prefix(pre)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
    });
    if !ok {
        v.err(
            u,
            format!("prometheus.url `{url}` must be an http:// or https:// URL"),
        );
        return None;
    }
    p.timeout = v.opt(&pf, "timeout", p.timeout, |v, d| {
        positive(v, d, "prometheus.timeout")
    });
    p.max_age = v.opt(&pf, "max_age", p.max_age, |v, d| {
        positive(v, d, "prometheus.max_age")
    });
    if let Some(qf) = v.section(&pf, "queries", "prometheus.queries", QUERY_KEYS) {
        let q = &mut p.queries;
        for (name, slot) in [
            ("requests", &mut q.requests),
            ("error_rate", &mut q.error_rate),
            ("p99", &mut q.p99),
            ("age", &mut q.age),
        ] {
            if let Some(n) = qf.get(name) {
                if let Some(t) = query(v, n, &format!("prometheus.queries.{name}")) {
                    *slot = t;
                }
            }
        }
    }
    Some((url.trim_end_matches('/').to_string(), p))
}

/// A PromQL template: not empty, no control characters, only the known placeholders.
fn query(v: &mut V, n: &Node, what: &str) -> Option<String> {
    let s = v.string(n, what)?;
    if s.trim().is_empty() {
        v.err(n, format!("{what} is empty; write a PromQL expression"));
        return None;
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        v.err(n, format!("{what} contains control characters"));
        return None;
    }
    for ph in placeholders(&s) {
        if !PLACEHOLDERS.contains(&ph) {
            v.err(
                n,
                format!(
                    "{what}: unknown placeholder `{ph}`{}; only {} are expanded",
                    did_you_mean(ph, PLACEHOLDERS),
                    PLACEHOLDERS.join(", ")
                ),
            );
            return None;
        }
    }
    Some(s)
}

/// `{word}` pieces that look like placeholders (PromQL's own braces hold `=`, quotes, commas).
fn placeholders(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        let after = &rest[i..];
        match after.find('}') {
            Some(j) => {
                let ph = &after[..=j];
                let inner = &ph[1..ph.len() - 1];
                if !inner.is_empty()
                    && inner
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    out.push(ph);
                }
                rest = &after[1..];
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_are_told_from_label_matchers() {
        assert_eq!(
            placeholders(r#"sum(rate(x{service="{service}",track="{trak}"}[{window}]))"#),
            ["{service}", "{trak}", "{window}"]
        );
        assert!(placeholders(r#"up{job="a"}"#).is_empty());
    }
}
