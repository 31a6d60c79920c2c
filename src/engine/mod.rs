//! The in-process deploy engine: an actor that owns every deployment, takes [`Command`]s,
//! emits [`Event`]s and keeps a [`Snapshot`]. The console and the headless `deploy`, `resume`
//! and `take-over` drive it through an [`EngineHandle`]. The one-shot CLI verbs (`status`,
//! `rollback`, `promote`, `weight`) skip the actor: they call [`ops`] under a lease of their own
//! ([`lease::standalone`]) — the same host operations, fencing, journal and audit — or, while
//! another process drives the deployment, ask it through the store ([`handoff`]).

pub mod analysis;
pub mod approval;
pub mod checks;
pub mod event;
pub mod gate;
pub mod handoff;
pub mod journal;
pub mod lease;
pub mod ops;
pub mod phase;
pub mod promotion_watch;
pub mod recover;
pub mod recovery;
pub mod rollout;
pub mod snapshot;
pub mod wording;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub use event::{Emitter, Event, EventKind};
pub use ops::{Ctx, HostView, OpError};
pub use rollout::Control;
pub use snapshot::Snapshot;

use crate::config::Config;
use crate::domain::{DeploymentState, Split, Version};
use crate::remote::Remote;
use crate::store::{NewDeployment, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Deploy {
        service: String,
        version: Version,
        strategy: Option<String>,
        operator: String,
        /// Start even though policy refuses, for this reason (recorded for the audit).
        override_reason: Option<String>,
    },
    /// Set the canary's share of traffic (a manual canary, or an override during a bake).
    SetWeight {
        service: String,
        canary_percent: u8,
    },
    Pause {
        service: String,
    },
    Resume {
        service: String,
    },
    Promote {
        service: String,
    },
    /// Stable 100 % now, canary stopped. Works with or without a deployment in flight.
    Rollback {
        service: String,
        reason: String,
    },
    /// Roll back every service in the configuration at once.
    RollbackAll {
        reason: String,
    },
    /// Read the hosts' state back (all services when `None`).
    Refresh {
        service: Option<String>,
    },
    /// Take over a deployment that nobody drives (its sluice crashed or exited at a pause):
    /// hold its lease and judge its canary where it is, until an operator decides.
    TakeOver {
        service: String,
    },
    /// Approve or reject a pending approval (four-eyes and the approver list apply).
    DecideApproval {
        id: u64,
        approve: bool,
        operator: String,
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A deployment was started with this id.
    Started(u64),
    Accepted,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("unknown service `{0}`; services in the configuration: {1}")]
    UnknownService(String, String),
    #[error("unknown strategy `{0}`; strategies in the configuration: {1}")]
    UnknownStrategy(String, String),
    #[error("service {service} already has deployment #{id} in flight ({state}); roll it back or wait for it to finish")]
    Busy {
        service: String,
        id: u64,
        state: DeploymentState,
    },
    #[error("service {0} has no deployment in flight; start one with `deploy`")]
    NothingInFlight(String),
    #[error("canary weight {0} is outside 0..=100")]
    BadWeight(u8),
    #[error("deploy of {service} {version} refused by policy: {refusals}. To deploy anyway, give a reason (recorded for the audit): {hint}")]
    Refused {
        service: String,
        version: String,
        refusals: String,
        hint: String,
    },
    #[error("an override needs a reason: --override \"REASON\"")]
    EmptyOverride,
    #[error("the engine has stopped")]
    Stopped,
    /// Another sluice holds the service's lease (the message names it).
    #[error("{0}")]
    Locked(String),
    #[error("{0}")]
    Store(String),
    /// The journal has a deployment of the service in flight (recovered after a crash, now
    /// paused): it must be promoted or rolled back first.
    #[error("{0}")]
    InFlight(String),
    /// An approval decision was refused (who may decide, a missing reason, already decided).
    #[error("{0}")]
    Approval(String),
}

struct Request {
    command: Command,
    reply: oneshot::Sender<Result<Reply, EngineError>>,
}

enum Internal {
    /// A rollout task ended. `rollback`: an operator asked for a rollback that the rollout
    /// may not have seen (it was finishing); the engine makes sure it happens.
    Finished {
        service: String,
        id: u64,
        rollback: Option<String>,
    },
}

