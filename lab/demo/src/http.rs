//! Just enough HTTP/1.x for the demo service: request parsing (with small bodies), query and
//! form decoding, and response writing.

use std::io::{BufRead, Read, Write};

#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The raw query string (after `?`), empty when there is none.
    pub query: String,
    pub keep_alive: bool,
    pub body: Vec<u8>,
}

/// Why no request could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The connection failed or timed out: close it without answering.
    Io,
    /// The request is malformed: answer 400 (with the reason) and close.
    Bad(&'static str),
    /// The body is larger than `MAX_BODY`: answer 413 and close.
    TooLarge,
}

const MAX_LINE: usize = 8192;
const MAX_HEADERS: usize = 100;
pub const MAX_BODY: u64 = 64 * 1024;

/// One line without its CRLF; `Ok(None)` at end of stream before any byte.
fn read_line<R: BufRead>(r: &mut R) -> Result<Option<String>, ReadError> {
    let mut buf = Vec::new();
    let n = r
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .map_err(|_| ReadError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    if n > MAX_LINE {
        return Err(ReadError::Bad("line too long"));
    }
    if buf.last() != Some(&b'\n') {
        // The peer closed the connection in the middle of a line.
        return Err(ReadError::Io);
    }
    let s = String::from_utf8(buf).map_err(|_| ReadError::Bad("not UTF-8"))?;
    Ok(Some(s.trim_end_matches(['\r', '\n']).to_string()))
}

/// Read one request, body included; `Ok(None)` when the peer closed the connection cleanly
/// between requests.
pub fn read_request<R: BufRead>(r: &mut R) -> Result<Option<Request>, ReadError> {
    let mut line = match read_line(r)? {
        Some(l) => l,
        None => return Ok(None),
    };
    // RFC 9112 2.2: ignore at least one empty line before the request line.
    if line.is_empty() {
        line = match read_line(r)? {
            Some(l) => l,
            None => return Ok(None),
        };
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad("malformed request line"));
    };
    if parts.next().is_some()
        || method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Err(ReadError::Bad("malformed request line"));
    }
    if !target.starts_with('/') {
        return Err(ReadError::Bad("request target must be a path"));
    }
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(ReadError::Bad("unsupported HTTP version")),
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let mut length: Option<u64> = None;
    for _ in 0..MAX_HEADERS {
        let Some(h) = read_line(r)? else {
            return Err(ReadError::Io);
        };
        if h.is_empty() {
            let len = length.unwrap_or(0);
            if len > MAX_BODY {
                return Err(ReadError::TooLarge);
            }
            let mut body = Vec::with_capacity(len as usize);
            r.take(len)
                .read_to_end(&mut body)
                .map_err(|_| ReadError::Io)?;
            if (body.len() as u64) < len {
                return Err(ReadError::Io);
            }
            return Ok(Some(Request {
                method: method.to_string(),
                path: path.to_string(),
                query: query.to_string(),
                keep_alive,
                body,
            }));
        }
        let (name, value) = h
            .split_once(':')
            .ok_or(ReadError::Bad("malformed header"))?;
        if name.is_empty() || name.ends_with([' ', '\t']) || name.starts_with([' ', '\t']) {
            // Covers obsolete line folding too.
            return Err(ReadError::Bad("malformed header"));
        }
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "connection" => {
                for token in value.split(',').map(|t| t.trim().to_ascii_lowercase()) {
                    match token.as_str() {
                        "close" => keep_alive = false,
                        "keep-alive" => keep_alive = true,
                        _ => {}
                    }
                }
            }
            "content-length" => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| ReadError::Bad("bad Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(ReadError::Bad("conflicting Content-Length"));
                }
                length = Some(n);
            }
            "transfer-encoding" => return Err(ReadError::Bad("Transfer-Encoding not supported")),
            _ => {}
        }
    }
    Err(ReadError::Bad("too many headers"))
}

