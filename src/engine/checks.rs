//! Pre-deploy checks and the canary warm-up.
//!
//! Checks run on every host in parallel, and every check on a host runs even when another
//! failed, so that one report lists everything to fix before anything moves: host not
//! forbidden, SSH reachable with a known host key, `nginx -t` clean, image present, the
//! canary's port free, disk space above `checks.disk_min`.

use futures::future::join_all;

use super::event::{Emitter, EventKind};
use super::ops::{observe_one, Ctx, HostView, OpError, Validated};
use crate::config::Service;
use crate::domain::Version;
use crate::remote::host::{HostError, ServiceOnHost, TrackName};

/// Every failure of one host (empty when it passed), and what it runs when it could be read.
async fn check_host(
    ctx: &Ctx,
    h: &ServiceOnHost<'_>,
    svc: &Service,
    version: &Version,
) -> (Vec<HostError>, Option<HostView>) {
    // An unreachable host (or an unknown key) fails every check: report it once.
    if let Err(e) = ctx.remote.connect(h.host_name()).await {
        return (vec![e.into()], None);
    }
    let op = |message: String| HostError::Op {
        host: h.host_name().to_string(),
        service: svc.name.clone(),
        message,
    };
    let disk = async {
        match ctx.config.checks.disk_min {
            Some(min) => h.disk_free(min).await.map(|_| ()),
            None => Ok(()),
        }
    };
    let (nginx, image, view, disk) = tokio::join!(
        h.nginx_test(),
        h.image_present(version),
        observe_one(h),
        disk
    );
    let mut failures = Vec::new();
    failures.extend(nginx.err());
    match image {
        Ok(true) => {}
        Ok(false) => failures.push(op(format!(
            "image {}:{version} is not on the host; build or pull it there first",
            svc.image
        ))),
        Err(e) => failures.push(e),
    }
    failures.extend(disk.err());
    let view = match view {
        Ok(v) => Some(v),
        Err(e) => {
            failures.push(e);
            None
        }
    };
    // Our own running canary holds the port legitimately (it will be replaced).
    if view.as_ref().is_some_and(|v| !v.canary.running) {
        if let Err(e) = h.port_free(TrackName::Canary).await {
            failures.push(e);
        }
    }
    (failures, view)
}

/// Run every pre-deploy check on every host at once; all failures are reported together
/// (each also as a `host-failed` event), and nothing is changed on any host.
pub async fn validate(
    ctx: &Ctx,
    svc: &Service,
    version: &Version,
    em: &Emitter,
) -> Result<Validated, OpError> {
    let mut failures = Vec::new();
    let mut checked = Vec::new();
    for name in &svc.hosts {
        match ctx.config.hosts.get(name) {
            Some(host) if host.forbidden => failures.push(HostError::Op {
                host: name.clone(),
                service: svc.name.clone(),
                message: "host is marked `forbidden: true` in the configuration (drained); \
                          sluice will not touch it — take it out of the service's hosts, or \
                          clear the flag"
                    .to_string(),
            }),
            Some(host) => checked.push(ServiceOnHost::new(ctx.remote.as_ref(), host, svc)),
            None => {}
        }
    }
    let results = join_all(checked.iter().map(|h| check_host(ctx, h, svc, version))).await;
    let mut views = Vec::new();
    for (f, v) in results {
        failures.extend(f);
        views.extend(v);
    }
    if !failures.is_empty() {
        for e in &failures {
            em.emit(EventKind::HostFailed {
                host: e.host().to_string(),
                error: e.to_string(),
            });
        }
        return Err(OpError {
            service: svc.name.clone(),
            what: "pre-deploy checks".to_string(),
            failures,
        });
    }
    let first = views.first().and_then(|v| v.stable.version.clone());
    let stable_version = if views.iter().all(|v| v.stable.version == first) {
        first
    } else {
        None
    };
    Ok(Validated {
        hosts: views,
        stable_version,
    })
}

/// Warm the canary up on every host (when the service has `warmup:`), reporting each host's
/// latency. Any error, or a P99 above `warmup.p99_max`, fails: the canary gets no traffic.
pub async fn warm_up(ctx: &Ctx, svc: &Service, em: &Emitter) -> Result<(), OpError> {
    let Some(w) = &svc.warmup else {
        return Ok(());
    };
    let hosts: Vec<ServiceOnHost> = svc
        .hosts
        .iter()
        .filter_map(|h| ctx.config.hosts.get(h))
        .map(|h| ServiceOnHost::new(ctx.remote.as_ref(), h, svc))
        .collect();
    let results = join_all(hosts.iter().map(|h| async move {
        let r = h.warm_up(TrackName::Canary, w).await?;
        let slow = w
            .p99_max
            .filter(|max| r.p99_ms > max.as_secs_f64() * 1000.0);
        let passed = r.errors == 0 && slow.is_none();
        em.emit(EventKind::WarmUp {
            host: h.host_name().to_string(),
            requests: r.requests,
            errors: r.errors,
            p50_ms: r.p50_ms,
            p99_ms: r.p99_ms,
            max_ms: r.max_ms,
            passed,
        });
        let mut why = Vec::new();
        if r.errors > 0 {
            why.push(format!(
                "{} of {} requests failed ({})",
                r.errors,
                r.requests,
                r.samples.join(", ")
            ));
        }
        if let Some(max) = slow {
            why.push(format!(
                "P99 {:.0} ms is above warmup.p99_max {} ms",
                r.p99_ms,
                max.as_millis()
            ));
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(HostError::Op {
                host: h.host_name().to_string(),
                service: svc.name.clone(),
                message: format!(
                    "the canary did not warm up on GET {} ({} requests, {} at a time): {}",
                    w.path,
                    w.requests,
                    w.concurrency,
                    why.join("; ")
                ),
            })
        }
    }))
    .await;
    let failures: Vec<HostError> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        for e in &failures {
            em.emit(EventKind::HostFailed {
                host: e.host().to_string(),
                error: e.to_string(),
            });
        }
        Err(OpError {
            service: svc.name.clone(),
            what: "the canary warm-up".to_string(),
            failures,
        })
    }
}
