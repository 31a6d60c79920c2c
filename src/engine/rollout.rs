//! One deployment, driven as a task: validate, start the canary, walk the steps, bake, wait for
//! decisions, promote or roll back. Every state change goes through the pure state machine.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::event::{Emitter, EventKind};
use super::ops::{self, Ctx};
use crate::analysis::{Judgement, Verdict};
use crate::config::{Finally, OnInconclusive, Service, Strategy, StrategyKind};
use crate::domain::{DeploymentState, Split, Transition, Version};
use crate::target::host::TrackName;

/// What an operator can ask of a running deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Promote,
    SetWeight(u8),
    Rollback(String),
}

pub struct Rollout {
    pub ctx: Ctx,
    pub service: Service,
    pub version: Version,
    pub strategy: Strategy,
    pub em: Emitter,
    pub control: mpsc::Receiver<Control>,
    pub cancel: CancellationToken,
    state: DeploymentState,
    /// The stable version before this deployment, to return to on failure.
    previous: Option<Version>,
    split: Split,
    /// The canary's latest judgement, when a metric source is configured.
    judgements: Option<watch::Receiver<Option<Judgement>>>,
    /// Consecutive failed judgements.
    failures: u32,
    /// Stops the analysis loop when the rollout ends.
    analysis_stop: CancellationToken,
}

/// Why the drive loop stopped early.
enum Stop {
    /// The operator (or a failure) asked for a rollback.
    Rollback(String),
    /// Nothing moved; the deployment ends in this state.
    End,
}

impl Rollout {
    pub fn new(
        ctx: Ctx,
        service: Service,
        version: Version,
        strategy: Strategy,
        em: Emitter,
        control: mpsc::Receiver<Control>,
        cancel: CancellationToken,
    ) -> Self {
        Rollout {
            ctx,
            service,
            version,
            strategy,
            em,
            control,
            cancel,
            state: DeploymentState::Pending,
            previous: None,
            split: Split::STABLE,
            judgements: None,
            failures: 0,
            analysis_stop: CancellationToken::new(),
        }
    }

    fn go(&mut self, t: Transition) {
        match self.state.apply(t) {
            Ok(next) => {
                if next != self.state {
                    self.em.emit(EventKind::State {
                        from: self.state,
                        to: next,
                    });
                }
                self.state = next;
            }
            Err(e) => tracing::error!(service = %self.service.name, "engine bug: {e}"),
        }
    }

    fn fail(&mut self, error: String) {
        self.em.emit(EventKind::Failed { error });
        self.go(Transition::Fail);
    }

