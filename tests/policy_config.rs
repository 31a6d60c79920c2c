//! The `policy` section: validation with located errors, and the policy's answers for a
//! configuration at fixed clocks (pure; no lab).

use std::path::Path;

use chrono::{DateTime, Utc};
use sluice::config::{parse, Config};
use sluice::policy::{evaluate, facts, HistoryStats, Level, Load};

/// A small valid configuration: `auth` <- `api` <- `web` (web depends on api, api on auth),
/// all on staging hosts, plus `policy`.
fn config(policy: &str) -> String {
    let mut services = String::new();
    for (i, (name, deps)) in [("auth", "[]"), ("api", "[auth]"), ("web", "[api]")]
        .iter()
        .enumerate()
    {
        services.push_str(&format!(
            r#"  {name}:
    hosts: [h1]
    image: example/{name}
    nginx: {{ upstream_file: /etc/nginx/{name}.conf, upstream: {name}_b, test: "nginx -t", reload: "nginx -s reload" }}
    tracks:
      stable: {{ project: {name}-s, compose_file: /srv/{name}/s.yml, port: {} }}
      canary: {{ project: {name}-c, compose_file: /srv/{name}/c.yml, port: {} }}
    depends_on: {deps}
    strategy: c
"#,
            8000 + 2 * i,
            8001 + 2 * i
        ));
    }
    format!(
        r#"environments:
  staging: {{ approval: none }}
  production: {{ approval: required }}
hosts:
  - {{ name: h1, address: 10.0.0.1, user: deploy, environment: staging }}
services:
{services}strategies:
  c: {{ kind: canary, steps: [10, 50], bake: 1s }}
{policy}"#
    )
}

