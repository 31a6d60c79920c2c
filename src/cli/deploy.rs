//! `sluice deploy`: a rollout driven headless through the engine, printing its events.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use tokio::sync::broadcast::error::RecvError;

use super::ops::{known, print_event};
use super::{EXIT_FAILED, EXIT_PAUSED, EXIT_REFUSED, EXIT_USAGE};
use crate::domain::{DeploymentState, Version};
use crate::engine::{Command, Ctx, Engine, EngineError, EventKind, Reply};
use crate::identity::operator;

/// `deploy`'s flags.
pub struct Options {
    pub strategy: Option<String>,
    pub env: Option<String>,
    pub yes: bool,
    pub json: bool,
    pub override_reason: Option<String>,
    pub exit_on_pause: bool,
}

pub async fn run(ctx: Ctx, service: String, version: String, opts: Options) -> ExitCode {
    let Options {
        strategy,
        env,
        yes,
        json,
        override_reason,
        exit_on_pause,
    } = opts;
    if override_reason
        .as_ref()
        .is_some_and(|r| r.trim().is_empty())
    {
        eprintln!("sluice: --override needs a reason, e.g. --override \"hotfix for INC-123\"; nothing was changed");
        return ExitCode::from(EXIT_USAGE);
    }
    let Some(svc) = known(&ctx, &service) else {
        return ExitCode::from(EXIT_USAGE);
    };
    let version = match Version::parse(&version) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let environment = ctx
        .config
        .service_environment(svc)
        .map(|e| e.name.clone())
        .unwrap_or_default();
    if let Some(want) = &env {
        if *want != environment {
            eprintln!(
                "sluice: service {service} runs in environment `{environment}`, not `{want}`; \
                 nothing was changed"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    let strategy_name = strategy.clone().unwrap_or_else(|| svc.strategy.clone());
    if !yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("sluice: not a terminal; pass --yes to deploy without confirmation");
            return ExitCode::from(EXIT_USAGE);
        }
        eprint!(
            "Deploy {service} {version} to {} ({environment}) with {strategy_name}? [y/N] ",
            svc.hosts.join(", ")
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("sluice: not deployed");
            return ExitCode::from(EXIT_FAILED);
        }
    }

    let handle = Engine::start(ctx.config.clone(), ctx.remote.clone());
    crate::metrics::attach(handle.subscribe());
    let events = handle.subscribe();
    // A notifier without its secret stops the deploy before anything moves.
    let notifications = match crate::notify::attach(ctx.config.clone(), handle.subscribe()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}\nsluice: nothing was changed");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let command = Command::Deploy {
        service: service.clone(),
        version,
        strategy,
        operator: operator(),
        override_reason,
    };
    follow(
        handle,
        events,
        notifications,
        service,
        json,
        exit_on_pause,
        command,
    )
    .await
}

/// `sluice resume SERVICE` and `sluice take-over SERVICE`: the engine recovers what the journal
/// has in flight (as it does on every start), then continues the service's paused deployment —
/// through its remaining steps (resume) or watched where it is (take-over).
pub async fn continue_with(
    ctx: Ctx,
    service: String,
    json: bool,
    exit_on_pause: bool,
    command: Command,
) -> ExitCode {
    let handle = Engine::start(ctx.config.clone(), ctx.remote.clone());
    crate::metrics::attach(handle.subscribe());
    let mut events = handle.subscribe();
    let notifications = match crate::notify::attach(ctx.config.clone(), handle.subscribe()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}\nsluice: nothing was changed");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // The engine answers its first command after recovery: show what recovery found (its
    // "waits for a decision" is the state being resumed, not an answer to this command).
    let _ = handle
        .send(Command::Refresh {
            service: Some(service.clone()),
        })
        .await;
    while let Ok(ev) = events.try_recv() {
        if ev.service == service && !matches!(ev.kind, EventKind::HostObserved { .. }) {
            print_event(&ev, json);
        }
    }
    follow(
        handle,
        events,
        notifications,
        service,
        json,
        exit_on_pause,
        command,
    )
    .await
}

