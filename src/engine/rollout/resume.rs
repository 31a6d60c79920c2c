//! A recovered deployment continued through its remaining steps: after a crash, recovery left
//! it paused at the step the hosts carry; `resume` reads the hosts again, re-plans with the same
//! pure [`recovery::plan`](crate::engine::recovery::plan), and — when every host still carries
//! one of its strategy's steps with the canary at its version — bakes that step again (its
//! earlier bake was cut short) and walks the rest. Anything else leaves it paused, as it was.

use super::{Rollout, Stop};
use crate::config::StrategyKind;
use crate::domain::{DeploymentState, Split, Transition, Version};
use crate::engine::event::EventKind;
use crate::engine::ops;
use crate::engine::recovery::{plan, Outcome};
use crate::store::DeploymentRecord;

impl Rollout {
    /// Continue `record` (journaled paused) instead of starting a new deployment.
    pub fn resuming(mut self, record: DeploymentRecord) -> Self {
        self.state = DeploymentState::Paused;
        self.resume = Some(record);
        self
    }

    pub(super) async fn drive_resumed(&mut self, d: DeploymentRecord) -> Result<(), Stop> {
        // Until the hosts are read: the split the journal last asked for.
        self.split = Split::new(d.canary_percent.unwrap_or(0)).unwrap_or(Split::STABLE);
        let StrategyKind::Canary {
            steps,
            bake,
            finally,
        } = self.strategy.kind.clone()
        else {
            return self.stay_paused(format!(
                "deployment #{} uses {}: only an automatic canary continues through its steps; \
                 promote it, set a weight, or roll it back",
                d.id, d.strategy
            ));
        };
        self.previous = d.previous.as_deref().and_then(|v| Version::parse(v).ok());
        let svc = self.service.clone();
        let reads = ops::observe_each(&self.ctx, &svc, &self.em).await;
        let p = plan(&d, &steps, &reads);
        let (pct, step) = match p.outcome {
            Outcome::Paused {
                canary_percent,
                step: Some(step),
            } => (canary_percent, step),
            Outcome::Paused { canary_percent, .. } => {
                self.split = Split::new(canary_percent).unwrap_or(self.split);
                return self.stay_paused(format!(
                    "deployment #{} is paused at {canary_percent} %, which is not a step of {}; \
                     promote it, set a weight, or roll it back",
                    d.id, d.strategy
                ));
            }
            _ => {
                return self.stay_paused(format!(
                    "deployment #{} cannot continue through its steps: {}",
                    d.id, p.message
                ))
            }
        };
        self.split = Split::new(pct).unwrap_or(Split::STABLE);
        self.em.emit(EventKind::Info {
            message: format!(
                "resuming deployment #{} at step {step}/{} ({pct} % canary on every host): \
                 baking it again, then the remaining steps",
                d.id,
                steps.len()
            ),
        });
        self.go(Transition::Resume);
        self.judgements =
            super::super::analysis::spawn(&self.ctx, &svc, &self.em, self.analysis_stop.clone());
        self.canary_from(step - 1, steps, bake, finally).await
    }

    /// Nothing moves: the deployment stays paused (journal unchanged), waiting for a decision.
    fn stay_paused(&mut self, why: String) -> Result<(), Stop> {
        self.em.emit(EventKind::Info { message: why });
        self.em.emit(EventKind::AwaitingDecision {
            canary_percent: self.split.canary_percent(),
        });
        Err(Stop::End)
    }
}
