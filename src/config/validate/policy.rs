//! The `policy` section: time zone, working hours, high-risk days, blackout and
//! business-critical windows, critical services, max concurrent rollouts, the traffic gate,
//! dependency freezes and the risk policy.

use chrono::Duration as Days;
use chrono_tz::Tz;

use super::*;
use crate::domain::deploy_policy::{Freeze, Level, Policy, RiskPolicy, TrafficGate};
use crate::domain::window_parse as parse;
use crate::domain::windows::{self, HighRiskDays, Span, Window, WorkingHours};

const POLICY_KEYS: &[&str] = &[
    "timezone",
    "working_hours",
    "high_risk_days",
    "blackouts",
    "business_critical",
    "critical",
    "max_concurrent",
    "traffic_gate",
    "freeze",
    "risk",
];

const WINDOW_KEYS: &[&str] = &["weekly", "from", "to", "reason", "timezone", "environments"];

fn zone(v: &mut V, n: &Node, what: &str) -> Option<Tz> {
    let s = v.string(n, what)?;
    match s.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|t| t.name()).collect();
            v.err(
                n,
                format!(
                    "{what} `{s}` is not an IANA time zone{}; write e.g. Asia/Seoul, Europe/Berlin or UTC",
                    did_you_mean(&s, &names)
                ),
            );
            None
        }
    }
}

fn checked<T>(v: &mut V, n: &Node, what: &str, r: Result<T, String>) -> Option<T> {
    r.map_err(|e| v.err(n, format!("{what}: {e}"))).ok()
}

/// A list, or nothing; anything else is reported.
fn items<'n>(v: &mut V, n: &'n Node, what: &str, example: &str) -> &'n [Node] {
    match &n.value {
        Value::Seq(items) => items,
        Value::Null => &[],
        other => {
            v.err(
                n,
                format!(
                    "{what} must be a list such as {example}, found {}",
                    other.found()
                ),
            );
            &[]
        }
    }
}

fn environments_of(v: &mut V, f: &Fields, envs: &[Environment]) -> Vec<String> {
    let Some(n) = f.get("environments") else {
        return Vec::new();
    };
    let known: Vec<String> = envs.iter().map(|e| e.name.clone()).collect();
    let mut out = Vec::new();
    for (e, node) in v.names(n, "environment") {
        if !known.contains(&e) {
            v.err(&node, undefined("environments", "environment", &e, &known));
        }
        out.push(e);
    }
    out
}

fn windows_list(
    v: &mut V,
    n: Option<&Node>,
    what: &str,
    tz: Tz,
    envs: &[Environment],
) -> Vec<Window> {
    let Some(n) = n else { return Vec::new() };
    let mut out = Vec::new();
    let example = "[{ weekly: \"Fri 16:00 - Mon 08:00\" }, { from: 2026-12-24, to: 2026-12-26 }]";
    for item in items(v, n, what, example) {
        let Some(f) = v.fields(item, &format!("an entry of {what}"), WINDOW_KEYS) else {
            continue;
        };
        let tz = f
            .get("timezone")
            .map_or(Some(tz), |z| zone(v, z, "timezone"));
        let reason = f.get("reason").and_then(|r| v.string(r, "reason"));
        let environments = environments_of(v, &f, envs);
        let span = match (f.get("weekly"), f.get("from"), f.get("to")) {
            (Some(w), None, None) => v.string(w, "weekly").and_then(|s| {
                let (start, end) = checked(v, w, "weekly", parse::weekly(&s))?;
                Some((Span::Weekly { start, end }, s))
            }),
            (None, Some(a), Some(b)) => {
                let from = v
                    .string(a, "from")
                    .and_then(|s| checked(v, a, "from", parse::local(&s)));
                let to = v
                    .string(b, "to")
                    .and_then(|s| checked(v, b, "to", parse::local(&s)));
                match (from, to) {
                    (Some((from, _)), Some((to, date_only))) => {
                        // A date alone as `to` means through the end of that day.
                        let to = if date_only { to + Days::days(1) } else { to };
                        if to <= from {
                            v.err(b, format!("{what}: `to` must be after `from`"));
                            None
                        } else {
                            Some((
                                Span::Dates { from, to },
                                format!(
                                    "{} - {}",
                                    from.format("%Y-%m-%d %H:%M"),
                                    to.format("%Y-%m-%d %H:%M")
                                ),
                            ))
                        }
                    }
                    _ => None,
                }
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                v.err(
                    f.anchor,
                    format!("an entry of {what} needs both `from` and `to`"),
                );
                None
            }
            (None, None, None) => {
                v.err(
                    f.anchor,
                    format!("an entry of {what} needs `weekly: \"Fri 16:00 - Mon 08:00\"` or `from:` and `to:`"),
                );
                None
            }
            _ => {
                v.err(
                    f.anchor,
                    format!("an entry of {what} has either `weekly` or `from`/`to`, not both"),
                );
                None
            }
        };
        if let (Some((span, text)), Some(tz)) = (span, tz) {
            out.push(Window {
                span,
                tz,
                reason,
                environments,
                text,
            });
        }
    }
    out
}