    /// Run to a terminal state (or to the end of what an operator must decide and beyond).
    pub async fn run(mut self) -> DeploymentState {
        let stop = self.analysis_stop.clone();
        let _stop_analysis = stop.drop_guard();
        let cancel = self.cancel.clone();
        let outcome = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            r = self.drive() => Some(r),
        };
        let reason = match outcome {
            Some(Ok(())) => return self.state,
            Some(Err(Stop::End)) => return self.state,
            Some(Err(Stop::Rollback(reason))) => reason,
            None => {
                // Cancelled from outside (operator rollback, possibly while a step was stuck).
                let mut reason = "rollback requested".to_string();
                while let Ok(c) = self.control.try_recv() {
                    if let Control::Rollback(r) = c {
                        reason = r;
                    }
                }
                reason
            }
        };
        self.roll_back(&reason).await;
        self.state
    }

    async fn roll_back(&mut self, reason: &str) {
        let previous = self.previous.clone();
        match ops::rollback(
            &self.ctx,
            &self.service,
            reason,
            previous.as_ref(),
            &self.em,
        )
        .await
        {
            Ok(()) => self.go(Transition::RolledBack),
            Err(e) => self.fail(format!("rollback incomplete: {e}")),
        }
    }

    async fn drive(&mut self) -> Result<(), Stop> {
        let svc = self.service.clone();
        self.go(Transition::Validate);
        let validated = match ops::validate(&self.ctx, &svc, &self.version, &self.em).await {
            Ok(v) => v,
            Err(e) => {
                self.fail(e.to_string());
                return Err(Stop::End);
            }
        };
        self.previous = validated
            .stable_version
            .as_deref()
            .and_then(|v| Version::parse(v).ok());
        if let Some(v) = &self.previous {
            self.em.previous(v.as_str());
        }
        let no_canary = validated.hosts.iter().all(|h| !h.canary.running);
        if self.previous.as_ref() == Some(&self.version) && no_canary {
            self.em.emit(EventKind::Info {
                message: format!(
                    "{} already runs {} on every host with no canary; nothing to do",
                    svc.name, self.version
                ),
            });
            self.go(Transition::Proceed);
            self.go(Transition::Succeed);
            return Ok(());
        }
        // Approvals (production stages) come with the policy module; staging proceeds.
        self.go(Transition::Proceed);

        let cancel = self.cancel.clone();
        if let Err(e) = ops::start_track(
            &self.ctx,
            &svc,
            TrackName::Canary,
            &self.version,
            &self.em,
            &cancel,
        )
        .await
        {
            // The canary never received traffic (weights untouched); stop what was started.
            let _ = ops::stop_track(&self.ctx, &svc, TrackName::Canary, &self.em).await;
            self.fail(e.to_string());
            return Err(Stop::End);
        }

        self.judgements =
            super::analysis::spawn(&self.ctx, &svc, &self.em, self.analysis_stop.clone());
        if self.judgements.is_none() {
            self.em.emit(EventKind::Info {
                message: format!(
                    "no metric source for {}: steps advance on health checks and time alone \
                     (set nginx.access_log, or an analysis provider)",
                    svc.name
                ),
            });
        }

        match self.strategy.kind.clone() {
            StrategyKind::Canary {
                steps,
                bake,
                finally,
            } => {
                let of = steps.len();
                for (i, pct) in steps.iter().enumerate() {
                    let split = Split::new(*pct).unwrap_or(Split::STABLE);
                    self.em.emit(EventKind::StepStarted {
                        step: i + 1,
                        of,
                        canary_percent: *pct,
                    });
                    self.move_traffic(split).await?;
                    self.em.emit(EventKind::StepReached {
                        step: i + 1,
                        of,
                        canary_percent: *pct,
                        bake_until: chrono::Duration::from_std(bake)
                            .ok()
                            .map(|d| Utc::now() + d),
                    });
                    if self.bake(bake).await? {
                        return Ok(()); // promoted during the bake
                    }
                }
                match finally {
                    Finally::Promote => self.promote().await,
                    Finally::Pause => self.await_decision().await,
                }
            }
            StrategyKind::CanaryManual { initial } => {
                self.move_traffic(Split::new(initial).unwrap_or(Split::STABLE))
                    .await?;
                self.await_decision().await
            }
            StrategyKind::BlueGreen { .. } | StrategyKind::Rolling { .. } => {
                Err(Stop::Rollback(format!(
                    "strategy {} is not supported by this engine yet; use a canary strategy",
                    self.strategy.name
                )))
            }
        }
    }

    async fn move_traffic(&mut self, split: Split) -> Result<(), Stop> {
        match ops::set_split(&self.ctx, &self.service, split, &self.em).await {
            Ok(()) => {
                self.split = split;
                Ok(())
            }
            Err(e) => Err(Stop::Rollback(e.to_string())),
        }
    }

    /// Bake for `d`, handling controls. Ok(true) when promoted meanwhile.
    async fn bake(&mut self, d: Duration) -> Result<bool, Stop> {
        let deadline = Instant::now() + d;
        loop {
            let msg = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return self.end_of_bake().await,
                m = self.control.recv() => m,
                j = next_judgement(&mut self.judgements) => {
                    self.on_judgement(j)?;
                    continue;
                }
            };
            match msg {
                Some(Control::Pause) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.go(Transition::Pause);
                    if self.paused().await? {
                        return Ok(true);
                    }
                    return Box::pin(self.bake(left)).await;
                }
                Some(c) => {
                    if self.handle(c).await? {
                        return Ok(true);
                    }
                }
                None => return Ok(false),
            }
        }
    }

    /// A failed judgement counts toward the failure limit; the limit rolls back.
    fn on_judgement(&mut self, j: Option<Judgement>) -> Result<(), Stop> {
        let Some(j) = j else { return Ok(()) };
        match j.verdict {
            Verdict::Fail => {
                self.failures += 1;
                if self.failures >= self.ctx.config.analysis.failure_limit {
                    return Err(Stop::Rollback(format!(
                        "analysis of the canary: {}",
                        j.summary
                    )));
                }
            }
            Verdict::Pass => self.failures = 0,
            Verdict::Inconclusive => {}
        }
        Ok(())
    }

    /// The bake time is over: without a pass, the step does not advance. Ok(true) when the
    /// deployment was promoted while waiting.
    async fn end_of_bake(&mut self) -> Result<bool, Stop> {
        let Some(rx) = &self.judgements else {
            return Ok(false);
        };
        let latest = rx.borrow().clone();
        match latest {
            Some(j) if j.verdict == Verdict::Pass => Ok(false),
            Some(j) if j.verdict == Verdict::Fail => Err(Stop::Rollback(format!(
                "analysis of the canary: {}",
                j.summary
            ))),
            other => {
                let why = other.map_or("no judgement yet".to_string(), |j| j.summary);
                match self.ctx.config.analysis.on_inconclusive {
                    OnInconclusive::Rollback => Err(Stop::Rollback(format!(
                        "analysis of the canary was not conclusive ({why}) and on_inconclusive is rollback"
                    ))),
                    OnInconclusive::Pause => {
                        self.em.emit(EventKind::Info {
                            message: format!(
                                "analysis of the canary was not conclusive ({why}); paused: resume to bake again, or promote or roll back"
                            ),
                        });
                        self.go(Transition::Pause);
                        self.em.emit(EventKind::AwaitingDecision {
                            canary_percent: self.split.canary_percent(),
                        });
                        if self.paused().await? {
                            return Ok(true);
                        }
                        Box::pin(self.end_of_bake_again()).await
                    }
                }
            }
        }
    }

    /// After a resume from an inconclusive pause, bake once more over a fresh interval.
    async fn end_of_bake_again(&mut self) -> Result<bool, Stop> {
        let d = self.ctx.config.analysis.interval * 2;
        self.bake(d).await
    }

    /// Wait while paused. Ok(true) when promoted, Ok(false) when resumed.
    async fn paused(&mut self) -> Result<bool, Stop> {
        loop {
            match self.control.recv().await {
                Some(Control::Resume) => {
                    self.go(Transition::Resume);
                    return Ok(false);
                }
                Some(c) => {
                    if self.handle(c).await? {
                        return Ok(true);
                    }
                }
                None => return Err(Stop::End),
            }
        }
    }

    /// Common controls. Ok(true) when the deployment ended by promotion.
    async fn handle(&mut self, c: Control) -> Result<bool, Stop> {
        match c {
            Control::Promote => {
                self.promote().await?;
                Ok(true)
            }
            Control::SetWeight(p) => {
                let split = Split::new(p).unwrap_or(self.split);
                self.move_traffic(split).await?;
                Ok(false)
            }
            Control::Rollback(reason) => Err(Stop::Rollback(reason)),
            Control::Pause | Control::Resume => Ok(false),
        }
    }

    async fn await_decision(&mut self) -> Result<(), Stop> {
        if self.state == DeploymentState::Progressing {
            self.go(Transition::Pause);
        }
        self.em.emit(EventKind::AwaitingDecision {
            canary_percent: self.split.canary_percent(),
        });
        loop {
            match self.control.recv().await {
                Some(Control::Resume) | Some(Control::Pause) => {}
                Some(c) => {
                    if self.handle(c).await? {
                        return Ok(());
                    }
                }
                None => return Err(Stop::End),
            }
        }
    }

    async fn promote(&mut self) -> Result<(), Stop> {
        let cancel = self.cancel.clone();
        match ops::promote(&self.ctx, &self.service, &self.version, &self.em, &cancel).await {
            Ok(()) => {
                self.go(Transition::Succeed);
                Ok(())
            }
            Err(e) => Err(Stop::Rollback(format!("promotion failed: {e}"))),
        }
    }
}

/// The next judgement, or never when there is no analysis.
async fn next_judgement(rx: &mut Option<watch::Receiver<Option<Judgement>>>) -> Option<Judgement> {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => rx.borrow_and_update().clone(),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