/// `a=1&b=2` (query string or `application/x-www-form-urlencoded` body) into decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Percent-decoding (and `+` as space); invalid escapes are kept as they are.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// The whole response in one buffer (one write: no small segments for Nagle to hold back).
pub fn response(status: u16, content_type: &str, body: &str, keep_alive: bool) -> Vec<u8> {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    let mut out = Vec::with_capacity(128 + body.len());
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: {conn}\r\nCache-Control: no-store\r\n\r\n{body}",
        reason(status),
        body.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(raw: &str) -> Result<Option<Request>, ReadError> {
        read_request(&mut BufReader::new(raw.as_bytes()))
    }

    #[test]
    fn parses_method_path_query() {
        let r = parse("POST /knobs?error_rate=0.1 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/knobs");
        assert_eq!(r.query, "error_rate=0.1");
        assert!(r.body.is_empty());
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |raw: &str| parse(raw).unwrap().unwrap().keep_alive;
        assert!(ka("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nconnection: TE, Close\r\n\r\n"));
    }

    #[test]
    fn reads_bodies_and_pipelined_requests() {
        let raw = "POST /knobs HTTP/1.1\r\nContent-Length: 14\r\n\r\nerror_rate=0.5GET / HTTP/1.1\r\n\r\n";
        let mut r = BufReader::new(raw.as_bytes());
        let first = read_request(&mut r).unwrap().unwrap();
        assert_eq!(first.path, "/knobs");
        assert_eq!(first.body, b"error_rate=0.5");
        assert_eq!(read_request(&mut r).unwrap().unwrap().path, "/");
        assert_eq!(read_request(&mut r).unwrap(), None);
    }

    #[test]
    fn clean_close_and_truncation() {
        assert_eq!(parse(""), Ok(None));
        // Closed in the middle of the head or the body: no answer, just close.
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n"), Err(ReadError::Io));
        assert_eq!(parse("GET / HTT"), Err(ReadError::Io));
        assert_eq!(
            parse("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"),
            Err(ReadError::Io)
        );
    }

    #[test]
    fn refuses_garbage() {
        let bad = |raw: &str| matches!(parse(raw), Err(ReadError::Bad(_)));
        assert!(bad("hello\r\n\r\n"));
        assert!(bad("GET nopath HTTP/1.1\r\n\r\n"));
        assert!(bad("GET / HTTP/2.0\r\n\r\n"));
        assert!(bad("get / HTTP/1.1\r\n\r\n"));
        assert!(bad("GET  / HTTP/1.1\r\n\r\n"));
        assert!(bad("GET / HTTP/1.1 extra\r\n\r\n"));
        assert!(bad("GET / HTTP/1.1\r\nbad header\r\n\r\n"));
        assert!(bad("GET / HTTP/1.1\r\nHost : x\r\n\r\n"));
        assert!(bad("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"));
        assert!(bad("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"));
        assert!(bad("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"));
        assert!(bad(
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
        ));
        assert!(bad(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ));
        assert!(bad(&format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000))));
        let many: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect();
        assert!(bad(&format!("GET / HTTP/1.1\r\n{many}\r\n")));
    }

    #[test]
    fn refuses_large_bodies() {
        assert_eq!(
            parse("POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
            Err(ReadError::TooLarge)
        );
    }

    #[test]
    fn invalid_utf8_is_bad() {
        let raw = b"GET /\xff HTTP/1.1\r\n\r\n";
        assert!(matches!(
            read_request(&mut BufReader::new(&raw[..])),
            Err(ReadError::Bad(_))
        ));
    }

    #[test]
    fn query_pairs_are_decoded() {
        assert_eq!(
            parse_query("error_rate=0.1&latency_ms=5&x&&a%2Fb=c+d%zz%4"),
            vec![
                ("error_rate".into(), "0.1".into()),
                ("latency_ms".into(), "5".into()),
                ("x".into(), "".into()),
                ("a/b".into(), "c d%zz%4".into()),
            ]
        );
    }

    #[test]
    fn response_is_well_formed() {
        let r = String::from_utf8(response(503, "text/plain", "no\n", false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(r.contains("Content-Length: 3\r\n"));
        assert!(r.contains("Connection: close\r\n"));
        assert!(r.ends_with("\r\n\r\nno\n"));
    }
}
