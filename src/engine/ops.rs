//! Operations on every host of a service at once: validate, observe, move traffic, start and
//! stop stacks, promote, roll back. Each fans out to all hosts in parallel and reports every
//! host's failure, never just the first.

use std::sync::Arc;

use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use super::event::{Emitter, EventKind};
use crate::config::{Config, Service};
use crate::domain::{Split, Version};
use crate::remote::fence::Fences;
use crate::remote::host::{HostError, ServiceOnHost, StackState, TrackName};
use crate::remote::Remote;

/// What the engine needs to act on hosts.
#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<Config>,
    pub remote: Arc<dyn Remote>,
    /// The fencing tokens of the leases this process holds; mutating host commands carry them.
    pub fences: Fences,
}

/// One or more hosts failed; each failure names its host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service {service}: {what} failed on {} host(s):\n  {}", failures.len(), lines(failures))]
pub struct OpError {
    pub service: String,
    pub what: String,
    pub failures: Vec<HostError>,
}

fn lines(failures: &[HostError]) -> String {
    failures
        .iter()
        .map(|f| f.to_string().replace('\n', "\n    "))
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// What a host really has for a service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostView {
    pub host: String,
    pub read_at: chrono::DateTime<chrono::Utc>,
    pub stable_weight: u32,
    pub canary_weight: u32,
    pub canary_percent: Option<u8>,
    pub stable: StackState,
    pub canary: StackState,
}

impl HostView {
    /// The canary gets requests on this host: a weight above 0 and its stack running.
    pub fn canary_carries_traffic(&self) -> bool {
        self.canary_weight > 0 && self.canary.running
    }
}

impl Ctx {
    pub fn new(config: Arc<Config>, remote: Arc<dyn Remote>) -> Ctx {
        Ctx {
            config,
            remote,
            fences: Fences::default(),
        }
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.config.services.get(name)
    }

    fn hosts<'a>(&'a self, svc: &'a Service) -> Vec<ServiceOnHost<'a>> {
        svc.hosts
            .iter()
            .filter_map(|h| self.config.hosts.get(h))
            .map(|h| {
                ServiceOnHost::new(self.remote.as_ref(), h, svc)
                    .fenced(self.fences.token(&svc.name))
            })
            .collect()
    }
}

fn collect<T>(
    svc: &Service,
    what: &str,
    results: Vec<Result<T, HostError>>,
    em: &Emitter,
) -> Result<Vec<T>, OpError> {
    let mut ok = Vec::new();
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => {
                if let HostError::StackUnhealthy {
                    host, track, logs, ..
                } = &e
                {
                    em.emit(EventKind::ContainerLogs {
                        host: host.clone(),
                        track: *track,
                        lines: logs.iter().map(|l| crate::sanitize::line(l)).collect(),
                    });
                }
                em.emit(EventKind::HostFailed {
                    host: e.host().to_string(),
                    error: e.to_string(),
                });
                failures.push(e);
            }
        }
    }
    if failures.is_empty() {
        Ok(ok)
    } else {
        Err(OpError {
            service: svc.name.clone(),
            what: what.to_string(),
            failures,
        })
    }
}

pub(super) async fn observe_one(h: &ServiceOnHost<'_>) -> Result<HostView, HostError> {
    let read_at = chrono::Utc::now();
    let (w, stable, canary) = tokio::join!(
        h.read_weights(),
        h.stack_state(TrackName::Stable),
        h.stack_state(TrackName::Canary)
    );
    let w = w?;
    Ok(HostView {
        host: h.host_name().to_string(),
        read_at,
        stable_weight: w.stable,
        canary_weight: w.canary,
        canary_percent: w.canary_share(),
        stable: stable?,
        canary: canary?,
    })
}

/// Each host of the service read alone, so the hosts that answer are known even when others
/// do not: (host, its view or why it could not be read).
pub async fn observe_each(
    ctx: &Ctx,
    svc: &Service,
    em: &Emitter,
) -> Vec<(String, Result<HostView, String>)> {
    join_all(svc.hosts.iter().map(|h| {
        let one = Service {
            hosts: vec![h.clone()],
            ..svc.clone()
        };
        async move {
            let r = match observe(ctx, &one, em).await {
                Ok(mut v) if v.len() == 1 => Ok(v.remove(0)),
                Ok(_) => Err("no answer".to_string()),
                Err(e) => Err(e.failures.first().map_or(e.to_string(), |f| f.to_string())),
            };
            (h.clone(), r)
        }
    }))
    .await
}