struct Active {
    id: u64,
    control: mpsc::Sender<Control>,
    /// Set by a rollback request before it is sent to the rollout.
    rollback_asked: Arc<std::sync::Mutex<Option<String>>>,
    cancel: CancellationToken,
    state: watch::Receiver<DeploymentState>,
}

/// How the console and the CLI talk to the engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<Event>,
    snapshot: watch::Receiver<Snapshot>,
}

impl EngineHandle {
    pub async fn send(&self, command: Command) -> Result<Reply, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request { command, reply: tx })
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    pub fn watch_snapshot(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.clone()
    }
}

pub struct Engine {
    ctx: Ctx,
    events: broadcast::Sender<Event>,
    active: HashMap<String, Active>,
    /// Leases, journal and audit; why not, when the store cannot be opened (nothing that
    /// changes hosts runs then).
    store: Result<Arc<Store>, String>,
    operator: String,
    internal_tx: mpsc::UnboundedSender<Internal>,
    gate: gate::Gate,
}

impl Engine {
    /// Start the engine on the current tokio runtime.
    pub fn start(config: Arc<Config>, remote: Arc<dyn Remote>) -> EngineHandle {
        let store = Store::for_config(&config)
            .map(Arc::new)
            .map_err(|e| e.to_string());
        let (events, _) = broadcast::channel(4096);
        let (req_tx, req_rx) = mpsc::channel(64);
        let (snap_tx, snap_rx) = watch::channel(Snapshot::default());
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();

        // The snapshot is a fold of the event stream.
        let mut sub = events.subscribe();
        tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Ok(e) => snap_tx.send_modify(|s| s.apply(&e)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("snapshot fold lagged by {n} events");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });

