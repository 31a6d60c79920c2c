//! Blue/green: green (the canary track, new version) starts beside blue (the stable track) on
//! every host and is verified without traffic; then all traffic switches to green in one step
//! on every host at once; blue keeps running for `keep`, so a rollback is one weight change
//! per host; then it finishes like a promotion (stable recreated at the new version, traffic
//! back on it, green stopped).
//!
//! While verifying and while switched, green is watched: its health on every host, the
//! weights (a change made outside this deployment, e.g. `sluice rollback` from another
//! process, ends it), and the analysis when one is configured. Without traffic the analysis is
//! inconclusive, which is expected before the switch and never fails blue/green; only a FAIL
//! does.

use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{next_judgement, Control, Rollout, Stop};
use crate::analysis::{Judgement, Verdict};
use crate::domain::{Split, Transition};
use crate::engine::event::EventKind;
use crate::remote::host::{HostError, ServiceOnHost, TrackName};

/// How often green's health and every host's weights are checked while it is watched.
const PROBE_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// Green beside blue, no traffic.
    Verify,
    /// All traffic on green, blue kept.
    Keep,
}

impl Watch {
    fn transition(self) -> Transition {
        match self {
            Watch::Verify => Transition::Verify,
            Watch::Keep => Transition::Switch,
        }
    }

    /// The split every host must hold during this phase.
    fn split(self) -> Split {
        match self {
            Watch::Verify => Split::STABLE,
            Watch::Keep => Split::CANARY,
        }
    }

    fn during(self) -> &'static str {
        match self {
            Watch::Verify => "while it was verified",
            Watch::Keep => "with all traffic switched to it",
        }
    }
}

impl Rollout {
    pub(super) async fn blue_green(
        &mut self,
        verify: Duration,
        keep: Duration,
    ) -> Result<(), Stop> {
        // Green is up and healthy on every host (started by `drive`), without traffic.
        self.go(Transition::Verify);
        self.watch_green(Watch::Verify, verify).await?;
        // One step, every host in parallel; each host's script refuses if green is unhealthy.
        self.go(Transition::Switch);
        self.move_traffic(Split::CANARY).await?;
        self.watch_green(Watch::Keep, keep).await?;
        self.promote().await
    }

    fn announce(&self, phase: Watch, left: Duration) {
        let until = chrono::Duration::from_std(left)
            .ok()
            .map(|d| Utc::now() + d);
        let hosts = self.service.hosts.clone();
        self.em.emit(match phase {
            Watch::Verify => EventKind::VerifyStarted { hosts, until },
            Watch::Keep => EventKind::TrafficSwitched {
                hosts,
                keep_until: until,
            },
        });
    }

