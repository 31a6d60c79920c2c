//! Read and set the weights of the servers of one `upstream NAME { … }` block, as pure
//! functions over the text of a config file.
//!
//! The file is read by a tokenizer that follows nginx's own ([`super::tokenize`]), a locator
//! finds the target upstream and its `server` directives with the byte span of every token,
//! and a rewriter replaces, inserts or deletes only the spans of the parameters it changes.
//! Every other byte — comments, other parameters, other upstreams (including ones whose name
//! starts with the target's), `server { }` blocks, strings, CRLF line ends, tabs — stays
//! identical, so a diff of the file shows exactly the weights that moved.
//!
//! # How 0 % is written: `down`
//!
//! NGINX weights are integers ≥ 1 (`weight=0` is a config error), so a server that must get
//! no traffic is given the `down` flag, appended after its last parameter. Its `weight=` is
//! left as it was, so the file still says what the server had and raising it again only
//! rewrites the weight and removes the flag. `down` really takes the server out of the
//! rotation: no requests, no passive health checks, no log lines.
//!
//! # The optional "trickle"
//!
//! A canary at 0 % is therefore invisible. A caller that wants a parked canary to keep serving a
//! little traffic (so its errors and latency stay observable) asks for weight 1 instead of 0 —
//! sluice calls this the service's "trickle" setting. That choice belongs to the caller
//! (`domain::Split::weights`); this module writes exactly the weights it is given.
//!
//! # Refusals
//!
//! A listed address that is not in the upstream, an upstream that is missing or defined twice,
//! a file nginx could not parse, and a change that would leave every non-backup server `down`
//! (NGINX would then answer only 502s) are errors, and no text is returned.

use std::ops::Range;

use super::tokenize::{line_col, tokenize, unquote, Kind, Token};

/// One `server` directive of an upstream as read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// The address as nginx reads it (quotes removed), e.g. `127.0.0.11:8081`.
    pub addr: String,
    /// 1 when absent, as in NGINX.
    pub weight: u32,
    pub down: bool,
    pub backup: bool,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    /// The file does not parse as nginx config (unbalanced braces, an unterminated quote, a
    /// directive without `;`, …). `column` counts characters from 1.
    #[error("syntax error at {line}:{column}: {message}; fix the file (`nginx -t` reports the same problem)")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("no `upstream {0} {{ … }}` block in the file; check the service's nginx.upstream name and nginx.upstream_file path")]
    UpstreamNotFound(String),
    #[error("`upstream {0}` is defined twice (lines {1} and {2}); sluice cannot tell which to edit — remove or rename one")]
    UpstreamTwice(String, usize, usize),
    #[error("upstream {upstream} has no `server {addr}`; add it (e.g. `server {addr} weight=1 down;`) or fix the address in sluice's config")]
    ServerNotFound { upstream: String, addr: String },
    #[error("upstream {upstream} lists `server {addr}` twice; sluice cannot tell which to change — keep one")]
    ServerTwice { upstream: String, addr: String },
    #[error("upstream {upstream}, server {addr}: `{param}` is not a valid weight; use weight=N with N ≥ 1")]
    BadWeight {
        upstream: String,
        addr: String,
        param: String,
    },
    #[error("server {0} is given more than one weight in one change; give each server one")]
    WeightGivenTwice(String),
    #[error(
        "weight {weight} for {addr} is out of range; use 0 (no traffic, written as `down`) to 1000"
    )]
    WeightOutOfRange { addr: String, weight: u32 },
    #[error("this would mark every non-backup server of upstream {0} down and NGINX would answer only errors; keep at least one server with weight ≥ 1")]
    AllDown(String),
    /// A safety net: the rewritten text did not read back as intended. Never expected.
    #[error("the rewritten upstream {upstream} does not read back as intended ({detail}); nothing was written — please report this with the file")]
    NotVerified { upstream: String, detail: String },
}

/// The largest weight sluice writes; NGINX accepts far more, but percentages never need it.
const MAX_WEIGHT: u32 = 1000;

// ---------------------------------------------------------------------------------------------
// Locator: find the target upstream and its `server` directives, with spans.

/// One parameter of a `server` directive.
struct Param {
    value: String,
    span: Range<usize>,
}

impl Param {
    fn weight(&self) -> Option<&str> {
        self.value.strip_prefix("weight=")
    }
    fn is_down(&self) -> bool {
        self.value == "down"
    }
}

/// One `server ADDR PARAMS…;` directive of the target upstream.
struct Server {
    addr: String,
    addr_span: Range<usize>,
    params: Vec<Param>,
}

fn syntax(text: &str, offset: usize, message: impl Into<String>) -> EditError {
    let (line, column) = line_col(text, offset);
    EditError::Syntax {
        line,
        column,
        message: message.into(),
    }
}