fn working_hours(v: &mut V, f: &Fields) -> WorkingHours {
    let mut wh = WorkingHours::default();
    let Some(w) = v.section(
        f,
        "working_hours",
        "policy.working_hours",
        &["days", "start", "end"],
    ) else {
        return wh;
    };
    if let Some(d) = w.get("days") {
        let mut days = Vec::new();
        let list: Vec<&Node> = match &d.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![d],
        };
        for n in list {
            if let Some(s) = v.string(n, "working_hours.days") {
                if let Some(ds) = checked(v, n, "working_hours.days", parse::weekdays(&s)) {
                    days.extend(ds);
                }
            }
        }
        wh.days = days;
    }
    for (key, slot) in [("start", &mut wh.start), ("end", &mut wh.end)] {
        if let Some(n) = w.get(key) {
            if let Some(t) = v
                .string(n, key)
                .and_then(|s| checked(v, n, &format!("working_hours.{key}"), parse::time(&s)))
            {
                *slot = t;
            }
        }
    }
    if wh.end <= wh.start {
        v.err(
            w.anchor,
            "working_hours.end must be after working_hours.start",
        );
    }
    wh
}

fn high_risk_days(v: &mut V, n: Option<&Node>) -> HighRiskDays {
    let mut out = HighRiskDays::default();
    let Some(n) = n else { return out };
    for item in items(v, n, "policy.high_risk_days", "[fri, 2026-12-24]") {
        let Some(s) = v.string(item, "a high-risk day") else {
            continue;
        };
        if let Ok(d) = parse::weekday(&s) {
            out.weekdays.push(d);
        } else if let Ok((dt, true)) = parse::local(&s) {
            out.dates.push(dt.date());
        } else {
            v.err(
                item,
                format!("high-risk day `{s}` is neither a weekday (fri) nor a date (2026-12-24)"),
            );
        }
    }
    out
}

fn service_ref(v: &mut V, n: &Node, what: &str, declared: &Declared) -> Option<String> {
    let s = v.name(n, what)?;
    if !declared.services.contains(&s) {
        v.err(n, undefined("services", what, &s, &declared.services));
        return None;
    }
    Some(s)
}

fn level(v: &mut V, n: &Node, what: &str) -> Option<Option<Level>> {
    let s = v.string(n, what)?;
    if s == "never" {
        return Some(None);
    }
    match Level::parse(&s) {
        Some(l) => Some(Some(l)),
        None => {
            v.err(
                n,
                format!(
                    "{what} `{s}` is unknown{}; use low, medium, high, critical or never",
                    did_you_mean(&s, &["low", "medium", "high", "critical", "never"])
                ),
            );
            None
        }
    }
}

