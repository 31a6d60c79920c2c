//! sluice's demo service for the local lab: a small threaded HTTP/1.1 server (std only).
//!
//! Environment: `DEMO_LISTEN` (ip:port, default 127.0.0.1:8080), `DEMO_VERSION`, `DEMO_TRACK`,
//! `DEMO_ERROR_RATE` (0..=1), `DEMO_LATENCY_MS` (0..=60000).
//!
//! - `GET /` (any path but the ones below): 200 naming version and track, or 500 at the error
//!   rate, after the latency (±10 % jitter).
//! - `GET /health`: 200 `ok`; 503 forever when the version contains `unhealthy`.
//! - `GET /metrics`: Prometheus text (`demo_requests_total`, `demo_request_duration_seconds`,
//!   `demo_info`, the knobs).
//! - `GET /knobs` shows the knobs; `POST /knobs?error_rate=0.1&latency_ms=1200` (or the same
//!   as a form body) changes them.

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod http;
mod knobs;
mod metrics;

use http::{parse_query, read_request, response, ReadError, Request};
use knobs::Knobs;
use metrics::Metrics;

/// Connections served at once; more are answered 503 and closed.
const MAX_CONNECTIONS: usize = 2048;
/// An idle keep-alive connection is closed after this long (longer than nginx keeps idle
/// upstream connections, 60 s, so nginx closes first).
const IDLE_TIMEOUT: Duration = Duration::from_secs(75);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct State {
    version: String,
    track: String,
    knobs: Knobs,
    metrics: Metrics,
    seed: AtomicU64,
    connections: AtomicUsize,
}

impl State {
    fn new(version: &str, track: &str, knobs: Knobs, seed: u64) -> State {
        State {
            version: version.to_string(),
            track: track.to_string(),
            knobs,
            metrics: Metrics::default(),
            seed: AtomicU64::new(seed),
            connections: AtomicUsize::new(0),
        }
    }

