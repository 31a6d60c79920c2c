//! sluice's own metrics, for `--metrics-listen ADDR`: counters and a histogram fed from the
//! engine's events, served at `/metrics` in the Prometheus (OpenMetrics) text format.
//!
//! The listener runs on its own thread and runtime, so it serves the same way under the
//! console and under a headless command; every engine started in the process feeds it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;

use crate::engine::{Event, EventKind};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    service: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    service: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    service: String,
    result: String,
}

/// Seconds: 5 s … ~2.8 h.
const DURATION_BUCKETS: [f64; 12] = [
    5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 10800.0,
];

pub struct Metrics {
    registry: Registry,
    deployments: Family<StatusLabels, Counter>,
    duration: Histogram,
    rollbacks: Family<ReasonLabels, Counter>,
    analysis: Family<ResultLabels, Counter>,
    /// When each deployment in flight started: (service, id).
    started: HashMap<(String, u64), DateTime<Utc>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let deployments = Family::<StatusLabels, Counter>::default();
        let duration = Histogram::new(DURATION_BUCKETS);
        let rollbacks = Family::<ReasonLabels, Counter>::default();
        let analysis = Family::<ResultLabels, Counter>::default();
        registry.register(
            "sluice_deployments",
            "Deployments that ended, by service and final state",
            deployments.clone(),
        );
        registry.register(
            "sluice_deployment_duration_seconds",
            "From the deploy command to the deployment's final state",
            duration.clone(),
        );
        registry.register(
            "sluice_rollbacks",
            "Rollbacks started, by service and kind of reason",
            rollbacks.clone(),
        );
        registry.register(
            "sluice_analysis_results",
            "Judgements (both tracks, and the post-promotion watch), by service and verdict",
            analysis.clone(),
        );
        Metrics {
            registry,
            deployments,
            duration,
            rollbacks,
            analysis,
            started: HashMap::new(),
        }
    }
}

/// A rollback's reason as a label with few values (the full text is in the event log).
pub fn reason_kind(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.contains("analysis of the new stable") || r.contains("watch of the new stable") {
        "watch"
    } else if r.contains("not conclusive") {
        "inconclusive"
    } else if r.contains("analysis of the canary") {
        "analysis"
    } else if r.contains("promotion failed") {
        "promotion-failed"
    } else if r.contains("operator")
        || r.contains("rollback by")
        || r.contains("rollback requested")
        || r.contains("interrupted")
    {
        "operator"
    } else if r.contains("failed on") || r.contains("host") {
        "host-failure"
    } else {
        "other"
    }
}

