//! The engine's side of leases: take a service's lease before touching its hosts, keep it
//! alive with a heartbeat while working, stop acting the moment it is lost, and give it back.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::event::Emitter;
use super::journal::Recorder;
use super::ops::Ctx;
use crate::remote::fence::Fences;
use crate::store::lease::{Acquired, HEARTBEAT};
use crate::store::{Holder, LeaseError, NewAudit, Store};

/// A lease this process holds. Dropping it stops the heartbeat and releases the lease.
pub struct HeldLease {
    pub service: String,
    pub token: u64,
    store: Arc<Store>,
    fences: Fences,
    stop: CancellationToken,
}

impl HeldLease {
    /// An emitter whose events are journaled (against `deployment`) and audited.
    pub fn recorder(&self, operator: &str, deployment: Option<u64>) -> Arc<Recorder> {
        Arc::new(Recorder {
            store: self.store.clone(),
            fences: self.fences.clone(),
            service: self.service.clone(),
            operator: operator.to_string(),
            deployment,
            token: self.token,
        })
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.stop.cancel();
        self.fences.release(&self.service, self.token);
        if let Err(e) = self.store.release(&self.service, self.token) {
            tracing::warn!(service = %self.service, "releasing the lease: {e}");
        }
    }
}

/// Take `service`'s lease for `purpose`. With `takeover` (an operator's rollback, which must
/// always be able to proceed) a live lease of another holder is replaced and the takeover is
/// audited; without it a held lease is refused with [`LeaseError::Held`]. `on_lost` runs once
/// if a heartbeat finds the lease taken over or broken; from then on every host command of
/// this service fails locally.
pub fn take(
    store: &Arc<Store>,
    fences: &Fences,
    service: &str,
    operator: &str,
    purpose: String,
    takeover: Option<&str>,
    on_lost: impl FnOnce(String) + Send + 'static,
) -> Result<HeldLease, LeaseError> {
    let holder = Holder::current(operator, purpose);
    let Acquired { lease, took_over } = store.acquire(service, &holder, takeover.is_some())?;
    if let Some(old) = &took_over {
        store.audit(&NewAudit {
            actor: operator.to_string(),
            action: "lease-takeover".to_string(),
            service: service.to_string(),
            from: format!("token {}", old.token),
            to: format!("token {}", lease.token),
            result: "ok".to_string(),
            detail: format!(
                "{} took the lease from {}: {}",
                holder.describe(),
                old.describe(),
                takeover.unwrap_or_default()
            ),
        })?;
    }
    fences.hold(service, lease.token);
    let stop = CancellationToken::new();
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(heartbeat(
            store.clone(),
            fences.clone(),
            service.to_string(),
            lease.token,
            stop.clone(),
            on_lost,
        ));
    }
    Ok(HeldLease {
        service: service.to_string(),
        token: lease.token,
        store: store.clone(),
        fences: fences.clone(),
        stop,
    })
}

async fn heartbeat(
    store: Arc<Store>,
    fences: Fences,
    service: String,
    token: u64,
    stop: CancellationToken,
    on_lost: impl FnOnce(String),
) {
    let mut valid_until = store.now() + chrono::Duration::seconds(30);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(HEARTBEAT) => {}
        }
        if stop.is_cancelled() {
            return;
        }
        let why = match store.renew(&service, token) {
            Ok(l) => {
                valid_until = l.expires_at;
                continue;
            }
            Err(e @ LeaseError::Lost { .. }) => e.to_string(),
            Err(e) if store.now() >= valid_until => {
                format!("the lease on {service} could not be renewed before it expired: {e}")
            }
            Err(e) => {
                tracing::warn!(%service, "renewing the lease failed, will retry: {e}");
                continue;
            }
        };
        tracing::error!(%service, "{why}");
        fences.lose(&service, token, why.clone());
        on_lost(why);
        return;
    }
}

/// Who wants which service's lease, for what; `takeover` (with a reason) for a rollback.
pub struct Want<'a> {
    pub service: &'a str,
    pub operator: &'a str,
    pub purpose: String,
    pub takeover: Option<&'a str>,
}

/// Run `op` on `service` under a lease of its own (no rollout in flight in this process):
/// a standalone promote, weight change or rollback. Its events are audited, and journaled
/// against the deployment the journal still has in flight for the service (a recovered one),
/// which a promote or rollback closes.
pub async fn standalone<F, Fut, T>(
    ctx: &Ctx,
    store: &Arc<Store>,
    want: Want<'_>,
    em: Emitter,
    op: F,
) -> Result<T, String>
where
    F: FnOnce(Emitter) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let Want {
        service,
        operator,
        purpose,
        takeover,
    } = want;
    let held = take(
        store,
        &ctx.fences,
        service,
        operator,
        purpose,
        takeover,
        |_| {},
    )
    .map_err(|e| e.to_string())?;
    let in_flight = store
        .in_flight()
        .map_err(|e| e.to_string())?
        .into_iter()
        .rfind(|d| d.service == service)
        .map(|d| d.id);
    let em = em.with_sink(held.recorder(operator, in_flight));
    let r = op(em).await;
    drop(held);
    r
}

/// The stable version to return to when rolling `service` back: the previous stable of the
/// deployment the journal still has in flight (e.g. one a crash interrupted mid-promotion),
/// so stable is restarted at that version where it was already replaced.
pub fn previous_in_flight(store: &Store, service: &str) -> Option<crate::domain::Version> {
    let d = store
        .in_flight()
        .ok()?
        .into_iter()
        .rfind(|d| d.service == service)?;
    crate::domain::Version::parse(d.previous.as_deref()?).ok()
}