/// Send `command` (a deploy, resume or take-over) and print the deployment's events until it
/// ends; the exit code says how. A deployment waiting for a decision is still judged here (a
/// breach rolls it back), so this stays until someone decides — unless `exit_on_pause`.
async fn follow(
    handle: crate::engine::EngineHandle,
    mut events: tokio::sync::broadcast::Receiver<crate::engine::Event>,
    notifications: Option<crate::notify::Dispatcher>,
    service: String,
    json: bool,
    exit_on_pause: bool,
    command: Command,
) -> ExitCode {
    let id = match handle.send(command).await {
        Ok(Reply::Started(id)) => id,
        Ok(Reply::Accepted) => 0,
        Err(e @ EngineError::Refused { .. }) => {
            // The assessment and the refusal were emitted before the answer: show them.
            while let Ok(ev) = events.try_recv() {
                if ev.service == service {
                    print_event(&ev, json);
                }
            }
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_REFUSED);
        }
        Err(e @ EngineError::InFlight(_)) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_PAUSED);
        }
        Err(e @ EngineError::Locked(_)) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
        Err(e) => {
            eprintln!("sluice: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };

    let mut interrupted = false;
    let code = loop {
        let e = tokio::select! {
            e = events.recv() => e,
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                eprintln!("sluice: interrupted; rolling {service} back to stable (Ctrl-C again leaves the hosts as they are)");
                let _ = handle.send(Command::Rollback { service: service.clone(), reason: "interrupted by operator".into() }).await;
                tokio::spawn(async { let _ = tokio::signal::ctrl_c().await; std::process::exit(130); });
                continue;
            }
        };
        let e = match e {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                eprintln!("sluice: {n} events were dropped from the display");
                continue;
            }
            Err(RecvError::Closed) => break ExitCode::from(EXIT_FAILED),
        };
        if e.service != service {
            continue;
        }
        print_event(&e, json);
        if e.deployment != Some(id) {
            continue;
        }
        match e.kind {
            EventKind::State { to, .. } if to.is_terminal() => {
                break match to {
                    DeploymentState::Succeeded => ExitCode::SUCCESS,
                    _ => ExitCode::from(EXIT_FAILED),
                };
            }
            EventKind::ApprovalRequested {
                id: a, expires_at, ..
            } => {
                eprintln!(
                    "sluice: {service} waits for approval #{a} (no traffic has moved; expires \
                     {}). From another shell, an approver: `sluice approve {a}` or `sluice \
                     reject {a} --reason R`; `sluice rollback {service}` ends it",
                    expires_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
            EventKind::AwaitingDecision { canary_percent } if exit_on_pause => {
                eprintln!(
                    "sluice: {service} waits for a decision with the canary at {canary_percent} %; \
                     --exit-on-pause: exiting, and nobody judges that canary now (UNWATCHED in \
                     `sluice status`). Next: `sluice take-over {service}` to watch it, `sluice \
                     promote {service}`, `sluice weight {service} N` or `sluice rollback {service}`"
                );
                break ExitCode::from(EXIT_PAUSED);
            }
            EventKind::AwaitingDecision { canary_percent } => {
                eprintln!(
                    "sluice: {service} waits for a decision with the canary at {canary_percent} %; \
                     this sluice stays and keeps judging it (a breach rolls it back). From \
                     another shell: `sluice promote {service}`, `sluice weight {service} N` or \
                     `sluice rollback {service}`; Ctrl-C here rolls back"
                );
            }
            _ => {}
        }
    };
    // Deliver what is queued (bounded: a hanging notifier costs at most this at exit).
    if let Some(d) = notifications {
        d.finish(std::time::Duration::from_secs(10)).await;
    }
    code
}
