//! The post-promotion watch: after a promote, the new stable is judged for `analysis.watch`;
//! failing (as many times in a row as `failure_limit`) reverts every host to the previous
//! version — a canary at the previous version takes the traffic while stable is recreated at
//! it and health-checked, then stable takes it back — so no host serves from nothing.

use chrono::Utc;
use tokio::time::Instant;

use super::analysis::{add_caveat, judge_reading, record, thresholds, window_ms, Refresher, POLL};
use super::event::{Emitter, EventKind};
use super::ops::{self, Ctx, OpError};
use crate::analysis::provider;
use crate::analysis::Verdict;
use crate::config::Service;
use crate::domain::TrackName;
use crate::domain::{Split, Version};

/// How a watch ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No metric source: nothing was watched.
    Skipped(String),
    Passed {
        passes: u32,
    },
    /// Nothing conclusive over the whole watch (no traffic, metrics down).
    Inconclusive(String),
    Failed(String),
}

/// The judgements of a watch so far; pure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub passes: u32,
    pub failures_in_a_row: u32,
    pub last_inconclusive: Option<String>,
}

impl Tally {
    /// Count one judgement; `Some(reason)` when the watch has failed.
    pub fn add(&mut self, verdict: Verdict, summary: &str, failure_limit: u32) -> Option<String> {
        match verdict {
            Verdict::Pass => {
                self.passes += 1;
                self.failures_in_a_row = 0;
            }
            Verdict::Fail => {
                self.failures_in_a_row += 1;
                if self.failures_in_a_row >= failure_limit {
                    return Some(format!("analysis of the new stable: {summary}"));
                }
            }
            Verdict::Inconclusive => self.last_inconclusive = Some(summary.to_string()),
        }
        None
    }

    /// The outcome when the watch time is over.
    pub fn end(&self) -> Outcome {
        if self.passes > 0 {
            Outcome::Passed {
                passes: self.passes,
            }
        } else {
            Outcome::Inconclusive(
                self.last_inconclusive
                    .clone()
                    .unwrap_or_else(|| "no judgement was made".to_string()),
            )
        }
    }
}

/// Judge the stable track of `svc` (just promoted to `version`) for `analysis.watch`.
pub async fn watch(ctx: &Ctx, svc: &Service, version: &Version, em: &Emitter) -> Outcome {
    let a = &ctx.config.analysis;
    let mut p = match provider::for_service(&ctx.config, &ctx.remote, svc) {
        Ok(p) => p,
        Err(why) => return Outcome::Skipped(why),
    };
    let until = Instant::now() + a.watch;
    em.emit(EventKind::Watching {
        version: version.to_string(),
        until: chrono::Duration::from_std(a.watch)
            .ok()
            .map(|d| Utc::now() + d),
        provider: p.name().to_string(),
    });
    let t = thresholds(a);
    let mut tally = Tally::default();
    let mut refresher = Refresher::new();
    let mut poll = tokio::time::interval(POLL);
    let mut next = Instant::now() + a.interval;
    loop {
        poll.tick().await;
        refresher.refresh(p.as_mut(), em).await;
        if Instant::now() >= until {
            return tally.end();
        }
        if Instant::now() < next {
            continue;
        }
        next = (next + a.interval).max(Instant::now());
        let now_ms = Utc::now().timestamp_millis();
        let reading = p.read(TrackName::Stable, now_ms, window_ms(a)).await;
        let mut j = judge_reading(&reading, &t);
        add_caveat(&mut j, p.caveat(now_ms, window_ms(a)).as_deref());
        record(em, a, p.name(), TrackName::Stable, &reading, &j);
        if let Some(reason) = tally.add(j.verdict, &j.summary, a.failure_limit) {
            return Outcome::Failed(reason);
        }
    }
}

/// How a promoted version stands after its watch.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    /// Kept: the watch passed, was off, had nothing to judge, or was inconclusive with
    /// `on_inconclusive: pause`.
    Kept,
    /// Every host is back on the previous version, for this reason.
    Reverted(String),
    /// The watch failed and the revert did not complete (or could not be tried).
    Failed(String),
}