/// Walk the whole file (so a broken file is refused even outside the target) and return the
/// `server` directives directly inside `upstream NAME { … }`.
fn locate(text: &str, upstream: &str) -> Result<Vec<Server>, EditError> {
    let tokens = tokenize(text).map_err(|e| syntax(text, e.offset, e.message))?;
    let value = |t: &Token| unquote(&text[t.span.clone()]);
    // Open blocks: where each `{` is, and whether it is the target upstream.
    let mut blocks: Vec<(usize, bool)> = Vec::new();
    // Words of the directive being read.
    let mut words: Vec<&Token> = Vec::new();
    // Offset of the target's `upstream` word, once seen.
    let mut found: Option<usize> = None;
    let mut servers = Vec::new();
    for t in &tokens {
        match t.kind {
            Kind::Word => words.push(t),
            Kind::Open => {
                let Some(first) = words.first() else {
                    return Err(syntax(
                        text,
                        t.span.start,
                        "unexpected `{` (a block without a directive name)",
                    ));
                };
                let is_target =
                    words.len() == 2 && value(first) == "upstream" && value(words[1]) == upstream;
                if is_target {
                    let here = first.span.start;
                    if let Some(before) = found {
                        return Err(EditError::UpstreamTwice(
                            upstream.to_string(),
                            line_col(text, before).0,
                            line_col(text, here).0,
                        ));
                    }
                    found = Some(here);
                }
                blocks.push((t.span.start, is_target));
                words.clear();
            }
            Kind::Close => {
                if !words.is_empty() {
                    return Err(syntax(
                        text,
                        t.span.start,
                        "unexpected `}`: the directive before it is missing its `;`",
                    ));
                }
                if blocks.pop().is_none() {
                    return Err(syntax(
                        text,
                        t.span.start,
                        "unexpected `}` (unbalanced braces: nothing to close)",
                    ));
                }
            }
            Kind::Semi => {
                if words.is_empty() {
                    return Err(syntax(
                        text,
                        t.span.start,
                        "unexpected `;` (an empty directive)",
                    ));
                }
                let in_target = blocks.last().is_some_and(|b| b.1);
                if in_target && words.len() >= 2 && value(words[0]) == "server" {
                    servers.push(Server {
                        addr: value(words[1]),
                        addr_span: words[1].span.clone(),
                        params: words[2..]
                            .iter()
                            .map(|w| Param {
                                value: value(w),
                                span: w.span.clone(),
                            })
                            .collect(),
                    });
                }
                words.clear();
            }
        }
    }
    if let Some(w) = words.first() {
        return Err(syntax(
            text,
            w.span.start,
            "unexpected end of file: this directive has no `;`",
        ));
    }
    if let Some((open, _)) = blocks.last() {
        return Err(syntax(
            text,
            *open,
            "unexpected end of file: this `{` is never closed (unbalanced braces)",
        ));
    }
    if found.is_none() {
        return Err(EditError::UpstreamNotFound(upstream.to_string()));
    }
    Ok(servers)
}

impl Server {
    /// What nginx makes of the directive: the last `weight=` wins, flags may repeat.
    fn entry(&self, upstream: &str) -> Result<ServerEntry, EditError> {
        let mut e = ServerEntry {
            addr: self.addr.clone(),
            weight: 1,
            down: false,
            backup: false,
        };
        for p in &self.params {
            if let Some(w) = p.weight() {
                e.weight = match w.parse::<u32>() {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        return Err(EditError::BadWeight {
                            upstream: upstream.to_string(),
                            addr: self.addr.clone(),
                            param: p.value.clone(),
                        })
                    }
                };
            } else if p.is_down() {
                e.down = true;
            } else if p.value == "backup" {
                e.backup = true;
            }
        }
        Ok(e)
    }

    /// Where the parameters end (after the last one, or after the address).
    fn params_end(&self) -> usize {
        self.params
            .last()
            .map_or(self.addr_span.end, |p| p.span.end)
    }
}

