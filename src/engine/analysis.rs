//! The analysis loop of one rollout: refresh the service's metric provider, and judge both
//! tracks every interval (the canary on its own limits and, with `analysis.compare`, against
//! stable). Judgements go to the rollout (to roll back or pause) and out as events (for the
//! console and the record). The engine knows providers only through [`MetricProvider`].

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::event::{Emitter, EventKind};
use super::ops::Ctx;
use crate::analysis::provider::{self, MetricProvider, Reading};
use crate::analysis::{judge, judge_against, unavailable, Judgement, Margins, Thresholds};
use crate::config::{Analysis, Service};
use crate::domain::TrackName;

/// How often the provider is refreshed; judgements come every `analysis.interval`.
pub(super) const POLL: Duration = Duration::from_secs(1);

/// Start judging `svc`'s canary. `None` when the service has no metric source (no access log
/// for the nginx-log provider); the caller says so, it is never a silent pass.
pub fn spawn(
    ctx: &Ctx,
    svc: &Service,
    em: &Emitter,
    stop: CancellationToken,
) -> Option<watch::Receiver<Option<Judgement>>> {
    let provider = match provider::for_service(&ctx.config, &ctx.remote, svc) {
        Ok(p) => p,
        Err(why) => {
            tracing::info!(service = %svc.name, "no analysis: {why}");
            return None;
        }
    };
    let (tx, rx) = watch::channel(None);
    let a = ctx.config.analysis.clone();
    let em = em.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = run(a, provider, &em, &tx) => {}
        }
    });
    Some(rx)
}

pub(super) fn thresholds(a: &Analysis) -> Thresholds {
    Thresholds {
        error_rate_max: a.error_rate_max,
        p99_max_ms: a.p99_max.as_secs_f64() * 1000.0,
        min_requests: a.min_requests,
    }
}

fn margins(a: &Analysis) -> Option<Margins> {
    a.compare.as_ref().map(|c| Margins {
        error_rate: c.error_rate_margin,
        p99_ms: c.p99_margin.map(|d| d.as_secs_f64() * 1000.0),
    })
}

/// Refreshes a provider and tells each problem once (again only after it went away).
pub(super) struct Refresher {
    told: HashSet<String>,
}

impl Refresher {
    pub(super) fn new() -> Self {
        Refresher {
            told: HashSet::new(),
        }
    }

    pub(super) async fn refresh(&mut self, p: &mut dyn MetricProvider, em: &Emitter) {
        let problems: HashSet<String> = p.refresh().await.into_iter().collect();
        for message in problems.difference(&self.told) {
            em.emit(EventKind::Info {
                message: message.clone(),
            });
        }
        self.told = problems;
    }
}

/// Judge one reading on its own and record the judgement.
pub(super) fn record(
    em: &Emitter,
    a: &Analysis,
    provider: &str,
    track: TrackName,
    reading: &Reading,
    j: &Judgement,
) {
    let (requests, error_rate, p50_ms, p99_ms) = match reading {
        Ok(s) => (s.requests, s.error_rate, s.p50_ms, s.p99_ms),
        Err(_) => (0, f64::NAN, f64::NAN, f64::NAN),
    };
    em.emit(EventKind::Analysis {
        track,
        verdict: j.verdict,
        requests,
        error_rate,
        p50_ms,
        p99_ms,
        window_secs: a.window.as_secs(),
        provider: provider.to_string(),
        summary: j.summary.clone(),
        checks: j.checks.clone(),
    });
}

pub(super) fn judge_reading(reading: &Reading, t: &Thresholds) -> Judgement {
    match reading {
        Ok(s) => judge(s, t),
        Err(why) => unavailable(why),
    }
}

/// Say in the judgement what its figures miss (the provider's caveat).
pub(super) fn add_caveat(j: &mut Judgement, caveat: Option<&str>) {
    if let Some(c) = caveat {
        j.summary.push_str(&format!(" ({c})"));
    }
}

pub(super) fn window_ms(a: &Analysis) -> i64 {
    i64::try_from(a.window.as_millis()).unwrap_or(i64::MAX)
}

async fn run(
    a: Analysis,
    mut provider: Box<dyn MetricProvider>,
    em: &Emitter,
    tx: &watch::Sender<Option<Judgement>>,
) {
    let t = thresholds(&a);
    let m = margins(&a);
    let name = provider.name();
    let mut refresher = Refresher::new();
    let mut poll = tokio::time::interval(POLL);
    let mut next_judgement = tokio::time::Instant::now() + a.interval;
    loop {
        poll.tick().await;
        refresher.refresh(provider.as_mut(), em).await;
        if tokio::time::Instant::now() < next_judgement {
            continue;
        }
        next_judgement = (next_judgement + a.interval).max(tokio::time::Instant::now());
        let now_ms = chrono::Utc::now().timestamp_millis();
        let stable = provider
            .read(TrackName::Stable, now_ms, window_ms(&a))
            .await;
        let canary = provider
            .read(TrackName::Canary, now_ms, window_ms(&a))
            .await;
        let caveat = provider.caveat(now_ms, window_ms(&a));
        let mut js = judge_reading(&stable, &t);
        add_caveat(&mut js, caveat.as_deref());
        record(em, &a, name, TrackName::Stable, &stable, &js);
        let mut j = match (&canary, &stable, &m) {
            (Ok(c), Ok(s), Some(m)) => judge_against(c, s, &t, m),
            (Ok(c), Err(why), Some(_)) => {
                let mut j = judge(c, &t);
                j.summary
                    .push_str(&format!("; not compared with stable ({why})"));
                j
            }
            _ => judge_reading(&canary, &t),
        };
        add_caveat(&mut j, caveat.as_deref());
        record(em, &a, name, TrackName::Canary, &canary, &j);
        let _ = tx.send(Some(j));
    }
}
