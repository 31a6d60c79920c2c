//! sluice's demo service for the local lab.
//!
//! Environment: `DEMO_LISTEN` (address:port), `DEMO_VERSION`, `DEMO_TRACK`, `DEMO_ERROR_RATE`
//! (0..1), `DEMO_LATENCY_MS`. Endpoints: `GET /` (200, or 500 at the error rate, after the
//! latency), `GET /health` (200; 503 forever when the version contains `unhealthy`),
//! `GET /metrics` (Prometheus text), `GET|POST /knobs?error_rate=0.1&latency_ms=1200`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod http;
mod metrics;

use http::{parse_query, read_request, Request};
use metrics::Metrics;

pub struct State {
    version: String,
    track: String,
    error_rate_bits: AtomicU64,
    latency_ms: AtomicU64,
    metrics: Metrics,
    seed: AtomicU64,
}

impl State {
    fn error_rate(&self) -> f64 {
        f64::from_bits(self.error_rate_bits.load(Ordering::Relaxed))
    }

    /// A cheap pseudo-random number in [0, 1) (xorshift; no dependencies).
    fn random(&self) -> f64 {
        let mut x = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn main() {
    let listen = env("DEMO_LISTEN", "127.0.0.1:8080");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let state = Arc::new(State {
        version: env("DEMO_VERSION", "0.0.0"),
        track: env("DEMO_TRACK", "stable"),
        error_rate_bits: AtomicU64::new(
            env("DEMO_ERROR_RATE", "0")
                .parse::<f64>()
                .unwrap_or(0.0)
                .clamp(0.0, 1.0)
                .to_bits(),
        ),
        latency_ms: AtomicU64::new(env("DEMO_LATENCY_MS", "0").parse().unwrap_or(0)),
        metrics: Metrics::default(),
        seed: AtomicU64::new(seed),
    });
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sluice-demo: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "sluice-demo {} ({}) listening on {listen}",
        state.version, state.track
    );
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        let state = state.clone();
        std::thread::spawn(move || serve(stream, &state));
    }
}

fn serve(stream: TcpStream, state: &State) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut out = write_half;
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(_) => {
                let _ = respond(&mut out, 400, "text/plain", "bad request\n", false);
                return;
            }
        };
        let started = Instant::now();
        let (status, ctype, body) = handle(&req, state);
        if !req.path.starts_with("/metrics") && !req.path.starts_with("/knobs") {
            state.metrics.observe(status, started.elapsed());
        }
        if respond(&mut out, status, ctype, &body, req.keep_alive).is_err() || !req.keep_alive {
            return;
        }
        // Drain nothing more: requests have no bodies we care about beyond Content-Length.
        let _ = reader.fill_buf();
    }
}

fn handle(req: &Request, state: &State) -> (u16, &'static str, String) {
    let (path, query) = match req.path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (req.path.as_str(), ""),
    };
    match (req.method.as_str(), path) {
        ("GET", "/health") => {
            if state.version.contains("unhealthy") {
                (503, "text/plain", format!("unhealthy {}\n", state.version))
            } else {
                (200, "text/plain", "ok\n".to_string())
            }
        }
        ("GET", "/metrics") => (
            200,
            "text/plain; version=0.0.4",
            state.metrics.render(&state.version, &state.track),
        ),
        ("GET" | "POST", "/knobs") => {
            for (k, v) in parse_query(query) {
                match k.as_str() {
                    "error_rate" => {
                        if let Ok(r) = v.parse::<f64>() {
                            state
                                .error_rate_bits
                                .store(r.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
                        }
                    }
                    "latency_ms" => {
                        if let Ok(l) = v.parse::<u64>() {
                            state.latency_ms.store(l.min(60_000), Ordering::Relaxed);
                        }
                    }
                    _ => {}
                }
            }
            (
                200,
                "application/json",
                format!(
                    "{{\"error_rate\":{},\"latency_ms\":{}}}\n",
                    state.error_rate(),
                    state.latency_ms.load(Ordering::Relaxed)
                ),
            )
        }
        ("GET", _) => {
            let latency = state.latency_ms.load(Ordering::Relaxed);
            if latency > 0 {
                // ±10 % jitter so percentiles are not a single value.
                let jitter = 0.9 + state.random() * 0.2;
                std::thread::sleep(Duration::from_micros(
                    (latency as f64 * 1000.0 * jitter) as u64,
                ));
            }
            if state.random() < state.error_rate() {
                (
                    500,
                    "text/plain",
                    format!("injected error from {} {}\n", state.track, state.version),
                )
            } else {
                (
                    200,
                    "text/plain",
                    format!("hello from {} {}\n", state.track, state.version),
                )
            }
        }
        _ => (404, "text/plain", "not found\n".to_string()),
    }
}

fn respond(
    out: &mut TcpStream,
    status: u16,
    ctype: &str,
    body: &str,
    keep_alive: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let conn = if keep_alive { "keep-alive" } else { "close" };
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: {conn}\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}
