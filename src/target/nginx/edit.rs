//! Read and set the weights of the servers of one `upstream NAME { … }` block.
//!
//! **How 0 % is written.** NGINX weights are integers ≥ 1, so a server that must get no
//! traffic is given the `down` flag (its `weight=` is left as it was, so that raising it again
//! only removes the flag). `down` really takes the server out of the rotation. A caller that
//! wants a 0 % canary to stay observable sets weight 1 instead of 0 — sluice's "trickle"
//! setting; that choice is the caller's, not this module's.
//!
//! Only the spans of the changed parameters are rewritten: every other byte (comments, other
//! parameters, other upstreams, `server { }` blocks, CRLF line ends) stays identical.

use std::ops::Range;

use super::tokenize::{line_col, tokenize, unquote, Kind, Token};

/// One `server` directive of an upstream as read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    pub addr: String,
    /// 1 when absent, as in NGINX.
    pub weight: u32,
    pub down: bool,
    pub backup: bool,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    #[error("line {line}, column {column}: {message}; fix the file's syntax (`nginx -t` shows the same)")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "no `upstream {0} {{ … }}` block in the file; check the service's nginx.upstream setting"
    )]
    UpstreamNotFound(String),
    #[error(
        "`upstream {0}` is defined twice (lines {1} and {2}); NGINX would refuse it — remove one"
    )]
    UpstreamTwice(String, usize, usize),
    #[error(
        "upstream {upstream} has no `server {addr}`; add it (e.g. `server {addr} weight=1 down;`)"
    )]
    ServerNotFound { upstream: String, addr: String },
    #[error("upstream {upstream} lists `server {addr}` twice; sluice cannot tell which to change")]
    ServerTwice { upstream: String, addr: String },
    #[error("upstream {upstream}, server {addr}: `{param}` is not a valid weight; use weight=N with N ≥ 1")]
    BadWeight {
        upstream: String,
        addr: String,
        param: String,
    },
    #[error("server {0} is given more than one weight; give each server one")]
    WeightGivenTwice(String),
    #[error("weight {weight} for {addr} is out of range (0 = no traffic, 1..=1000)")]
    WeightOutOfRange { addr: String, weight: u32 },
    #[error("this would mark every server of upstream {0} down and NGINX would answer only errors; keep at least one server with weight ≥ 1")]
    AllDown(String),
}

/// The largest weight sluice writes; NGINX accepts far more, but percentages never need it.
const MAX_WEIGHT: u32 = 1000;

struct Param {
    value: String,
    span: Range<usize>,
}

struct Server {
    addr: String,
    addr_span: Range<usize>,
    params: Vec<Param>,
}

impl Server {
    fn entry(&self, upstream: &str) -> Result<ServerEntry, EditError> {
        let mut e = ServerEntry {
            addr: self.addr.clone(),
            weight: 1,
            down: false,
            backup: false,
        };
        for p in &self.params {
            if let Some(w) = p.value.strip_prefix("weight=") {
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
            } else if p.value == "down" {
                e.down = true;
            } else if p.value == "backup" {
                e.backup = true;
            }
        }
        Ok(e)
    }
}

fn syntax(text: &str, offset: usize, message: &str) -> EditError {
    let (line, column) = line_col(text, offset);
    EditError::Syntax {
        line,
        column,
        message: message.to_string(),
    }
}