/// Read the servers of `upstream NAME { ... }`, in file order.
pub fn read_upstream(text: &str, upstream: &str) -> Result<Vec<ServerEntry>, EditError> {
    locate(text, upstream)?
        .iter()
        .map(|s| s.entry(upstream))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Rewriter: turn the asked weights into span edits and apply them.

/// A replacement of `span` in the original text by `with` (an empty span inserts).
struct Edit {
    span: Range<usize>,
    with: String,
}

/// Rewrite `text` so that in `upstream NAME` every listed server address gets the given weight.
///
/// - weight ≥ 1: the server gets `weight=N` (replacing an existing `weight=` parameter in
///   place, or inserted right after the address, separated by one space) and a `down` flag, if
///   present, is removed.
/// - weight 0: the server must receive no traffic; since nginx weights must be ≥ 1 this is
///   written as a `down` flag at the end of the parameters; the existing weight is left as is.
///
/// Every other byte of the file stays identical; addresses not listed are untouched. A listed
/// address that is not in the upstream is an error (nothing is returned), and so is a result in
/// which every non-backup server is down. Setting the same weights twice gives the same text.
pub fn set_weights(
    text: &str,
    upstream: &str,
    weights: &[(String, u32)],
) -> Result<String, EditError> {
    let servers = locate(text, upstream)?;
    let mut expected: Vec<ServerEntry> = servers
        .iter()
        .map(|s| s.entry(upstream))
        .collect::<Result<_, _>>()?;
    let mut edits: Vec<Edit> = Vec::new();
    for (n, (addr, weight)) in weights.iter().enumerate() {
        if weights[..n].iter().any(|(a, _)| same_server(a, addr)) {
            return Err(EditError::WeightGivenTwice(addr.clone()));
        }
        if *weight > MAX_WEIGHT {
            return Err(EditError::WeightOutOfRange {
                addr: addr.clone(),
                weight: *weight,
            });
        }
        let i = find_server(&servers, upstream, addr)?;
        let s = &servers[i];
        if *weight == 0 {
            expected[i].down = true;
            if !s.params.iter().any(Param::is_down) {
                let end = s.params_end();
                edits.push(Edit {
                    span: end..end,
                    with: " down".to_string(),
                });
            }
        } else {
            expected[i].down = false;
            expected[i].weight = *weight;
            let mut has_weight = false;
            // nginx takes the last `weight=`; rewrite every one so none disagrees.
            for p in s.params.iter().filter(|p| p.weight().is_some()) {
                has_weight = true;
                edits.push(Edit {
                    span: p.span.clone(),
                    with: format!("weight={weight}"),
                });
            }
            if !has_weight {
                let at = s.addr_span.end;
                edits.push(Edit {
                    span: at..at,
                    with: format!(" weight={weight}"),
                });
            }
            let mut prev_end = s.addr_span.end;
            for p in &s.params {
                if p.is_down() {
                    edits.push(Edit {
                        span: removal_span(text, prev_end, &p.span),
                        with: String::new(),
                    });
                }
                prev_end = p.span.end;
            }
        }
    }
    let mut primaries = expected.iter().filter(|e| !e.backup).peekable();
    if primaries.peek().is_some() && primaries.all(|e| e.down) {
        return Err(EditError::AllDown(upstream.to_string()));
    }
    let out = apply(text, edits, upstream)?;
    // Safety net: the result must read back as exactly what was asked.
    let got = read_upstream(&out, upstream).map_err(|e| EditError::NotVerified {
        upstream: upstream.to_string(),
        detail: e.to_string(),
    })?;
    if got != expected {
        return Err(EditError::NotVerified {
            upstream: upstream.to_string(),
            detail: format!("expected {expected:?}, read {got:?}"),
        });
    }
    Ok(out)
}

/// Rewrite `text` so that the server `from` of `upstream NAME` is at address `to` instead
/// (its parameters, and every other byte of the file, stay as they are). Used when a track with
/// an allocated port moves to a new port. `from` must be in the upstream exactly once and `to`
/// not at all; moving a server to where it already is gives the same text.
pub fn set_address(text: &str, upstream: &str, from: &str, to: &str) -> Result<String, EditError> {
    let servers = locate(text, upstream)?;
    if from == to {
        find_server(&servers, upstream, from)?;
        return Ok(text.to_string());
    }
    let mut expected: Vec<ServerEntry> = servers
        .iter()
        .map(|s| s.entry(upstream))
        .collect::<Result<_, _>>()?;
    if servers.iter().any(|s| same_server(&s.addr, to)) {
        return Err(EditError::ServerTwice {
            upstream: upstream.to_string(),
            addr: to.to_string(),
        });
    }
    let valid = !to.is_empty()
        && to
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'));
    if !valid {
        return Err(EditError::NotVerified {
            upstream: upstream.to_string(),
            detail: format!("`{to}` is not an address sluice writes"),
        });
    }
    let i = find_server(&servers, upstream, from)?;
    expected[i].addr = to.to_string();
    let edit = Edit {
        span: servers[i].addr_span.clone(),
        with: to.to_string(),
    };
    let out = apply(text, vec![edit], upstream)?;
    let got = read_upstream(&out, upstream).map_err(|e| EditError::NotVerified {
        upstream: upstream.to_string(),
        detail: e.to_string(),
    })?;
    if got != expected {
        return Err(EditError::NotVerified {
            upstream: upstream.to_string(),
            detail: format!("expected {expected:?}, read {got:?}"),
        });
    }
    Ok(out)
}

fn find_server(servers: &[Server], upstream: &str, addr: &str) -> Result<usize, EditError> {
    let mut matching = servers
        .iter()
        .enumerate()
        .filter(|(_, s)| same_server(&s.addr, addr))
        .map(|(i, _)| i);
    match (matching.next(), matching.next()) {
        (Some(i), None) => Ok(i),
        (None, _) => Err(EditError::ServerNotFound {
            upstream: upstream.to_string(),
            addr: nginx_form(addr),
        }),
        (Some(_), Some(_)) => Err(EditError::ServerTwice {
            upstream: upstream.to_string(),
            addr: nginx_form(addr),
        }),
    }
}

/// Host and port of a `server` address as nginx reads it: the port defaults to 80, an IPv6
/// host is written in brackets, host names are case-insensitive; `unix:` paths are compared
/// whole.
fn server_key(addr: &str) -> (String, Option<u16>, String) {
    if addr.starts_with("unix:") {
        return (addr.to_string(), None, String::new());
    }
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) => (Some(n), String::new()),
        Err(_) => (None, p.to_string()),
    };
    let (host, (num, raw)) =
        if let Some((host, after)) = addr.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
            match after.strip_prefix(':') {
                Some(p) => (host, port(p)),
                None => (host, (Some(80), after.to_string())),
            }
        } else {
            match addr.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, port(p)),
                _ => (addr, (Some(80), String::new())),
            }
        };
    (host.to_ascii_lowercase(), num, raw)
}