/// Watch the new stable `version` (when `analysis.watch` is set), tell how it went, and revert
/// to `previous` when it failed.
pub async fn watch_and_settle(
    ctx: &Ctx,
    svc: &Service,
    version: &Version,
    previous: Option<&Version>,
    em: &Emitter,
) -> Settled {
    let a = &ctx.config.analysis;
    if a.watch.is_zero() {
        return Settled::Kept;
    }
    let v = version.to_string();
    let reason = match watch(ctx, svc, version, em).await {
        Outcome::Skipped(why) => {
            em.emit(EventKind::Info {
                message: format!("no post-promotion watch: {why}"),
            });
            return Settled::Kept;
        }
        Outcome::Passed { passes } => {
            em.emit(EventKind::WatchPassed { version: v, passes });
            return Settled::Kept;
        }
        Outcome::Inconclusive(reason) => {
            em.emit(EventKind::WatchInconclusive {
                version: v.clone(),
                reason: reason.clone(),
            });
            if a.on_inconclusive == crate::config::OnInconclusive::Pause {
                return Settled::Kept;
            }
            format!(
                "the watch of the new stable was not conclusive ({reason}) and on_inconclusive is rollback"
            )
        }
        Outcome::Failed(reason) => reason,
    };
    em.emit(EventKind::WatchFailed {
        version: v,
        previous: previous.map(|p| p.to_string()),
        reason: reason.clone(),
    });
    let Some(previous) = previous else {
        return Settled::Failed(format!(
            "{reason}; the version before this one is unknown, so nothing was reverted: deploy a known good version"
        ));
    };
    match revert(ctx, svc, previous, &reason, em).await {
        Ok(()) => Settled::Reverted(reason),
        Err(e) => Settled::Failed(format!("{reason}; reverting to {previous} failed: {e}")),
    }
}

/// Promote whatever canary every host runs (no deployment of this process in flight, e.g.
/// `sluice promote` after a headless deploy paused), then watch the new stable.
pub async fn promote_and_watch(
    ctx: &Ctx,
    svc: &Service,
    em: &Emitter,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Version, String> {
    let previous = ops::observe(ctx, svc, em)
        .await
        .ok()
        .and_then(|views| {
            let first = views.first()?.stable.version.clone()?;
            views
                .iter()
                .all(|v| v.stable.version.as_deref() == Some(first.as_str()))
                .then_some(first)
        })
        .and_then(|v| Version::parse(&v).ok());
    let version = ops::promote_running(ctx, svc, em, cancel).await?;
    match watch_and_settle(ctx, svc, &version, previous.as_ref(), em).await {
        Settled::Kept => Ok(version),
        Settled::Reverted(reason) => Err(format!(
            "{reason}; every host is back on {}",
            previous.map_or("the previous version".to_string(), |p| p.to_string())
        )),
        Settled::Failed(e) => Err(e),
    }
}

/// Put every host back on `previous` without serving from nothing: a canary at `previous`
/// takes the traffic, stable is recreated at `previous` and health-checked, stable takes the
/// traffic back, the canary stops. Falls back to a plain rollback to `previous` on any failure.
pub async fn revert(
    ctx: &Ctx,
    svc: &Service,
    previous: &Version,
    reason: &str,
    em: &Emitter,
) -> Result<(), OpError> {
    em.emit(EventKind::RollbackStarted {
        reason: reason.to_string(),
    });
    let never = tokio_util::sync::CancellationToken::new();
    let swap = async {
        ops::start_track(ctx, svc, TrackName::Canary, previous, em, &never).await?;
        ops::set_split(ctx, svc, Split::CANARY, em).await?;
        ops::start_track(ctx, svc, TrackName::Stable, previous, em, &never).await?;
        ops::set_split(ctx, svc, Split::STABLE, em).await?;
        ops::stop_track(ctx, svc, TrackName::Canary, em).await
    };
    match swap.await {
        Ok(()) => {
            em.emit(EventKind::TrafficOnStable {
                hosts: svc.hosts.clone(),
            });
            em.emit(EventKind::RolledBack {
                reason: reason.to_string(),
            });
            Ok(())
        }
        Err(e) => {
            ops::rollback(
                ctx,
                svc,
                &format!("{reason} (the swap back failed: {e})"),
                Some(previous),
                em,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_at_the_limit_fails_the_watch() {
        let mut t = Tally::default();
        assert_eq!(t.add(Verdict::Pass, "pass", 2), None);
        assert_eq!(t.add(Verdict::Fail, "FAIL: x", 2), None);
        assert_eq!(t.add(Verdict::Pass, "pass", 2), None);
        assert_eq!(t.add(Verdict::Fail, "FAIL: y", 2), None);
        assert_eq!(
            t.add(Verdict::Fail, "FAIL: z", 2),
            Some("analysis of the new stable: FAIL: z".to_string())
        );
        let mut t = Tally::default();
        assert!(t.add(Verdict::Fail, "FAIL", 1).is_some());
    }

    #[test]
    fn a_watch_without_a_pass_is_inconclusive_not_passed() {
        let mut t = Tally::default();
        assert_eq!(
            t.end(),
            Outcome::Inconclusive("no judgement was made".into())
        );
        t.add(Verdict::Inconclusive, "inconclusive: 3 requests", 1);
        assert_eq!(
            t.end(),
            Outcome::Inconclusive("inconclusive: 3 requests".into())
        );
        t.add(Verdict::Pass, "pass", 1);
        t.add(Verdict::Inconclusive, "inconclusive: 3 requests", 1);
        assert_eq!(t.end(), Outcome::Passed { passes: 1 });
    }
}
