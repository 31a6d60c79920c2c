//! Driving the engine in-process against the lab, as the console does.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sluice::engine::{Engine, EngineHandle, Event, EventKind};
use sluice::remote::ssh::SshPool;
use tokio::sync::broadcast::Receiver;

/// An engine on `cfg` with a subscription taken before it runs anything.
pub fn engine(cfg: &Path) -> (EngineHandle, Receiver<Event>) {
    let config = Arc::new(sluice::config::load(cfg).expect("valid config"));
    let handle = Engine::start(config.clone(), Arc::new(SshPool::new(&config)));
    let rx = handle.subscribe();
    (handle, rx)
}

/// The next event of `demo` matching `want`, within `secs`.
pub async fn until(
    rx: &mut Receiver<Event>,
    secs: u64,
    want: impl Fn(&EventKind) -> bool,
) -> Option<EventKind> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if e.service == "demo" && want(&e.kind) => return Some(e.kind),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("event stream: {e}"),
            Err(_) => return None,
        }
    }
}

/// Every event of `demo` until its deployment reaches a terminal state (panics after `secs`).
pub async fn until_the_end(rx: &mut Receiver<Event>, secs: u64) -> Vec<EventKind> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if e.service == "demo" => {
                eprintln!("event: {:?}", e.kind);
                let end = matches!(e.kind, EventKind::State { to, .. } if to.is_terminal());
                seen.push(e.kind);
                if end {
                    return seen;
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("event stream: {e}"),
            Err(_) => panic!("no end within {secs}s; saw {seen:#?}"),
        }
    }
}
