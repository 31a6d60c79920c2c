//! Just enough HTTP/1.x request parsing for the demo service.

use std::io::{BufRead, Read};

#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub keep_alive: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct BadRequest;

const MAX_LINE: usize = 8192;
const MAX_HEADERS: usize = 100;

fn read_line<R: BufRead>(r: &mut R) -> Result<Option<String>, BadRequest> {
    let mut buf = Vec::new();
    let n = r
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(|_| BadRequest)?;
    if n == 0 {
        return Ok(None);
    }
    if n > MAX_LINE {
        return Err(BadRequest);
    }
    let s = String::from_utf8(buf).map_err(|_| BadRequest)?;
    Ok(Some(s.trim_end_matches(['\r', '\n']).to_string()))
}

/// Read one request (and skip its body); `Ok(None)` at a clean end of the connection.
pub fn read_request<R: BufRead>(r: &mut R) -> Result<Option<Request>, BadRequest> {
    let Some(line) = read_line(r)? else {
        return Ok(None);
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(BadRequest);
    };
    if parts.next().is_some() || !path.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(BadRequest);
    }
    let mut keep_alive = version == "HTTP/1.1";
    let mut length: u64 = 0;
    for _ in 0..MAX_HEADERS {
        let Some(h) = read_line(r)? else {
            return Err(BadRequest);
        };
        if h.is_empty() {
            if length > 0 {
                std::io::copy(&mut r.take(length), &mut std::io::sink()).map_err(|_| BadRequest)?;
            }
            return Ok(Some(Request {
                method: method.to_string(),
                path: path.to_string(),
                keep_alive,
            }));
        }
        let (name, value) = h.split_once(':').ok_or(BadRequest)?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
            "content-length" => length = value.parse().map_err(|_| BadRequest)?,
            _ => {}
        }
    }
    Err(BadRequest)
}

pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(raw: &str) -> Result<Option<Request>, BadRequest> {
        read_request(&mut BufReader::new(raw.as_bytes()))
    }

    #[test]
    fn parses_keep_alive_defaults() {
        let r = parse("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.keep_alive),
            ("GET", "/health", true)
        );
        let r = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!r.keep_alive);
        let r = parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!r.keep_alive);
    }

    #[test]
    fn skips_bodies_between_requests() {
        let raw = "POST /knobs HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n";
        let mut r = BufReader::new(raw.as_bytes());
        assert_eq!(read_request(&mut r).unwrap().unwrap().path, "/knobs");
        assert_eq!(read_request(&mut r).unwrap().unwrap().path, "/");
        assert_eq!(read_request(&mut r).unwrap(), None);
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse("hello\r\n\r\n").is_err());
        assert!(parse("GET nopath HTTP/1.1\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/1.1\r\nbad header\r\n\r\n").is_err());
        assert!(parse("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse(&format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000))).is_err());
        assert!(parse("GET / HTTP/1.1\r\n").is_err());
    }

    #[test]
    fn query_pairs() {
        assert_eq!(
            parse_query("error_rate=0.1&latency_ms=5&x"),
            vec![
                ("error_rate".into(), "0.1".into()),
                ("latency_ms".into(), "5".into()),
                ("x".into(), "".into())
            ]
        );
    }
}