    /// A pseudo-random number in [0, 1) (splitmix64; no dependencies).
    fn random(&self) -> f64 {
        let mut z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn fail(msg: String) -> ! {
    eprintln!("sluice-demo: {msg}");
    std::process::exit(2)
}

fn main() {
    let listen = env("DEMO_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_string());
    // An IP literal: the binary is static and the image has no resolver configuration.
    let addr: SocketAddr = listen.parse().unwrap_or_else(|_| {
        fail(format!(
            "DEMO_LISTEN must be ip:port (e.g. 127.0.0.11:8081), not {listen:?}"
        ))
    });
    let knobs = Knobs::from_env(env).unwrap_or_else(|e| fail(e));
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id()) << 32;
    let state = Arc::new(State::new(
        &env("DEMO_VERSION").unwrap_or_else(|| "0.0.0".to_string()),
        &env("DEMO_TRACK").unwrap_or_else(|| "stable".to_string()),
        knobs,
        seed,
    ));
    let listener =
        TcpListener::bind(addr).unwrap_or_else(|e| fail(format!("cannot listen on {addr}: {e}")));
    let k = state.knobs.get();
    eprintln!(
        "sluice-demo {} ({}) listening on {addr}; error_rate={} latency_ms={}",
        state.version, state.track, k.error_rate, k.latency_ms
    );
    run(listener, state);
}

/// Accept connections forever, one thread each.
fn run(listener: TcpListener, state: Arc<State>) {
    for conn in listener.incoming() {
        let mut stream = match conn {
            Ok(s) => s,
            Err(_) => {
                // Out of file descriptors and the like: do not spin.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if state.connections.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            state.connections.fetch_sub(1, Ordering::AcqRel);
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = stream.write_all(&response(
                503,
                "text/plain",
                "too many connections\n",
                false,
            ));
            continue;
        }
        let st = state.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                serve(stream, &st);
                st.connections.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            state.connections.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Serve one connection: requests one after another while the client keeps it alive.
fn serve(stream: TcpStream, state: &State) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let started = Instant::now();
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) | Err(ReadError::Io) => return,
            Err(ReadError::Bad(why)) => {
                state.metrics.observe(400, started.elapsed());
                let _ = out.write_all(&response(
                    400,
                    "text/plain",
                    &format!("bad request: {why}\n"),
                    false,
                ));
                return;
            }
            Err(ReadError::TooLarge) => {
                state.metrics.observe(413, started.elapsed());
                let _ = out.write_all(&response(413, "text/plain", "body too large\n", false));
                return;
            }
        };
        let started = Instant::now();
        let reply = handle(&req, state);
        if reply.counted {
            state.metrics.observe(reply.status, started.elapsed());
        }
        let bytes = response(
            reply.status,
            reply.content_type,
            &reply.body,
            req.keep_alive,
        );
        if out.write_all(&bytes).is_err() || !req.keep_alive {
            return;
        }
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    /// Counted in `demo_requests_total` and the latency histogram (the service's own traffic,
    /// not health checks, scrapes or knob changes).
    counted: bool,
}

fn text(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.into(),
        counted: false,
    }
}

fn handle(req: &Request, state: &State) -> Reply {
    let method = req.method.as_str();
    match req.path.as_str() {
        "/health" => match method {
            "GET" if state.version.contains("unhealthy") => {
                text(503, format!("unhealthy {}\n", state.version))
            }
            "GET" => text(200, "ok\n"),
            _ => text(405, "use GET\n"),
        },
        "/metrics" => match method {
            "GET" => Reply {
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                ..text(
                    200,
                    state
                        .metrics
                        .render(&state.version, &state.track, state.knobs.get()),
                )
            },
            _ => text(405, "use GET\n"),
        },
        "/knobs" => knobs(req, state),
        _ => {
            let reply = match method {
                "GET" => app(state),
                _ => text(405, "use GET\n"),
            };
            Reply {
                counted: true,
                ..reply
            }
        }
    }
}

fn knobs(req: &Request, state: &State) -> Reply {
    let json = |body: String| Reply {
        content_type: "application/json",
        ..text(200, body)
    };
    match req.method.as_str() {
        "GET" if req.query.is_empty() => json(state.knobs.get().to_json()),
        "GET" => text(
            405,
            "change knobs with POST, e.g. curl -X POST 'http://ADDR/knobs?error_rate=0.1'\n",
        ),
        "POST" => {
            let mut pairs = parse_query(&req.query);
            match std::str::from_utf8(&req.body) {
                Ok(body) => pairs.extend(parse_query(body.trim())),
                Err(_) => {
                    return text(
                        400,
                        "the body must be a form (error_rate=0.1&latency_ms=1200)\n",
                    )
                }
            }
            match state.knobs.apply(&pairs) {
                Ok(v) => {
                    eprintln!(
                        "sluice-demo: knobs now error_rate={} latency_ms={}",
                        v.error_rate, v.latency_ms
                    );
                    json(v.to_json())
                }
                Err(e) => text(400, format!("{e}\n")),
            }
        }
        _ => text(405, "use GET to read or POST to change the knobs\n"),
    }
}

/// The service itself: sleep the latency (±10 % jitter), then fail at the error rate.
fn app(state: &State) -> Reply {
    let k = state.knobs.get();
    if k.latency_ms > 0 {
        let jitter = 0.9 + state.random() * 0.2;
        std::thread::sleep(Duration::from_micros(
            (k.latency_ms as f64 * 1000.0 * jitter) as u64,
        ));
    }
    if k.error_rate > 0.0 && state.random() < k.error_rate {
        text(
            500,
            format!("injected error from {} {}\n", state.track, state.version),
        )
    } else {
        text(
            200,
            format!("hello from {} {}\n", state.track, state.version),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs::Values;
    use std::io::{BufRead, Read};

    fn state(version: &str, error_rate: f64) -> State {
        State::new(
            version,
            "canary",
            Knobs::new(Values {
                error_rate,
                latency_ms: 0,
            }),
            42,
        )
    }

    fn req(method: &str, target: &str, body: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            keep_alive: true,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn app_names_version_and_track() {
        let s = state("1.1.0", 0.0);
        let r = handle(&req("GET", "/", ""), &s);
        assert_eq!(
            (r.status, r.body.as_str(), r.counted),
            (200, "hello from canary 1.1.0\n", true)
        );
        assert_eq!(handle(&req("DELETE", "/", ""), &s).status, 405);
    }

    #[test]
    fn error_rate_extremes() {
        let s = state("1.0.0", 1.0);
        assert!((0..100).all(|_| handle(&req("GET", "/", ""), &s).status == 500));
        let s = state("1.0.0", 0.0);
        assert!((0..100).all(|_| handle(&req("GET", "/x", ""), &s).status == 200));
    }

    #[test]
    fn error_rate_is_roughly_honoured() {
        let s = state("1.0.0", 0.3);
        let errors = (0..10_000)
            .filter(|_| handle(&req("GET", "/", ""), &s).status == 500)
            .count();
        assert!(
            (2_700..3_300).contains(&errors),
            "{errors} errors of 10000 at 30 %"
        );
    }

    #[test]
    fn health() {
        let r = handle(&req("GET", "/health", ""), &state("1.0.0", 1.0));
        assert_eq!((r.status, r.body.as_str(), r.counted), (200, "ok\n", false));
        let r = handle(&req("GET", "/health", ""), &state("9.9.9-unhealthy", 0.0));
        assert_eq!(r.status, 503);
    }

    #[test]
    fn knobs_over_http() {
        let s = state("1.0.0", 0.0);
        let r = handle(
            &req("POST", "/knobs?error_rate=0.1&latency_ms=1200", ""),
            &s,
        );
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "{\"error_rate\":0.1,\"latency_ms\":1200}\n")
        );
        let r = handle(&req("GET", "/knobs", ""), &s);
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "{\"error_rate\":0.1,\"latency_ms\":1200}\n")
        );
        // A form body works too.
        let r = handle(&req("POST", "/knobs", "latency_ms=0\n"), &s);
        assert_eq!(r.body, "{\"error_rate\":0.1,\"latency_ms\":0}\n");
        // Invalid: 400 and nothing changes.
        let r = handle(
            &req("POST", "/knobs?error_rate=0.5&latency_ms=lots", ""),
            &s,
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(
            s.knobs.get(),
            Values {
                error_rate: 0.1,
                latency_ms: 0
            }
        );
        // GET never changes anything.
        assert_eq!(
            handle(&req("GET", "/knobs?error_rate=1", ""), &s).status,
            405
        );
        assert_eq!(s.knobs.get().error_rate, 0.1);
        assert!(!r.counted);
    }

    #[test]
    fn metrics_count_the_service_only() {
        let s = state("1.0.0", 0.0);
        for target in ["/", "/", "/health", "/knobs", "/metrics"] {
            let r = handle(&req("GET", target, ""), &s);
            if r.counted {
                s.metrics.observe(r.status, Duration::from_millis(1));
            }
        }
        let r = handle(&req("GET", "/metrics", ""), &s);
        assert!(r.content_type.starts_with("text/plain; version=0.0.4"));
        assert!(
            r.body.contains("demo_requests_total{status=\"200\"} 2\n"),
            "{}",
            r.body
        );
        assert!(r
            .body
            .contains("demo_info{version=\"1.0.0\",track=\"canary\"} 1\n"));
    }

    /// A real server on an ephemeral port: keep-alive, `Connection: close`, garbage.
    #[test]
    fn over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let s = Arc::new(state("2.0.0", 0.0));
        std::thread::spawn(move || run(listener, s));

        let read_response = |r: &mut BufReader<TcpStream>| -> (String, String) {
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            (head, String::from_utf8(body).unwrap())
        };

        let mut c = TcpStream::connect(addr).unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        // Two requests on one connection, the second pipelined with a body before it.
        c.write_all(b"POST /knobs HTTP/1.1\r\nContent-Length: 12\r\n\r\nlatency_ms=1GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (head, body) = read_response(&mut r);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(body, "{\"error_rate\":0,\"latency_ms\":1}\n");
        let (head, body) = read_response(&mut r);
        assert!(head.contains("Connection: keep-alive"), "{head}");
        assert_eq!(body, "hello from canary 2.0.0\n");
        // Connection: close is answered, then the server closes.
        c.write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let (head, body) = read_response(&mut r);
        assert!(head.contains("Connection: close"), "{head}");
        assert_eq!(body, "ok\n");
        let mut rest = Vec::new();
        assert_eq!(r.read_to_end(&mut rest).unwrap(), 0);

        // Garbage: 400 and close; the server keeps serving others.
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"\x16\x03\x01 not http at all\r\n\r\n")
            .unwrap();
        let mut all = String::new();
        c.read_to_string(&mut all).unwrap();
        assert!(all.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{all}");
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut all = String::new();
        c.read_to_string(&mut all).unwrap();
        assert!(all.ends_with("hello from canary 2.0.0\n"), "{all}");
    }
}