/// Find the target upstream and return its servers.
fn locate(text: &str, upstream: &str) -> Result<Vec<Server>, EditError> {
    let tokens = tokenize(text).map_err(|e| syntax(text, e.offset, e.message))?;
    let mut blocks: Vec<bool> = Vec::new(); // is each open block the target upstream?
    let mut words: Vec<&Token> = Vec::new();
    let mut found: Option<usize> = None; // offset of the target's `upstream` word
    let mut servers = Vec::new();
    let value = |t: &Token| unquote(&text[t.span.clone()]);
    for t in &tokens {
        match t.kind {
            Kind::Word => words.push(t),
            Kind::Open => {
                let is_target = words.len() == 2
                    && value(words[0]) == "upstream"
                    && value(words[1]) == upstream;
                if is_target {
                    let here = words[0].span.start;
                    if let Some(first) = found {
                        return Err(EditError::UpstreamTwice(
                            upstream.to_string(),
                            line_col(text, first).0,
                            line_col(text, here).0,
                        ));
                    }
                    found = Some(here);
                }
                blocks.push(is_target);
                words.clear();
            }
            Kind::Close => {
                if !words.is_empty() {
                    return Err(syntax(text, t.span.start, "`}` before the directive's `;`"));
                }
                if blocks.pop().is_none() {
                    return Err(syntax(text, t.span.start, "unexpected `}`"));
                }
            }
            Kind::Semi => {
                let in_target = blocks.last() == Some(&true);
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
    if !blocks.is_empty() {
        return Err(syntax(
            text,
            text.len(),
            "unexpected end of file: a `{` is never closed",
        ));
    }
    if let Some(w) = words.first() {
        return Err(syntax(
            text,
            w.span.start,
            "unexpected end of file: directive without `;`",
        ));
    }
    if found.is_none() {
        return Err(EditError::UpstreamNotFound(upstream.to_string()));
    }
    Ok(servers)
}

/// Read the servers of `upstream NAME { ... }`.
pub fn read_upstream(text: &str, upstream: &str) -> Result<Vec<ServerEntry>, EditError> {
    locate(text, upstream)?
        .iter()
        .map(|s| s.entry(upstream))
        .collect()
}

/// Rewrite `text` so that in `upstream NAME` every listed server address gets the given weight
/// (0 = `down`, see the module docs). Addresses not listed are untouched; a listed address that
/// is not in the upstream is an error and nothing is returned.
pub fn set_weights(
    text: &str,
    upstream: &str,
    weights: &[(String, u32)],
) -> Result<String, EditError> {
    let servers = locate(text, upstream)?;
    let mut entries: Vec<ServerEntry> = servers
        .iter()
        .map(|s| s.entry(upstream))
        .collect::<Result<_, _>>()?;
    // (span to replace, replacement)
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for (n, (addr, weight)) in weights.iter().enumerate() {
        if weights[..n].iter().any(|(a, _)| a == addr) {
            return Err(EditError::WeightGivenTwice(addr.clone()));
        }
        if *weight > MAX_WEIGHT {
            return Err(EditError::WeightOutOfRange {
                addr: addr.clone(),
                weight: *weight,
            });
        }
        let matching: Vec<usize> = servers
            .iter()
            .enumerate()
            .filter(|(_, s)| &s.addr == addr)
            .map(|(i, _)| i)
            .collect();
        let i = match matching[..] {
            [i] => i,
            [] => {
                return Err(EditError::ServerNotFound {
                    upstream: upstream.to_string(),
                    addr: addr.clone(),
                })
            }
            _ => {
                return Err(EditError::ServerTwice {
                    upstream: upstream.to_string(),
                    addr: addr.clone(),
                })
            }
        };
        let s = &servers[i];
        let down = s.params.iter().find(|p| p.value == "down");
        if *weight == 0 {
            entries[i].down = true;
            if down.is_none() {
                let end = s.params.last().map_or(s.addr_span.end, |p| p.span.end);
                edits.push((end..end, " down".to_string()));
            }
        } else {
            entries[i].down = false;
            entries[i].weight = *weight;
            match s.params.iter().find(|p| p.value.starts_with("weight=")) {
                Some(p) => edits.push((p.span.clone(), format!("weight={weight}"))),
                None => edits.push((
                    s.addr_span.end..s.addr_span.end,
                    format!(" weight={weight}"),
                )),
            }
            if let Some(d) = down {
                edits.push((removal_span(text, &d.span), String::new()));
            }
        }
    }
    if !entries.is_empty() && entries.iter().all(|e| e.down || e.backup) {
        return Err(EditError::AllDown(upstream.to_string()));
    }
    // Apply from the end so earlier offsets stay valid; insertions at one point keep order.
    edits.sort_by(|a, b| b.0.start.cmp(&a.0.start).then(b.0.end.cmp(&a.0.end)));
    let mut out = text.to_string();
    for (span, with) in edits {
        out.replace_range(span, &with);
    }
    Ok(out)
}

/// The span to delete for a parameter: the token and the spaces/tabs right before it (so
/// `a down;` becomes `a;`), never a comment or a line break.
fn removal_span(text: &str, token: &Range<usize>) -> Range<usize> {
    let b = text.as_bytes();
    let mut start = token.start;
    while start > 0 && matches!(b[start - 1], b' ' | b'\t') {
        start -= 1;
    }
    if start > 0 && matches!(b[start - 1], b'\n' | b'\r') {
        // The token began a line: keep the indentation, drop the token and trailing blanks.
        let mut end = token.end;
        while end < b.len() && matches!(b[end], b' ' | b'\t') {
            end += 1;
        }
        return token.start..end;
    }
    start..token.end
}

/// Share of traffic each server gets, in percent (rounded), from the weights of servers that
/// are neither down nor backup; down and backup servers get 0.
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
    server { listen 80; location / { proxy_pass http://demo_backend; return 200 \"{;}#\"; } }\n\
}\n";

    fn w(pairs: &[(&str, u32)]) -> Vec<(String, u32)> {
        pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
    }

    #[test]
    fn reads_weights_flags_and_defaults() {
        let s = read_upstream(CONF, "demo_backend").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].weight, s[0].down), (100, false));
        assert_eq!((s[1].weight, s[1].down), (1, true));
        assert_eq!((s[2].weight, s[2].backup), (1, true));
    }

    #[test]
    fn changes_only_the_weights() {
        let out = set_weights(
            CONF,
            "demo_backend",
            &w(&[("127.0.0.11:8081", 60), ("127.0.0.11:8082", 40)]),
        )
        .unwrap();
        let expected = CONF
            .replace("8081 weight=100 max", "8081 weight=60 max")
            .replace("8082 weight=1 down;", "8082 weight=40;");
        assert_eq!(out, expected);
    }

    #[test]
    fn zero_adds_down_after_the_last_parameter() {
        let out = set_weights(
            CONF,
            "demo_backend",
            &w(&[("127.0.0.11:8081", 0), ("127.0.0.11:8082", 100)]),
        )
        .unwrap();
        assert!(
            out.contains("server 127.0.0.11:8081 weight=100 max_fails=3 fail_timeout=10s down;")
        );
        assert!(out.contains("server 127.0.0.11:8082 weight=100;"));
    }

    #[test]
    fn inserts_a_weight_when_there_is_none() {
        let text = "upstream u {\r\n\tserver a:1;\r\n\tserver b:2 max_fails=1;\r\n}\r\n";
        let out = set_weights(text, "u", &w(&[("a:1", 5), ("b:2", 0)])).unwrap();
        assert_eq!(
            out,
            "upstream u {\r\n\tserver a:1 weight=5;\r\n\tserver b:2 max_fails=1 down;\r\n}\r\n"
        );
    }

    #[test]
    fn setting_twice_is_setting_once() {
        let pairs = w(&[("127.0.0.11:8081", 0), ("127.0.0.11:8082", 100)]);
        let once = set_weights(CONF, "demo_backend", &pairs).unwrap();
        assert_eq!(set_weights(&once, "demo_backend", &pairs).unwrap(), once);
    }

    #[test]
    fn round_trip_back_to_the_original() {
        let a = set_weights(
            CONF,
            "demo_backend",
            &w(&[("127.0.0.11:8081", 30), ("127.0.0.11:8082", 70)]),
        )
        .unwrap();
        let b = set_weights(
            &a,
            "demo_backend",
            &w(&[("127.0.0.11:8081", 100), ("127.0.0.11:8082", 0)]),
        )
        .unwrap();
        let s = read_upstream(&b, "demo_backend").unwrap();
        assert_eq!((s[0].weight, s[0].down, s[1].down), (100, false, true));
    }

    #[test]
    fn other_upstreams_and_comments_are_untouched() {
        let out = set_weights(
            CONF,
            "demo_backend",
            &w(&[("127.0.0.11:8081", 50), ("127.0.0.11:8082", 50)]),
        )
        .unwrap();
        assert!(out.starts_with("# upstream demo_backend { server 9.9.9.9; }\n"));
        assert!(out.contains("upstream demo_backend_v2 { server 127.0.0.11:8081 weight=7; }"));
        assert!(out.contains("return 200 \"{;}#\";"));
    }

    #[test]
    fn down_on_its_own_line_keeps_indentation() {
        let text = "upstream u {\n  server a:1\n    down;\n  server b:1;\n}\n";
        let out = set_weights(text, "u", &w(&[("a:1", 3)])).unwrap();
        assert_eq!(
            out,
            "upstream u {\n  server a:1 weight=3\n    ;\n  server b:1;\n}\n"
        );
    }

    #[test]
    fn errors_name_what_to_fix() {
        assert_eq!(
            set_weights(CONF, "nope", &[]).unwrap_err(),
            EditError::UpstreamNotFound("nope".into())
        );
        let e = set_weights(CONF, "demo_backend", &w(&[("1.1.1.1:1", 1)])).unwrap_err();
        assert!(e.to_string().contains("add it"), "{e}");
        let e = set_weights(CONF, "demo_backend", &w(&[("127.0.0.11:8081", 0)])).unwrap_err();
        assert_eq!(e, EditError::AllDown("demo_backend".into()));
        let e = set_weights("upstream u { server a:1 weight=0; }", "u", &[]).unwrap_err();
        assert!(matches!(e, EditError::BadWeight { .. }));
        let e = set_weights("upstream u { server a:1; }\nupstream u { }", "u", &[]).unwrap_err();
        assert_eq!(e, EditError::UpstreamTwice("u".into(), 1, 2));
        let e = read_upstream("upstream u { server \"a:1; }", "u").unwrap_err();
        assert!(
            matches!(
                e,
                EditError::Syntax {
                    line: 1,
                    column: 21,
                    ..
                }
            ),
            "{e:?}"
        );
        let e = read_upstream("upstream u { server a:1; ", "u").unwrap_err();
        assert!(matches!(e, EditError::Syntax { .. }));
        let e = read_upstream("}", "u").unwrap_err();
        assert!(matches!(e, EditError::Syntax { .. }));
        let e = set_weights(
            "upstream u { server a:1 down; server b:1; }",
            "u",
            &w(&[("a:1", 1), ("a:1", 1)]),
        )
        .unwrap_err();
        assert_eq!(e, EditError::WeightGivenTwice("a:1".into()));
        let e = set_weights("upstream u { server a:1; }", "u", &w(&[("a:1", 5000)])).unwrap_err();
        assert!(matches!(e, EditError::WeightOutOfRange { .. }));
    }

    #[test]
    fn a_server_block_is_not_an_upstream_server() {
        let text = "http { server { listen 80; } upstream u { server a:1; } }";
        assert_eq!(read_upstream(text, "u").unwrap().len(), 1);
    }

    #[test]
    fn shares_ignore_down_and_backup() {
        let s = read_upstream(CONF, "demo_backend").unwrap();
        let shares = traffic_shares(&s);
        assert_eq!(shares.iter().map(|x| x.1).collect::<Vec<_>>(), [100, 0, 0]);
    }
}
