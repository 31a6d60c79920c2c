//! Headless subcommands that act on hosts: deploy, status, rollback, promote, weight.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use futures::future::join_all;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{deploy, Cmd, EXIT_FAILED, EXIT_USAGE};
use crate::config::Config;
use crate::domain::{weight_label, Split};
use crate::engine::wording::human;
use crate::engine::{handoff, ops, Ctx, Emitter, Event};
use crate::remote::ssh::SshPool;
use crate::store::ControlAsk;

pub async fn run(config: Config, cmd: Cmd) -> ExitCode {
    let config = Arc::new(config);
    let ctx = Ctx::new(config.clone(), Arc::new(SshPool::new(&config)));
    let ctx = &ctx;
    match cmd {
        Cmd::Deploy {
            service,
            version,
            strategy,
            env,
            yes,
            json,
            override_reason,
            exit_on_pause,
        } => {
            let opts = deploy::Options {
                strategy,
                env,
                yes,
                json,
                override_reason,
                exit_on_pause,
            };
            deploy::run(ctx.clone(), service, version, opts).await
        }
        Cmd::Status { service, json } => status(ctx, service, json).await,
        Cmd::Ports { json } => super::ports::run(ctx, json).await,
        Cmd::Resume {
            service,
            json,
            exit_on_pause,
        } => {
            if known(ctx, &service).is_none() {
                return ExitCode::from(EXIT_USAGE);
            }
            let command = crate::engine::Command::Resume {
                service: service.clone(),
            };
            deploy::continue_with(ctx.clone(), service, json, exit_on_pause, command).await
        }
        Cmd::TakeOver { service, json } => {
            if known(ctx, &service).is_none() {
                return ExitCode::from(EXIT_USAGE);
            }
            let command = crate::engine::Command::TakeOver {
                service: service.clone(),
            };
            deploy::continue_with(ctx.clone(), service, json, false, command).await
        }
        Cmd::Rollback {
            service,
            all,
            reason,
            json,
        } => {
            let services = if all {
                ctx.config.services.keys().cloned().collect()
            } else {
                service.into_iter().collect()
            };
            rollback(ctx, services, &reason, json).await
        }
        Cmd::Promote { service, json } => {
            let Some(svc) = known(ctx, &service) else {
                return ExitCode::from(EXIT_USAGE);
            };
            with_events(
                json,
                |em| async {
                    if let Some(r) = via_holder(ctx, &service, ControlAsk::Promote, &em).await {
                        return r;
                    }
                    leased(
                        ctx,
                        &service,
                        format!("promote {service}"),
                        None,
                        em,
                        |em| async move {
                            let never = CancellationToken::new();
                            crate::engine::promotion_watch::promote_and_watch(ctx, svc, &em, &never)
                                .await
                                .map(|_| ())
                        },
                    )
                    .await
                },
                &service,
            )
            .await
        }
        Cmd::Weight {
            service,
            percent,
            json,
        } => {
            let Some(svc) = known(ctx, &service) else {
                return ExitCode::from(EXIT_USAGE);
            };
            let Some(split) = Split::new(percent) else {
                eprintln!("sluice: weight {percent} is outside 0..=100");
                return ExitCode::from(EXIT_USAGE);
            };
            with_events(
                json,
                |em| async {
                    let ask = ControlAsk::Weight {
                        canary_percent: percent,
                    };
                    if let Some(r) = via_holder(ctx, &service, ask, &em).await {
                        return r;
                    }
                    leased(
                        ctx,
                        &service,
                        format!("set {service} canary to {split}"),
                        None,
                        em,
                        |em| async move { ops::set_split_running(ctx, svc, split, &em).await },
                    )
                    .await
                },
                &service,
            )
            .await
        }
        Cmd::Check
        | Cmd::Nginx { .. }
        | Cmd::Approvals { .. }
        | Cmd::Approve { .. }
        | Cmd::Reject { .. }
        | Cmd::Lock { .. }
        | Cmd::History { .. }
        | Cmd::Audit { .. } => ExitCode::from(EXIT_USAGE),
    }
}