/// Do two `server` addresses name the same server, as nginx reads them (`10.0.0.2` and
/// `10.0.0.2:80` do)?
pub fn same_server(a: &str, b: &str) -> bool {
    a == b || server_key(a) == server_key(b)
}

/// `HOST:PORT` as an nginx `server` line writes it: an IPv6 host in brackets.
pub fn server_address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// An address as nginx accepts it in a `server` line, for messages and hints: a bare IPv6
/// address followed by a port (`::1:8081`) gets its brackets (`[::1]:8081`).
pub fn nginx_form(addr: &str) -> String {
    if addr.starts_with('[') || addr.starts_with("unix:") || addr.matches(':').count() < 2 {
        return addr.to_string();
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            format!("[{host}]:{port}")
        }
        _ => format!("[{addr}]"),
    }
}

/// Apply non-overlapping edits, copying every byte between them unchanged.
fn apply(text: &str, mut edits: Vec<Edit>, upstream: &str) -> Result<String, EditError> {
    // By start; an insertion sorts before a deletion that starts at the same point.
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(text.len() + 16 * edits.len());
    let mut cursor = 0;
    for e in &edits {
        let Some(keep) = text.get(cursor..e.span.start) else {
            return Err(EditError::NotVerified {
                upstream: upstream.to_string(),
                detail: format!("overlapping edits at byte {}", e.span.start),
            });
        };
        out.push_str(keep);
        out.push_str(&e.with);
        cursor = e.span.end;
    }
    out.push_str(text.get(cursor..).unwrap_or_default());
    Ok(out)
}

/// The span to delete for a flag: the token and the spaces/tabs right before it (so
/// `a down;` becomes `a;`), never a comment, a line break or a byte of the previous token
/// (which ends at `prev_end` and may end in an escaped blank). A flag that begins a line keeps
/// the line's indentation and takes the blanks after it instead.
fn removal_span(text: &str, prev_end: usize, token: &Range<usize>) -> Range<usize> {
    let b = text.as_bytes();
    let mut start = token.start;
    while start > prev_end && matches!(b[start - 1], b' ' | b'\t') {
        start -= 1;
    }
    if start > prev_end && b[start - 1] == b'\n' {
        let mut end = token.end;
        while end < b.len() && matches!(b[end], b' ' | b'\t') {
            end += 1;
        }
        return token.start..end;
    }
    start..token.end
}

