//! A recovered deployment continued through its remaining steps: after a crash, recovery left
//! it paused at the step the hosts carry; `resume` reads the hosts again, re-plans with the same
//! pure [`recovery::plan`](crate::engine::recovery::plan), and — when every host still carries
//! one of its strategy's steps with the canary at its version — bakes that step again (its
//! earlier bake was cut short) and walks the rest. Anything else stays paused, as it was, but
//! watched: this process holds the lease and judges the canary until an operator decides (a
//! breach rolls it back). A take-over (`watch_only`) only watches, wherever the hosts are.

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

    /// Take `record` over to watch it where it is: judged, paused, never moved by this.
    pub fn taking_over(mut self, record: DeploymentRecord) -> Self {
        self.watch_only = true;
        self.resuming(record)
    }

    pub(super) async fn drive_resumed(&mut self, d: DeploymentRecord) -> Result<(), Stop> {
        // Until the hosts are read: the split the journal last asked for.
        self.split = Split::new(d.canary_percent.unwrap_or(0)).unwrap_or(Split::STABLE);
        self.previous = d.previous.as_deref().and_then(|v| Version::parse(v).ok());
        if self.watch_only {
            let svc = self.service.clone();
            let reads = ops::observe_each(&self.ctx, &svc, &self.em).await;
            let shares: Vec<u8> = reads
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok().and_then(|v| v.canary_percent))
                .collect();
            if let Some(max) = shares.iter().max() {
                self.split = Split::new(*max).unwrap_or(self.split);
            }
            let pct = self.split.canary_percent();
            let hosts = if shares.windows(2).all(|w| w[0] == w[1]) {
                format!("canary at {pct} % on every host read")
            } else {
                format!("hosts disagree: canary at up to {pct} %")
            };
            return self
                .watch_paused(format!(
                    "taken over: deployment #{} ({hosts}) is watched from here; a breach rolls \
                     it back; promote it, set a weight, or roll it back",
                    d.id
                ))
                .await;
        }
        let StrategyKind::Canary {
            steps,
            bake,
            finally,
        } = self.strategy.kind.clone()
        else {
            return self
                .watch_paused(format!(
                "deployment #{} uses {}: only an automatic canary continues through its steps; \
                 promote it, set a weight, or roll it back",
                    d.id, d.strategy
                ))
                .await;
        };
        let svc = self.service.clone();
        let reads = ops::observe_each(&self.ctx, &svc, &self.em).await;
        let percents: Vec<u8> = steps.iter().map(|s| s.canary_percent()).collect();
        let p = plan(&d, &percents, &reads);
        let (pct, step) = match p.outcome {
            Outcome::Paused {
                canary_percent,
                step: Some(step),
            } => (canary_percent, step),
            Outcome::Paused { canary_percent, .. } => {
                self.split = Split::new(canary_percent).unwrap_or(self.split);
                return self
                    .watch_paused(format!(
                    "deployment #{} is paused at {canary_percent} %, which is not a step of {}; \
                     promote it, set a weight, or roll it back",
                        d.id, d.strategy
                    ))
                    .await;
            }
            _ => {
                return self
                    .watch_paused(format!(
                        "deployment #{} cannot continue through its steps: {}",
                        d.id, p.message
                    ))
                    .await
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

    /// Nothing moves: the deployment stays paused, waiting for a decision, and its canary is
    /// judged meanwhile (a breach rolls it back).
    async fn watch_paused(&mut self, why: String) -> Result<(), Stop> {
        self.em.emit(EventKind::Info { message: why });
        if self.judgements.is_none() {
            let svc = self.service.clone();
            self.judgements = super::super::analysis::spawn(
                &self.ctx,
                &svc,
                &self.em,
                self.analysis_stop.clone(),
            );
        }
        self.await_decision().await
    }
}
