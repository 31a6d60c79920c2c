//! One deployment, driven as a task: validate, start the new version, walk the strategy
//! (canary steps, blue/green, rolling batches), wait for decisions, promote or roll back.
//! Every state change goes through the pure state machine (`go`), and only there.

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

mod approval;
mod bluegreen;
mod canary;
mod resume;
mod rolling;

pub use approval::ApprovalNeed;

use super::event::{Emitter, EventKind};
use super::ops::{self, Ctx};
use crate::analysis::{Judgement, Verdict};
use crate::config::{Service, Strategy, StrategyKind};
use crate::domain::TrackName;
use crate::domain::{DeploymentState, Split, Transition, Version};

/// What an operator can ask of a running deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Promote,
    SetWeight(Split),
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
    /// An inconclusive judgement while waiting was announced (once per streak).
    said_inconclusive: bool,
    /// Stops the analysis loop when the rollout ends.
    analysis_stop: CancellationToken,
    /// The hosts a rollback must return to stable; `None` is every host of the service. A
    /// rolling deployment touches hosts batch by batch and rolls back only those.
    rollback_hosts: Option<Vec<String>>,
    /// The approval to wait for before the first traffic step, if one is needed.
    approval: Option<ApprovalNeed>,
    /// A recovered deployment to continue (see `resume.rs`) instead of a new one.
    resume: Option<crate::store::DeploymentRecord>,
    /// Only watch the recovered deployment where it is (a take-over), never walk its steps.
    watch_only: bool,
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
            said_inconclusive: false,
            analysis_stop: CancellationToken::new(),
            rollback_hosts: None,
            approval: None,
            resume: None,
            watch_only: false,
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
        let scope = match &self.rollback_hosts {
            Some(hosts) => self.subset(hosts),
            None => self.service.clone(),
        };
        match ops::rollback(&self.ctx, &scope, reason, previous.as_ref(), &self.em).await {
            Ok(()) => self.go(Transition::RolledBack),
            Err(e) => self.fail(format!("rollback incomplete: {e}")),
        }
    }

    async fn drive(&mut self) -> Result<(), Stop> {
        if let Some(d) = self.resume.take() {
            return self.drive_resumed(d).await;
        }
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
        self.go(Transition::Proceed);

        // Rolling starts the new version batch by batch; the others on every host now.
        if !matches!(self.strategy.kind, StrategyKind::Rolling { .. }) {
            self.start_everywhere().await?;
        }
        // An approval (environment or risk policy) is given before any traffic moves.
        let stage = match self.strategy.kind {
            StrategyKind::Canary { .. } | StrategyKind::CanaryManual { .. } => "first traffic step",
            StrategyKind::BlueGreen { .. } => "switch",
            StrategyKind::Rolling { .. } => "first batch",
        };
        self.await_approval(stage).await?;

        self.judgements =
            super::analysis::spawn(&self.ctx, &svc, &self.em, self.analysis_stop.clone());
        if self.judgements.is_none() {
            self.em.emit(EventKind::Info {
                message: format!(
                    "no metric source for {}: the rollout advances on health checks and time \
                     alone (set nginx.access_log, or an analysis provider)",
                    svc.name
                ),
            });
        }

        match self.strategy.kind.clone() {
            StrategyKind::Canary {
                steps,
                bake,
                finally,
            } => self.canary(steps, bake, finally).await,
            StrategyKind::CanaryManual { initial } => self.canary_manual(initial).await,
            StrategyKind::BlueGreen { verify, keep } => self.blue_green(verify, keep).await,
            StrategyKind::Rolling { batch, bake } => self.rolling(batch, bake).await,
        }
    }

    /// Start the new version on the canary track of every host and health-check it. On
    /// failure nothing received traffic (weights untouched): what was started is stopped.
    async fn start_everywhere(&mut self) -> Result<(), Stop> {
        let svc = self.service.clone();
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
            let _ = ops::stop_track(&self.ctx, &svc, TrackName::Canary, &self.em).await;
            self.fail(e.to_string());
            return Err(Stop::End);
        }
        // A canary that cannot warm up gets no traffic either.
        if let Err(e) = crate::engine::checks::warm_up(&self.ctx, &svc, &self.em).await {
            let _ = ops::stop_track(&self.ctx, &svc, TrackName::Canary, &self.em).await;
            self.fail(e.to_string());
            return Err(Stop::End);
        }
        Ok(())
    }

    /// The service restricted to `hosts` (the engine's fan-out operations act on a service's
    /// hosts, so a batch is a service with fewer hosts).
    fn subset(&self, hosts: &[String]) -> Service {
        let mut s = self.service.clone();
        s.hosts.retain(|h| hosts.contains(h));
        s
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

    /// Wait while paused. Ok(true) when promoted, Ok(false) when resumed. The canary is still
    /// judged: a breach rolls back as during a bake.
    async fn paused(&mut self) -> Result<bool, Stop> {
        loop {
            match self.next_control().await? {
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

    /// The operator's next control (`None`: the channel closed). Waiting on an operator never
    /// means unwatched: judgements that come meanwhile count (a breach rolls back).
    async fn next_control(&mut self) -> Result<Option<Control>, Stop> {
        loop {
            tokio::select! {
                m = self.control.recv() => return Ok(m),
                j = next_judgement(&mut self.judgements) => self.judge_waiting(j)?,
            }
        }
    }

    /// A judgement while the rollout waits on an operator (paused, or at a decision point):
    /// it counts as during a bake, and an inconclusive one says once that the wait goes on.
    fn judge_waiting(&mut self, j: Option<Judgement>) -> Result<(), Stop> {
        let inconclusive = j
            .as_ref()
            .is_some_and(|j| j.verdict == Verdict::Inconclusive);
        if inconclusive && !self.said_inconclusive {
            if let Some(j) = &j {
                self.em.emit(EventKind::Info {
                    message: format!(
                        "analysis of the canary is not conclusive ({}); it stays paused with \
                         the canary at {} % and is still watched: a breach rolls it back",
                        j.summary,
                        self.split.canary_percent()
                    ),
                });
            }
        }
        if j.is_some() {
            self.said_inconclusive = inconclusive;
        }
        self.on_judgement(j)
    }

    /// Common controls. Ok(true) when the deployment ended by promotion.
    async fn handle(&mut self, c: Control) -> Result<bool, Stop> {
        if let (StrategyKind::Rolling { .. }, Control::Promote | Control::SetWeight(_)) =
            (&self.strategy.kind, &c)
        {
            self.em.emit(EventKind::Info {
                message: format!(
                    "{}: a rolling deployment moves whole hosts batch by batch; it cannot be \
                     promoted early or steered by weight — let it continue, or roll it back",
                    self.service.name
                ),
            });
            return Ok(false);
        }
        match c {
            Control::Promote => {
                self.promote().await?;
                Ok(true)
            }
            Control::SetWeight(split) => {
                self.move_traffic(split).await?;
                self.em.emit(EventKind::WeightSet {
                    canary_percent: split.canary_percent(),
                });
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
        // A closed control channel (the engine stopped) ends the wait.
        loop {
            match self.next_control().await? {
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
                // The canary's judge is done; the new stable is watched on its own.
                self.analysis_stop.cancel();
                if !self.watch_passes().await {
                    return Err(Stop::End);
                }
                self.go(Transition::Succeed);
                Ok(())
            }
            Err(e) => Err(Stop::Rollback(format!("promotion failed: {e}"))),
        }
    }
}

impl Rollout {
    /// Watch the new stable after a promotion (see `promotion_watch.rs`). False when it failed and every
    /// host was reverted (the state is then rolled-back, or failed if the revert failed).
    async fn watch_passes(&mut self) -> bool {
        use super::promotion_watch::{watch_and_settle, Settled};
        let settled = tokio::select! {
            s = watch_and_settle(&self.ctx, &self.service, &self.version, self.previous.as_ref(), &self.em) => s,
            // Controls other than a rollback (which cancels the task) mean nothing now.
            _ = async { while self.control.recv().await.is_some() {} std::future::pending::<()>().await } => unreachable!(),
        };
        match settled {
            Settled::Kept => true,
            Settled::Reverted(_) => {
                self.go(Transition::RolledBack);
                false
            }
            Settled::Failed(e) => {
                self.fail(e);
                false
            }
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