/// When another live sluice drives `service` (it holds the lease), ask it to carry out `ask`
/// and wait for the outcome; `None` when nobody else does (the caller acts itself).
async fn via_holder(
    ctx: &Ctx,
    service: &str,
    ask: ControlAsk,
    em: &Emitter,
) -> Option<Result<(), String>> {
    let store = crate::store::Store::for_config(&ctx.config).ok()?;
    let (holder, deployment) = handoff::live_holder(&store, service)?;
    let operator = crate::identity::operator();
    let asked = handoff::ask_holder(&store, &holder, deployment, ask, &operator, em).await;
    Some(asked.map(|done| em.emit(crate::engine::EventKind::Info { message: done })))
}

/// Run `op` under `service`'s lease (taken over from another holder when `takeover` gives a
/// reason), with its events journaled and audited.
async fn leased<F, Fut>(
    ctx: &Ctx,
    service: &str,
    purpose: String,
    takeover: Option<&str>,
    em: Emitter,
    op: F,
) -> Result<(), String>
where
    F: FnOnce(Emitter) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let store = crate::store::Store::for_config(&ctx.config).map_err(|e| e.to_string())?;
    crate::engine::lease::standalone(
        ctx,
        &Arc::new(store),
        crate::engine::lease::Want {
            service,
            operator: &crate::identity::operator(),
            purpose,
            takeover,
        },
        em,
        op,
    )
    .await
}

