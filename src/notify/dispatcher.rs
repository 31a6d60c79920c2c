//! Subscribes to the engine's events, turns them into notifications and sends each to the
//! notifiers of the service's environment that asked for it. Every notifier has its own
//! worker and a bounded queue: a slow or failing one drops its own messages (with a logged
//! warning) and never holds up another notifier, the engine or a rollout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::http::Transport;
use super::message::{Message, Tracker};
use super::{request, Secret};
use crate::config::{Config, Notifier};
use crate::engine::Event;

/// Retry and queue bounds.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Attempts per message (the first included).
    pub tries: u32,
    /// Wait before the second attempt; doubles after each further failure.
    pub backoff: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Messages waiting per notifier; more are dropped with a warning.
    pub queue: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tries: 3,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(5),
            queue: 64,
        }
    }
}

/// A notifier with its secret read from the environment.
#[derive(Debug, Clone)]
pub struct Target {
    pub environment: String,
    pub notifier: Notifier,
    pub secret: Secret,
}

impl Target {
    /// `slack notifier (config/lab.yaml:12:9)`: how messages name it.
    pub fn label(&self) -> String {
        format!(
            "{} notifier ({})",
            self.notifier.kind.name(),
            self.notifier.at
        )
    }
}

/// A notifier whose environment variable is not set, or holds a URL it may not use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: environment variable {var} {problem}; the {kind} notifier of environment {environment} reads its {what} from it. {fix}")]
pub struct MissingSecret {
    pub at: String,
    pub var: String,
    pub kind: String,
    pub environment: String,
    pub what: &'static str,
    /// "is not set (or empty)", or what is wrong with the value (never the value).
    pub problem: String,
    pub fix: &'static str,
}