impl Metrics {
    /// Take one engine event into account.
    pub fn observe(&mut self, e: &Event) {
        let service = e.service.clone();
        match &e.kind {
            EventKind::DeployStarted { .. } => {
                if let Some(id) = e.deployment {
                    self.started.insert((service, id), e.at);
                }
            }
            EventKind::State { to, .. } if to.is_terminal() => {
                self.deployments
                    .get_or_create(&StatusLabels {
                        service: service.clone(),
                        status: to.as_str().to_string(),
                    })
                    .inc();
                if let Some(start) = e
                    .deployment
                    .and_then(|id| self.started.remove(&(service, id)))
                {
                    let secs = (e.at - start).num_milliseconds().max(0) as f64 / 1000.0;
                    self.duration.observe(secs);
                }
            }
            EventKind::RollbackStarted { reason } => {
                self.rollbacks
                    .get_or_create(&ReasonLabels {
                        service,
                        reason: reason_kind(reason).to_string(),
                    })
                    .inc();
            }
            EventKind::Analysis { verdict, .. } => {
                let result = match verdict {
                    crate::analysis::Verdict::Pass => "pass",
                    crate::analysis::Verdict::Fail => "fail",
                    crate::analysis::Verdict::Inconclusive => "inconclusive",
                };
                self.analysis
                    .get_or_create(&ResultLabels {
                        service,
                        result: result.to_string(),
                    })
                    .inc();
            }
            _ => {}
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

static GLOBAL: OnceLock<Arc<Mutex<Metrics>>> = OnceLock::new();

/// Feed an engine's events (`handle.subscribe()`) to the listener, when one was started in
/// this process. The engine knows nothing of metrics: whoever starts it attaches them.
pub fn attach(mut sub: broadcast::Receiver<Event>) {
    let Some(m) = GLOBAL.get() else { return };
    let m = m.clone();
    tokio::spawn(async move {
        loop {
            match sub.recv().await {
                Ok(e) => m.lock().unwrap_or_else(|p| p.into_inner()).observe(&e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("the metrics listener missed {n} events");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// Serve `/metrics` on `addr` (e.g. `127.0.0.1:9464`, or port 0 for any) from now on, on a
/// thread of its own. Returns the address bound. Engines started afterwards feed it.
pub fn listen(addr: &str) -> Result<SocketAddr, String> {
    let std_listener = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("--metrics-listen {addr}: cannot listen there: {e}"))?;
    let bound = std_listener
        .local_addr()
        .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
    let metrics = GLOBAL
        .get_or_init(|| Arc::new(Mutex::new(Metrics::default())))
        .clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("--metrics-listen: cannot start its runtime: {e}"))?;
    std::thread::Builder::new()
        .name("sluice-metrics".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("--metrics-listen {bound}: cannot serve: {e}");
                        return;
                    }
                };
                accept_loop(|| listener.accept(), metrics).await
            })
        })
        .map_err(|e| format!("--metrics-listen: cannot start its thread: {e}"))?;
    Ok(bound)
}

/// The first pause after an accept error; it doubles while errors go on, up to a second.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// Accept and answer connections for as long as the process lives. An accept error (out of
/// file descriptors, a connection reset before it was accepted) is logged and waited out
/// briefly, never the end of `/metrics`.
async fn accept_loop<F, Fut>(mut accept: F, metrics: Arc<Mutex<Metrics>>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<(tokio::net::TcpStream, SocketAddr)>>,
{
    let mut pause = ACCEPT_BACKOFF;
    loop {
        match accept().await {
            Ok((conn, _)) => {
                pause = ACCEPT_BACKOFF;
                let m = metrics.clone();
                tokio::spawn(async move {
                    let _ = answer(conn, &m).await;
                });
            }
            Err(e) => {
                tracing::warn!(
                    "/metrics: accepting a connection failed: {e}; retrying in {pause:?}"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
        }
    }
}

/// One HTTP/1.1 exchange: `GET /metrics` gets the exposition, anything else a 404.
async fn answer(mut conn: tokio::net::TcpStream, m: &Mutex<Metrics>) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    // Read the request head (bounded; a slow or huge request is dropped).
    let head = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let n = conn.read(&mut buf[len..]).await?;
            if n == 0 {
                break;
            }
            len += n;
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") || len == buf.len() {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(head, Ok(Ok(()))) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&buf[..len]);
    let mut first = text.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let (status, ctype, body) = if method == "GET" && path.split('?').next() == Some("/metrics") {
        let body = m.lock().unwrap_or_else(|p| p.into_inner()).render();
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body,
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "sluice serves /metrics only\n".to_string(),
        )
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(reply.as_bytes()).await?;
    conn.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeploymentState;

    fn ev(secs: i64, id: Option<u64>, kind: EventKind) -> Event {
        Event {
            at: DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap_or_default(),
            service: "demo".into(),
            deployment: id,
            kind,
        }
    }

    #[test]
    fn events_become_series() {
        let mut m = Metrics::default();
        m.observe(&ev(
            0,
            Some(1),
            EventKind::DeployStarted {
                version: "1.2.0".into(),
                strategy: "canary-auto".into(),
                operator: "t".into(),
                hosts: vec![],
                steps: vec![],
            },
        ));
        m.observe(&ev(
            5,
            Some(1),
            EventKind::RollbackStarted {
                reason: "analysis of the canary: FAIL: …".into(),
            },
        ));
        m.observe(&ev(
            42,
            Some(1),
            EventKind::State {
                from: DeploymentState::Progressing,
                to: DeploymentState::RolledBack,
            },
        ));
        let text = m.render();
        assert!(
            text.contains(r#"sluice_deployments_total{service="demo",status="rolled-back"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"sluice_rollbacks_total{service="demo",reason="analysis"} 1"#));
        assert!(text.contains("sluice_deployment_duration_seconds_count 1"));
        assert!(text.contains("sluice_deployment_duration_seconds_sum 42.0"));
        assert!(text.contains(r#"sluice_deployment_duration_seconds_bucket{le="60.0"} 1"#));
        assert!(text.contains(r#"sluice_deployment_duration_seconds_bucket{le="30.0"} 0"#));
    }

    /// Issue 13, fault 12: the accept loop ended at its first error, and `/metrics` with it.
    #[tokio::test]
    async fn the_accept_loop_survives_errors() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = Arc::new(listener);
        let failures = Arc::new(std::sync::atomic::AtomicU32::new(3));
        let accept = {
            let (listener, failures) = (listener.clone(), failures.clone());
            move || {
                let (listener, failures) = (listener.clone(), failures.clone());
                async move {
                    let left = failures.load(std::sync::atomic::Ordering::SeqCst);
                    if left > 0 {
                        failures.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                        return Err(std::io::Error::other("Too many open files (os error 24)"));
                    }
                    listener.accept().await
                }
            }
        };
        let metrics = Arc::new(Mutex::new(Metrics::default()));
        let served = tokio::spawn(accept_loop(accept, metrics));
        let mut conn = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        .unwrap()
        .unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            conn.read_to_string(&mut reply),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert_eq!(failures.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert!(!served.is_finished(), "the loop goes on");
        served.abort();
    }

    #[test]
    fn reasons_have_few_values() {
        assert_eq!(reason_kind("analysis of the new stable: FAIL"), "watch");
        assert_eq!(
            reason_kind(
                "analysis of the canary was not conclusive (x) and on_inconclusive is rollback"
            ),
            "inconclusive"
        );
        assert_eq!(reason_kind("operator rollback"), "operator");
        assert_eq!(reason_kind("emergency rollback by alice"), "operator");
        assert_eq!(reason_kind("promotion failed: x"), "promotion-failed");
        assert_eq!(
            reason_kind(
                "service demo: setting traffic to 90/10 (stable/canary) failed on 1 host(s)"
            ),
            "host-failure"
        );
        assert_eq!(reason_kind("something new"), "other");
    }
}
