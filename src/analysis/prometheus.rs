//! Prometheus as a [`MetricProvider`]: PromQL templates per service and track, asked over the
//! HTTP API (`/api/v1/query`) at each judgement. Anything but one fresh, finite number per
//! query — an HTTP error, a body that is not JSON, an empty result, NaN, a stale series, no
//! answer in time — is a reason for *inconclusive*, never a pass.

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;

use super::provider::{MetricProvider, Reading};
use super::window::Stats;
use crate::config::{Prometheus, Queries};
use crate::domain::TrackName;

/// The most of an answer read: one instant query for one number is a few hundred bytes; a
/// server that sends megabytes is not answering that (and is not buffered).
pub const MAX_BODY: usize = 1024 * 1024;

pub struct PrometheusProvider {
    client: reqwest::Client,
    /// `http://host:port` (no trailing slash).
    base: String,
    settings: Prometheus,
    service: String,
}

impl PrometheusProvider {
    pub fn new(url: &str, settings: &Prometheus, service: &str) -> Result<Self, String> {
        let client = crate::http::client_builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| format!("cannot set up an HTTP client for Prometheus: {e}"))?;
        Ok(PrometheusProvider {
            client,
            base: url.trim_end_matches('/').to_string(),
            settings: settings.clone(),
            service: service.to_string(),
        })
    }

    /// One instant query at `time`; its single value, or why there is none.
    async fn query(&self, name: &str, expr: &str, now_s: f64) -> Result<f64, String> {
        let endpoint = format!("{}/api/v1/query", self.base);
        let url = reqwest::Url::parse_with_params(
            &endpoint,
            &[("query", expr), ("time", &format!("{now_s:.3}"))],
        )
        .map_err(|e| format!("prometheus url {endpoint} is not valid: {e}"))?;
        let why = |what: String| format!("prometheus {name} query `{expr}`: {what}");
        let resp = self.client.get(url).send().await.map_err(|e| {
            why(if e.is_timeout() {
                format!(
                    "no answer from {} within {:?}",
                    self.base, self.settings.timeout
                )
            } else {
                format!("cannot reach Prometheus at {}: {}", self.base, chain(&e))
            })
        })?;
        let status = resp.status().as_u16();
        let body = crate::http::read_bounded(resp, MAX_BODY)
            .await
            .map_err(|e| {
                why(match e {
                    crate::http::BodyError::Read(e) if e.is_timeout() => format!(
                        "the answer from {} did not finish within {:?}",
                        self.base, self.settings.timeout
                    ),
                    crate::http::BodyError::Read(e) => {
                        format!("reading the answer failed: {}", chain(&e))
                    }
                    e @ crate::http::BodyError::TooLarge { .. } => {
                        format!("{e} (from {})", self.base)
                    }
                })
            })?;
        let body = String::from_utf8_lossy(&body);
        parse_response(status, &body)
            .and_then(|s| fresh(s, now_s, self.settings.max_age))
            .map_err(why)
    }
}

/// An error with its causes (`connection refused` sits a few levels down).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl MetricProvider for PrometheusProvider {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    fn read(&mut self, track: TrackName, now_ms: i64, window_ms: i64) -> BoxFuture<'_, Reading> {
        Box::pin(async move {
            let now_s = now_ms as f64 / 1000.0;
            let track_name = track.to_string();
            let q = |t: &str| expand(t, &self.service, &track_name, window_ms);
            let Queries {
                requests,
                error_rate,
                p99,
                age,
            } = &self.settings.queries;
            let exprs = [q(requests), q(error_rate), q(p99), q(age)];
            let (requests, error_rate, p99, age) = tokio::join!(
                self.query("requests", &exprs[0], now_s),
                self.query("error_rate", &exprs[1], now_s),
                self.query("p99", &exprs[2], now_s),
                self.query("age", &exprs[3], now_s),
            );
            let age = age?;
            if age > self.settings.max_age.as_secs_f64() {
                return Err(format!(
                    "prometheus: the newest {track} sample is {age:.0} s old (max_age {:?}): stale",
                    self.settings.max_age
                ));
            }
            stats(requests?, error_rate?, p99?, now_ms, window_ms)
        })
    }
}

/// A template with `{service}`, `{track}` and `{window}` filled in.
pub fn expand(template: &str, service: &str, track: &str, window_ms: i64) -> String {
    template
        .replace("{service}", service)
        .replace("{track}", track)
        .replace("{window}", &promql_duration(window_ms))
}

