//! Controls across processes. A live rollout holds its service's lease, so a `sluice promote`
//! or `sluice weight` from another shell (or another console on the same store) cannot act on
//! the hosts itself: it leaves a request in the store ([`ask_holder`]) and the holder, which
//! polls for them ([`serve`]), carries it out as if its own operator had pressed the key. The
//! holder keeps judging the canary throughout; the requester prints the outcome.
//! A rollback never comes this way: it always takes the lease over (see `lease.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::event::{Emitter, Event, EventKind};
use super::rollout::Control;
use crate::config::StrategyKind;
use crate::domain::DeploymentState;
use crate::store::{ControlAsk, ControlState, Lease, Liveness, Store};

/// How often a holder looks for requests, and a requester for their outcome.
pub const POLL: Duration = Duration::from_millis(500);
/// A request nobody has taken by then is abandoned (and can never be carried out later).
pub const TAKE_WITHIN: Duration = Duration::from_secs(10);
/// A weight change not confirmed by then is reported failed (the rollout may be stuck).
const WEIGHT_WITHIN: Duration = Duration::from_secs(120);

/// The live lease another process holds on `service` and the deployment it drives, if any.
pub fn live_holder(store: &Store, service: &str) -> Option<(Lease, u64)> {
    let lease = live_lease(store, service)?;
    let deployment = store
        .in_flight()
        .ok()?
        .into_iter()
        .rfind(|d| d.service == service)?
        .id;
    Some((lease, deployment))
}

fn live_lease(store: &Store, service: &str) -> Option<Lease> {
    store
        .leases()
        .ok()?
        .into_iter()
        .find(|(l, live)| l.service == service && *live == Liveness::Live)
        .map(|(l, _)| l)
}

/// The lease with `token` still binds (a store that cannot be read is given the benefit).
fn lease_live(store: &Store, service: &str, token: u64) -> bool {
    match store.leases() {
        Ok(all) => all
            .iter()
            .any(|(l, live)| l.service == service && l.token == token && *live == Liveness::Live),
        Err(_) => true,
    }
}

/// Ask whoever holds `service`'s lease (driving `deployment`) to carry out `ask`, and wait for
/// the outcome. Ok with what was done; Err with why not (nothing was changed when the holder
/// never took the request).
pub async fn ask_holder(
    store: &Store,
    holder: &Lease,
    deployment: u64,
    ask: ControlAsk,
    operator: &str,
    em: &Emitter,
) -> Result<String, String> {
    let service = holder.service.as_str();
    let req = store
        .request_control(service, deployment, ask, operator)
        .map_err(|e| e.to_string())?;
    em.emit(EventKind::Info {
        message: format!(
            "deployment #{deployment} of {service} is driven by {}; asked it to {} (request #{})",
            holder.holder.describe(),
            ask.describe(),
            req.id
        ),
    });
    let started = tokio::time::Instant::now();
    // Polls in a row that found the holder gone while the request was taken: it writes the
    // outcome just after it lets go of the lease, so one such poll proves nothing.
    let mut gone_for = 0;
    loop {
        tokio::time::sleep(POLL).await;
        let now = store
            .control_request(req.id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("request #{} disappeared from the store", req.id))?;
        match now.state {
            ControlState::Done => return Ok(now.outcome.unwrap_or_default()),
            ControlState::Failed | ControlState::Abandoned => {
                return Err(now.outcome.unwrap_or_else(|| "failed".into()))
            }
            ControlState::Pending if started.elapsed() >= TAKE_WITHIN => {
                let why = format!(
                    "{} did not take request #{} within {}s (is it stuck?); nothing was \
                     changed. `sluice rollback {service}` always works",
                    holder.holder.describe(),
                    req.id,
                    TAKE_WITHIN.as_secs()
                );
                if store
                    .move_control(
                        req.id,
                        ControlState::Pending,
                        ControlState::Abandoned,
                        Some(&why),
                    )
                    .map_err(|e| e.to_string())?
                {
                    return Err(why);
                }
            }
            ControlState::Pending => {}
            ControlState::Taken => {
                let gone = !lease_live(store, service, holder.token);
                gone_for = if gone { gone_for + 1 } else { 0 };
                if gone_for > 4 {
                    return ended_without_answer(store, holder, deployment, ask, req.id);
                }
            }
        }
    }
}

/// The holder let go of the lease without writing the outcome of request `id` (its process
/// may have exited right after the deployment ended): the journal says how it ended.
fn ended_without_answer(
    store: &Store,
    holder: &Lease,
    deployment: u64,
    ask: ControlAsk,
    id: u64,
) -> Result<String, String> {
    let state = store
        .deployment(deployment)
        .map_err(|e| e.to_string())?
        .map(|d| d.state);
    match (ask, state) {
        (ControlAsk::Promote, Some(DeploymentState::Succeeded)) => {
            Ok(format!("deployment #{deployment} promoted (request #{id})"))
        }
        (_, Some(s)) if s.is_terminal() => Err(format!(
            "deployment #{deployment} ended {s} (request #{id})"
        )),
        _ => Err(format!(
            "{} stopped holding {} while carrying out request #{id}; see `sluice status {}`",
            holder.holder.describe(),
            holder.service,
            holder.service
        )),
    }
}

