//! The canary strategies: automatic steps that bake (and are judged) between moves, and the
//! manual canary that waits for the operator.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::{next_judgement, Control, Rollout, Stop};
use crate::analysis::Verdict;
use crate::config::{Finally, OnInconclusive};
use crate::domain::{Split, Transition};
use crate::engine::event::EventKind;

impl Rollout {
    pub(super) async fn canary(
        &mut self,
        steps: Vec<Split>,
        bake: Duration,
        finally: Finally,
    ) -> Result<(), Stop> {
        self.canary_from(0, steps, bake, finally).await
    }

    /// The canary's steps from index `first` on (a resumed deployment re-bakes its step).
    pub(super) async fn canary_from(
        &mut self,
        first: usize,
        steps: Vec<Split>,
        bake: Duration,
        finally: Finally,
    ) -> Result<(), Stop> {
        let of = steps.len();
        for (i, &split) in steps.iter().enumerate().skip(first) {
            let pct = split.canary_percent();
            self.em.emit(EventKind::StepStarted {
                step: i + 1,
                of,
                canary_percent: pct,
            });
            self.move_traffic(split).await?;
            self.em.emit(EventKind::StepReached {
                step: i + 1,
                of,
                canary_percent: pct,
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

    pub(super) async fn canary_manual(&mut self, initial: Split) -> Result<(), Stop> {
        self.move_traffic(initial).await?;
        self.await_decision().await
    }

    /// Bake for `d`, handling controls. Ok(true) when promoted meanwhile.
    pub(super) async fn bake(&mut self, d: Duration) -> Result<bool, Stop> {
        match self.wait(Instant::now() + d, false).await? {
            Waited::Deadline => self.end_of_bake().await,
            Waited::Promoted => Ok(true),
            // A pause stops the bake's clock: the rest of it runs after the resume.
            Waited::Resumed { left } => Box::pin(self.bake(left)).await,
            Waited::Closed | Waited::Judgement(_) => Ok(false),
        }
    }

    /// Wait until `deadline`, handling controls and judgements (counted toward the failure
    /// limit; with `until_judgement`, the first one ends the wait instead).
    async fn wait(&mut self, deadline: Instant, until_judgement: bool) -> Result<Waited, Stop> {
        loop {
            let msg = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Ok(Waited::Deadline),
                m = self.control.recv() => m,
                j = next_judgement(&mut self.judgements) => {
                    if until_judgement {
                        return Ok(Waited::Judgement(j));
                    }
                    self.on_judgement(j)?;
                    continue;
                }
            };
            match msg {
                Some(Control::Pause) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.go(Transition::Pause);
                    if self.paused().await? {
                        return Ok(Waited::Promoted);
                    }
                    return Ok(Waited::Resumed { left });
                }
                Some(c) => {
                    if self.handle(c).await? {
                        return Ok(Waited::Promoted);
                    }
                }
                None => return Ok(Waited::Closed),
            }
        }
    }

    /// The bake time is over: without a pass, the step does not advance. Ok(true) when the
    /// deployment was promoted while waiting.
    async fn end_of_bake(&mut self) -> Result<bool, Stop> {
        if self.judgements.is_none() {
            return Ok(false);
        }
        let latest = match self.fresh_judgement().await? {
            Fresh::Judged(j) => j,
            Fresh::Promoted => return Ok(true),
        };
        match latest {
            Some(j) if j.verdict == Verdict::Pass => Ok(false),
            Some(j) if j.verdict == Verdict::Fail => Err(Stop::Rollback(format!(
                "analysis of the canary: {}",
                j.summary
            ))),
            other => {
                let why = other.map_or("no judgement since the bake ended".to_string(), |j| {
                    j.summary
                });
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

    /// The judgement the step advances on: the first one made after the bake ended (one from
    /// before could predate a breach that began at its end), or `None` when none came within
    /// three intervals. Controls are handled while waiting.
    async fn fresh_judgement(&mut self) -> Result<Fresh, Stop> {
        let deadline = Instant::now() + self.ctx.config.analysis.interval * 3;
        loop {
            match self.wait(deadline, true).await? {
                Waited::Judgement(j) => return Ok(Fresh::Judged(j)),
                Waited::Deadline | Waited::Closed => return Ok(Fresh::Judged(None)),
                Waited::Promoted => return Ok(Fresh::Promoted),
                // Resumed: wait on, for the same deadline.
                Waited::Resumed { .. } => {}
            }
        }
    }

    /// After a resume from an inconclusive pause, bake once more over a fresh interval.
    async fn end_of_bake_again(&mut self) -> Result<bool, Stop> {
        let d = self.ctx.config.analysis.interval * 2;
        self.bake(d).await
    }
}

/// How a wait ended.
enum Waited {
    Deadline,
    Judgement(Option<crate::analysis::judge::Judgement>),
    /// Promoted (or finished) while waiting.
    Promoted,
    /// Paused and resumed; `left` of the wait remained at the pause.
    Resumed {
        left: Duration,
    },
    /// The control channel closed.
    Closed,
}

/// What the end of a bake waited for.
enum Fresh {
    Judged(Option<crate::analysis::judge::Judgement>),
    /// Promoted (or finished) while waiting.
    Promoted,
}