/// Read every host's weights and stacks back.
pub async fn observe(ctx: &Ctx, svc: &Service, em: &Emitter) -> Result<Vec<HostView>, OpError> {
    let hosts = ctx.hosts(svc);
    let results = join_all(hosts.iter().map(observe_one)).await;
    let views = collect(svc, "reading state", results, em)?;
    for v in &views {
        em.emit(EventKind::HostObserved {
            host: v.host.clone(),
            read_at: v.read_at,
            stable_weight: v.stable_weight,
            canary_weight: v.canary_weight,
            canary_percent: v.canary_percent,
            stable: v.stable.clone(),
            canary: v.canary.clone(),
        });
    }
    Ok(views)
}

/// What validation learned about the hosts.
#[derive(Debug, Clone)]
pub struct Validated {
    pub hosts: Vec<HostView>,
    /// The version the stable track runs on every host, if they agree.
    pub stable_version: Option<String>,
}

/// Pre-deploy checks on every host in parallel (see `checks.rs`); all failures are reported.
pub async fn validate(
    ctx: &Ctx,
    svc: &Service,
    version: &Version,
    em: &Emitter,
) -> Result<Validated, OpError> {
    super::checks::validate(ctx, svc, version, em).await
}

/// Set the split on every host in parallel; each host is verified by reading its file back,
/// and refuses the change when the track that will carry traffic fails its health check.
pub async fn set_split(
    ctx: &Ctx,
    svc: &Service,
    split: Split,
    em: &Emitter,
) -> Result<(), OpError> {
    let hosts = ctx.hosts(svc);
    let results = join_all(hosts.iter().map(|h| async move {
        // Never send traffic to a track that does not answer its health check right now.
        let guard = if split.canary_percent() > 0 {
            TrackName::Canary
        } else {
            TrackName::Stable
        };
        apply_with_retry(h, split, Some(guard), em)
            .await
            .map(|_| ())
    }))
    .await;
    collect(
        svc,
        &format!("setting traffic to {split} (stable/canary)"),
        results,
        em,
    )
    .map(|_| ())
}

/// Apply a split on one host (retrying when another writer changed the file meanwhile) and
/// report the weights read back.
async fn apply_with_retry(
    h: &ServiceOnHost<'_>,
    split: Split,
    guard: Option<TrackName>,
    em: &Emitter,
) -> Result<crate::domain::TrackWeights, HostError> {
    let mut attempt = 0;
    let w = loop {
        match h.apply_split_guarded(split, guard).await {
            Err(HostError::Conflict { .. }) if attempt < 3 => attempt += 1,
            r => break r?,
        }
    };
    em.emit(EventKind::WeightsVerified {
        host: h.host_name().to_string(),
        stable_weight: w.stable,
        canary_weight: w.canary,
        canary_percent: split.canary_percent(),
    });
    Ok(w)
}

/// Start a track's stack at `version` on every host and health-check it.
pub async fn start_track(
    ctx: &Ctx,
    svc: &Service,
    track: TrackName,
    version: &Version,
    em: &Emitter,
    cancel: &CancellationToken,
) -> Result<(), OpError> {
    let hosts = ctx.hosts(svc);
    let results = join_all(hosts.iter().map(|h| async move {
        h.stack_up(track, version).await?;
        em.emit(EventKind::StackStarted {
            host: h.host_name().to_string(),
            track,
            version: version.to_string(),
        });
        h.health(track, cancel).await?;
        em.emit(EventKind::HealthOk {
            host: h.host_name().to_string(),
            track,
        });
        Ok(())
    }))
    .await;
    collect(
        svc,
        &format!("starting the {track} stack at {version}"),
        results,
        em,
    )
    .map(|_| ())
}

pub async fn stop_track(
    ctx: &Ctx,
    svc: &Service,
    track: TrackName,
    em: &Emitter,
) -> Result<(), OpError> {
    let hosts = ctx.hosts(svc);
    let results = join_all(hosts.iter().map(|h| async move {
        h.stack_down(track).await?;
        em.emit(EventKind::StackStopped {
            host: h.host_name().to_string(),
            track,
        });
        Ok(())
    }))
    .await;
    collect(svc, &format!("stopping the {track} stack"), results, em).map(|_| ())
}