/// The holder's side, for as long as `stop` is not cancelled: take `deployment`'s requests one
/// by one, hand each to the rollout as a [`Control`], and write back how it ended (read from
/// the deployment's events). `control` is weak so that it never keeps the rollout's channel
/// open by itself.
pub async fn serve(
    store: Arc<Store>,
    deployment: u64,
    strategy: StrategyKind,
    control: mpsc::WeakSender<Control>,
    events: broadcast::Sender<Event>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
        let pending = match store.pending_controls(deployment) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("reading requests for deployment #{deployment}: {e}");
                continue;
            }
        };
        for req in pending {
            match store.move_control(req.id, ControlState::Pending, ControlState::Taken, None) {
                Ok(true) => {}
                Ok(false) => continue, // abandoned by its requester meanwhile
                Err(e) => {
                    tracing::warn!("taking request #{}: {e}", req.id);
                    continue;
                }
            }
            let (state, outcome) = match carry_out(&req, &strategy, &control, &events, &stop).await
            {
                Ok(done) => (ControlState::Done, done),
                Err(why) => (ControlState::Failed, why),
            };
            if let Err(e) = store.move_control(req.id, ControlState::Taken, state, Some(&outcome)) {
                tracing::warn!("answering request #{}: {e}", req.id);
            }
        }
    }
}

async fn carry_out(
    req: &crate::store::ControlRequest,
    strategy: &StrategyKind,
    control: &mpsc::WeakSender<Control>,
    events: &broadcast::Sender<Event>,
    stop: &CancellationToken,
) -> Result<String, String> {
    let ask = req.ask.ok_or_else(|| {
        format!(
            "request #{} asks for something this sluice does not know",
            req.id
        )
    })?;
    let (c, within) = match (ask, strategy) {
        (_, StrategyKind::Rolling { .. }) => {
            return Err(format!(
                "deployment #{} is rolling: it moves whole hosts batch by batch and cannot be \
                 promoted early or steered by weight; let it continue, or roll it back",
                req.deployment
            ))
        }
        (ControlAsk::Weight { .. }, StrategyKind::BlueGreen { .. }) => {
            return Err(format!(
                "deployment #{} is blue/green: it switches all traffic at once; promote it or \
                 roll it back",
                req.deployment
            ))
        }
        (ControlAsk::Promote, _) => (Control::Promote, None),
        (ControlAsk::Weight { canary_percent }, _) => {
            let split = crate::domain::Split::new(canary_percent).ok_or_else(|| {
                format!("request #{}: weight {canary_percent} is over 100 %", req.id)
            })?;
            (Control::SetWeight(split), Some(WEIGHT_WITHIN))
        }
    };
    let mut rx = events.subscribe();
    let sender = control
        .upgrade()
        .ok_or_else(|| format!("deployment #{} has ended", req.deployment))?;
    sender
        .send(c)
        .await
        .map_err(|_| format!("deployment #{} has ended", req.deployment))?;
    drop(sender);
    let deadline = within.map(|d| tokio::time::Instant::now() + d);
    let mut last_error = None;
    loop {
        // Events first: the deployment's last events are queued before it stops.
        let e = tokio::select! {
            biased;
            e = rx.recv() => match e {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return Err("the engine stopped".into()),
            },
            _ = stop.cancelled() => return Err(format!("deployment #{} ended{}", req.deployment, last_error.map(|e| format!(": {e}")).unwrap_or_default())),
            _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                return Err(format!("no confirmation within {}s; see `sluice status {}`", WEIGHT_WITHIN.as_secs(), req.service));
            }
        };
        if e.deployment != Some(req.deployment) {
            continue;
        }
        match e.kind {
            EventKind::WeightSet { canary_percent } if matches!(ask, ControlAsk::Weight { .. }) => {
                return Ok(format!(
                    "canary at {canary_percent} % on every host (by {}, request #{})",
                    req.requested_by, req.id
                ));
            }
            EventKind::Failed { error } => last_error = Some(error),
            EventKind::State { to, .. } if to.is_terminal() => {
                return match (ask, to) {
                    (ControlAsk::Promote, DeploymentState::Succeeded) => Ok(format!(
                        "deployment #{} promoted (by {}, request #{})",
                        req.deployment, req.requested_by, req.id
                    )),
                    _ => Err(format!(
                        "deployment #{} ended {to}{}",
                        req.deployment,
                        last_error.map(|e| format!(": {e}")).unwrap_or_default()
                    )),
                };
            }
            _ => {}
        }
    }
}