/// Share of traffic each server gets, in percent (0..=100, rounded), from the weights of
/// servers that are neither down nor backup; down and backup servers get 0. Rounded shares
/// need not add up to exactly 100 (three equal servers get 33 each).
pub fn traffic_shares(servers: &[ServerEntry]) -> Vec<(String, u8)> {
    let live = |s: &ServerEntry| !s.down && !s.backup;
    let total: u64 = servers
        .iter()
        .filter(|s| live(s))
        .map(|s| u64::from(s.weight))
        .sum();
    servers
        .iter()
        .map(|s| {
            let pct = if live(s) && total > 0 {
                (u64::from(s.weight) * 100 + total / 2) / total
            } else {
                0
            };
            (s.addr.clone(), u8::try_from(pct).unwrap_or(100))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "# upstream demo_backend { server 9.9.9.9; }\n\
http {\n\
    upstream demo_backend_v2 { server 127.0.0.11:8081 weight=7; }\n\
    upstream demo_backend {\n\
        zone demo 64k;   # shared memory\n\
        least_conn;\n\
        keepalive 16;\n\
        server 127.0.0.11:8081 weight=100 max_fails=3 fail_timeout=10s;\n\
        server 127.0.0.11:8082 weight=1 down;\n\
        server 127.0.0.11:8083 backup;\n\
    }\n\
    upstream demo_backend_old { server 127.0.0.11:8082 weight=3 down; }\n\
    server { listen 80; location / { proxy_pass http://demo_backend; return 200 \"{;}#\"; } }\n\
}\n";

    const A: &str = "127.0.0.11:8081";
    const B: &str = "127.0.0.11:8082";

    fn w(pairs: &[(&str, u32)]) -> Vec<(String, u32)> {
        pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
    }

    fn entry(addr: &str, weight: u32, down: bool, backup: bool) -> ServerEntry {
        ServerEntry {
            addr: addr.into(),
            weight,
            down,
            backup,
        }
    }

    /// `set_weights` on a one-upstream text `u`, unwrapped.
    fn set(text: &str, pairs: &[(&str, u32)]) -> String {
        set_weights(text, "u", &w(pairs)).unwrap()
    }

    // --- reading -------------------------------------------------------------------------

    #[test]
    fn reads_weights_flags_and_defaults() {
        assert_eq!(
            read_upstream(CONF, "demo_backend").unwrap(),
            [
                entry(A, 100, false, false),
                entry(B, 1, true, false),
                entry("127.0.0.11:8083", 1, false, true),
            ]
        );
    }

    #[test]
    fn reads_top_level_and_nested_upstreams() {
        let top = "upstream u { server a:1 weight=2; }\n";
        let nested = "http {\n  include mime.types;\n  upstream u { server a:1 weight=2; }\n}\n";
        for text in [top, nested] {
            assert_eq!(
                read_upstream(text, "u").unwrap(),
                [entry("a:1", 2, false, false)]
            );
        }
    }

    #[test]
    fn reads_every_server_parameter_nginx_knows() {
        let text = "upstream u {\n  zone u 64k;\n  resolver 127.0.0.53;\n\
                    server app.internal:80 resolve weight=4 max_conns=10 max_fails=2 \
                    fail_timeout=5s slow_start=30s route=a service=_http._tcp;\n\
                    server unix:/run/app.sock backup;\n}\n";
        assert_eq!(
            read_upstream(text, "u").unwrap(),
            [
                entry("app.internal:80", 4, false, false),
                entry("unix:/run/app.sock", 1, false, true)
            ]
        );
    }

    #[test]
    fn other_directives_in_the_upstream_are_not_servers() {
        for balancer in [
            "least_conn;",
            "ip_hash;",
            "hash $request_uri consistent;",
            "random two least_conn;",
            "random;",
        ] {
            let text = format!(
                "upstream u {{ {balancer} zone z 64k; keepalive 8; keepalive_timeout 60s; \
                 keepalive_requests 100; server a:1 weight=3; server b:1 down; }}"
            );
            assert_eq!(
                read_upstream(&text, "u").unwrap(),
                [entry("a:1", 3, false, false), entry("b:1", 1, true, false)],
                "{balancer}"
            );
            let out = set(&text, &[("a:1", 0), ("b:1", 9)]);
            assert_eq!(
                out,
                text.replace("a:1 weight=3;", "a:1 weight=3 down;")
                    .replace("b:1 down;", "b:1 weight=9;")
            );
        }
    }

    #[test]
    fn a_server_block_is_not_an_upstream_server() {
        let text = "http { server { listen 80; server_name x; } upstream u { server a:1; } \
                    server { listen 81; location / { proxy_pass http://u; } } }";
        assert_eq!(
            read_upstream(text, "u").unwrap(),
            [entry("a:1", 1, false, false)]
        );
    }

    #[test]
    fn quoted_addresses_and_flags_are_read_as_nginx_reads_them() {
        let text = "upstream \"u\" { server \"a:1\" 'weight=4' \"down\"; }";
        assert_eq!(
            read_upstream(text, "u").unwrap(),
            [entry("a:1", 4, true, false)]
        );
        let out = set(text, &[("a:1", 6)]);
        assert_eq!(out, "upstream \"u\" { server \"a:1\" weight=6; }");
    }

    #[test]
    fn the_last_weight_counts_and_flags_may_repeat() {
        let text = "upstream u { server a:1 weight=2 weight=3 down down; server b:1; }";
        assert_eq!(
            read_upstream(text, "u").unwrap()[0],
            entry("a:1", 3, true, false)
        );
        let out = set(text, &[("a:1", 5)]);
        assert_eq!(
            out,
            "upstream u { server a:1 weight=5 weight=5; server b:1; }"
        );
        assert_eq!(
            read_upstream(&out, "u").unwrap()[0],
            entry("a:1", 5, false, false)
        );
    }

    // --- writing -------------------------------------------------------------------------

    #[test]
    fn changes_only_the_weights() {
        let out = set_weights(CONF, "demo_backend", &w(&[(A, 60), (B, 40)])).unwrap();
        let expected = CONF
            .replace("8081 weight=100 max", "8081 weight=60 max")
            .replace("8082 weight=1 down;\n", "8082 weight=40;\n");
        assert_eq!(out, expected);
        // The same addresses in the other upstreams kept their bytes.
        assert!(out.contains("upstream demo_backend_v2 { server 127.0.0.11:8081 weight=7; }"));
        assert!(out.contains("upstream demo_backend_old { server 127.0.0.11:8082 weight=3 down; }"));
        assert!(out.starts_with("# upstream demo_backend { server 9.9.9.9; }\n"));
        assert!(out.contains("return 200 \"{;}#\";"));
    }

    #[test]
    fn a_weight_is_replaced_in_place_or_inserted_after_the_address() {
        let text = "upstream u { server a:1 max_fails=1 weight=2 fail_timeout=3s; server b:1 max_fails=1; server c:1; }";
        assert_eq!(
            set(text, &[("a:1", 7), ("b:1", 8), ("c:1", 9)]),
            "upstream u { server a:1 max_fails=1 weight=7 fail_timeout=3s; \
             server b:1 weight=8 max_fails=1; server c:1 weight=9; }"
        );
    }

    #[test]
    fn zero_adds_down_after_the_last_parameter_and_keeps_the_weight() {
        let out = set_weights(CONF, "demo_backend", &w(&[(A, 0), (B, 100)])).unwrap();
        assert!(
            out.contains("server 127.0.0.11:8081 weight=100 max_fails=3 fail_timeout=10s down;")
        );
        assert!(out.contains("server 127.0.0.11:8082 weight=100;"));
        assert_eq!(
            set("upstream u { server a:1; server b:1; }", &[("a:1", 0)]),
            "upstream u { server a:1 down; server b:1; }"
        );
    }

    #[test]
    fn zero_on_a_server_already_down_changes_nothing() {
        let text = "upstream u { server a:1 down weight=4; server b:1; }";
        assert_eq!(set(text, &[("a:1", 0)]), text);
    }

    #[test]
    fn a_positive_weight_removes_down_wherever_it_is() {
        let cases = [
            ("server a:1 down;", "server a:1 weight=2;"),
            (
                "server a:1 down max_fails=3;",
                "server a:1 weight=2 max_fails=3;",
            ),
            (
                "server a:1 weight=9\tdown\tmax_fails=3;",
                "server a:1 weight=2\tmax_fails=3;",
            ),
            (
                "server a:1 max_fails=3 down;",
                "server a:1 weight=2 max_fails=3;",
            ),
        ];
        for (before, after) in cases {
            let text = format!("upstream u {{ {before} }}");
            assert_eq!(
                set(&text, &[("a:1", 2)]),
                format!("upstream u {{ {after} }}")
            );
        }
    }

    #[test]
    fn down_on_its_own_line_keeps_indentation() {
        let text = "upstream u {\n  server a:1\n    down;\n  server b:1;\n}\n";
        assert_eq!(
            set(text, &[("a:1", 3)]),
            "upstream u {\n  server a:1 weight=3\n    ;\n  server b:1;\n}\n"
        );
    }

    #[test]
    fn crlf_and_tabs_are_kept() {
        let text = "upstream u {\r\n\tserver a:1;\r\n\tserver\tb:2\tmax_fails=1\t;\r\n}\r\n";
        let out = set(text, &[("a:1", 5), ("b:2", 0)]);
        assert_eq!(
            out,
            "upstream u {\r\n\tserver a:1 weight=5;\r\n\tserver\tb:2\tmax_fails=1 down\t;\r\n}\r\n"
        );
        assert_eq!(
            set(&out, &[("b:2", 4)]),
            "upstream u {\r\n\tserver a:1 weight=5;\r\n\tserver\tb:2 weight=4\tmax_fails=1\t;\r\n}\r\n"
        );
    }

    #[test]
    fn several_directives_on_one_line() {
        let text = "upstream u { keepalive 4; server a:1 weight=2; server b:1 down; } upstream v { server a:1; }";
        assert_eq!(
            set(text, &[("a:1", 0), ("b:1", 1)]),
            "upstream u { keepalive 4; server a:1 weight=2 down; server b:1 weight=1; } upstream v { server a:1; }"
        );
    }

    #[test]
    fn comments_inside_the_parameters_do_not_break_anything() {
        let text = "upstream u {\n  server a:1 # stable; weight=9 down {\n    max_fails=3 # why\n    down # parked\n  ;\n  server b:1;\n}\n";
        assert_eq!(
            read_upstream(text, "u").unwrap()[0],
            entry("a:1", 1, true, false)
        );
        let out = set(text, &[("a:1", 7)]);
        assert_eq!(
            out,
            "upstream u {\n  server a:1 weight=7 # stable; weight=9 down {\n    max_fails=3 # why\n    # parked\n  ;\n  server b:1;\n}\n"
        );
        let out = set(&out, &[("a:1", 0)]);
        assert!(out.contains("max_fails=3 down # why\n"), "{out}");
    }

    #[test]
    fn strings_variables_and_includes_around_are_untouched() {
        let text = "include conf.d/*.conf;\n\
                    map $http_x $pool { default \"upstream u { server a:1; }\"; ~^b 'x;}{'; }\n\
                    log_format j escape=json '{\"s\":\"$status\"}';\n\
                    upstream u { hash ${scheme}${host} consistent; server a:1; server b:1; }\n\
                    # upstream u { server a:1 weight=1; }\n";
        let out = set(text, &[("a:1", 3), ("b:1", 0)]);
        assert_eq!(
            out,
            text.replace(
                "server a:1; server b:1; }",
                "server a:1 weight=3; server b:1 down; }"
            )
        );
    }

    #[test]
    fn an_escaped_blank_before_down_is_not_removed() {
        // `max_fails=3\ ` is one word ending in an escaped space; deleting that space would
        // make it escape the `;`.
        let text = "upstream u { server a:1 max_fails=3\\  down; server b:1; }";
        let out = set(text, &[("a:1", 2)]);
        assert_eq!(
            out,
            "upstream u { server a:1 weight=2 max_fails=3\\ ; server b:1; }"
        );
    }

    #[test]
    fn setting_twice_is_setting_once() {
        for pairs in [
            w(&[(A, 0), (B, 100)]),
            w(&[(A, 30), (B, 70)]),
            w(&[(A, 1), (B, 0)]),
        ] {
            let once = set_weights(CONF, "demo_backend", &pairs).unwrap();
            assert_eq!(set_weights(&once, "demo_backend", &pairs).unwrap(), once);
        }
    }

    #[test]
    fn no_weights_means_no_change() {
        assert_eq!(set_weights(CONF, "demo_backend", &[]).unwrap(), CONF);
    }

    #[test]
    fn reads_back_what_was_written_and_returns_to_the_original() {
        let a = set_weights(CONF, "demo_backend", &w(&[(A, 30), (B, 70)])).unwrap();
        assert_eq!(
            read_upstream(&a, "demo_backend").unwrap()[..2],
            [entry(A, 30, false, false), entry(B, 70, false, false)]
        );
        let b = set_weights(&a, "demo_backend", &w(&[(A, 100), (B, 0)])).unwrap();
        assert_eq!(
            read_upstream(&b, "demo_backend").unwrap()[..2],
            [entry(A, 100, false, false), entry(B, 70, true, false)]
        );
        // 100/0 from the original only differs from it in B's weight (1 → … → 70, down).
        assert_eq!(
            b,
            CONF.replace("8082 weight=1 down;\n", "8082 weight=70 down;\n")
        );
    }

    #[test]
    fn a_backup_server_can_be_weighted_and_parked() {
        let text = "upstream u { server a:1; server b:1 backup; }";
        assert_eq!(
            set(text, &[("b:1", 0)]),
            "upstream u { server a:1; server b:1 backup down; }"
        );
        assert_eq!(
            set(text, &[("b:1", 4)]),
            "upstream u { server a:1; server b:1 weight=4 backup; }"
        );
    }

    // --- errors --------------------------------------------------------------------------

    fn err(text: &str, upstream: &str, pairs: &[(&str, u32)]) -> EditError {
        set_weights(text, upstream, &w(pairs)).unwrap_err()
    }

    #[test]
    fn missing_or_duplicate_upstreams() {
        let e = err(CONF, "nope", &[]);
        assert_eq!(e, EditError::UpstreamNotFound("nope".into()));
        assert!(
            e.to_string().starts_with("no `upstream nope { … }` block"),
            "{e}"
        );
        assert!(e.to_string().contains("check"), "{e}");
        // A prefix of an existing name, or a name only in a comment, is not a match.
        assert_eq!(
            err(CONF, "demo", &[]),
            EditError::UpstreamNotFound("demo".into())
        );
        assert_eq!(
            err(
                "# upstream u { server a:1; }\nupstream v { server a:1; }",
                "u",
                &[]
            ),
            EditError::UpstreamNotFound("u".into())
        );
        let e = err(
            "upstream u { server a:1; }\nhttp {\n upstream u { } }",
            "u",
            &[],
        );
        assert_eq!(e, EditError::UpstreamTwice("u".into(), 1, 3));
        assert!(e.to_string().contains("remove or rename one"), "{e}");
    }

    #[test]
    fn unknown_or_ambiguous_servers() {
        let e = err(CONF, "demo_backend", &[("127.0.0.11:9999", 1)]);
        assert_eq!(
            e.to_string(),
            "upstream demo_backend has no `server 127.0.0.11:9999`; add it (e.g. `server \
             127.0.0.11:9999 weight=1 down;`) or fix the address in sluice's config"
        );
        // A server of another upstream or of a `server { }` block does not count.
        let e = err(
            "upstream v { server c:1; } upstream u { server a:1; }",
            "u",
            &[("c:1", 1)],
        );
        assert!(matches!(e, EditError::ServerNotFound { .. }), "{e:?}");
        let e = err(
            "upstream u { server a:1; server a:1 backup; }",
            "u",
            &[("a:1", 1)],
        );
        assert!(matches!(e, EditError::ServerTwice { .. }), "{e:?}");
        assert!(e.to_string().contains("keep one"), "{e}");
    }

    #[test]
    fn one_bad_pair_returns_nothing() {
        // The first pair is fine, the second is not: no partial result exists.
        let e = err(CONF, "demo_backend", &[(A, 10), ("1.1.1.1:1", 1)]);
        assert!(matches!(e, EditError::ServerNotFound { .. }));
    }

    #[test]
    fn bad_weights() {
        for bad in [
            "weight=0",
            "weight=x",
            "weight=",
            "weight=-1",
            "weight=99999999999",
        ] {
            let text = format!("upstream u {{ server a:1 {bad}; }}");
            let e = read_upstream(&text, "u").unwrap_err();
            assert!(matches!(e, EditError::BadWeight { .. }), "{bad}: {e:?}");
            assert!(e.to_string().contains("use weight=N with N ≥ 1"), "{e}");
        }
        let e = err("upstream u { server a:1; }", "u", &[("a:1", 1001)]);
        assert_eq!(
            e,
            EditError::WeightOutOfRange {
                addr: "a:1".into(),
                weight: 1001
            }
        );
        assert!(e.to_string().contains("use 0"), "{e}");
        assert_eq!(
            set("upstream u { server a:1; }", &[("a:1", 1000)]),
            "upstream u { server a:1 weight=1000; }"
        );
        let e = err(
            "upstream u { server a:1 down; server b:1; }",
            "u",
            &[("a:1", 1), ("a:1", 2)],
        );
        assert_eq!(e, EditError::WeightGivenTwice("a:1".into()));
    }

    #[test]
    fn every_server_down_is_refused() {
        let e = err(CONF, "demo_backend", &[(A, 0)]);
        assert_eq!(e, EditError::AllDown("demo_backend".into()));
        assert!(e.to_string().contains("keep at least one server"), "{e}");
        // Both at once, and with a backup server around: backups do not count as serving.
        assert!(matches!(
            err(
                "upstream u { server a:1; server b:1; server c:1 backup; }",
                "u",
                &[("a:1", 0), ("b:1", 0)]
            ),
            EditError::AllDown(_)
        ));
        // Zero for one, positive for the other is fine.
        assert!(set_weights(CONF, "demo_backend", &w(&[(A, 0), (B, 1)])).is_ok());
    }

    #[test]
    fn syntax_errors_say_where() {
        let cases: [(&str, usize, usize, &str); 8] = [
            (
                "upstream u { server \"a:1; }",
                1,
                21,
                "unterminated quoted string",
            ),
            ("upstream u {\n  server a:1;\n", 1, 12, "never closed"),
            ("upstream u { server a:1; }\n}", 2, 1, "nothing to close"),
            ("upstream u { server a:1 }", 1, 25, "missing its `;`"),
            ("upstream u { server a:1; }\nserver", 2, 1, "has no `;`"),
            ("upstream u { server a:1;; }", 1, 25, "unexpected `;`"),
            ("upstream u { { }", 1, 14, "unexpected `{`"),
            (
                "upstream u {\n\t server \"a:1\"x; }",
                2,
                15,
                "unexpected `x`",
            ),
        ];
        for (text, line, column, needle) in cases {
            match read_upstream(text, "u").unwrap_err() {
                EditError::Syntax {
                    line: l,
                    column: c,
                    message,
                } => {
                    assert_eq!((l, c), (line, column), "{text:?}: {message}");
                    assert!(message.contains(needle), "{text:?}: {message}");
                }
                e => panic!("{text:?}: {e:?}"),
            }
            assert!(set_weights(text, "u", &[]).is_err());
        }
        let e = read_upstream("x;\r\n  upstream u { server 'a:1; }", "u").unwrap_err();
        assert!(e.to_string().starts_with("syntax error at 2:23: "), "{e}");
        assert!(e.to_string().contains("fix the file"), "{e}");
    }

    #[test]
    fn a_syntax_error_anywhere_refuses_the_file() {
        // Outside the target, nginx would still refuse the file; so does sluice.
        let e = err(
            "upstream u { server a:1; }\nserver { listen 80; ",
            "u",
            &[("a:1", 1)],
        );
        assert!(matches!(e, EditError::Syntax { line: 2, .. }), "{e:?}");
    }

    // --- traffic shares ------------------------------------------------------------------

    #[test]
    fn shares_ignore_down_and_backup() {
        let s = read_upstream(CONF, "demo_backend").unwrap();
        assert_eq!(
            traffic_shares(&s),
            [
                (A.to_string(), 100),
                (B.to_string(), 0),
                ("127.0.0.11:8083".to_string(), 0)
            ]
        );
    }

    #[test]
    fn shares_are_rounded_percentages() {
        let s = [
            entry("a", 1, false, false),
            entry("b", 2, false, false),
            entry("c", 5, true, false),
        ];
        assert_eq!(
            traffic_shares(&s),
            [("a".into(), 33), ("b".into(), 67), ("c".into(), 0)]
        );
        let s = [entry("a", 99, false, false), entry("b", 1, false, false)];
        assert_eq!(traffic_shares(&s), [("a".into(), 99), ("b".into(), 1)]);
        let s = [entry("a", 1000, false, false), entry("b", 1, false, false)];
        assert_eq!(traffic_shares(&s), [("a".into(), 100), ("b".into(), 0)]);
        let all_down = [entry("a", 3, true, false), entry("b", 1, false, true)];
        assert_eq!(
            traffic_shares(&all_down),
            [("a".into(), 0), ("b".into(), 0)]
        );
        assert!(traffic_shares(&[]).is_empty());
    }
}
