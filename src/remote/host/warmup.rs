//! The canary warm-up, run on the host itself with curl (the track's port is usually bound
//! to the host's loopback, as for health checks, so sluice cannot reach it directly; and
//! the latency measured there is the one nginx will see, without the SSH hop).

use std::time::Duration;

use super::{scripts, HostError, ServiceOnHost, TrackName};
use crate::config::Warmup;

/// What one host's warm-up measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WarmupReport {
    pub requests: u32,
    /// Requests that failed: no answer, a timeout, or a status other than 2xx/3xx.
    pub errors: u32,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first few failures, e.g. `HTTP 500`, `no answer`.
    pub samples: Vec<String>,
}

/// Parse curl's `-w '%{http_code} %{time_total}\n'` lines; requests that printed nothing
/// count as errors.
pub fn parse_warmup(out: &str, requested: u32) -> WarmupReport {
    let mut latencies: Vec<f64> = Vec::new();
    let mut errors = 0u32;
    let mut samples = Vec::new();
    let mut seen = 0u32;
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        let (Some(code), Some(secs)) = (f.next(), f.next()) else {
            continue;
        };
        let (Ok(code), Ok(secs)) = (code.parse::<u16>(), secs.parse::<f64>()) else {
            continue;
        };
        seen += 1;
        latencies.push(secs * 1000.0);
        if !(200..400).contains(&code) {
            errors += 1;
            if samples.len() < 3 {
                samples.push(if code == 0 {
                    "no answer".to_string()
                } else {
                    format!("HTTP {code}")
                });
            }
        }
    }
    if seen < requested {
        errors += requested - seen;
        samples.push(format!("{} request(s) reported nothing", requested - seen));
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1]
    };
    WarmupReport {
        requests: requested,
        errors,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        samples,
    }
}

impl ServiceOnHost<'_> {
    /// Send the warm-up to the track from the host: `requests` GETs of `path`,
    /// `concurrency` at a time, each bounded by `timeout`.
    pub async fn warm_up(&self, t: TrackName, w: &Warmup) -> Result<WarmupReport, HostError> {
        let url = format!("http://{}{}", self.addr_of(t).await?, w.path);
        let secs = w.timeout.as_secs_f64().max(0.1);
        // curl's own failures are lines too (`000 …`); only missing tools fail the script.
        let script = scripts::WARMUP.with(
            format!("{t} warm-up"),
            [
                url,
                w.requests.to_string(),
                w.concurrency.max(1).to_string(),
                format!("{secs:.1}"),
            ],
        );
        let rounds = w.requests.div_ceil(w.concurrency.max(1));
        let bound = w.timeout * rounds + Duration::from_secs(10);
        let out = self
            .remote
            .run(&self.host.name, script.timeout(bound))
            .await?;
        if !out.ok() {
            return Err(self.err(format!(
                "the warm-up could not run (it needs sh, seq, xargs and curl on the host): {}",
                out.tail(2)
            )));
        }
        Ok(parse_warmup(&out.stdout, w.requests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_errors_and_silence() {
        let mut out = String::new();
        for i in 1..=98 {
            out.push_str(&format!("200 0.{i:03}\n"));
        }
        out.push_str("500 0.002\n000 2.000\n");
        let r = parse_warmup(&out, 100);
        assert_eq!(r.errors, 2);
        assert_eq!(r.p50_ms, 49.0);
        assert_eq!(r.p99_ms, 98.0);
        assert_eq!(r.max_ms, 2000.0);
        assert_eq!(r.samples, ["HTTP 500", "no answer"]);
        let r = parse_warmup("200 0.010\njunk\n", 3);
        assert_eq!(r.errors, 2);
        assert_eq!(r.samples, ["2 request(s) reported nothing"]);
        let r = parse_warmup("", 5);
        assert_eq!((r.errors, r.p99_ms), (5, 0.0));
    }
}
