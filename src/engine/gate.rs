//! The policy gate in front of every deploy, evaluated before anything touches a host: it
//! gathers what the engine knows (clock, history, the stable track's health and load, rollouts
//! in flight), asks the pure policy, and emits the risk assessment, a refusal, or an override.

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::event::{Emitter, EventKind};
use super::snapshot::{ServiceSnapshot, Snapshot};
use super::EngineError;
use crate::config::Config;
use crate::domain::Version;
use crate::policy::{self, facts::Known, Decision, Load, Refusal};

/// Reads the engine's picture for the policy. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    snapshot: watch::Receiver<Snapshot>,
}

/// A deploy the policy lets through (possibly by an override).
pub struct Admitted {
    pub decision: Decision,
    /// Refusals that the operator's reason overrode.
    pub overridden: Vec<Refusal>,
}

impl Gate {
    pub fn start(snapshot: watch::Receiver<Snapshot>) -> Gate {
        Gate { snapshot }
    }

    /// Judge a deploy. A refusal without an override emits the assessment and the refusal
    /// (with no deployment id) and returns the error; otherwise the caller emits [`admitted`].
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        config: &Config,
        service: &str,
        version: &Version,
        strategy: Option<&str>,
        override_reason: Option<&str>,
        in_flight: usize,
        history: policy::HistoryStats,
        now: DateTime<Utc>,
        em: &Emitter,
    ) -> Result<Admitted, EngineError> {
        let snap = self.snapshot.borrow().services.get(service).cloned();
        let known = Known {
            now,
            image_change: image_change(snap.as_ref(), version),
            history,
            stable_error_rate: snap
                .as_ref()
                .and_then(|s| stable_error_rate(config, s, now)),
        };
        let load = Load {
            in_flight,
            rps: snap.as_ref().and_then(|s| rps(config, s, now)),
        };
        let decision = policy::evaluate(config, service, &known, &load);
        if decision.refusals.is_empty() {
            return Ok(Admitted {
                decision,
                overridden: Vec::new(),
            });
        }
        match override_reason {
            Some(_) => Ok(Admitted {
                overridden: decision.refusals.clone(),
                decision,
            }),
            None => {
                emit_risk(em, &decision);
                let strategy = strategy.map_or(String::new(), |s| format!(" --strategy {s}"));
                let hint = format!(
                    "sluice deploy {service} --version {version}{strategy} --override \"REASON\""
                );
                em.emit(EventKind::PolicyRefused {
                    version: version.to_string(),
                    refusals: decision.refusals.clone(),
                    override_hint: hint.clone(),
                });
                Err(EngineError::Refused {
                    service: service.to_string(),
                    version: version.to_string(),
                    refusals: decision
                        .refusals
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(" · "),
                    hint,
                })
            }
        }
    }
}

/// The assessment (and any override) of a deploy that starts, on its deployment's emitter.
pub fn admitted(em: &Emitter, a: &Admitted, operator: &str, reason: Option<&str>) {
    emit_risk(em, &a.decision);
    if let (Some(reason), false) = (reason, a.overridden.is_empty()) {
        em.emit(EventKind::PolicyOverridden {
            operator: operator.to_string(),
            reason: reason.to_string(),
            rules: a.overridden.clone(),
        });
    }
}

fn emit_risk(em: &Emitter, d: &Decision) {
    let a = &d.assessment;
    em.emit(EventKind::Risk {
        score: a.score,
        level: a.level,
        factors: a.factors.clone(),
        mitigations: a.mitigations.clone(),
    });
}

/// True unless every host read so far runs `version` as stable already.
fn image_change(s: Option<&ServiceSnapshot>, version: &Version) -> bool {
    let v = version.to_string();
    let stables: Vec<&str> = s
        .map(|s| {
            s.hosts
                .values()
                .filter_map(|h| h.stable.as_ref())
                .filter_map(|st| st.version.as_deref())
                .collect()
        })
        .unwrap_or_default();
    stables.is_empty() || stables.iter().any(|x| *x != v)
}

/// A judgement is recent when younger than three analysis intervals.
fn fresh(config: &Config, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let limit = 3 * config.analysis.interval.as_secs().max(1) as i64;
    (now - at).num_seconds() <= limit
}

fn stable_error_rate(config: &Config, s: &ServiceSnapshot, now: DateTime<Utc>) -> Option<f64> {
    let p = s
        .stable
        .latest
        .as_ref()
        .filter(|p| fresh(config, p.at, now))?;
    (p.requests > 0).then_some(p.error_rate)
}

/// Requests per second over both tracks' latest windows.
fn rps(config: &Config, s: &ServiceSnapshot, now: DateTime<Utc>) -> Option<f64> {
    let window = config.analysis.window.as_secs_f64().max(1.0);
    let points: Vec<u64> = [&s.stable, &s.canary]
        .iter()
        .filter_map(|t| t.latest.as_ref())
        .filter(|p| fresh(config, p.at, now))
        .map(|p| p.requests)
        .collect();
    (!points.is_empty()).then(|| points.iter().sum::<u64>() as f64 / window)
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
