//! Rules that refuse a deploy outright: blackout windows, max concurrent rollouts, the traffic
//! gate, dependency freezes, and the risk policy. Pure: the caller passes the clock, the
//! rollouts in flight and the load.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::facts::environment;
use super::risk::Assessment;
use super::windows::{self, show, Until};
use super::Policy;
use crate::config::Config;

/// One rule that refuses a deploy, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// blackout, max-concurrent, traffic-gate, freeze, risk.
    pub rule: String,
    pub reason: String,
    /// When the rule stops refusing, if that is known.
    pub until: Option<DateTime<Utc>>,
    /// The same instant in the policy's zone and in UTC, or what lifts the rule.
    pub until_text: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}; {}", self.rule, self.reason, self.until_text)
    }
}

/// What the engine knows of the service's load.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Deployments in flight (any service).
    pub in_flight: usize,
    /// The service's requests per second, recently measured.
    pub rps: Option<f64>,
}

fn refusal(
    rule: &str,
    reason: String,
    until: Option<DateTime<Utc>>,
    tz: Tz,
    lifted: &str,
) -> Refusal {
    Refusal {
        rule: rule.into(),
        reason,
        until,
        until_text: match until {
            Some(t) => format!("until {}", show(t, tz)),
            None => format!("until {lifted}"),
        },
    }
}

pub fn check(config: &Config, service: &str, now: DateTime<Utc>, load: &Load) -> Vec<Refusal> {
    let p: &Policy = &config.policy;
    let env = environment(config, service);
    let mut out = Vec::new();
    if let Some((w, until)) = windows::active(&p.blackouts, &env, now) {
        let why = w
            .reason
            .as_deref()
            .map_or(String::new(), |r| format!(" ({r})"));
        let tz = w.tz;
        out.push(match until {
            Until::At(t) => refusal(
                "blackout",
                format!("blackout window `{}` in {}{why}", w.text, w.tz),
                Some(t),
                tz,
                "",
            ),
            Until::Open => refusal(
                "blackout",
                format!("blackout window `{}` in {}{why}", w.text, w.tz),
                None,
                tz,
                "the window is removed from policy.blackouts (it covers every moment)",
            ),
        });
    }
    if load.in_flight >= p.max_concurrent as usize {
        out.push(refusal(
            "max-concurrent",
            format!(
                "{} rollouts are in flight; policy.max_concurrent allows {}",
                load.in_flight, p.max_concurrent
            ),
            None,
            p.timezone,
            "one of them ends",
        ));
    }
    if let Some(g) = &p.traffic_gate {
        match load.rps {
            Some(r) if r > g.max_rps => out.push(refusal(
                "traffic-gate",
                format!(
                    "{service} takes {r:.0} requests/s, above policy.traffic_gate.max_rps {}",
                    g.max_rps
                ),
                None,
                p.timezone,
                "the load drops below the gate",
            )),
            None if g.refuse_unknown => out.push(refusal(
                "traffic-gate",
                format!("{service}'s load is unknown (no recent measurement) and policy.traffic_gate refuses unknown load"),
                None,
                p.timezone,
                "the metric provider reports the load",
            )),
            _ => {}
        }
    }
    for fz in &p.freeze {
        if fz.until.is_some_and(|u| u <= now) {
            continue;
        }
        let relation = if fz.service == service {
            "it is frozen".to_string()
        } else if config
            .services
            .get(&fz.service)
            .is_some_and(|f| f.depends_on.iter().any(|d| d == service))
        {
            format!("frozen {} depends on it", fz.service)
        } else if config
            .services
            .get(service)
            .is_some_and(|s| s.depends_on.contains(&fz.service))
        {
            format!("it depends on frozen {}", fz.service)
        } else {
            continue;
        };
        let why = fz
            .reason
            .as_deref()
            .map_or(String::new(), |r| format!(" ({r})"));
        out.push(refusal(
            "freeze",
            format!("dependency freeze on {}{why}: {relation}", fz.service),
            fz.until,
            p.timezone,
            "the freeze is lifted from policy.freeze",
        ));
    }
    out
}

/// The risk policy's refusal: at or above `refuse`.
pub fn risk(p: &Policy, a: &Assessment) -> Option<Refusal> {
    let l = p.risk.refuse.filter(|l| a.level >= *l)?;
    Some(refusal(
        "risk",
        format!("{} is at or above policy.risk.refuse ({l})", a.summary()),
        None,
        p.timezone,
        "the risk drops (see the mitigations) or the deploy is overridden as an emergency",
    ))
}

/// Why the risk policy asks for an approval (at or above `approval`), in any environment: the
/// deployment then waits for one like a production deployment does.
pub fn risk_approval(p: &Policy, a: &Assessment) -> Option<String> {
    let l = p.risk.approval.filter(|l| a.level >= *l)?;
    Some(format!(
        "approval required by risk policy: {} is at or above policy.risk.approval ({l})",
        a.summary()
    ))
}
