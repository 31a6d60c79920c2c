//! The `analysis` section.

use super::*;

pub(super) fn analysis(v: &mut V, n: Option<&Node>) -> Analysis {
    let mut a = Analysis {
        provider: Provider::NginxLog,
        interval: Duration::from_secs(10),
        window: Duration::from_secs(60),
        error_rate_max: 0.02,
        p99_max: Duration::from_secs(1),
        min_requests: 50,
        on_inconclusive: OnInconclusive::Pause,
        failure_limit: 1,
    };
    let Some(f) = n.and_then(|n| {
        v.fields(
            n,
            "analysis",
            &[
                "provider",
                "interval",
                "window",
                "error_rate_max",
                "p99_max",
                "min_requests",
                "on_inconclusive",
                "failure_limit",
            ],
        )
    }) else {
        return a;
    };
    if let Some(p) = f.get("provider") {
        match &p.value {
            Value::Str(s) if s == "nginx-log" => a.provider = Provider::NginxLog,
            Value::Map(_) => {
                if let Some(pf) = v.fields(p, "analysis.provider", &["prometheus"]) {
                    if let Some(prom) = v.require(&pf, "prometheus", "analysis.provider") {
                        if let Some(qf) = v.fields(prom, "prometheus", &["url"]) {
                            if let Some(url) = v
                                .require(&qf, "url", "prometheus")
                                .and_then(|u| v.string(u, "prometheus.url"))
                            {
                                a.provider = Provider::Prometheus { url };
                            }
                        }
                    }
                }
            }
            _ => v.err(
                p,
                "provider must be nginx-log or { prometheus: { url: … } }",
            ),
        }
    }
    a.interval = v.opt(&f, "interval", a.interval, |v, d| {
        let d2 = v.duration(d, "analysis.interval")?;
        if d2 < Duration::from_secs(1) {
            v.err(d, "analysis.interval must be at least 1s");
            return None;
        }
        Some(d2)
    });
    a.window = v.opt(&f, "window", a.window, |v, d| {
        v.duration(d, "analysis.window")
    });
    a.error_rate_max = v.opt(&f, "error_rate_max", a.error_rate_max, |v, e| {
        match &e.value {
            Value::Float(x) if (0.0..=1.0).contains(x) => Some(*x),
            Value::Int(0) => Some(0.0),
            Value::Int(1) => Some(1.0),
            _ => {
                v.err(
                    e,
                    "error_rate_max must be a fraction between 0 and 1 (0.02 = 2 %)",
                );
                None
            }
        }
    });
    a.p99_max = v.opt(&f, "p99_max", a.p99_max, |v, d| {
        v.duration(d, "analysis.p99_max")
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