/// Read every notifier's secret with `lookup` (normally `std::env::var`). All missing
/// variables are reported together.
pub fn resolve(
    config: &Config,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Target>, Vec<MissingSecret>> {
    let mut targets = Vec::new();
    let mut missing = Vec::new();
    for (env, e) in &config.environments {
        for n in &e.notify {
            let var = n.kind.secret_env();
            let value = lookup(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty());
            // Slack's webhook URL is the secret: https only (or a loopback receiver).
            let insecure = match (&n.kind, &value) {
                (crate::config::NotifierKind::Slack { .. }, Some(url)) => {
                    super::url_rule::https_or_loopback(url).err()
                }
                _ => None,
            };
            if let Some(problem) = insecure {
                missing.push(MissingSecret {
                    at: n.at.clone(),
                    var: var.to_string(),
                    kind: n.kind.name().to_string(),
                    environment: env.clone(),
                    what: "webhook URL",
                    problem,
                    fix: "Export the https:// webhook URL Slack gave you",
                });
                continue;
            }
            match value {
                Some(value) => targets.push(Target {
                    environment: env.clone(),
                    notifier: n.clone(),
                    secret: Secret::new(var, value),
                }),
                None => missing.push(MissingSecret {
                    at: n.at.clone(),
                    var: var.to_string(),
                    kind: n.kind.name().to_string(),
                    environment: env.clone(),
                    what: match n.kind {
                        crate::config::NotifierKind::Telegram { .. } => "bot token",
                        _ => "webhook URL",
                    },
                    problem: "is not set (or empty)".to_string(),
                    fix: "Export it, or remove the notifier",
                }),
            }
        }
    }
    if missing.is_empty() {
        Ok(targets)
    } else {
        Err(missing)
    }
}

/// The running dispatcher. Drop it to stop at once, or [`Dispatcher::finish`] to deliver
/// what is queued first (a headless deploy does, before it exits).
pub struct Dispatcher {
    stop: CancellationToken,
    router: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Dispatcher {
    /// Start routing `events` to `targets`. Needs a tokio runtime.
    pub fn start(
        config: Arc<Config>,
        targets: Vec<Target>,
        events: broadcast::Receiver<Event>,
        transport: Arc<dyn Transport>,
        settings: Settings,
    ) -> Dispatcher {
        let stop = CancellationToken::new();
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for t in targets {
            let (tx, rx) = mpsc::channel::<Message>(settings.queue.max(1));
            let label = t.label();
            workers.push(tokio::spawn(worker(
                t.clone(),
                rx,
                transport.clone(),
                settings.clone(),
            )));
            queues.push((t, label, tx));
        }
        let router = tokio::spawn(route(config, events, queues, stop.clone()));
        Dispatcher {
            stop,
            router: Some(router),
            workers,
        }
    }

    /// Route the events already emitted, then wait (at most `within`) for the queues to be
    /// delivered; what is left after that is dropped with a warning.
    pub async fn finish(mut self, within: Duration) {
        self.stop.cancel();
        let router = self.router.take();
        let workers = std::mem::take(&mut self.workers);
        let all = async move {
            if let Some(r) = router {
                let _ = r.await;
            }
            for w in workers {
                let _ = w.await;
            }
        };
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("notifications still undelivered after {within:?} were dropped");
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        if let Some(r) = &self.router {
            r.abort();
        }
        for w in &self.workers {
            w.abort();
        }
    }
}

type Queue = (Target, String, mpsc::Sender<Message>);

async fn route(
    config: Arc<Config>,
    mut events: broadcast::Receiver<Event>,
    queues: Vec<Queue>,
    stop: CancellationToken,
) {
    let mut tracker = Tracker::default();
    let envs: HashMap<&str, String> = config
        .services
        .values()
        .map(|s| {
            let env = config
                .service_environment(s)
                .map(|e| e.name.clone())
                .unwrap_or_default();
            (s.name.as_str(), env)
        })
        .collect();
    let mut handle = |e: Event| {
        let Some(env) = envs.get(e.service.as_str()) else {
            return;
        };
        let Some(m) = tracker.on_event(&e, env) else {
            return;
        };
        for (t, label, tx) in &queues {
            if t.environment != *env || !t.notifier.events.contains(&m.event) {
                continue;
            }
            if let Err(err) = tx.try_send(m.clone()) {
                let why = match err {
                    mpsc::error::TrySendError::Full(_) => {
                        "its queue is full (it is slow or failing)"
                    }
                    mpsc::error::TrySendError::Closed(_) => "it has stopped",
                };
                tracing::warn!(
                    "{label}: dropped the {} notification for {} because {why}",
                    m.event.name(),
                    m.service
                );
            }
        }
    };
    loop {
        tokio::select! {
            biased;
            r = events.recv() => match r {
                Ok(e) => handle(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("notifications: {n} engine events were missed (the dispatcher lagged)");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = stop.cancelled() => {
                // Whatever was emitted before the stop still goes out.
                while let Ok(e) = events.try_recv() {
                    handle(e);
                }
                break;
            }
        }
    }
}

async fn worker(
    t: Target,
    mut rx: mpsc::Receiver<Message>,
    transport: Arc<dyn Transport>,
    s: Settings,
) {
    let label = t.label();
    while let Some(m) = rx.recv().await {
        let req = request(&t.notifier.kind, &t.secret, &m);
        let mut delay = s.backoff;
        for attempt in 1..=s.tries.max(1) {
            let why = match transport.post(&req, s.timeout).await {
                Ok(code) if (200..300).contains(&code) => break,
                Ok(code) if code == 429 || code >= 500 => format!("HTTP {code}"),
                Ok(code) => {
                    // A client error will not change on retry (wrong URL, bad token, bad chat).
                    tracing::warn!(
                        "{label}: the {} notification for {} was refused with HTTP {code}; check ${}",
                        m.event.name(),
                        m.service,
                        t.secret.var()
                    );
                    break;
                }
                Err(e) => t.secret.redact(&e),
            };
            if attempt == s.tries.max(1) {
                tracing::warn!(
                    "{label}: gave up on the {} notification for {} after {attempt} attempts: {why}",
                    m.event.name(),
                    m.service
                );
                break;
            }
            tracing::info!("{label}: attempt {attempt} failed ({why}); retrying in {delay:?}");
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
}

/// Read the notifiers' secrets from the process environment and start the dispatcher on the
/// engine's events. `Ok(None)` when no notifier is configured.
pub fn attach(
    config: Arc<Config>,
    events: broadcast::Receiver<Event>,
) -> Result<Option<Dispatcher>, String> {
    let targets = resolve(&config, |v| std::env::var(v).ok()).map_err(|missing| {
        missing
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    if targets.is_empty() {
        return Ok(None);
    }
    let transport = super::Reqwest::new()?;
    Ok(Some(Dispatcher::start(
        config,
        targets,
        events,
        Arc::new(transport),
        Settings::default(),
    )))
}
