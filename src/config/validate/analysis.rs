//! The `analysis` section.

use super::*;
use crate::config::Prometheus;

const ANALYSIS_KEYS: &[&str] = &[
    "provider",
    "interval",
    "window",
    "error_rate_max",
    "p99_max",
    "min_requests",
    "on_inconclusive",
    "failure_limit",
    "prometheus",
    "watch",
    "compare",
];

const PROVIDER_HELP: &str =
    "use nginx-log, or prometheus with a prometheus: { url: http://… } section";

fn provider(v: &mut V, f: &Fields) -> Option<Provider> {
    let p = f.get("provider")?;
    match &p.value {
        Value::Str(s) if s == "nginx-log" => Some(Provider::NginxLog),
        Value::Str(s) if s == "prometheus" => {
            if f.get("prometheus").is_none() {
                v.err(
                    p,
                    "provider prometheus needs its url: add prometheus: { url: http://… } to analysis",
                );
                return None;
            }
            // Read with the rest of the section (below).
            Some(Provider::Prometheus { url: String::new() })
        }
        Value::Str(s) => {
            v.err(p, format!("provider `{s}` is unknown; {PROVIDER_HELP}"));
            None
        }
        Value::Map(_) => {
            let pf = v.section(f, "provider", "analysis.provider", &["prometheus"])?;
            v.require(&pf, "prometheus", "analysis.provider")?;
            if let Some(dup) = f.get("prometheus") {
                v.err(
                    dup,
                    "prometheus is set twice (here and in provider); keep the one beside provider: prometheus",
                );
                return None;
            }
            // Read with the rest of the section (below).
            Some(Provider::Prometheus { url: String::new() })
        }
        other => {
            v.err(
                p,
                format!(
                    "provider must be nginx-log or a mapping, found {}; {PROVIDER_HELP}",
                    other.found()
                ),
            );
            None
        }
    }
}

pub(super) fn analysis(v: &mut V, top: &Fields) -> Analysis {
    let mut a = Analysis {
        provider: Provider::NginxLog,
        interval: Duration::from_secs(10),
        window: Duration::from_secs(60),
        error_rate_max: 0.02,
        p99_max: Duration::from_secs(1),
        min_requests: 50,
        on_inconclusive: OnInconclusive::Pause,
        failure_limit: 1,
        prometheus: Prometheus::default(),
        watch: Duration::from_secs(30 * 60),
        compare: None,
    };
    let Some(f) = v.section(top, "analysis", "analysis", ANALYSIS_KEYS) else {
        return a;
    };
    if let Some(p) = provider(v, &f) {
        a.provider = p;
    }
    // The settings: beside `provider: prometheus`, or inside the older `provider: {…}` form.
    let settings = match f.get("provider").map(|p| &p.value) {
        Some(Value::Map(_)) if f.get("prometheus").is_none() => {
            let mut quiet = V {
                file: v.file,
                diags: Vec::new(),
            };
            // Unknown keys under provider were reported above.
            quiet
                .section(&f, "provider", "analysis.provider", &["prometheus"])
                .and_then(|pf| prometheus::section(v, &pf, "prometheus", "the prometheus provider"))
        }
        _ if f.get("prometheus").is_some() => {
            prometheus::section(v, &f, "prometheus", "analysis.prometheus")
        }
        _ => None,
    };
    if let Some((url, p)) = settings {
        if let Provider::Prometheus { url: u } = &mut a.provider {
            *u = url;
        }
        a.prometheus = p;
    }
    a.watch = watch::watch(v, &f, a.watch);
    a.compare = watch::compare(v, &f);
    a.interval = v.opt(&f, "interval", a.interval, |v, d| {
        let d2 = v.duration(d, "analysis.interval")?;
        if d2 < Duration::from_secs(1) {
            v.err(d, "analysis.interval must be at least 1s");
            return None;
        }
        Some(d2)
    });
    a.window = v.opt(&f, "window", a.window, |v, d| {
        positive(v, d, "analysis.window")
    });
    if a.window < a.interval {
        if let Some(w) = f.get("window").or(f.get("interval")) {
            v.err(
                w,
                format!(
                    "analysis.window ({}) is shorter than analysis.interval ({}); each judgement would miss requests",
                    show(a.window),
                    show(a.interval)
                ),
            );
        }
    }
    a.error_rate_max = v.opt(&f, "error_rate_max", a.error_rate_max, |v, e| {
        match &e.value {
            Value::Float(x) if (0.0..=1.0).contains(x) => Some(*x),
            Value::Int(0) => Some(0.0),
            Value::Int(1) => Some(1.0),
            other => {
                v.err(
                    e,
                    format!(
                        "error_rate_max must be a fraction between 0 and 1 (0.02 = 2 %), found {}",
                        other.found()
                    ),
                );
                None
            }
        }
    });
    a.p99_max = v.opt(&f, "p99_max", a.p99_max, |v, d| {
        positive(v, d, "analysis.p99_max")
    });
    a.min_requests = v.opt(&f, "min_requests", a.min_requests, |v, m| {
        v.int(m, "min_requests", 0, 1_000_000_000).map(|x| x as u64)
    });
    a.on_inconclusive = v.opt(&f, "on_inconclusive", a.on_inconclusive, |v, o| {
        match v.string(o, "on_inconclusive")?.as_str() {
            "pause" => Some(OnInconclusive::Pause),
            "rollback" => Some(OnInconclusive::Rollback),
            other => {
                v.err(
                    o,
                    format!("on_inconclusive `{other}` is unknown; use pause or rollback"),
                );
                None
            }
        }
    });
    a.failure_limit = v.opt(&f, "failure_limit", a.failure_limit, |v, n| {
        v.int(n, "failure_limit", 1, 100).map(|x| x as u32)
    });
    a
}

/// A duration as people write it: 1m30s, 500ms.
fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}
