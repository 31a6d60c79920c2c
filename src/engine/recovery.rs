//! Recovery after a crash: what a deployment the journal still has in flight really left on
//! the hosts, and where it continues. The decision is a pure function of the journal entry and
//! the host views; it never guesses and never moves traffic: a deployment that is not plainly
//! over continues *paused*, waiting for an operator to promote, steer or roll back.

use serde::Serialize;

use super::ops::HostView;
use crate::domain::DeploymentState;
use crate::store::DeploymentRecord;

/// A host's answer: what it has, or why it could not be read.
pub type HostRead = Result<HostView, String>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// Every host is on stable at the old version with no canary: the deployment is over
    /// (it never moved traffic, or its rollback finished). Closed in this state.
    Over { state: DeploymentState },
    /// Every host runs the new version as stable with no canary: the promotion finished.
    Promoted,
    /// Every host carries the same split with the canary at the new version: paused there.
    /// `step` is the strategy step with that split, if any.
    Paused {
        canary_percent: u8,
        step: Option<usize>,
    },
    /// Hosts disagree (different splits or versions): paused, shown per host; roll back.
    Disagree,
    /// Some hosts could not be read: paused; nothing can be decided about them.
    Unknown { unreadable: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryPlan {
    pub deployment: u64,
    pub service: String,
    pub version: String,
    pub outcome: Outcome,
    /// One line per host: what it has.
    pub hosts: Vec<String>,
    /// What the operator sees and can do next.
    pub message: String,
}

impl RecoveryPlan {
    /// The state the journal records for the deployment now.
    pub fn state(&self) -> DeploymentState {
        match &self.outcome {
            Outcome::Over { state } => *state,
            Outcome::Promoted => DeploymentState::Succeeded,
            _ => DeploymentState::Paused,
        }
    }
}

fn host_line(r: &HostRead, name: &str) -> String {
    match r {
        Ok(v) => format!(
            "{}: stable {} weight {}, canary {} weight {}",
            v.host,
            v.stable.label(),
            v.stable_weight,
            v.canary.label(),
            v.canary_weight
        ),
        Err(e) => format!("{name}: unreadable: {e}"),
    }
}

/// Decide how deployment `d` continues, given what every host has. `steps` are the canary
/// percentages of its strategy (empty for a manual canary).
pub fn plan(d: &DeploymentRecord, steps: &[u8], hosts: &[(String, HostRead)]) -> RecoveryPlan {
    let lines: Vec<String> = hosts.iter().map(|(n, r)| host_line(r, n)).collect();
    let unreadable: Vec<String> = hosts
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(n, _)| n.clone())
        .collect();
    let views: Vec<&HostView> = hosts.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
    let v = d.version.as_str();
    let outcome = if !unreadable.is_empty() {
        Outcome::Unknown { unreadable }
    } else if views.is_empty() {
        Outcome::Unknown {
            unreadable: Vec::new(),
        }
    } else {
        let no_canary = |h: &&HostView| !h.canary.running && h.canary_weight == 0;
        let all_stable = views
            .iter()
            .all(|h| no_canary(h) && h.stable.running && h.stable_weight > 0);
        let stable_is_new = |h: &&HostView| h.stable.version.as_deref() == Some(v);
        let was_new_before = d.previous.as_deref() == Some(v);
        if all_stable && !was_new_before && views.iter().all(stable_is_new) {
            Outcome::Promoted
        } else if all_stable && views.iter().all(|h| !stable_is_new(h) || was_new_before) {
            let moved = d.step.is_some() || d.canary_percent.is_some();
            Outcome::Over {
                state: if moved {
                    DeploymentState::RolledBack
                } else {
                    DeploymentState::Aborted
                },
            }
        } else {
            let first = views[0].canary_percent;
            let agree = views.iter().all(|h| {
                h.canary_percent == first
                    && h.canary.running
                    && h.canary.version.as_deref() == Some(v)
            });
            match (agree, first) {
                (true, Some(p)) => Outcome::Paused {
                    canary_percent: p,
                    step: steps.iter().position(|s| *s == p).map(|i| i + 1),
                },
                _ => Outcome::Disagree,
            }
        }
    };
    let head = format!(
        "deployment #{} ({} {} by {}, journal: {}) was in flight when sluice stopped",
        d.id, d.service, d.version, d.operator, d.state
    );
    let s = &d.service;
    let message = match &outcome {
        Outcome::Over { state } => format!(
            "{head}; every host is on stable {} with no canary: closed as {state}",
            views
                .first()
                .and_then(|h| h.stable.version.clone())
                .unwrap_or_default()
        ),
        Outcome::Promoted => format!(
            "{head}; every host runs {v} as stable with no canary: the promotion had finished, closed as succeeded"
        ),
        Outcome::Paused {
            canary_percent: 100,
            ..
        } => format!(
            "{head}; every host sends all traffic to canary {v} (promotion under way): paused. \
             Finish it with `sluice promote {s}` or go back with `sluice rollback {s}`"
        ),
        Outcome::Paused {
            canary_percent,
            step,
        } => format!(
            "{head}; every host carries canary {v} at {canary_percent} %{}: paused there. Next: \
             `sluice promote {s}`, `sluice weight {s} N` or `sluice rollback {s}`",
            step.map_or(String::new(), |i| format!(" (step {i} of {})", steps.len()))
        ),
        Outcome::Disagree => format!(
            "{head}; the hosts DISAGREE (see each host below): paused. Roll back with \
             `sluice rollback {s}` (r in the console)"
        ),
        Outcome::Unknown { unreadable } => format!(
            "{head}; {} could not be read, so nothing is decided: paused. Fix the connection \
             and look again (`sluice status {s}`), or roll back with `sluice rollback {s}`",
            if unreadable.is_empty() {
                "no host".to_string()
            } else {
                unreadable.join(", ")
            }
        ),
    };
    RecoveryPlan {
        deployment: d.id,
        service: d.service.clone(),
        version: d.version.clone(),
        outcome,
        hosts: lines,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::StackState;
    use chrono::Utc;

    fn rec(state: DeploymentState, step: Option<u32>, pct: Option<u8>) -> DeploymentRecord {
        DeploymentRecord {
            id: 7,
            service: "demo".into(),
            version: "1.2.0".into(),
            previous: Some("1.0.0".into()),
            strategy: "canary-auto".into(),
            operator: "alice".into(),
            state,
            step,
            steps: step.map(|_| 3),
            canary_percent: pct,
            token: Some(3),
            started_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn stack(v: Option<&str>, running: bool) -> StackState {
        StackState {
            version: v.map(str::to_string),
            running,
            status: if running { "Up" } else { "Exited" }.into(),
        }
    }

    /// A host with `canary` % on a canary at `cv` (None: no canary) and stable at `sv`.
    fn host(n: &str, sv: &str, canary: u8, cv: Option<&str>) -> (String, HostRead) {
        (
            n.into(),
            Ok(HostView {
                host: n.into(),
                read_at: Utc::now(),
                stable_weight: (100 - canary) as u32,
                canary_weight: canary as u32,
                canary_percent: Some(canary),
                stable: stack(Some(sv), true),
                canary: stack(cv, cv.is_some()),
            }),
        )
    }

    const STEPS: &[u8] = &[10, 40, 70];

    #[test]
    fn hosts_agreeing_on_a_step_pause_there() {
        let d = rec(DeploymentState::Progressing, Some(2), Some(40));
        let hosts: Vec<_> = ["web-1", "web-2", "web-3"]
            .iter()
            .map(|h| host(h, "1.0.0", 40, Some("1.2.0")))
            .collect();
        let p = plan(&d, STEPS, &hosts);
        assert_eq!(
            p.outcome,
            Outcome::Paused {
                canary_percent: 40,
                step: Some(2)
            }
        );
        assert_eq!(p.state(), DeploymentState::Paused);
        assert!(p.message.contains("step 2 of 3"), "{}", p.message);
        assert!(p.message.contains("sluice rollback demo"), "{}", p.message);
        assert_eq!(p.hosts.len(), 3);
    }

    #[test]
    fn a_crash_before_a_weight_change_pauses_at_what_the_hosts_have() {
        // The journal asked for step 2 (40 %) but every host still has step 1: the truth wins.
        let d = rec(DeploymentState::Progressing, Some(2), Some(40));
        let hosts = vec![
            host("web-1", "1.0.0", 10, Some("1.2.0")),
            host("web-2", "1.0.0", 10, Some("1.2.0")),
        ];
        assert_eq!(
            plan(&d, STEPS, &hosts).outcome,
            Outcome::Paused {
                canary_percent: 10,
                step: Some(1)
            }
        );
    }

    #[test]
    fn a_crash_mid_weight_change_leaves_hosts_that_disagree() {
        let d = rec(DeploymentState::Progressing, Some(2), Some(40));
        let hosts = vec![
            host("web-1", "1.0.0", 40, Some("1.2.0")),
            host("web-2", "1.0.0", 10, Some("1.2.0")),
        ];
        let p = plan(&d, STEPS, &hosts);
        assert_eq!(p.outcome, Outcome::Disagree);
        assert_eq!(p.state(), DeploymentState::Paused);
        assert!(p.message.contains("DISAGREE") && p.message.contains("rollback"));
        assert!(p.hosts[0].contains("weight 40") && p.hosts[1].contains("weight 10"));
    }

    #[test]
    fn an_unreadable_host_decides_nothing() {
        let d = rec(DeploymentState::Progressing, Some(1), Some(10));
        let hosts = vec![
            host("web-1", "1.0.0", 10, Some("1.2.0")),
            ("web-2".to_string(), Err("connection refused".to_string())),
        ];
        let p = plan(&d, STEPS, &hosts);
        assert_eq!(
            p.outcome,
            Outcome::Unknown {
                unreadable: vec!["web-2".into()]
            }
        );
        assert_eq!(p.state(), DeploymentState::Paused);
        assert!(p.hosts[1].contains("connection refused"));
    }

    #[test]
    fn every_host_on_the_new_stable_means_the_promotion_finished() {
        let d = rec(DeploymentState::Paused, Some(3), Some(0));
        let hosts = vec![
            host("web-1", "1.2.0", 0, None),
            host("web-2", "1.2.0", 0, None),
        ];
        let p = plan(&d, STEPS, &hosts);
        assert_eq!(p.outcome, Outcome::Promoted);
        assert_eq!(p.state(), DeploymentState::Succeeded);
    }

    #[test]
    fn all_traffic_on_the_canary_is_a_promotion_under_way() {
        let d = rec(DeploymentState::Paused, Some(3), Some(70));
        let hosts = vec![
            host("web-1", "1.0.0", 100, Some("1.2.0")),
            host("web-2", "1.2.0", 100, Some("1.2.0")),
        ];
        let p = plan(&d, STEPS, &hosts);
        assert_eq!(
            p.outcome,
            Outcome::Paused {
                canary_percent: 100,
                step: None
            }
        );
        assert!(p.message.contains("sluice promote demo"));
    }

    #[test]
    fn back_on_the_old_stable_is_over() {
        let hosts = vec![host("web-1", "1.0.0", 0, None)];
        let moved = rec(DeploymentState::Progressing, Some(1), Some(10));
        assert_eq!(
            plan(&moved, STEPS, &hosts).state(),
            DeploymentState::RolledBack
        );
        let never = rec(DeploymentState::Validating, None, None);
        assert_eq!(
            plan(&never, STEPS, &hosts).state(),
            DeploymentState::Aborted
        );
    }

    #[test]
    fn a_started_canary_without_traffic_pauses_at_zero() {
        let d = rec(DeploymentState::Progressing, None, None);
        let hosts = vec![host("web-1", "1.0.0", 0, Some("1.2.0"))];
        assert_eq!(
            plan(&d, STEPS, &hosts).outcome,
            Outcome::Paused {
                canary_percent: 0,
                step: None
            }
        );
    }

    #[test]
    fn a_canary_at_another_version_is_not_ours() {
        let d = rec(DeploymentState::Progressing, Some(1), Some(10));
        let hosts = vec![host("web-1", "1.0.0", 10, Some("9.9.9"))];
        assert_eq!(plan(&d, STEPS, &hosts).outcome, Outcome::Disagree);
    }

    #[test]
    fn a_stopped_stable_is_not_over() {
        let d = rec(DeploymentState::Progressing, Some(1), Some(10));
        let (n, r) = host("web-1", "1.0.0", 0, None);
        let mut v = r.unwrap();
        v.stable.running = false;
        assert_eq!(plan(&d, STEPS, &[(n, Ok(v))]).outcome, Outcome::Disagree);
    }
}
