//! The analysis loop of one rollout: follow every host's access log, keep sliding windows per
//! track, and judge them every interval. Judgements go to the rollout (to roll back or pause)
//! and out as events (for the console and the record).

use std::time::Duration;

use futures::future::join_all;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::event::{Emitter, EventKind};
use super::ops::Ctx;
use crate::analysis::nginx_log::Cursor;
use crate::analysis::{judge, Judgement, Thresholds, Window};
use crate::config::{Provider, Service};
use crate::target::host::{ServiceOnHost, TrackName};

/// How often the logs are read; judgements come every `analysis.interval`.
const POLL: Duration = Duration::from_secs(1);

/// Start judging `svc`'s canary. `None` when the service has no metric source (no access log,
/// or a provider this engine cannot read yet); the caller says so, it is never a silent pass.
pub fn spawn(
    ctx: &Ctx,
    svc: &Service,
    em: &Emitter,
    stop: CancellationToken,
) -> Option<watch::Receiver<Option<Judgement>>> {
    if svc.nginx.access_log.is_none() || ctx.config.analysis.provider != Provider::NginxLog {
        return None;
    }
    let (tx, rx) = watch::channel(None);
    let ctx = ctx.clone();
    let svc = svc.clone();
    let em = em.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = run(&ctx, &svc, &em, &tx) => {}
        }
    });
    Some(rx)
}

async fn run(ctx: &Ctx, svc: &Service, em: &Emitter, tx: &watch::Sender<Option<Judgement>>) {
    let a = &ctx.config.analysis;
    let window_ms = i64::try_from(a.window.as_millis()).unwrap_or(i64::MAX);
    let span = i64::try_from(a.window.as_secs()).unwrap_or(3600) + 5;
    let thresholds = Thresholds {
        error_rate_max: a.error_rate_max,
        p99_max_ms: a.p99_max.as_secs_f64() * 1000.0,
        min_requests: a.min_requests,
    };
    let hosts: Vec<ServiceOnHost> = svc
        .hosts
        .iter()
        .filter_map(|h| ctx.config.hosts.get(h))
        .map(|h| ServiceOnHost::new(ctx.remote.as_ref(), h, svc))
        .collect();
    let mut cursors: Vec<Cursor> = vec![Cursor::default(); hosts.len()];
    let mut windows = [Window::new(span), Window::new(span)]; // stable, canary
    let mut complained = vec![false; hosts.len()];
    let mut poll = tokio::time::interval(POLL);
    let mut next_judgement = tokio::time::Instant::now() + a.interval;
    loop {
        poll.tick().await;
        let results = join_all(
            hosts
                .iter()
                .zip(cursors.iter_mut())
                .map(|(h, c)| async move { h.poll_log(c).await }),
        )
        .await;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(Some(entries)) => {
                    complained[i] = false;
                    let stable = hosts[i].server_addr(TrackName::Stable);
                    let canary = hosts[i].server_addr(TrackName::Canary);
                    for e in entries {
                        if e.upstream == stable {
                            windows[0].add(e.sample);
                        } else if e.upstream == canary {
                            windows[1].add(e.sample);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) if !complained[i] => {
                    complained[i] = true;
                    em.emit(EventKind::Info {
                        message: format!("analysis cannot read the access log: {e}; retrying (its requests are missing from the verdicts)"),
                    });
                }
                Err(_) => {}
            }
        }
        if tokio::time::Instant::now() < next_judgement {
            continue;
        }
        next_judgement += a.interval;
        let now_ms = chrono::Utc::now().timestamp_millis();
        for (track, w) in [
            (TrackName::Stable, &windows[0]),
            (TrackName::Canary, &windows[1]),
        ] {
            let stats = w.stats(now_ms, window_ms);
            let j = judge(&stats, &thresholds);
            em.emit(EventKind::Analysis {
                track,
                verdict: j.verdict,
                requests: stats.requests,
                error_rate: stats.error_rate,
                p50_ms: stats.p50_ms,
                p99_ms: stats.p99_ms,
                window_secs: a.window.as_secs(),
                provider: "nginx-log".into(),
                summary: j.summary.clone(),
            });
            if track == TrackName::Canary {
                let _ = tx.send(Some(j));
            }
        }
    }
}