/// Stable 100 % on every host, then the canary stack stopped. Idempotent. If a host's stable
/// stack is not running (or not at `stable_version` when one is given), it is started and
/// health-checked first, so traffic never moves onto nothing.
pub async fn rollback(
    ctx: &Ctx,
    svc: &Service,
    reason: &str,
    stable_version: Option<&Version>,
    em: &Emitter,
) -> Result<(), OpError> {
    em.emit(EventKind::RollbackStarted {
        reason: reason.to_string(),
    });
    let hosts = ctx.hosts(svc);
    let never = CancellationToken::new();
    let results = join_all(hosts.iter().map(|h| {
        let never = &never;
        async move {
            // Fast path: stable answers its health check, so move traffic now (two round trips).
            if stable_version.is_none() {
                match apply_with_retry(h, Split::STABLE, Some(TrackName::Stable), em).await {
                    Ok(_) => return Ok(h.host_name().to_string()),
                    Err(HostError::Unhealthy { .. }) => {} // bring stable back first, below
                    Err(e) => return Err(e),
                }
            }
            let st = h.stack_state(TrackName::Stable).await?;
            let wrong_version =
                stable_version.is_some_and(|v| st.version.as_deref() != Some(v.as_str()));
            if !st.running || wrong_version {
                let version = match (stable_version, st.version.as_deref().map(Version::parse)) {
                    (Some(v), _) => v.clone(),
                    (None, Some(Ok(v))) => v,
                    _ => {
                        return Err(HostError::Op {
                            host: h.host_name().to_string(),
                            service: svc.name.clone(),
                            message: "the stable stack is not running and its version is unknown; \
                                      traffic was left where it is — start the stable stack, then roll back again"
                                .to_string(),
                        })
                    }
                };
                h.stack_up(TrackName::Stable, &version).await?;
                h.health(TrackName::Stable, never).await?;
            }
            apply_with_retry(h, Split::STABLE, None, em).await?;
            Ok(h.host_name().to_string())
        }
    }))
    .await;
    let names = collect(svc, "rollback", results, em)?;
    em.emit(EventKind::TrafficOnStable { hosts: names });
    stop_track(ctx, svc, TrackName::Canary, em).await?;
    em.emit(EventKind::RolledBack {
        reason: reason.to_string(),
    });
    Ok(())
}

/// Make the canary's version the stable one: all traffic to the canary, the stable stack
/// re-created at the new version and health-checked, all traffic back to stable, the canary
/// stopped. On failure the caller rolls back (to the old stable version it knows).
pub async fn promote(
    ctx: &Ctx,
    svc: &Service,
    version: &Version,
    em: &Emitter,
    cancel: &CancellationToken,
) -> Result<(), OpError> {
    set_split(ctx, svc, Split::CANARY, em).await?;
    start_track(ctx, svc, TrackName::Stable, version, em, cancel).await?;
    set_split(ctx, svc, Split::STABLE, em).await?;
    stop_track(ctx, svc, TrackName::Canary, em).await?;
    em.emit(EventKind::Promoted {
        version: version.to_string(),
    });
    Ok(())
}

/// The canary version every host runs, when they all run the same one.
pub fn agreed_canary(views: &[HostView]) -> Option<String> {
    let first = views.first()?.canary.version.clone()?;
    views
        .iter()
        .all(|v| v.canary.running && v.canary.version.as_deref() == Some(first.as_str()))
        .then_some(first)
}

/// Promote whatever canary the hosts run now (all hosts must agree), with no deployment of this
/// process in flight — e.g. `sluice promote` after a headless deploy paused for a decision. On
/// failure every host goes back to the old stable version.
pub async fn promote_running(
    ctx: &Ctx,
    svc: &Service,
    em: &Emitter,
    cancel: &CancellationToken,
) -> Result<Version, String> {
    let views = observe(ctx, svc, em).await.map_err(|e| e.to_string())?;
    let version = agreed_canary(&views)
        .and_then(|v| Version::parse(&v).ok())
        .ok_or_else(|| {
            format!(
                "service {}: no canary runs one version on every host ({}); nothing to promote",
                svc.name,
                views
                    .iter()
                    .map(|v| format!(
                        "{}: {}",
                        v.host,
                        v.canary.version.as_deref().unwrap_or("none")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let previous = views
        .first()
        .and_then(|v| v.stable.version.as_deref())
        .and_then(|v| Version::parse(v).ok());
    if let Err(e) = promote(ctx, svc, &version, em, cancel).await {
        let reason = format!("promotion failed: {e}");
        return match rollback(ctx, svc, &reason, previous.as_ref(), em).await {
            Ok(()) => Err(format!("{reason}; every host was rolled back to stable")),
            Err(rb) => Err(format!("{reason}; the rollback failed too: {rb}")),
        };
    }
    Ok(version)
}

/// Set the canary's share on every host, when a canary runs on all of them.
pub async fn set_split_running(
    ctx: &Ctx,
    svc: &Service,
    split: Split,
    em: &Emitter,
) -> Result<(), String> {
    let views = observe(ctx, svc, em).await.map_err(|e| e.to_string())?;
    if split.canary_percent() > 0 {
        let missing: Vec<&str> = views
            .iter()
            .filter(|v| !v.canary.running)
            .map(|v| v.host.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "service {}: no canary runs on {}; start one with `sluice deploy` first",
                svc.name,
                missing.join(", ")
            ));
        }
    }
    set_split(ctx, svc, split, em)
        .await
        .map_err(|e| e.to_string())?;
    em.emit(EventKind::WeightSet {
        canary_percent: split.canary_percent(),
    });
    Ok(())
}