    /// Watch green for `d` (frozen while paused). Ok when the time is up or the operator
    /// promoted (which ends the phase now: switch early, or finish early).
    async fn watch_green(&mut self, phase: Watch, d: Duration) -> Result<(), Stop> {
        let mut left = d;
        let mut control_open = true;
        loop {
            self.announce(phase, left);
            let deadline = Instant::now() + left;
            let mut probe = tokio::time::interval_at(Instant::now() + PROBE_EVERY, PROBE_EVERY);
            probe.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let held = loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => return self.end_of_watch(phase),
                    _ = probe.tick() => self.probe(phase).await?,
                    j = next_judgement(&mut self.judgements) => self.judge_green(phase, j)?,
                    m = self.control.recv(), if control_open => match m {
                        None => control_open = false,
                        Some(Control::Promote) => {
                            self.em.emit(EventKind::Info {
                                message: match phase {
                                    Watch::Verify => "promoted: verification ends now; switching".into(),
                                    Watch::Keep => "promoted: blue is released now; finishing".into(),
                                },
                            });
                            return Ok(());
                        }
                        Some(Control::Rollback(reason)) => return Err(Stop::Rollback(reason)),
                        Some(Control::SetWeight(_)) => self.refuse_weight(),
                        Some(Control::Resume) => {}
                        Some(Control::Pause) => {
                            break deadline.saturating_duration_since(Instant::now());
                        }
                    },
                }
            };
            left = held;
            self.go(Transition::Pause);
            self.em.emit(EventKind::Info {
                message: format!(
                    "held {}: green stays watched, blue stays running; resume to continue ({}s left), promote to go on now, or roll back",
                    match phase {
                        Watch::Verify => "before the switch",
                        Watch::Keep => "with blue kept",
                    },
                    left.as_secs()
                ),
            });
            let advance = self.held(phase).await?;
            self.go(Transition::Resume);
            self.go(phase.transition());
            if advance {
                return Ok(());
            }
        }
    }

    /// Paused: green is still watched. Ok(true) when promoted, Ok(false) when resumed.
    async fn held(&mut self, phase: Watch) -> Result<bool, Stop> {
        let mut probe = tokio::time::interval_at(Instant::now() + PROBE_EVERY, PROBE_EVERY);
        probe.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = probe.tick() => self.probe(phase).await?,
                j = next_judgement(&mut self.judgements) => self.judge_green(phase, j)?,
                m = self.control.recv() => match m {
                    None => return Err(Stop::End),
                    Some(Control::Resume) => return Ok(false),
                    Some(Control::Promote) => return Ok(true),
                    Some(Control::Rollback(reason)) => return Err(Stop::Rollback(reason)),
                    Some(Control::SetWeight(_)) => self.refuse_weight(),
                    Some(Control::Pause) => {}
                },
            }
        }
    }

    fn refuse_weight(&self) {
        self.em.emit(EventKind::Info {
            message: format!(
                "{}: blue/green switches all traffic at once; weights cannot be steered — \
                 promote to go on now, or roll back",
                self.service.name
            ),
        });
    }

    /// Only a FAIL counts against green; `failure_limit` in a row roll back.
    fn judge_green(&mut self, phase: Watch, j: Option<Judgement>) -> Result<(), Stop> {
        let Some(j) = j else { return Ok(()) };
        match j.verdict {
            Verdict::Fail => {
                self.failures += 1;
                if self.failures >= self.ctx.config.analysis.failure_limit {
                    return Err(Stop::Rollback(format!(
                        "analysis of green {}: {}",
                        phase.during(),
                        j.summary
                    )));
                }
            }
            Verdict::Pass => self.failures = 0,
            Verdict::Inconclusive => {}
        }
        Ok(())
    }

    fn end_of_watch(&mut self, phase: Watch) -> Result<(), Stop> {
        let latest = self.judgements.as_ref().and_then(|rx| rx.borrow().clone());
        match latest {
            Some(j) if j.verdict == Verdict::Fail => Err(Stop::Rollback(format!(
                "analysis of green {}: {}",
                phase.during(),
                j.summary
            ))),
            _ => Ok(()),
        }
    }

    /// Every host: the weights are still what this phase set, and green answers its health
    /// check. A host that cannot be reached is reported and checked again next time.
    async fn probe(&mut self, phase: Watch) -> Result<(), Stop> {
        let svc = self.service.clone();
        let want = phase.split().weights(svc.trickle);
        let never = CancellationToken::new();
        let hosts: Vec<ServiceOnHost> = svc
            .hosts
            .iter()
            .filter_map(|h| self.ctx.config.hosts.get(h))
            .map(|h| ServiceOnHost::new(self.ctx.remote.as_ref(), h, &svc))
            .collect();
        let version = self.version.clone();
        let on_stable = Split::STABLE.weights(svc.trickle);
        let results = join_all(hosts.iter().map(|h| {
            let never = &never;
            let version = &version;
            async move {
                let w = h.read_weights().await?;
                if w != want {
                    // Stable at 100 % running the new version: `sluice promote` finished it.
                    let st = h.stack_state(TrackName::Stable).await?;
                    if w == on_stable
                        && st.running
                        && st.version.as_deref() == Some(version.as_str())
                    {
                        return Ok(Some(Outside::Promoted));
                    }
                    return Ok(Some(Outside::Moved(format!(
                        "{}: traffic was moved outside this deployment (stable={} canary={}, \
                         expected stable={} canary={}), e.g. by `sluice rollback` from another \
                         process",
                        h.host_name(),
                        w.stable,
                        w.canary,
                        want.stable,
                        want.canary
                    ))));
                }
                h.health(TrackName::Canary, never).await?;
                Ok::<_, HostError>(None)
            }
        }))
        .await;
        let mut promoted = 0;
        for r in results {
            match r {
                Ok(None) => {}
                Ok(Some(Outside::Promoted)) => promoted += 1,
                Ok(Some(Outside::Moved(moved))) => {
                    return Err(Stop::Rollback(format!(
                        "{moved}; every host goes back to blue"
                    )))
                }
                Err(e @ HostError::Remote(_)) => {
                    self.em.emit(EventKind::HostFailed {
                        host: e.host().to_string(),
                        error: format!("{e} (checked again in {}s)", PROBE_EVERY.as_secs()),
                    });
                }
                Err(e) => {
                    self.em.emit(EventKind::HostFailed {
                        host: e.host().to_string(),
                        error: e.to_string(),
                    });
                    return Err(Stop::Rollback(format!(
                        "green failed its health check {}: {e}",
                        phase.during()
                    )));
                }
            }
        }
        if promoted > 0 {
            // Another process promoted green (every host it reached runs the new version as
            // stable); it owns the finish. This deployment ends as succeeded, touching nothing.
            self.em.emit(EventKind::Info {
                message: format!(
                    "{} was promoted outside this deployment ({promoted} host(s) already run {} \
                     as stable); nothing left to do here",
                    svc.name, self.version
                ),
            });
            if self.state == crate::domain::DeploymentState::Verifying {
                self.go(Transition::Switch);
            }
            self.go(Transition::Succeed);
            return Err(Stop::End);
        }
        Ok(())
    }
}

/// A change to a host made outside this deployment.
enum Outside {
    Promoted,
    Moved(String),
}
