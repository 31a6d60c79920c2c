//! The NGINX access log as a [`MetricProvider`]: every host's log followed over its SSH
//! connection, each request put in its track's sliding window by the upstream that served it.

use std::sync::Arc;

use futures::future::{join_all, BoxFuture};

use super::nginx_log::Cursor;
use super::provider::{MetricProvider, Reading};
use super::window::Window;
use crate::config::{Config, Service};
use crate::remote::host::{ServiceOnHost, TrackName};
use crate::remote::Remote;

pub struct NginxLogProvider {
    config: Arc<Config>,
    remote: Arc<dyn Remote>,
    service: Service,
    /// One per host of the service, in its order.
    cursors: Vec<Cursor>,
    /// stable, canary
    windows: [Window; 2],
}

impl NginxLogProvider {
    pub fn new(config: Arc<Config>, remote: Arc<dyn Remote>, service: Service) -> Self {
        let span = i64::try_from(config.analysis.window.as_secs()).unwrap_or(3600) + 5;
        NginxLogProvider {
            cursors: vec![Cursor::default(); service.hosts.len()],
            windows: [Window::new(span), Window::new(span)],
            config,
            remote,
            service,
        }
    }
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
                cursors,
                windows,
            } = self;
            let hosts: Vec<ServiceOnHost> = service
                .hosts
                .iter()
                .filter_map(|h| config.hosts.get(h))
                .map(|h| ServiceOnHost::new(remote.as_ref(), h, service))
                .collect();
            let results = join_all(
                hosts
                    .iter()
                    .zip(cursors.iter_mut())
                    .map(|(h, c)| async move {
                        h.resolve_ports().await?;
                        h.poll_log(c).await
                    }),
            )
            .await;
            let mut problems = Vec::new();
            for (h, r) in hosts.iter().zip(results) {
                match r {
                    Ok(Some(entries)) => {
                        let stable = h.server_addr(TrackName::Stable).ok();
                        let canary = h.server_addr(TrackName::Canary).ok();
                        for e in entries {
                            if Some(&e.upstream) == stable.as_ref() {
                                windows[0].add(e.sample);
                            } else if Some(&e.upstream) == canary.as_ref() {
                                windows[1].add(e.sample);
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => problems.push(format!(
                        "analysis cannot read the access log: {e}; retrying (its requests are missing from the verdicts)"
                    )),
                }
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
}
