//! The risk score of a deployment: 0..=100, a level, and the factors it rests on, each with its
//! contribution and a sentence. Pure: [`Facts`] are gathered by the caller (see `facts.rs`).
//!
//! Each factor has a ceiling; the score is their sum, capped at 100. Every contribution only
//! grows when its facts get worse, so the score does too (a property test checks it).

use serde::Serialize;
use std::time::Duration;

pub use crate::domain::deploy_policy::Level;

/// What the engine knows of a service's past deployments. Filled from the engine's own memory
/// today; the durable journal fills it across restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HistoryStats {
    pub deployments: u32,
    /// Deployments that ended failed (not counting rollbacks).
    pub failures: u32,
    pub rollbacks: u32,
    /// Mean time from a rollback's start to every host verified on stable.
    pub mean_time_to_recover: Option<Duration>,
}

/// Everything the score rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub hosts: u32,
    /// Other services behind the same hosts' NGINX (a reload touches them too).
    pub colocated_services: u32,
    /// A new image (false: the same version again, a config-only change).
    pub image_change: bool,
    pub outside_working_hours: bool,
    pub friday_afternoon: bool,
    pub high_risk_day: bool,
    /// Inside a business-critical window (its text).
    pub business_critical: Option<String>,
    /// Services that depend on this one, directly or through others.
    pub dependents: Vec<String>,
    /// Those of them that the policy lists as critical.
    pub critical_dependents: Vec<String>,
    /// The service itself is listed as critical.
    pub service_critical: bool,
    pub history: HistoryStats,
    /// The stable track's error rate now (a fraction), when recently measured.
    pub stable_error_rate: Option<f64>,
    /// The analysis threshold the error rate is measured against.
    pub error_rate_max: f64,
    /// "Fri 17:20 KST": the local time the time factor was judged at.
    pub local_time: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    /// scope, time, dependencies, history, health.
    pub name: String,
    pub points: u8,
    pub max: u8,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub score: u8,
    pub level: Level,
    pub factors: Vec<Factor>,
    pub mitigations: Vec<String>,
}

const SCOPE_MAX: u32 = 22;
const TIME_MAX: u32 = 40;
const DEPS_MAX: u32 = 30;
const HISTORY_MAX: u32 = 30;
const HEALTH_MAX: u32 = 25;

fn factor(name: &str, points: u32, max: u32, detail: String) -> Factor {
    Factor {
        name: name.into(),
        points: points.min(max) as u8,
        max: max as u8,
        detail,
    }
}

fn scope(f: &Facts) -> Factor {
    let p =
        (2 * f.hosts).min(10) + (3 * f.colocated_services).min(6) + 6 * u32::from(f.image_change);
    let what = if f.image_change {
        "a new image"
    } else {
        "the same version again (config only)"
    };
    let others = match f.colocated_services {
        0 => String::new(),
        n => format!(", whose NGINX also serves {n} other service(s)"),
    };
    factor(
        "scope",
        p,
        SCOPE_MAX,
        format!("{what} on {} host(s){others}", f.hosts),
    )
}

fn time(f: &Facts) -> Factor {
    let mut p = 0;
    let mut why = Vec::new();
    if f.outside_working_hours {
        p += 15;
        why.push("outside working hours");
    }
    if f.friday_afternoon {
        p += 10;
        why.push("Friday afternoon");
    }
    if f.high_risk_day {
        p += 15;
        why.push("a high-risk day in the calendar");
    }
    let bc;
    if let Some(w) = &f.business_critical {
        p += 20;
        bc = format!("business-critical hours ({w})");
        why.push(&bc);
    }
    let detail = if why.is_empty() {
        format!("{}: working hours, an ordinary day", f.local_time)
    } else {
        format!("{}: {}", f.local_time, why.join(", "))
    };
    factor("time", p, TIME_MAX, detail)
}

