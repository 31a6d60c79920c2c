//! Waiting for an approval before the first traffic step (canary: step 1; blue/green: before
//! green is verified and switched; rolling: before the first batch). The request is a row in
//! the store; whoever decides it (`sluice approve`, the console, another process) writes the
//! decision there, and this polls it every second. Nothing moves traffic while waiting; an
//! operator rollback ends the wait.

use std::sync::Arc;
use std::time::Duration;

use super::{Control, Rollout, Stop};
use crate::domain::approval::ApprovalDecision;
use crate::domain::TrackName;
use crate::domain::Transition;
use crate::engine::event::EventKind;
use crate::engine::ops;
use crate::store::{NewApproval, Store};

/// How often the waiting rollout reads the store.
pub const POLL: Duration = Duration::from_secs(1);

/// Why and how this deployment needs an approval (set by the engine when the environment
/// requires one, or the risk policy does).
#[derive(Clone)]
pub struct ApprovalNeed {
    pub store: Arc<Store>,
    pub deployment: u64,
    pub environment: String,
    pub requested_by: String,
    pub timeout: Duration,
    pub risk_score: Option<u8>,
    pub risk_level: Option<String>,
}

impl Rollout {
    pub fn with_approval(mut self, need: Option<ApprovalNeed>) -> Self {
        self.approval = need;
        self
    }

    /// Ask for and wait for the approval, if one is needed. Ok when approved (or none needed);
    /// otherwise the deployment has ended (rejected: aborted; expired: failed) with the new
    /// version's stacks stopped and traffic untouched.
    pub(super) async fn await_approval(&mut self, stage: &str) -> Result<(), Stop> {
        let Some(need) = self.approval.take() else {
            return Ok(());
        };
        let asked = need.store.request_approval(&NewApproval {
            deployment: need.deployment,
            service: self.service.name.clone(),
            environment: need.environment.clone(),
            stage: stage.to_string(),
            requested_by: need.requested_by.clone(),
            timeout: need.timeout,
            risk_score: need.risk_score,
            risk_level: need.risk_level.clone(),
        });
        let asked = match asked {
            Ok(a) => a,
            Err(e) => {
                return Err(self
                    .end_unapproved(format!("cannot ask for approval: {e}"), false)
                    .await)
            }
        };
        self.go(Transition::NeedApproval);
        self.em.emit(EventKind::ApprovalRequested {
            id: asked.id,
            stage: stage.to_string(),
            environment: need.environment.clone(),
            requested_by: need.requested_by.clone(),
            expires_at: asked.expires_at,
            risk: match (need.risk_score, &need.risk_level) {
                (Some(s), Some(l)) => Some(format!("{s} {l}")),
                _ => None,
            },
        });
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                // A gate reached with traffic on the canary keeps it judged.
                j = super::next_judgement(&mut self.judgements) => {
                    self.judge_waiting(j)?;
                    continue;
                }
                m = self.control.recv() => match m {
                    Some(Control::Rollback(reason)) => return Err(Stop::Rollback(reason)),
                    Some(_) => {
                        self.em.emit(EventKind::Info {
                            message: format!(
                                "{}: waits for approval #{}; only a rollback acts now",
                                self.service.name, asked.id
                            ),
                        });
                        continue;
                    }
                    None => return Err(Stop::Rollback("the engine stopped".into())),
                },
            }
            let _ = need.store.expire_due();
            let now = match need.store.approval(asked.id) {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("reading approval #{}: {e}", asked.id);
                    continue;
                }
            };
            let Some(decision) = now.decision else {
                continue;
            };
            let by = now.decided_by.clone().unwrap_or_default();
            self.em.emit(EventKind::ApprovalDecided {
                id: asked.id,
                decision,
                by: by.clone(),
                reason: now.reason.clone(),
            });
            return match decision {
                ApprovalDecision::Approved => {
                    self.go(Transition::Proceed);
                    Ok(())
                }
                ApprovalDecision::Rejected => {
                    let why = format!(
                        "approval #{} rejected by {by}: {}",
                        asked.id,
                        now.reason.as_deref().unwrap_or("no reason given")
                    );
                    Err(self.end_unapproved(why, true).await)
                }
                ApprovalDecision::Expired => {
                    let why = format!(
                        "approval expired: #{} was not decided within {}",
                        asked.id,
                        humantime(need.timeout)
                    );
                    Err(self.end_unapproved(why, false).await)
                }
            };
        }
    }

    /// End without traffic having moved: stop what was started, then abort (rejected) or fail.
    async fn end_unapproved(&mut self, why: String, aborted: bool) -> Stop {
        let svc = self.service.clone();
        if !matches!(
            self.strategy.kind,
            crate::config::StrategyKind::Rolling { .. }
        ) {
            if let Err(e) = ops::stop_track(&self.ctx, &svc, TrackName::Canary, &self.em).await {
                tracing::warn!(service = %svc.name, "stopping the canary: {e}");
            }
        }
        self.em.emit(EventKind::Failed { error: why });
        if aborted {
            self.go(Transition::Abort);
        } else {
            self.go(Transition::Fail);
        }
        Stop::End
    }
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
