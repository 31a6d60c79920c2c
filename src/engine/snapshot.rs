//! The engine's current picture, folded from its events. The console reads it; `apply` is a
//! pure function, so the fold is tested without hosts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::event::{Event, EventKind};
use super::phase::Phase;
use crate::domain::DeploymentState;
use crate::domain::StackState;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub services: BTreeMap<String, ServiceSnapshot>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceSnapshot {
    pub deployment: Option<DeploymentSnapshot>,
    pub hosts: BTreeMap<String, HostSnapshot>,
    pub stable: TrackAnalysis,
    pub canary: TrackAnalysis,
    /// The latest risk assessment of a deploy of this service.
    pub risk: Option<RiskSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskSnapshot {
    pub score: u8,
    pub level: crate::policy::Level,
    pub at: DateTime<Utc>,
}

pub mod history;

/// The latest judgement of a track, and a bounded history of its figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrackAnalysis {
    pub latest: Option<AnalysisPoint>,
    #[serde(skip)]
    pub history: history::History,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisPoint {
    pub at: DateTime<Utc>,
    pub verdict: crate::analysis::Verdict,
    pub requests: u64,
    pub error_rate: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentSnapshot {
    pub id: u64,
    pub version: String,
    pub strategy: String,
    pub operator: String,
    pub state: DeploymentState,
    pub steps: Vec<u8>,
    /// 1-based index of the current step, 0 before the first.
    pub step: usize,
    pub canary_percent: u8,
    pub bake_until: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// Blue/green or rolling: where the deployment is.
    pub phase: Option<super::phase::Phase>,
}

/// What a host was last seen to hold, with when.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostSnapshot {
    pub stable_weight: Option<u32>,
    pub canary_weight: Option<u32>,
    pub canary_percent: Option<u8>,
    pub stable: Option<StackState>,
    pub canary: Option<StackState>,
    pub error: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    pub fn apply(&mut self, e: &Event) {
        let svc = self.services.entry(e.service.clone()).or_default();
        match &e.kind {
            EventKind::DeployStarted {
                version,
                strategy,
                operator,
                steps,
                ..
            } => {
                svc.deployment = Some(DeploymentSnapshot {
                    id: e.deployment.unwrap_or(0),
                    version: version.clone(),
                    strategy: strategy.clone(),
                    operator: operator.clone(),
                    state: DeploymentState::Pending,
                    steps: steps.clone(),
                    step: 0,
                    canary_percent: 0,
                    bake_until: None,
                    started_at: e.at,
                    last_error: None,
                    phase: None,
                });
            }
            EventKind::State { to, .. } => {
                if let Some(d) = deployment(svc, e) {
                    d.state = *to;
                }
            }
            EventKind::HostObserved {
                host: h,
                read_at,
                stable_weight,
                canary_weight,
                canary_percent,
                stable,
                canary,
            } => {
                let hs = host(svc, h);
                // Stacks are only ever read here, so they always take the latest read.
                hs.stable = Some(stable.clone());
                hs.canary = Some(canary.clone());
                if hs.updated_at.is_some_and(|t| t > *read_at) {
                    // A newer verified write landed while this read was in flight.
                    return;
                }
                hs.stable_weight = Some(*stable_weight);
                hs.canary_weight = Some(*canary_weight);
                hs.canary_percent = *canary_percent;
                hs.error = None;
                hs.updated_at = Some(*read_at);
            }
            EventKind::WeightsVerified {
                host: h,
                stable_weight,
                canary_weight,
                canary_percent,
            } => {
                if let Some(d) = deployment(svc, e) {
                    d.canary_percent = *canary_percent;
                }
                let hs = host(svc, h);
                hs.stable_weight = Some(*stable_weight);
                hs.canary_weight = Some(*canary_weight);
                hs.canary_percent = Some(*canary_percent);
                hs.error = None;
                hs.updated_at = Some(e.at);
            }
            EventKind::HostFailed { host: h, error } => {
                let error = &crate::sanitize::line(error);
                let hs = host(svc, h);
                hs.error = Some(error.clone());
                hs.updated_at = Some(e.at);
            }
            EventKind::StepStarted { step, .. } => {
                if let Some(d) = deployment(svc, e) {
                    d.step = *step;
                    d.bake_until = None;
                }
            }
            EventKind::WeightSet { canary_percent } => {
                if let Some(d) = deployment(svc, e) {
                    d.canary_percent = *canary_percent;
                }
            }
            EventKind::StepReached {
                step,
                canary_percent,
                bake_until,
                ..
            } => {
                if let Some(d) = deployment(svc, e) {
                    d.step = *step;
                    d.canary_percent = *canary_percent;
                    d.bake_until = *bake_until;
                }
            }
            // The console reads approvals from the store; the state event shows the wait.
            EventKind::ApprovalRequested { .. } | EventKind::ApprovalDecided { .. } => {}
            EventKind::AwaitingDecision { canary_percent } => {
                if let Some(d) = deployment(svc, e) {
                    d.canary_percent = *canary_percent;
                    d.bake_until = None;
                }
            }
            EventKind::VerifyStarted { until, .. } => {
                if let Some(d) = deployment(svc, e) {
                    d.phase = Some(Phase::GreenVerify { until: *until });
                }
            }
            EventKind::TrafficSwitched { keep_until, .. } => {
                if let Some(d) = deployment(svc, e) {
                    d.canary_percent = 100;
                    d.phase = Some(Phase::Switched { until: *keep_until });
                }
            }
            EventKind::BatchStarted { batch, of, .. } => {
                if let Some(d) = deployment(svc, e) {
                    d.phase = Some(Phase::Batch {
                        batch: *batch,
                        of: *of,
                        bake_until: None,
                    });
                }
            }
            EventKind::BatchReached {
                batch,
                of,
                bake_until,
                ..
            } => {
                if let Some(d) = deployment(svc, e) {
                    d.phase = Some(Phase::Batch {
                        batch: *batch,
                        of: *of,
                        bake_until: *bake_until,
                    });
                }
            }
            EventKind::Failed { error } => {
                if let Some(d) = deployment(svc, e) {
                    d.last_error = Some(error.clone());
                }
            }
            EventKind::Analysis {
                track,
                verdict,
                requests,
                error_rate,
                p99_ms,
                ..
            } => {
                let t = match track {
                    crate::domain::TrackName::Stable => &mut svc.stable,
                    crate::domain::TrackName::Canary => &mut svc.canary,
                };
                let point = AnalysisPoint {
                    at: e.at,
                    verdict: *verdict,
                    requests: *requests,
                    error_rate: *error_rate,
                    p99_ms: *p99_ms,
                };
                t.history.push(e.at, *error_rate, *p99_ms, *requests);
                t.latest = Some(point);
            }
            EventKind::Risk { score, level, .. } => {
                svc.risk = Some(RiskSnapshot {
                    score: *score,
                    level: *level,
                    at: e.at,
                });
            }
            EventKind::PolicyRefused { .. } | EventKind::PolicyOverridden { .. } => {}
            EventKind::StackStarted { .. }
            | EventKind::StackStopped { .. }
            | EventKind::HealthOk { .. }
            | EventKind::RollbackStarted { .. }
            | EventKind::TrafficOnStable { .. }
            | EventKind::RolledBack { .. }
            | EventKind::Promoted { .. }
            | EventKind::Watching { .. }
            | EventKind::WatchPassed { .. }
            | EventKind::WatchInconclusive { .. }
            | EventKind::WatchFailed { .. }
            | EventKind::Info { .. }
            | EventKind::ContainerLogs { .. }
            | EventKind::WarmUp { .. } => {}
        }
    }
}

fn host<'a>(svc: &'a mut ServiceSnapshot, name: &str) -> &'a mut HostSnapshot {
    svc.hosts.entry(name.to_string()).or_default()
}