fn dependencies(f: &Facts) -> Factor {
    let n = f.dependents.len() as u32;
    let c = f.critical_dependents.len() as u32;
    let p = 4 * n + 8 * c + 10 * u32::from(f.service_critical);
    let mut detail = match n {
        0 => "nothing depends on this service".to_string(),
        _ => format!("{n} service(s) depend on it: {}", list(&f.dependents)),
    };
    if c > 0 {
        detail.push_str(&format!("; critical: {}", list(&f.critical_dependents)));
    }
    if f.service_critical {
        detail.push_str("; the service itself is critical");
    }
    factor("dependencies", p, DEPS_MAX, detail)
}

fn list(names: &[String]) -> String {
    if names.len() <= 5 {
        names.join(", ")
    } else {
        format!("{} and {} more", names[..5].join(", "), names.len() - 5)
    }
}

fn history(f: &Facts) -> Factor {
    let h = &f.history;
    let mttr_min = h
        .mean_time_to_recover
        .map_or(0.0, |d| d.as_secs_f64() / 60.0);
    let mttr_p = (mttr_min / 3.0).min(10.0) as u32;
    if h.deployments == 0 {
        return factor(
            "history",
            mttr_p,
            HISTORY_MAX,
            "no earlier deployments known".into(),
        );
    }
    let d = f64::from(h.deployments);
    let fail = f64::from(h.failures.min(h.deployments)) / d;
    let back = f64::from(h.rollbacks.min(h.deployments)) / d;
    let p = (fail * 20.0).round() as u32 + (back * 10.0).round() as u32 + mttr_p;
    let mttr = h
        .mean_time_to_recover
        .map_or("no recoveries".to_string(), |m| {
            format!("mean time to recover {:.1} min", m.as_secs_f64() / 60.0)
        });
    factor(
        "history",
        p,
        HISTORY_MAX,
        format!(
            "{} of {} deployment(s) failed, {} rolled back; {mttr}",
            h.failures, h.deployments, h.rollbacks
        ),
    )
}

fn health(f: &Facts) -> Factor {
    match f.stable_error_rate {
        None => factor(
            "health",
            0,
            HEALTH_MAX,
            "stable's error rate is unknown (no recent measurement)".into(),
        ),
        Some(r) => {
            let max = if f.error_rate_max > 0.0 {
                f.error_rate_max
            } else {
                0.0001
            };
            let p = (r.max(0.0) / max * 20.0).min(f64::from(HEALTH_MAX)).ceil() as u32;
            factor(
                "health",
                p,
                HEALTH_MAX,
                format!(
                    "stable answers {:.2} % errors now (threshold {:.2} %)",
                    r * 100.0,
                    f.error_rate_max * 100.0
                ),
            )
        }
    }
}

/// Score the facts.
pub fn assess(f: &Facts) -> Assessment {
    let factors = vec![scope(f), time(f), dependencies(f), history(f), health(f)];
    let sum: u32 = factors.iter().map(|x| u32::from(x.points)).sum();
    let score = sum.min(100) as u8;
    let level = Level::of(score);
    let mut mitigations = Vec::new();
    if level >= Level::Medium {
        mitigations.push("smaller steps: start the canary at 5 % or less".to_string());
    }
    if level >= Level::Medium || factors[3].points >= 10 || factors[4].points >= 10 {
        mitigations.push("a longer bake between steps".to_string());
    }
    if factors[1].points > 0 {
        mitigations.push("deploy during working hours on an ordinary day".to_string());
    }
    if !f.dependents.is_empty() && level >= Level::Medium {
        mitigations.push(format!("warn the owners of {}", list(&f.dependents)));
    }
    if level >= Level::High {
        mitigations.push("a second pair of eyes: have it approved".to_string());
    }
    Assessment {
        score,
        level,
        factors,
        mitigations,
    }
}

impl Assessment {
    /// "risk 42 medium (scope 12, time 25, …)".
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .factors
            .iter()
            .filter(|f| f.points > 0)
            .map(|f| format!("{} {}", f.name, f.points))
            .collect();
        format!(
            "risk {} {}{}",
            self.score,
            self.level,
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        )
    }
}

#[cfg(test)]
#[path = "risk_tests.rs"]
mod tests;