fn freeze(v: &mut V, n: Option<&Node>, tz: Tz, declared: &Declared) -> Vec<Freeze> {
    let Some(n) = n else { return Vec::new() };
    let mut out = Vec::new();
    let example = "[{ service: auth, reason: \"db migration\", until: 2026-12-01 18:00 }]";
    for item in items(v, n, "policy.freeze", example) {
        let Some(f) = v.fields(item, "a freeze", &["service", "reason", "until"]) else {
            continue;
        };
        let service = v
            .require(&f, "service", "a freeze")
            .and_then(|s| service_ref(v, s, "frozen service", declared));
        let reason = f.get("reason").and_then(|r| v.string(r, "reason"));
        let until = f.get("until").and_then(|u| {
            let s = v.string(u, "until")?;
            let (t, date_only) = checked(v, u, "until", parse::local(&s))?;
            let t = if date_only { t + Days::days(1) } else { t };
            Some(windows::resolve_end(tz, t))
        });
        if let Some(service) = service {
            out.push(Freeze {
                service,
                reason,
                until,
            });
        }
    }
    out
}

pub(super) fn policy(v: &mut V, top: &Fields, declared: &Declared, envs: &[Environment]) -> Policy {
    let mut p = Policy::default();
    let Some(f) = v.section(top, "policy", "policy", POLICY_KEYS) else {
        return p;
    };
    if let Some(tz) = f
        .get("timezone")
        .and_then(|z| zone(v, z, "policy.timezone"))
    {
        p.timezone = tz;
    }
    p.working_hours = working_hours(v, &f);
    p.high_risk_days = high_risk_days(v, f.get("high_risk_days"));
    p.blackouts = windows_list(v, f.get("blackouts"), "policy.blackouts", p.timezone, envs);
    p.business_critical = windows_list(
        v,
        f.get("business_critical"),
        "policy.business_critical",
        p.timezone,
        envs,
    );
    if let Some(c) = f.get("critical") {
        for (_, node) in v.names(c, "critical service") {
            if let Some(s) = service_ref(v, &node, "critical service", declared) {
                p.critical.push(s);
            }
        }
    }
    p.max_concurrent = v.opt(&f, "max_concurrent", p.max_concurrent, |v, n| {
        v.int(n, "max_concurrent", 1, 10_000).map(|x| x as u32)
    });
    if let Some(g) = v.section(
        &f,
        "traffic_gate",
        "policy.traffic_gate",
        &["max_rps", "unknown"],
    ) {
        let max_rps = v
            .require(&g, "max_rps", "policy.traffic_gate")
            .and_then(|n| match &n.value {
                Value::Int(i) if *i > 0 => Some(*i as f64),
                Value::Float(x) if *x > 0.0 => Some(*x),
                other => {
                    v.err(
                        n,
                        format!(
                            "max_rps must be a number of requests per second above 0, found {}",
                            other.found()
                        ),
                    );
                    None
                }
            });
        let refuse_unknown = v.opt(&g, "unknown", false, |v, n| {
            match v.string(n, "traffic_gate.unknown")?.as_str() {
                "allow" => Some(false),
                "refuse" => Some(true),
                s => {
                    v.err(
                        n,
                        format!("traffic_gate.unknown `{s}` is unknown; use allow or refuse"),
                    );
                    None
                }
            }
        });
        if let Some(max_rps) = max_rps {
            p.traffic_gate = Some(TrafficGate {
                max_rps,
                refuse_unknown,
            });
        }
    }
    p.freeze = freeze(v, f.get("freeze"), p.timezone, declared);
    if let Some(r) = v.section(&f, "risk", "policy.risk", &["approval", "refuse"]) {
        let mut rp = RiskPolicy::default();
        if let Some(l) = r.get("approval").and_then(|n| level(v, n, "risk.approval")) {
            rp.approval = l;
        }
        if let Some(l) = r.get("refuse").and_then(|n| level(v, n, "risk.refuse")) {
            rp.refuse = l;
        }
        p.risk = rp;
    }
    p
}