/// The snapshot's deployment, if the event belongs to it.
fn deployment<'a>(svc: &'a mut ServiceSnapshot, e: &Event) -> Option<&'a mut DeploymentSnapshot> {
    svc.deployment
        .as_mut()
        .filter(|d| e.deployment == Some(d.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(deployment: Option<u64>, kind: EventKind) -> Event {
        Event {
            at: Utc::now(),
            service: "demo".into(),
            deployment,
            kind,
        }
    }

    #[test]
    fn folds_a_deployment_and_host_weights() {
        let mut s = Snapshot::default();
        s.apply(&ev(
            Some(1),
            EventKind::DeployStarted {
                version: "1.1.0".into(),
                strategy: "canary-auto".into(),
                operator: "alice".into(),
                hosts: vec!["web-1".into()],
                steps: vec![10, 40],
            },
        ));
        s.apply(&ev(
            Some(1),
            EventKind::State {
                from: DeploymentState::Pending,
                to: DeploymentState::Validating,
            },
        ));
        s.apply(&ev(
            Some(1),
            EventKind::WeightsVerified {
                host: "web-1".into(),
                stable_weight: 90,
                canary_weight: 10,
                canary_percent: 10,
            },
        ));
        s.apply(&ev(
            Some(1),
            EventKind::StepReached {
                step: 1,
                of: 2,
                canary_percent: 10,
                bake_until: None,
            },
        ));
        let svc = &s.services["demo"];
        let d = svc.deployment.as_ref().unwrap();
        assert_eq!(d.state, DeploymentState::Validating);
        assert_eq!((d.step, d.canary_percent), (1, 10));
        assert_eq!(svc.hosts["web-1"].canary_weight, Some(10));
    }

    #[test]
    fn a_read_that_started_before_a_verified_write_does_not_undo_it() {
        let mut s = Snapshot::default();
        let t0 = Utc::now();
        s.apply(&Event {
            at: t0 + chrono::Duration::milliseconds(50),
            service: "demo".into(),
            deployment: Some(1),
            kind: EventKind::WeightsVerified {
                host: "web-3".into(),
                stable_weight: 90,
                canary_weight: 10,
                canary_percent: 10,
            },
        });
        let stack = StackState {
            version: Some("1.0.0".into()),
            running: true,
            status: "Up".into(),
        };
        s.apply(&Event {
            at: t0 + chrono::Duration::milliseconds(80),
            service: "demo".into(),
            deployment: None,
            kind: EventKind::HostObserved {
                host: "web-3".into(),
                read_at: t0,
                stable_weight: 100,
                canary_weight: 0,
                canary_percent: Some(0),
                stable: stack.clone(),
                canary: stack,
            },
        });
        assert_eq!(s.services["demo"].hosts["web-3"].canary_weight, Some(10));
    }

    #[test]
    fn events_of_an_old_deployment_do_not_touch_the_new_one() {
        let mut s = Snapshot::default();
        for id in [1, 2] {
            s.apply(&ev(
                Some(id),
                EventKind::DeployStarted {
                    version: format!("1.{id}.0"),
                    strategy: "x".into(),
                    operator: "o".into(),
                    hosts: vec![],
                    steps: vec![],
                },
            ));
        }
        s.apply(&ev(
            Some(1),
            EventKind::State {
                from: DeploymentState::Pending,
                to: DeploymentState::Failed,
            },
        ));
        let d = s.services["demo"].deployment.as_ref().unwrap();
        assert_eq!((d.id, d.state), (2, DeploymentState::Pending));
    }
}