        let gate = gate::Gate::start(snap_rx.clone());
        let engine = Engine {
            gate,
            ctx: Ctx::new(config, remote),
            events: events.clone(),
            active: HashMap::new(),
            store,
            operator: crate::identity::operator(),
            internal_tx,
        };
        tokio::spawn(engine.run(req_rx, internal_rx));
        EngineHandle {
            requests: req_tx,
            events,
            snapshot: snap_rx,
        }
    }

    async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
    ) {
        // Before any command: what the journal left in flight, read back from the hosts.
        if let Ok(store) = self.store.clone() {
            let plans = recover::recover_all(&self.ctx, &store, &self.operator, |s, id| {
                self.emitter(s, id)
            })
            .await;
            for p in plans {
                tracing::info!(service = %p.service, "recovery: {}", p.message);
            }
        }
        loop {
            tokio::select! {
                r = requests.recv() => match r {
                    Some(Request { command, reply }) => {
                        let result = self.handle(command).await;
                        let _ = reply.send(result);
                    }
                    None => break,
                },
                Some(Internal::Finished { service, id, rollback }) = internal.recv() => {
                    if self.active.get(&service).is_some_and(|a| a.id == id) {
                        self.active.remove(&service);
                    }
                    if let Some(reason) = rollback {
                        // Rolling back is idempotent: a host already at stable is left as is.
                        self.rollback(&service, reason).await;
                    }
                }
            }
        }
    }

    fn emitter(&self, service: &str, id: Option<u64>) -> Emitter {
        Emitter::new(self.events.clone(), service, id)
    }

    fn check_service(&self, service: &str) -> Result<(), EngineError> {
        if self.ctx.config.services.contains_key(service) {
            Ok(())
        } else {
            Err(EngineError::UnknownService(
                service.to_string(),
                names(self.ctx.config.services.keys()),
            ))
        }
    }

    async fn control(&self, service: &str, c: Control) -> Result<Reply, EngineError> {
        self.check_service(service)?;
        let a = self
            .active
            .get(service)
            .ok_or_else(|| EngineError::NothingInFlight(service.to_string()))?;
        a.control
            .send(c)
            .await
            .map_err(|_| EngineError::NothingInFlight(service.to_string()))?;
        Ok(Reply::Accepted)
    }

    async fn handle(&mut self, command: Command) -> Result<Reply, EngineError> {
        match command {
            Command::Deploy {
                service,
                version,
                strategy,
                operator,
                override_reason,
            } => self.deploy(service, version, strategy, operator, override_reason),
            Command::SetWeight {
                service,
                canary_percent,
            } => {
                let Some(split) = Split::new(canary_percent) else {
                    return Err(EngineError::BadWeight(canary_percent));
                };
                self.check_service(&service)?;
                if self.active.contains_key(&service) {
                    return self.control(&service, Control::SetWeight(split)).await;
                }
                if self.ask_holder(
                    &service,
                    crate::store::ControlAsk::Weight { canary_percent },
                ) {
                    return Ok(Reply::Accepted);
                }
                self.standalone(
                    &service,
                    format!("set {service} canary to {split}"),
                    None,
                    move |ctx: Ctx, svc: crate::config::Service, em: Emitter| async move {
                        ops::set_split_running(&ctx, &svc, split, &em).await
                    },
                );
                Ok(Reply::Accepted)
            }
            Command::DecideApproval {
                id,
                approve,
                operator,
                reason,
            } => {
                let store = self.store.clone().map_err(EngineError::Store)?;
                let decision = if approve {
                    crate::domain::approval::ApprovalDecision::Approved
                } else {
                    crate::domain::approval::ApprovalDecision::Rejected
                };
                approval::decide(
                    &self.ctx.config,
                    &store,
                    id,
                    decision,
                    &operator,
                    reason.as_deref(),
                )
                .map_err(|e| EngineError::Approval(e.to_string()))?;
                Ok(Reply::Accepted)
            }
            Command::Pause { service } => self.control(&service, Control::Pause).await,
            Command::Resume { service } => {
                self.check_service(&service)?;
                if self.active.contains_key(&service) {
                    self.control(&service, Control::Resume).await
                } else {
                    self.resume_recovered(service, false).await
                }
            }
            Command::TakeOver { service } => {
                self.check_service(&service)?;
                if let Some(a) = self.active.get(&service) {
                    return Err(EngineError::Busy {
                        service,
                        id: a.id,
                        state: *a.state.borrow(),
                    });
                }
                self.resume_recovered(service, true).await
            }
            Command::Promote { service } => {
                self.check_service(&service)?;
                if self.active.contains_key(&service) {
                    self.control(&service, Control::Promote).await
                } else {
                    if !self.ask_holder(&service, crate::store::ControlAsk::Promote) {
                        self.promote_standalone(service);
                    }
                    Ok(Reply::Accepted)
                }
            }
            Command::Rollback { service, reason } => {
                self.check_service(&service)?;
                self.rollback(&service, reason).await;
                Ok(Reply::Accepted)
            }
            Command::RollbackAll { reason } => {
                let services: Vec<String> = self.ctx.config.services.keys().cloned().collect();
                for s in services {
                    self.rollback(&s, reason.clone()).await;
                }
                Ok(Reply::Accepted)
            }
            Command::Refresh { service } => {
                let services: Vec<String> = match service {
                    Some(s) => {
                        self.check_service(&s)?;
                        vec![s]
                    }
                    None => self.ctx.config.services.keys().cloned().collect(),
                };
                for s in services {
                    let ctx = self.ctx.clone();
                    let em = self.emitter(&s, None);
                    tokio::spawn(async move {
                        if let Some(svc) = ctx.service(&s) {
                            let _ = ops::observe(&ctx, svc, &em).await;
                        }
                    });
                }
                Ok(Reply::Accepted)
            }
        }
    }

    fn deploy(
        &mut self,
        service: String,
        version: Version,
        strategy: Option<String>,
        operator: String,
        override_reason: Option<String>,
    ) -> Result<Reply, EngineError> {
        self.check_service(&service)?;
        if override_reason
            .as_ref()
            .is_some_and(|r| r.trim().is_empty())
        {
            return Err(EngineError::EmptyOverride);
        }
        if let Some(a) = self.active.get(&service) {
            let state = *a.state.borrow();
            if !state.is_terminal() {
                return Err(EngineError::Busy {
                    service,
                    id: a.id,
                    state,
                });
            }
        }
        let svc = self.ctx.config.services[&service].clone();
        let asked_strategy = strategy.clone();
        let strategy_name = strategy.unwrap_or_else(|| svc.strategy.clone());
        let strategy = self
            .ctx
            .config
            .strategies
            .get(&strategy_name)
            .cloned()
            .ok_or_else(|| {
                EngineError::UnknownStrategy(
                    strategy_name.clone(),
                    names(self.ctx.config.strategies.keys()),
                )
            })?;
        let store = self.store.clone().map_err(EngineError::Store)?;
        let in_flight = store
            .in_flight()
            .map_err(|e| EngineError::Store(e.to_string()))?;
        // Policy first: a refused deploy takes no lease and gets no id. Max concurrent counts
        // every process's deployments, from the journal.
        let admitted = self.gate.check(
            &self.ctx.config,
            &service,
            &version,
            asked_strategy.as_deref(),
            override_reason.as_deref(),
            in_flight.len(),
            // The history factor: every process's deployments of this service, from the journal.
            store
                .history_stats(&service)
                .map_err(|e| EngineError::Store(e.to_string()))?,
            chrono::Utc::now(),
            &self.emitter(&service, None),
        )?;
        let cancel = CancellationToken::new();
        let held = self.take_lease(
            &store,
            &service,
            &operator,
            format!("deploy {service} {version} ({strategy_name})"),
            &cancel,
        )?;
        if let Some(d) = in_flight.iter().rfind(|d| d.service == service) {
            let last = store
                .journal(d.id)
                .ok()
                .and_then(|j| {
                    j.iter()
                        .rev()
                        .find(|e| e.note.contains("was in flight"))
                        .map(|e| e.note.clone())
                })
                .unwrap_or_else(|| format!("deployment #{} is {}", d.id, d.state));
            return Err(EngineError::InFlight(format!(
                "service {service}: {last}; nothing new was started (promote or roll back \
                 deployment #{} first)",
                d.id
            )));
        }
        let id = store
            .begin_deployment(&NewDeployment {
                service: service.clone(),
                version: version.to_string(),
                strategy: strategy_name.clone(),
                operator: operator.clone(),
                token: Some(held.token),
            })
            .map_err(|e| EngineError::Store(e.to_string()))?;
        let em = self
            .emitter(&service, Some(id))
            .with_sink(held.recorder(&operator, Some(id)));
        gate::admitted(&em, &admitted, &operator, override_reason.as_deref());
        let steps = strategy.kind.step_percents();
        let operator_for_approval = operator.clone();
        em.emit(EventKind::DeployStarted {
            version: version.to_string(),
            strategy: strategy_name,
            operator,
            hosts: svc.hosts.clone(),
            steps,
        });
        let (control_tx, control_rx) = mpsc::channel(16);
        let (state_tx, state_rx) = watch::channel(DeploymentState::Pending);
        let need = approval::need(
            &self.ctx.config,
            &svc,
            &admitted.decision,
            &store,
            id,
            &operator_for_approval,
            &em,
        );
        let rollout = rollout::Rollout::new(
            self.ctx.clone(),
            svc,
            version,
            strategy,
            em.clone(),
            control_rx,
            cancel.clone(),
        )
        .with_approval(need);
        self.launch(
            service, id, rollout, held, store, control_tx, state_tx, state_rx, cancel,
        );
        Ok(Reply::Started(id))
    }

    /// Continue a deployment that nobody drives any more (its sluice crashed, or exited at a
    /// pause) under a new lease, with its journal and id. The rollout re-reads the hosts first;
    /// it walks its remaining steps when they still carry one of them (not with `watch_only`, a
    /// take-over), and otherwise stays paused, judging the canary until an operator decides.
    async fn resume_recovered(
        &mut self,
        service: String,
        watch_only: bool,
    ) -> Result<Reply, EngineError> {
        let store = self.store.clone().map_err(EngineError::Store)?;
        let in_flight = |store: &Store| {
            store
                .in_flight()
                .map(|all| all.into_iter().rfind(|d| d.service == service))
                .map_err(|e| EngineError::Store(e.to_string()))
        };
        let found = in_flight(&store)?;
        // Left in flight by a sluice that died after this one started (start-up recovery ran
        // before): recover it now, as a start would (a live holder is left alone there).
        if found
            .as_ref()
            .is_some_and(|d| d.state != DeploymentState::Paused)
        {
            recover::recover(
                &self.ctx,
                &store,
                &self.operator,
                Some(&service),
                |s, id| self.emitter(s, id),
            )
            .await;
        }
        let d = in_flight(&store)?
            .filter(|d| d.state == DeploymentState::Paused)
            .ok_or_else(|| match handoff::live_holder(&store, &service) {
                Some((l, id)) => EngineError::Locked(format!(
                    "deployment #{id} of {service} is driven and watched by {}",
                    l.holder.describe()
                )),
                None => EngineError::NothingInFlight(service.clone()),
            })?;
        let strategy = self
            .ctx
            .config
            .strategies
            .get(&d.strategy)
            .cloned()
            .ok_or_else(|| {
                EngineError::UnknownStrategy(
                    d.strategy.clone(),
                    names(self.ctx.config.strategies.keys()),
                )
            })?;
        let version = Version::parse(&d.version)
            .map_err(|e| EngineError::Store(format!("deployment #{} has version {e}", d.id)))?;
        let svc = self.ctx.config.services[&service].clone();
        let operator = self.operator.clone();
        let cancel = CancellationToken::new();
        let held = self.take_lease(
            &store,
            &service,
            &operator,
            format!(
                "{} deployment #{} of {service} {version}",
                if watch_only { "take over" } else { "resume" },
                d.id
            ),
            &cancel,
        )?;
        let id = d.id;
        let em = self
            .emitter(&service, Some(id))
            .with_sink(held.recorder(&operator, Some(id)));
        let (control_tx, control_rx) = mpsc::channel(16);
        let (state_tx, state_rx) = watch::channel(DeploymentState::Paused);
        let rollout = rollout::Rollout::new(
            self.ctx.clone(),
            svc,
            version,
            strategy,
            em,
            control_rx,
            cancel.clone(),
        );
        let rollout = if watch_only {
            rollout.taking_over(d)
        } else {
            rollout.resuming(d)
        };
        self.launch(
            service, id, rollout, held, store, control_tx, state_tx, state_rx, cancel,
        );
        Ok(Reply::Started(id))
    }

    /// The service's lease for a rollout; losing it cancels `cancel` (the rollout stops acting).
    fn take_lease(
        &self,
        store: &Arc<Store>,
        service: &str,
        operator: &str,
        purpose: String,
        cancel: &CancellationToken,
    ) -> Result<lease::HeldLease, EngineError> {
        let cancel = cancel.clone();
        lease::take(
            store,
            &self.ctx.fences,
            service,
            operator,
            purpose,
            None,
            move |_why: String| cancel.cancel(),
        )
        .map_err(|e| match e {
            crate::store::LeaseError::Held(_) => EngineError::Locked(e.to_string()),
            other => EngineError::Store(other.to_string()),
        })
    }

    /// Run a rollout as the service's active deployment: its state followed for `Busy`
    /// answers, its lease held until it ends, its end reported to the engine.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &mut self,
        service: String,
        id: u64,
        rollout: rollout::Rollout,
        held: lease::HeldLease,
        store: Arc<Store>,
        control_tx: mpsc::Sender<Control>,
        state_tx: watch::Sender<DeploymentState>,
        state_rx: watch::Receiver<DeploymentState>,
        cancel: CancellationToken,
    ) {
        // Track the deployment's state for `Busy` answers from the event stream.
        let mut sub = self.events.subscribe();
        tokio::spawn(async move {
            while let Ok(e) = sub.recv().await {
                if e.deployment == Some(id) {
                    if let EventKind::State { to, .. } = e.kind {
                        let _ = state_tx.send(to);
                        if to.is_terminal() {
                            break;
                        }
                    }
                }
            }
        });
        // Requests from other processes (`sluice promote`/`weight` in another shell).
        let served = CancellationToken::new();
        let serving = tokio::spawn(handoff::serve(
            store.clone(),
            id,
            rollout.strategy.kind.clone(),
            control_tx.downgrade(),
            self.events.clone(),
            served.clone(),
        ));
        let done = self.internal_tx.clone();
        let name = service.clone();
        let approvals = store;
        let rollback_asked = Arc::new(std::sync::Mutex::new(None::<String>));
        let asked = rollback_asked.clone();
        tokio::spawn(async move {
            let end = rollout.run().await;
            // The outcome of a request it carried out is written before the lease goes.
            served.cancel();
            let _ = serving.await;
            // An approval still pending is moot now (rolled back, failed, ...).
            let _ = approvals.expire_approvals_of(id, &format!("the deployment ended {end}"));
            drop(held);
            // A rollback asked while the rollout was finishing could have been left unread.
            let rolled_back = end == DeploymentState::RolledBack;
            let rollback = asked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .filter(|_| !rolled_back);
            let _ = done.send(Internal::Finished {
                service: name,
                id,
                rollback,
            });
        });
        self.active.insert(
            service,
            Active {
                id,
                control: control_tx,
                rollback_asked,
                cancel,
                state: state_rx,
            },
        );
    }

    /// Roll back one service now. With a deployment in flight, its task is cancelled wherever
    /// it is (a stuck step included) and rolls back itself; otherwise a standalone rollback runs.
    async fn rollback(&mut self, service: &str, reason: String) {
        if let Some(a) = self.active.get(service) {
            if !a.state.borrow().is_terminal() {
                *a.rollback_asked.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                if a.control
                    .try_send(Control::Rollback(reason.clone()))
                    .is_ok()
                {
                    a.cancel.cancel();
                    return;
                }
                // The rollout has ended (its control channel is closed): roll back here.
            }
        }
        let previous = self
            .store
            .as_ref()
            .ok()
            .and_then(|s| lease::previous_in_flight(s, service));
        self.standalone(
            service,
            format!("rollback {service}"),
            Some(reason.clone()),
            {
                let reason = reason.clone();
                move |ctx: Ctx, svc: crate::config::Service, em: Emitter| async move {
                    ops::rollback(&ctx, &svc, &reason, previous.as_ref(), &em)
                        .await
                        .map_err(|e| e.to_string())
                }
            },
        );
    }

    /// Run an operation on `service` under its own lease, in the background; failures (the
    /// lease held elsewhere included) are reported as events.
    fn standalone<F, Fut>(&self, service: &str, purpose: String, takeover: Option<String>, op: F)
    where
        F: FnOnce(Ctx, crate::config::Service, Emitter) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send,
    {
        let ctx = self.ctx.clone();
        let em = self.emitter(service, None);
        let service = service.to_string();
        let store = self.store.clone();
        let operator = self.operator.clone();
        tokio::spawn(async move {
            let Some(svc) = ctx.service(&service).cloned() else {
                return;
            };
            let result = match store {
                Err(e) => Err(e),
                Ok(store) => {
                    let ctx2 = ctx.clone();
                    lease::standalone(
                        &ctx,
                        &store,
                        lease::Want {
                            service: &service,
                            operator: &operator,
                            purpose,
                            takeover: takeover.as_deref(),
                        },
                        em.clone(),
                        move |em| op(ctx2, svc, em),
                    )
                    .await
                }
            };
            if let Err(error) = result {
                em.emit(EventKind::Failed { error });
            }
        });
    }

    /// When another live process drives `service`, ask it to carry out `ask` (in the
    /// background; the outcome is an event) and say true; false when nobody else does.
    fn ask_holder(&self, service: &str, ask: crate::store::ControlAsk) -> bool {
        let Ok(store) = self.store.clone() else {
            return false;
        };
        let Some((holder, deployment)) = handoff::live_holder(&store, service) else {
            return false;
        };
        let em = self.emitter(service, None);
        let operator = self.operator.clone();
        tokio::spawn(async move {
            match handoff::ask_holder(&store, &holder, deployment, ask, &operator, &em).await {
                Ok(done) => em.emit(EventKind::Info { message: done }),
                Err(error) => em.emit(EventKind::Failed { error }),
            }
        });
        true
    }

    fn promote_standalone(&self, service: String) {
        self.standalone(
            &service,
            format!("promote {service}"),
            None,
            |ctx: Ctx, svc: crate::config::Service, em: Emitter| async move {
                let never = CancellationToken::new();
                promotion_watch::promote_and_watch(&ctx, &svc, &em, &never)
                    .await
                    .map(|_| ())
            },
        );
    }
}

fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    keys.map(String::as_str).collect::<Vec<_>>().join(", ")
}
