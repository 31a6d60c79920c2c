//! The NGINX access log as a [`MetricProvider`]: every host's log followed over its SSH
//! connection, each request put in its track's sliding window by the upstream that served it.
//! Each host's timestamps are moved onto this machine's clock by the offset measured at every
//! poll, and windows are trimmed against this machine's now.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::future::{join_all, BoxFuture};

use super::clock::ClockOffset;
use super::nginx_log::{advance, parse_entry, poll_args, Cursor, Poll, POLL_SCRIPT, READ_LIMIT};
use super::provider::{MetricProvider, Reading};
use super::window::Window;
use crate::config::{Config, Service};
use crate::remote::host::{ServiceOnHost, TrackName};
use crate::remote::{Remote, Script};

/// One host's follower.
#[derive(Default)]
struct Follow {
    cursor: Cursor,
    clock: ClockOffset,
    /// (when, bytes skipped, lines that could not be read), for the judgements' caveats.
    losses: VecDeque<(i64, u64, u64)>,
}

pub struct NginxLogProvider {
    config: Arc<Config>,
    remote: Arc<dyn Remote>,
    service: Service,
    /// One per host of the service, in its order.
    follows: Vec<Follow>,
    /// stable, canary
    windows: [Window; 2],
}

impl NginxLogProvider {
    pub fn new(config: Arc<Config>, remote: Arc<dyn Remote>, service: Service) -> Self {
        let span = i64::try_from(config.analysis.window.as_secs()).unwrap_or(3600) + 5;
        NginxLogProvider {
            follows: (0..service.hosts.len())
                .map(|_| Follow::default())
                .collect(),
            windows: [Window::new(span), Window::new(span)],
            config,
            remote,
            service,
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One poll of one host's log: the bytes since the cursor, with the host's clock.
async fn poll(remote: &dyn Remote, host: &str, path: &str, f: &mut Follow) -> Result<Poll, String> {
    // The script's text is fixed; its inputs arrive as positional parameters.
    let script =
        Script::new("read access log", POLL_SCRIPT).args(poll_args(path, &f.cursor, READ_LIMIT));
    let sent = now_ms();
    let out = remote
        .run_raw(host, script)
        .await
        .map_err(|e| e.to_string())?;
    let received = now_ms();
    if out.code != 0 {
        return Err(format!(
            "host {host}: the log poll of {path} exited {}: {}",
            out.code,
            crate::sanitize::line(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    let p = advance(&mut f.cursor, &out.stdout).map_err(|e| format!("host {host}: {path}: {e}"))?;
    if let Some(host_ms) = p.host_now_ms {
        f.clock.observe(sent, received, host_ms);
    }
    Ok(p)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl MetricProvider for NginxLogProvider {
    fn name(&self) -> &'static str {
        "nginx-log"
    }

    fn refresh(&mut self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move {
            let NginxLogProvider {
                config,
                remote,
                service,
                follows,
                windows,
            } = self;
            let hosts: Vec<ServiceOnHost> = service
                .hosts
                .iter()
                .filter_map(|h| config.hosts.get(h))
                .map(|h| ServiceOnHost::new(remote.as_ref(), h, service))
                .collect();
            let remote = remote.as_ref();
            let results = join_all(
                hosts
                    .iter()
                    .zip(follows.iter_mut())
                    .map(|(h, f)| async move {
                        h.resolve_ports().await.map_err(|e| e.to_string())?;
                        match &h.paths().access_log {
                            Some(path) => poll(remote, h.host_name(), path, f).await.map(Some),
                            None => Ok(None),
                        }
                    }),
            )
            .await;
            let now = now_ms();
            let mut problems = Vec::new();
            for ((h, f), r) in hosts.iter().zip(follows.iter_mut()).zip(results) {
                let p = match r {
                    Ok(Some(p)) => p,
                    Ok(None) => continue,
                    Err(e) => {
                        problems.push(format!(
                            "analysis cannot read the access log: {e}; retrying (its requests are missing from the verdicts)"
                        ));
                        continue;
                    }
                };
                let stable = h.server_addr(TrackName::Stable).ok();
                let canary = h.server_addr(TrackName::Canary).ok();
                let mut bad = p.overlong;
                for line in &p.lines {
                    let mut e = match parse_entry(line) {
                        Ok(Some(e)) => e,
                        Ok(None) => continue,
                        Err(_) => {
                            bad += 1;
                            continue;
                        }
                    };
                    e.sample.at_ms = f.clock.to_local(e.sample.at_ms);
                    if Some(&e.upstream) == stable.as_ref() {
                        windows[0].add(e.sample);
                    } else if Some(&e.upstream) == canary.as_ref() {
                        windows[1].add(e.sample);
                    }
                }
                let path = h.paths().access_log.as_deref().unwrap_or("");
                if p.skipped > 0 {
                    tracing::warn!(host = %h.host_name(), log = %path, skipped = p.skipped,
                        "the access-log follower fell behind and skipped ahead");
                    problems.push(format!(
                        "host {}: {path} grows faster than sluice reads it (over {} a poll): \
                         skipping ahead to the newest requests; judgements rest on a sample",
                        h.host_name(),
                        mib(READ_LIMIT)
                    ));
                }
                if bad > 0 {
                    tracing::warn!(host = %h.host_name(), log = %path, lines = bad,
                        "access-log lines skipped: not in sluice's JSON log format");
                    problems.push(format!(
                        "host {}: lines of {path} that are not in sluice's JSON log format \
                         (or longer than 64 KiB) are skipped and counted",
                        h.host_name()
                    ));
                }
                if p.skipped > 0 || bad > 0 {
                    f.losses.push_back((now, p.skipped, bad));
                }
                let keep_from = now - windows[0].span_ms();
                while f.losses.front().is_some_and(|l| l.0 < keep_from) {
                    f.losses.pop_front();
                }
            }
            for w in windows.iter_mut() {
                w.trim(now);
            }
            problems
        })
    }

    fn read(&mut self, track: TrackName, now_ms: i64, window_ms: i64) -> BoxFuture<'_, Reading> {
        let w = match track {
            TrackName::Stable => &self.windows[0],
            TrackName::Canary => &self.windows[1],
        };
        let stats = w.stats(now_ms, window_ms);
        Box::pin(async move { Ok(stats) })
    }

    fn caveat(&self, now_ms: i64, window_ms: i64) -> Option<String> {
        let mut parts = Vec::new();
        for (host, f) in self.service.hosts.iter().zip(&self.follows) {
            let (skipped, bad) = f
                .losses
                .iter()
                .filter(|l| l.0 > now_ms - window_ms)
                .fold((0, 0), |(s, b), l| (s + l.1, b + l.2));
            if skipped > 0 {
                parts.push(format!(
                    "{host}'s log fell behind: {} skipped, newest requests judged",
                    mib(skipped)
                ));
            }
            if bad > 0 {
                parts.push(format!("{host}: {bad} unreadable log lines skipped"));
            }
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}