/// A PromQL range: whole seconds when it is, else milliseconds.
pub fn promql_duration(ms: i64) -> String {
    let ms = ms.max(1);
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// One sample of an instant query: when, and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at_s: f64,
    pub value: f64,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

/// Read an `/api/v1/query` answer: exactly one number, or why not.
pub fn parse_response(http_status: u16, body: &str) -> Result<Point, String> {
    let head = || {
        let b: String = body.trim().chars().take(120).collect();
        if b.is_empty() {
            "an empty body".to_string()
        } else {
            format!("`{b}`")
        }
    };
    let answer: Result<Answer, _> = serde_json::from_str(body);
    if !(200..300).contains(&http_status) {
        return Err(match answer {
            Ok(Answer {
                error: Some(e),
                error_type,
                ..
            }) => format!(
                "HTTP {http_status} ({}): {e}",
                error_type.as_deref().unwrap_or("error")
            ),
            _ => format!("HTTP {http_status} with {}", head()),
        });
    }
    let answer = answer.map_err(|_| format!("the answer is not Prometheus JSON: {}", head()))?;
    if answer.status != "success" {
        return Err(format!(
            "status {} ({}): {}",
            answer.status,
            answer.error_type.as_deref().unwrap_or("?"),
            answer.error.as_deref().unwrap_or("no error message")
        ));
    }
    let data = answer
        .data
        .ok_or_else(|| "the answer has no data".to_string())?;
    let pair = match data.result_type.as_str() {
        "vector" => {
            let series = data
                .result
                .as_array()
                .ok_or_else(|| "a vector answer without a list of series".to_string())?;
            match series.as_slice() {
                [] => return Err("empty result: no series matched (no data)".to_string()),
                [one] => one
                    .get("value")
                    .cloned()
                    .ok_or_else(|| "a series without a value".to_string())?,
                many => {
                    return Err(format!(
                        "{} series in the result; the query must aggregate to one (e.g. sum(…))",
                        many.len()
                    ))
                }
            }
        }
        "scalar" => data.result,
        other => {
            return Err(format!(
                "a {other} result; the query must give one number (an instant vector or scalar)"
            ))
        }
    };
    let (at, value) = match pair.as_array().map(Vec::as_slice) {
        Some([at, value]) => (at.as_f64(), value.as_str()),
        _ => (None, None),
    };
    let (Some(at_s), Some(text)) = (at, value) else {
        return Err(format!("a sample that is not [time, \"value\"]: {pair}"));
    };
    let value: f64 = text
        .parse()
        .map_err(|_| format!("the value `{text}` is not a number"))?;
    if value.is_nan() {
        return Err("the value is NaN (no requests in the window, or 0/0)".to_string());
    }
    if value.is_infinite() {
        return Err(format!("the value is {value}"));
    }
    Ok(Point { at_s, value })
}

/// The point, when its timestamp is within `max_age` of now.
pub fn fresh(p: Point, now_s: f64, max_age: Duration) -> Result<f64, String> {
    let age = now_s - p.at_s;
    if age.abs() > max_age.as_secs_f64() {
        return Err(format!(
            "the sample is stale: taken at {:.0}, {age:.0} s from now (max_age {max_age:?})",
            p.at_s
        ));
    }
    Ok(p.value)
}

/// The three figures as the judge's stats; values out of their range are reasons.
pub fn stats(
    requests: f64,
    error_rate: f64,
    p99_s: f64,
    now_ms: i64,
    window_ms: i64,
) -> Result<Stats, String> {
    if requests < 0.0 {
        return Err(format!("prometheus: requests {requests} is negative"));
    }
    if !(0.0..=1.0).contains(&error_rate) {
        return Err(format!(
            "prometheus: error rate {error_rate} is not between 0 and 1; the error_rate query must give a fraction"
        ));
    }
    if p99_s < 0.0 {
        return Err(format!("prometheus: P99 {p99_s} s is negative"));
    }
    let requests_n = requests.round() as u64;
    Ok(Stats {
        requests: requests_n,
        errors: (error_rate * requests).round() as u64,
        error_rate,
        // Not asked: the judge rests on the error rate and P99 only.
        p50_ms: f64::NAN,
        p90_ms: f64::NAN,
        p99_ms: p99_s * 1000.0,
        from_ms: now_ms - window_ms,
        to_ms: now_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(value: &str) -> String {
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1790000000.5,"{value}"]}}]}}}}"#
        )
    }

    #[test]
    fn one_number_is_read() {
        let p = parse_response(200, &vector("0.25")).unwrap();
        assert_eq!(
            p,
            Point {
                at_s: 1_790_000_000.5,
                value: 0.25
            }
        );
        let scalar =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1790000000,"3"]}}"#;
        assert_eq!(parse_response(200, scalar).unwrap().value, 3.0);
    }

    #[test]
    fn empty_result_is_no_data() {
        let e = parse_response(
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        )
        .unwrap_err();
        assert!(e.contains("empty result"), "{e}");
    }

    #[test]
    fn nan_and_infinity_are_not_numbers_to_judge() {
        assert!(parse_response(200, &vector("NaN"))
            .unwrap_err()
            .contains("NaN"));
        assert!(parse_response(200, &vector("+Inf"))
            .unwrap_err()
            .contains("inf"));
        assert!(parse_response(200, &vector("lots"))
            .unwrap_err()
            .contains("not a number"));
    }

    #[test]
    fn http_errors_say_what_prometheus_said() {
        let e = parse_response(
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
        )
        .unwrap_err();
        assert_eq!(e, "HTTP 400 (bad_data): parse error at char 5");
        let e = parse_response(503, "Service Unavailable").unwrap_err();
        assert_eq!(e, "HTTP 503 with `Service Unavailable`");
        let e = parse_response(502, "").unwrap_err();
        assert_eq!(e, "HTTP 502 with an empty body");
    }

    #[test]
    fn bodies_that_are_not_prometheus_json() {
        for body in ["<html>proxy login</html>", "", "{\"status\":1}", "[]"] {
            let e = parse_response(200, body).unwrap_err();
            assert!(e.contains("not Prometheus JSON"), "{body}: {e}");
        }
        let e = parse_response(
            200,
            r#"{"status":"error","errorType":"timeout","error":"query timed out"}"#,
        )
        .unwrap_err();
        assert!(e.contains("query timed out"), "{e}");
        let e = parse_response(200, r#"{"status":"success"}"#).unwrap_err();
        assert!(e.contains("no data"), "{e}");
    }

    #[test]
    fn more_than_one_series_or_a_matrix_is_refused() {
        let two = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}"#;
        assert!(parse_response(200, two).unwrap_err().contains("2 series"));
        let m = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(parse_response(200, m).unwrap_err().contains("matrix"));
        let odd = r#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1]}]}}"#;
        assert!(parse_response(200, odd).unwrap_err().contains("not [time"));
    }

    #[test]
    fn stale_samples_are_refused() {
        let p = Point {
            at_s: 1000.0,
            value: 1.0,
        };
        assert_eq!(fresh(p, 1010.0, Duration::from_secs(30)), Ok(1.0));
        let e = fresh(p, 1100.0, Duration::from_secs(30)).unwrap_err();
        assert!(e.contains("stale"), "{e}");
    }

    #[test]
    fn figures_out_of_range_are_refused_and_units_converted() {
        let s = stats(200.0, 0.05, 0.25, 10_000, 5_000).unwrap();
        assert_eq!((s.requests, s.errors), (200, 10));
        assert_eq!(s.p99_ms, 250.0);
        assert_eq!((s.from_ms, s.to_ms), (5_000, 10_000));
        assert!(stats(-1.0, 0.0, 0.1, 0, 1).is_err());
        assert!(stats(10.0, 1.5, 0.1, 0, 1).is_err());
        assert!(stats(10.0, 0.0, -0.1, 0, 1).is_err());
    }

    #[test]
    fn templates_expand() {
        let q = Queries::default();
        let e = expand(&q.requests, "demo", "canary", 60_000);
        assert_eq!(
            e,
            r#"sum(increase(demo_requests_total{service="demo",track="canary"}[60s]))"#
        );
        assert_eq!(promql_duration(1500), "1500ms");
        assert!(!expand(&q.p99, "demo", "stable", 5000).contains('{') || q.p99.contains("le"));
    }

    #[tokio::test]
    async fn no_server_is_a_reason_not_a_pass() {
        // A port nothing listens on: bind one, then drop it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut p = PrometheusProvider::new(
            &format!("http://127.0.0.1:{port}"),
            &Prometheus::default(),
            "demo",
        )
        .unwrap();
        let e = p
            .read(TrackName::Canary, 1_790_000_000_000, 5_000)
            .await
            .unwrap_err();
        assert!(e.contains("cannot reach Prometheus"), "{e}");
    }

    /// A server that answers `body` to every request, with or without a Content-Length.
    async fn answering(body: Vec<u8>, content_length: bool) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let head = if content_length {
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n".to_string()
                    };
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(&body).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        port
    }

    /// Issue 13, fault 12: an answer was read whole, however large.
    #[tokio::test]
    async fn an_answer_larger_than_the_bound_is_refused() {
        let now_s = 1_790_000_000.0;
        let pad = "x".repeat(2 * MAX_BODY);
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"pad":"{pad}"}},"value":[{now_s},"1"]}}]}}}}"#
        )
        .into_bytes();
        for content_length in [true, false] {
            let port = answering(body.clone(), content_length).await;
            let p = PrometheusProvider::new(
                &format!("http://127.0.0.1:{port}"),
                &Prometheus::default(),
                "demo",
            )
            .unwrap();
            let e = p.query("requests", "up", now_s).await.unwrap_err();
            assert!(e.contains("larger than"), "{e}");
        }
        // A small answer from the same server still reads.
        let small = format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[{now_s},"1"]}}]}}}}"#
        );
        let port = answering(small.into_bytes(), false).await;
        let p = PrometheusProvider::new(
            &format!("http://127.0.0.1:{port}"),
            &Prometheus::default(),
            "demo",
        )
        .unwrap();
        assert_eq!(p.query("requests", "up", now_s).await, Ok(1.0));
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        // Accepts and never answers.
        let _keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let settings = Prometheus {
            timeout: Duration::from_millis(300),
            ..Prometheus::default()
        };
        let mut p = PrometheusProvider::new(&format!("http://127.0.0.1:{port}"), &settings, "demo")
            .unwrap();
        let e = p
            .read(TrackName::Canary, 1_790_000_000_000, 5_000)
            .await
            .unwrap_err();
        assert!(e.contains("no answer"), "{e}");
    }
}
