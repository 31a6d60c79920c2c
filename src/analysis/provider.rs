//! The one seam between the engine and a metric source. The engine asks a provider for the
//! figures of a track over a window and judges them; how the figures are found (an access log
//! followed over SSH, PromQL over HTTP, a SaaS API) is the provider's business, so another
//! source (Datadog, CloudWatch) is one more file that implements [`MetricProvider`].

use std::sync::Arc;

use futures::future::BoxFuture;

use super::nginx_follower::NginxLogProvider;
use super::prometheus::PrometheusProvider;
use super::window::Stats;
use crate::config::{Config, Provider, Service};
use crate::domain::TrackName;
use crate::remote::Remote;

/// The figures of one track over one window, or why there are none. An `Err` is a reason for
/// an *inconclusive* judgement (never a pass): the source was down, empty, stale, or said
/// something that is not a number.
pub type Reading = Result<Stats, String>;

pub trait MetricProvider: Send {
    /// Recorded with every judgement: `nginx-log`, `prometheus`.
    fn name(&self) -> &'static str;

    /// Take in what arrived since the last call; called about once a second. Returns the
    /// problems met (the caller tells each host's or source's first one, not every repeat).
    /// Providers that are asked on demand (PromQL) have nothing to do here.
    fn refresh(&mut self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async { Vec::new() })
    }

    /// The figures of `track` over the `window_ms` milliseconds before `now_ms`.
    fn read(&mut self, track: TrackName, now_ms: i64, window_ms: i64) -> BoxFuture<'_, Reading>;

    /// What the figures of the window before `now_ms` miss, if anything (a follower that fell
    /// behind and skipped ahead, unreadable input): added to the judgements' summaries.
    fn caveat(&self, _now_ms: i64, _window_ms: i64) -> Option<String> {
        None
    }
}

/// The provider that `config.analysis` names for `svc`, or why there is none (the caller says
/// so: no metric source is never a silent pass).
pub fn for_service(
    config: &Arc<Config>,
    remote: &Arc<dyn Remote>,
    svc: &Service,
) -> Result<Box<dyn MetricProvider>, String> {
    match &config.analysis.provider {
        Provider::NginxLog => {
            if svc.nginx.access_log.is_none() {
                return Err(format!(
                    "service {} has no nginx.access_log for the nginx-log provider",
                    svc.name
                ));
            }
            Ok(Box::new(NginxLogProvider::new(
                config.clone(),
                remote.clone(),
                svc.clone(),
            )))
        }
        Provider::Prometheus { url } => Ok(Box::new(PrometheusProvider::new(
            url,
            &config.analysis.prometheus,
            &svc.name,
        )?)),
    }
}