pub(super) fn known<'a>(ctx: &'a Ctx, service: &str) -> Option<&'a crate::config::Service> {
    let svc = ctx.config.services.get(service);
    if svc.is_none() {
        eprintln!(
            "sluice: unknown service `{service}`; services in {}: {}",
            ctx.config.path.display(),
            ctx.config
                .services
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    svc
}

pub(super) fn print_event(e: &Event, json: bool) {
    let line = if json {
        match serde_json::to_string(e) {
            Ok(line) => line,
            Err(err) => {
                eprintln!("sluice: cannot encode event: {err}");
                return;
            }
        }
    } else {
        human(e)
    };
    // A reader that went away (`| head`) must not stop the operation it was watching.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// A channel whose events are printed as they come, until every sender is dropped.
fn printer(json: bool) -> (broadcast::Sender<Event>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = broadcast::channel(4096);
    let task = tokio::spawn(async move {
        while let Ok(e) = rx.recv().await {
            print_event(&e, json);
        }
    });
    (tx, task)
}

/// Run `op` with an emitter whose events are printed as they come.
async fn with_events<F, Fut>(json: bool, op: F, service: &str) -> ExitCode
where
    F: FnOnce(Emitter) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let (tx, printer) = printer(json);
    let em = Emitter::new(tx, service, None);
    let result = op(em).await;
    let _ = printer.await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

async fn rollback(ctx: &Ctx, services: Vec<String>, reason: &str, json: bool) -> ExitCode {
    for s in &services {
        if known(ctx, s).is_none() {
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let (tx, printer) = printer(json);
    let results = join_all(services.iter().map(|s| {
        let em = Emitter::new(tx.clone(), s, None);
        async move {
            let svc = ctx.config.services.get(s)?;
            // Moving to stable must always be possible: take the lease over if need be.
            leased(
                ctx,
                s,
                format!("rollback {s}"),
                Some(reason),
                em,
                |em| async move {
                    let previous = crate::store::Store::for_config(&ctx.config)
                        .ok()
                        .and_then(|st| crate::engine::lease::previous_in_flight(&st, s));
                    ops::rollback(ctx, svc, reason, previous.as_ref(), &em)
                        .await
                        .map_err(|e| e.to_string())
                },
            )
            .await
            .err()
        }
    }))
    .await;
    drop(tx);
    let _ = printer.await;
    let failures: Vec<_> = results.into_iter().flatten().collect();
    for f in &failures {
        eprintln!("sluice: {f}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

async fn status(ctx: &Ctx, service: Option<String>, json: bool) -> ExitCode {
    let services: Vec<String> = match service {
        Some(s) => {
            if known(ctx, &s).is_none() {
                return ExitCode::from(EXIT_USAGE);
            }
            vec![s]
        }
        None => ctx.config.services.keys().cloned().collect(),
    };
    let (tx, _) = broadcast::channel(1024);
    let results = join_all(services.iter().map(|s| {
        let em = Emitter::new(tx.clone(), s, None);
        async move {
            let svc = ctx.config.services.get(s)?;
            // Hosts that answer are shown even when others fail.
            let views = join_all(svc.hosts.iter().map(|h| {
                let em = em.clone();
                let one = crate::config::Service {
                    hosts: vec![h.clone()],
                    ..svc.clone()
                };
                async move { ops::observe(ctx, &one, &em).await }
            }))
            .await;
            Some((s.clone(), views))
        }
    }))
    .await;
    let mut failed = false;
    let mut out = Vec::new();
    for (service, views) in results.into_iter().flatten() {
        for v in views {
            match v {
                Ok(mut hosts) => out.extend(hosts.drain(..).map(|h| (service.clone(), Ok(h)))),
                Err(e) => {
                    failed = true;
                    out.push((service.clone(), Err(e)));
                }
            }
        }
    }
    let durable = super::store_status::read(&ctx.config);
    // A canary carrying traffic with nobody holding the lease is judged by nobody.
    let unwatched: Vec<(String, Vec<String>)> = services
        .iter()
        .filter(|s| !durable.watched(s))
        .map(|s| {
            let hosts = out
                .iter()
                .filter_map(|(svc, r)| match r {
                    Ok(h) if svc == s && h.canary_carries_traffic() => Some(h.host.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>();
            (s.clone(), hosts)
        })
        .filter(|(_, hosts)| !hosts.is_empty())
        .collect();
    let is_unwatched = |s: &str| unwatched.iter().any(|(u, _)| u == s);
    if json {
        let rows: Vec<serde_json::Value> = out
            .iter()
            .map(|(s, r)| {
                let mut row = match r {
                    Ok(h) => serde_json::json!({ "service": s, "host": h.host, "ok": true,
                    "stable_weight": h.stable_weight, "canary_weight": h.canary_weight,
                    "canary_percent": h.canary_percent, "stable": h.stable, "canary": h.canary }),
                    Err(e) => serde_json::json!({ "service": s,
                    "host": e.failures.first().map(|f| f.host().to_string()),
                    "ok": false, "error": e.to_string() }),
                };
                durable.annotate(s, &mut row);
                row["unwatched"] = serde_json::Value::Bool(is_unwatched(s));
                row
            })
            .collect();
        match serde_json::to_string_pretty(&rows) {
            Ok(t) => println!("{t}"),
            Err(e) => eprintln!("sluice: {e}"),
        }
    } else {
        println!(
            "{:<12} {:<10} {:>7} {:>7} {:>8}  {:<24} {:<24}",
            "SERVICE", "HOST", "STABLE", "CANARY", "CANARY%", "STABLE STACK", "CANARY STACK"
        );
        for (s, r) in &out {
            match r {
                Ok(h) => println!(
                    "{:<12} {:<10} {:>7} {:>7} {:>8}  {:<24} {:<24}",
                    s,
                    h.host,
                    weight_label(h.stable_weight),
                    weight_label(h.canary_weight),
                    h.canary_percent
                        .map_or("none".to_string(), |p| format!("{p} %")),
                    h.stable.label(),
                    h.canary.label()
                ),
                Err(e) => println!("{s:<12} ERROR: {e}"),
            }
        }
        durable.print(&services);
        let (red, plain) = if super::colour::colour_on_stdout() {
            ("\x1b[1;31m", "\x1b[0m")
        } else {
            ("", "")
        };
        for (s, hosts) in &unwatched {
            println!(
                "\n{red}{s}: UNWATCHED{plain} — its canary carries traffic on {} and no live \
                 sluice holds its lease, so nobody judges it or rolls it back on a breach. \
                 `sluice take-over {s}` watches it; `sluice promote {s}` or `sluice rollback {s}` \
                 ends it",
                hosts.join(", ")
            );
        }
    }
    if failed {
        ExitCode::from(EXIT_FAILED)
    } else if !unwatched.is_empty() {
        ExitCode::from(super::EXIT_PAUSED)
    } else {
        ExitCode::SUCCESS
    }
}
