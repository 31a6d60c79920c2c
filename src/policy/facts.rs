//! Gathering a deployment's risk [`Facts`] from the configuration and what the engine knows
//! now. Pure: the clock, history and measurements are passed in.

use std::collections::{BTreeSet, VecDeque};

use chrono::{DateTime, Utc};

use super::risk::{Facts, HistoryStats};
use super::windows;
use crate::config::Config;

/// What the engine knows at the moment of a deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub now: DateTime<Utc>,
    /// The version to deploy differs from the stable one (true when stable is unknown).
    pub image_change: bool,
    pub history: HistoryStats,
    /// The stable track's error rate, when measured recently.
    pub stable_error_rate: Option<f64>,
}

/// Services that depend on `service` through `depends_on`, directly or transitively, sorted.
pub fn dependents(config: &Config, service: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([service.to_string()]);
    while let Some(s) = queue.pop_front() {
        for (name, svc) in &config.services {
            if svc.depends_on.contains(&s) && name != service && seen.insert(name.clone()) {
                queue.push_back(name.clone());
            }
        }
    }
    seen.into_iter().collect()
}

/// What `service` depends on, directly or transitively, sorted.
pub fn dependencies(config: &Config, service: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([service.to_string()]);
    while let Some(s) = queue.pop_front() {
        if let Some(svc) = config.services.get(&s) {
            for d in &svc.depends_on {
                if d != service && seen.insert(d.clone()) {
                    queue.push_back(d.clone());
                }
            }
        }
    }
    seen.into_iter().collect()
}

/// The environment a service runs in ("" when it cannot be told).
pub fn environment(config: &Config, service: &str) -> String {
    config
        .services
        .get(service)
        .and_then(|s| config.service_environment(s))
        .map(|e| e.name.clone())
        .unwrap_or_default()
}

pub fn gather(config: &Config, service: &str, k: &Known) -> Facts {
    let p = &config.policy;
    let tz = p.timezone;
    let env = environment(config, service);
    let svc = config.services.get(service);
    let hosts: Vec<String> = svc.map(|s| s.hosts.clone()).unwrap_or_default();
    let colocated = config
        .services
        .values()
        .filter(|o| o.name != service && o.hosts.iter().any(|h| hosts.contains(h)))
        .count() as u32;
    let deps = dependents(config, service);
    let critical_dependents = deps
        .iter()
        .filter(|d| p.critical.contains(d))
        .cloned()
        .collect();
    let business_critical =
        windows::active(&p.business_critical, &env, k.now).map(|(w, _)| w.text.clone());
    let local = k.now.with_timezone(&tz);
    Facts {
        hosts: hosts.len() as u32,
        colocated_services: colocated,
        image_change: k.image_change,
        outside_working_hours: !p.working_hours.contains(tz, k.now),
        friday_afternoon: windows::friday_afternoon(tz, k.now),
        high_risk_day: p.high_risk_days.contains(tz, k.now),
        business_critical,
        critical_dependents,
        dependents: deps,
        service_critical: p.critical.iter().any(|c| c == service),
        history: k.history.clone(),
        stable_error_rate: k.stable_error_rate,
        error_rate_max: config.analysis.error_rate_max,
        local_time: format!("{} {}", local.format("%a %H:%M"), local.format("%Z")),
    }
}
