//! The effectful half of recovery: on start, for every deployment the journal still has in
//! flight and nobody alive is working on, read every host back, decide with
//! [`recovery::plan`](super::recovery::plan), journal the decision and tell the world. Traffic
//! is never moved here.

use super::event::{Emitter, EventKind};
use super::ops::{self, Ctx};
use super::recovery::{plan, Outcome, RecoveryPlan};
use crate::store::{JournalChange, Liveness, NewAudit, Store};

/// Recover every in-flight deployment; `emitter(service, id)` gives each its event channel.
pub async fn recover_all(
    ctx: &Ctx,
    store: &Store,
    operator: &str,
    emitter: impl Fn(&str, Option<u64>) -> Emitter,
) -> Vec<RecoveryPlan> {
    recover(ctx, store, operator, None, emitter).await
}

/// Recover the in-flight deployments of `only` that service (every service when `None`).
pub async fn recover(
    ctx: &Ctx,
    store: &Store,
    operator: &str,
    only: Option<&str>,
    emitter: impl Fn(&str, Option<u64>) -> Emitter,
) -> Vec<RecoveryPlan> {
    let in_flight = match store.in_flight() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("recovery: cannot read the journal: {e}");
            return Vec::new();
        }
    };
    let leases = store.leases().unwrap_or_default();
    let mut plans = Vec::new();
    for d in in_flight {
        if only.is_some_and(|s| s != d.service) {
            continue;
        }
        let em = emitter(&d.service, Some(d.id));
        let worked_on = leases
            .iter()
            .find(|(l, live)| l.service == d.service && *live == Liveness::Live);
        if let Some((l, _)) = worked_on {
            em.emit(EventKind::Info {
                message: format!(
                    "deployment #{} of {} is in flight in another sluice: {}",
                    d.id,
                    d.service,
                    l.holder.describe()
                ),
            });
            continue;
        }
        let Some(svc) = ctx.service(&d.service).cloned() else {
            em.emit(EventKind::Info {
                message: format!(
                    "deployment #{} of {} is in flight in the journal but the service is not in {}",
                    d.id,
                    d.service,
                    ctx.config.path.display()
                ),
            });
            continue;
        };
        let reads = ops::observe_each(ctx, &svc, &em).await;
        let steps = ctx
            .config
            .strategies
            .get(&d.strategy)
            .map(|s| s.kind.step_percents())
            .unwrap_or_default();
        let p = plan(&d, &steps, &reads);
        let journaled = store
            .record(d.id, &JournalChange::Note(p.message.clone()))
            .and_then(|_| {
                p.hosts
                    .iter()
                    .try_for_each(|h| store.record(d.id, &JournalChange::Note(h.clone())))
            })
            .and_then(|_| store.record(d.id, &JournalChange::State(p.state())))
            .and_then(|_| {
                store
                    .audit(&NewAudit {
                        actor: operator.to_string(),
                        action: "recovery".into(),
                        service: d.service.clone(),
                        from: d.state.as_str().into(),
                        to: p.state().as_str().into(),
                        result: serde_json::to_value(&p.outcome)
                            .ok()
                            .and_then(|v| v["kind"].as_str().map(str::to_string))
                            .unwrap_or_default(),
                        detail: format!("deployment #{}: {}", d.id, p.hosts.join("; ")),
                    })
                    .map(|_| ())
            });
        if let Err(e) = journaled {
            tracing::error!("recovery of deployment #{}: {e}", d.id);
        }
        // Nobody polls its approval any more: an approval now would start nothing.
        if let Err(e) = store.expire_approvals_of(
            d.id,
            &format!(
                "the sluice waiting for it stopped; deployment #{} was recovered as {}",
                d.id,
                p.state()
            ),
        ) {
            tracing::error!("recovery of deployment #{}: {e}", d.id);
        }
        if !p.state().is_terminal() {
            // Show it again as the deployment it is (the console builds its view from this).
            em.emit(EventKind::DeployStarted {
                version: d.version.clone(),
                strategy: d.strategy.clone(),
                operator: d.operator.clone(),
                hosts: svc.hosts.clone(),
                steps: steps.clone(),
            });
        }
        em.emit(EventKind::Info {
            message: p.message.clone(),
        });
        if p.state() != d.state || !p.state().is_terminal() {
            em.emit(EventKind::State {
                from: if p.state().is_terminal() {
                    d.state
                } else {
                    crate::domain::DeploymentState::Pending
                },
                to: p.state(),
            });
        }
        if let Outcome::Paused { canary_percent, .. } = p.outcome {
            em.emit(EventKind::AwaitingDecision { canary_percent });
        }
        plans.push(p);
    }
    plans
}