fn load(policy: &str) -> Config {
    parse(Path::new("p.yaml"), &config(policy)).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn errors(policy: &str) -> Vec<String> {
    match parse(Path::new("p.yaml"), &config(policy)) {
        Ok(_) => panic!("expected errors for:\n{policy}"),
        Err(d) => d.iter().map(|x| x.to_string()).collect(),
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn known(now: &str) -> facts::Known {
    facts::Known {
        now: utc(now),
        image_change: true,
        history: HistoryStats::default(),
        stable_error_rate: None,
    }
}

fn idle() -> Load {
    Load {
        in_flight: 0,
        rps: None,
    }
}

fn rules(c: &Config, service: &str, now: &str, load: &Load) -> Vec<String> {
    evaluate(c, service, &known(now), load)
        .refusals
        .iter()
        .map(|r| r.rule.clone())
        .collect()
}

#[test]
fn defaults_without_a_policy_section() {
    let c = load("");
    assert_eq!(c.policy.max_concurrent, 10);
    assert_eq!(c.policy.timezone, chrono_tz::Tz::UTC);
    assert_eq!(c.policy.risk.approval, Some(Level::High));
    assert_eq!(c.policy.risk.refuse, Some(Level::Critical));
}

#[test]
fn errors_are_located_with_hints() {
    let e = errors(
        "policy:\n  timezone: Asia/Seol\n  max_concurent: 3\n  blackouts:\n    - { weekly: \"Fri 16:00 - Fri 16:00\" }\n    - { from: 2026-12-24 }\n  risk: { approval: hihg, refuse: never }\n  freeze: [{ service: nope }]\n",
    );
    let all = e.join("\n");
    assert!(
        all.contains("p.yaml:37:13: policy.timezone `Asia/Seol` is not an IANA time zone (did you mean `Asia/Seoul`?)"),
        "{all}"
    );
    assert!(
        all.contains(
            "p.yaml:38:3: unknown key `max_concurent` in policy (did you mean `max_concurrent`?)"
        ),
        "{all}"
    );
    assert!(all.contains("starts and ends at the same time"), "{all}");
    assert!(all.contains("needs both `from` and `to`"), "{all}");
    assert!(
        all.contains("risk.approval `hihg` is unknown (did you mean `high`?)"),
        "{all}"
    );
    assert!(
        all.contains("frozen service `nope` is not defined"),
        "{all}"
    );
    assert_eq!(e.len(), 6, "{all}");
}

#[test]
fn a_blackout_refuses_with_until_in_the_zone_and_in_utc() {
    let c = load(
        "policy:\n  timezone: Asia/Seoul\n  blackouts:\n    - { weekly: \"Fri 16:00 - Mon 08:00\", reason: weekend }\n    - { from: 2026-12-24, to: 2026-12-25, environments: [production] }\n  risk: { approval: never, refuse: never }\n",
    );
    // Saturday 2026-11-28 12:00 KST.
    let d = evaluate(&c, "api", &known("2026-11-28T03:00:00Z"), &idle());
    assert_eq!(d.refusals.len(), 1);
    let r = &d.refusals[0];
    assert_eq!(r.rule, "blackout");
    assert_eq!(r.until, Some(utc("2026-11-29T23:00:00Z")));
    assert_eq!(
        r.to_string(),
        "[blackout] blackout window `Fri 16:00 - Mon 08:00` in Asia/Seoul (weekend); until Mon 2026-11-30 08:00 KST (2026-11-29 23:00 UTC)"
    );
    // Tuesday: free. The Christmas window is for production only; these hosts are staging.
    assert!(rules(&c, "api", "2026-12-01T03:00:00Z", &idle()).is_empty());
    assert!(rules(&c, "api", "2026-12-24T03:00:00Z", &idle()).is_empty());
}

#[test]
fn concurrency_traffic_gate_and_freeze() {
    let c = load(
        "policy:\n  max_concurrent: 2\n  traffic_gate: { max_rps: 100 }\n  freeze: [{ service: api, reason: migration, until: 2026-12-01 18:00 }]\n  risk: { approval: never, refuse: never }\n",
    );
    let now = "2026-11-30T10:00:00Z";
    let busy = Load {
        in_flight: 2,
        rps: Some(150.0),
    };
    // auth is a dependency of the frozen api, web a dependent: both blocked, as is api.
    assert_eq!(
        rules(&c, "auth", now, &busy),
        ["max-concurrent", "traffic-gate", "freeze"]
    );
    assert_eq!(rules(&c, "web", now, &idle()), ["freeze"]);
    let d = evaluate(&c, "api", &known(now), &idle());
    assert_eq!(
        d.refusals[0].reason,
        "dependency freeze on api (migration): it is frozen"
    );
    assert_eq!(d.refusals[0].until, Some(utc("2026-12-01T18:00:00Z")));
    // After the freeze, with an unknown load: free (unknown load is allowed by default).
    assert!(rules(&c, "web", "2026-12-01T18:00:00Z", &idle()).is_empty());
    let strict = load("policy:\n  traffic_gate: { max_rps: 100, unknown: refuse }\n  risk: { approval: never, refuse: never }\n");
    assert_eq!(rules(&strict, "web", now, &idle()), ["traffic-gate"]);
}

#[test]
fn risk_rests_on_the_clock_in_the_operators_zone_and_the_dependency_graph() {
    let c = load(
        "policy:\n  timezone: Europe/Berlin\n  high_risk_days: [2026-12-24]\n  business_critical: [{ weekly: \"Mon 11:00 - Mon 14:00\" }]\n  critical: [web]\n",
    );
    assert_eq!(facts::dependents(&c, "auth"), ["api", "web"]);
    assert_eq!(facts::dependencies(&c, "web"), ["api", "auth"]);
    // Tuesday 10:00 Berlin: working hours, ordinary day.
    let calm = facts::gather(&c, "auth", &known("2026-12-01T09:00:00Z"));
    assert!(!calm.outside_working_hours && !calm.friday_afternoon && !calm.high_risk_day);
    assert_eq!(calm.critical_dependents, ["web"]);
    // Friday 18:30 Berlin (17:30 UTC): outside working hours, Friday afternoon.
    let late = facts::gather(&c, "auth", &known("2026-12-04T17:30:00Z"));
    assert!(late.outside_working_hours && late.friday_afternoon);
    assert_eq!(late.local_time, "Fri 18:30 CET");
    // Monday 12:00 Berlin: business-critical hours. 2026-12-24: a high-risk day.
    assert!(facts::gather(&c, "auth", &known("2026-11-30T11:00:00Z"))
        .business_critical
        .is_some());
    assert!(facts::gather(&c, "auth", &known("2026-12-24T11:00:00Z")).high_risk_day);
    let a = evaluate(&c, "auth", &known("2026-12-04T17:30:00Z"), &idle()).assessment;
    let b = evaluate(&c, "auth", &known("2026-12-01T09:00:00Z"), &idle()).assessment;
    assert!(a.score > b.score, "{} vs {}", a.score, b.score);
}

#[test]
fn a_high_risk_needs_approval_and_a_critical_one_is_refused() {
    // auth on a Friday evening, on a high-risk day, with two dependents (one critical): high;
    // with a bad history on top: critical.
    let c = load("policy:\n  high_risk_days: [fri]\n  critical: [web]\n");
    let mut k = known("2026-12-04T19:00:00Z");
    let d = evaluate(&c, "auth", &k, &idle());
    assert_eq!(d.assessment.level, Level::High, "{:#?}", d.assessment);
    // High: not refused, but the deployment waits for an approval (in any environment).
    assert!(d.refusals.is_empty(), "{:#?}", d.refusals);
    assert!(d
        .approval
        .as_deref()
        .is_some_and(|a| a.starts_with("approval required by risk policy")));
    k.history = HistoryStats {
        deployments: 4,
        failures: 2,
        rollbacks: 1,
        mean_time_to_recover: Some(std::time::Duration::from_secs(600)),
    };
    let d = evaluate(&c, "auth", &k, &idle());
    assert_eq!(d.assessment.level, Level::Critical, "{:#?}", d.assessment);
    assert_eq!(d.refusals[0].rule, "risk");
}
