//! Properties of the NGINX upstream editor over generated configs:
//! 1. after `set_weights`, `read_upstream` says exactly what was asked (and idempotently so);
//! 2. every byte outside the parameter spans of the target's `server` directives is unchanged,
//!    and inside them only `weight=`/`down` moved (comments and other parameters stay);
//! 3. arbitrary input — any string, any upstream name, any weights — never panics;
//! 4. generated files, before and after the rewrite, pass a real `nginx -t`.
//!
//! The generator builds the file from pieces: fixed text (noise around the upstream, other
//! upstreams with the same addresses or a name that has the target's as prefix, `server { }`
//! blocks, strings with braces, comments mentioning the target, other directives inside the
//! upstream, `server ADDR` itself) and, for each target server, its parameter span: the
//! bytes from the end of the address to the `;`, with random blanks and comments between the
//! parameters. Property 2 checks the fixed pieces byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use sluice::remote::nginx::{
    read_upstream, set_address, set_weights, traffic_shares, EditError, ServerEntry,
};

const NAME: &str = "demo_backend";

// ---------------------------------------------------------------------------------------------
// The generator.

#[derive(Debug, Clone)]
enum Piece {
    Fixed(String),
    /// The parameter span of target server `i`.
    Params(usize),
}

#[derive(Debug, Clone)]
struct GenServer {
    /// The address as nginx reads it.
    addr: String,
    /// The parameter span: blanks, comments and parameters, up to (not including) the `;`.
    params: String,
}

#[derive(Debug, Clone)]
struct Conf {
    pieces: Vec<Piece>,
    servers: Vec<GenServer>,
}

impl Conf {
    fn text(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Fixed(s) => s.as_str(),
                Piece::Params(i) => self.servers[*i].params.as_str(),
            })
            .collect()
    }
}

/// Blanks between tokens: spaces, tabs, CRLF and comments (which may hold braces, quotes,
/// `#`, `$`, the target's name and the word `upstream`, but no `;`: see `split_out`).
fn sep() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        " ",
        "  ",
        "\t",
        " \t ",
        "\n    ",
        "\r\n\t",
        "\n\n        ",
        " # upstream demo_backend { server 127.0.0.11:8081 weight=5 down\n    ",
        "\t# it's \"quoted\" ${x} } {\r\n\t",
        " #no space\n ",
    ])
    .prop_map(str::to_string)
}

/// Text between directives (may be empty).
fn gap() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        2 => sep(),
        1 => Just("\n    # server 127.0.0.11:8081 down; upstream demo_backend_v2 {\n    ".to_string()),
    ]
}

/// Directives and blocks around the target upstream. `slot` makes names unique per file (nginx
/// refuses duplicate upstream, map and log_format names).
fn noise(slot: usize) -> impl Strategy<Value = String> {
    let n = slot;
    prop::sample::select(vec![
        String::new(),
        "# upstream demo_backend { server 127.0.0.11:8081 weight=5; }\n".into(),
        "# a comment with an unbalanced quote ' and brace {\r\n".into(),
        format!("upstream pool_{n} {{ server 127.0.0.11:8081 weight=3; server 127.0.0.11:8082 down; }}\n"),
        format!("upstream {NAME}_v{n} {{\n    server 127.0.0.11:8081 weight=9;\n    server 127.0.0.11:8082;\n}}\n"),
        format!("upstream v{n}_{NAME} {{ server 127.0.0.11:8082 backup; server 127.0.0.11:8081; }}\n"),
        format!("map $host $x_{n} {{ default \"{{;}}#\"; ~^a 'x}}y'; ~^b ${{host}}z; }}\n"),
        format!("log_format j_{n} escape=json '{{\"a\":\"$status\",\"u\":\"$upstream_addr\"}}';\n"),
        format!("server {{ listen 127.0.0.1:{}; server_name s{n}.test; location / {{ return 200 \"upstream {NAME} {{ server 127.0.0.11:8081; }}\"; }} }}\n", 2 + n),
        "proxy_set_header X-A \"a;b{c}\"; proxy_set_header X-B 'd}e';\n".into(),
        "include /nonexistent/sluice-*.conf;\n".into(),
    ])
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Balancer {
    RoundRobin,
    LeastConn,
    IpHash,
    Hash,
    Random,
}

impl Balancer {
    fn directive(self) -> &'static str {
        match self {
            Balancer::RoundRobin => "",
            Balancer::LeastConn => "least_conn;",
            Balancer::IpHash => "ip_hash;",
            Balancer::Hash => "hash $remote_addr consistent;",
            Balancer::Random => "random two least_conn;",
        }
    }
    /// nginx refuses `backup` with these.
    fn allows_backup(self) -> bool {
        matches!(self, Balancer::RoundRobin | Balancer::LeastConn)
    }
}

fn balancer() -> impl Strategy<Value = Balancer> {
    prop::sample::select(vec![
        Balancer::RoundRobin,
        Balancer::LeastConn,
        Balancer::IpHash,
        Balancer::Hash,
        Balancer::Random,
    ])
}

/// A server parameter. `oss` keeps to what open-source nginx 1.22 accepts (no `resolve`,
/// `slow_start`, `route`, `service`, which need NGINX Plus or a newer nginx).
fn param(oss: bool) -> BoxedStrategy<String> {
    let common = prop_oneof![
        4 => (1u32..=100).prop_map(|n| format!("weight={n}")),
        3 => Just("down".to_string()),
        2 => Just("backup".to_string()),
        1 => (1u32..20).prop_map(|n| format!("max_fails={n}")),
        1 => (1u32..60).prop_map(|n| format!("fail_timeout={n}s")),
        1 => (1u32..100).prop_map(|n| format!("max_conns={n}")),
    ];
    if oss {
        common.boxed()
    } else {
        prop_oneof![
            6 => common,
            1 => prop::sample::select(vec!["resolve", "slow_start=30s", "route=a", "service=http"])
                .prop_map(str::to_string),
        ]
        .boxed()
    }
}

/// The parameter span of one server: parameters (each name at most once, as nginx wants),
/// each preceded by a separator, then optional blanks before the `;`.
fn params(oss: bool, backup_ok: bool) -> impl Strategy<Value = String> {
    (
        prop::collection::vec((sep(), param(oss)), 0..5),
        prop_oneof![3 => Just(String::new()), 1 => sep()],
    )
        .prop_map(move |(ps, tail)| {
            let mut seen: Vec<String> = Vec::new();
            let mut out = String::new();
            for (s, p) in ps {
                let name = p.split('=').next().unwrap_or_default().to_string();
                if seen.contains(&name) || (name == "backup" && !backup_ok) {
                    continue;
                }
                seen.push(name);
                out.push_str(&s);
                out.push_str(&p);
            }
            out.push_str(&tail);
            out
        })
}

/// A file with `upstream demo_backend` holding 2–4 servers among other things. `nested` wraps
/// it all in `http { }`; `oss` keeps it acceptable to nginx 1.22 (for `nginx -t`).
fn conf(nested: bool, oss: bool) -> impl Strategy<Value = Conf> {
    (balancer(), 2usize..=4)
        .prop_flat_map(move |(bal, n)| {
            (
                Just(bal),
                // The first server is never `backup`: nginx refuses an upstream of backups only.
                (0..n)
                    .map(|i| {
                        (
                            params(oss, i > 0 && bal.allows_backup()),
                            gap(),
                            sep(),
                            any::<bool>(),
                        )
                    })
                    .collect::<Vec<_>>(),
                (noise(0), noise(1), noise(2), noise(3)),
                (sep(), sep(), gap()),
                // Other directives inside the upstream, each put before server k.
                prop::collection::vec((0usize..=4, 0usize..4), 0..4),
            )
        })
        .prop_map(move |(bal, servers, noises, (s1, s2, g), extras)| {
            let (before, before2, after, after2) = noises;
            let extra_text = |i: usize| match i {
                0 => "zone demo_backend_zone 64k;",
                1 => "keepalive 16;",
                2 => "keepalive_timeout 60s;",
                _ => "keepalive_requests 1000;",
            };
            let mut pieces = Vec::new();
            let mut fixed = String::new();
            if nested {
                fixed.push_str("http {\n");
            }
            fixed.push_str(&before);
            fixed.push_str(&before2);
            fixed.push_str(&format!("upstream{s1}{NAME}{s2}{{{g}"));
            if bal != Balancer::RoundRobin {
                fixed.push_str(bal.directive());
                fixed.push('\n');
            }
            let mut gen_servers = Vec::new();
            let mut used = Vec::new();
            for (i, (params, gap, sep_after_server, quoted)) in servers.into_iter().enumerate() {
                for (k, e) in &extras {
                    if *k == i && !used.contains(e) {
                        used.push(*e);
                        fixed.push_str(extra_text(*e));
                        fixed.push(' ');
                    }
                }
                let addr = format!("127.0.0.{}:{}", 11 + i % 3, 8081 + i);
                let written = if quoted {
                    format!("\"{addr}\"")
                } else {
                    addr.clone()
                };
                fixed.push_str(&format!("{gap}server{sep_after_server}{written}"));
                pieces.push(Piece::Fixed(std::mem::take(&mut fixed)));
                pieces.push(Piece::Params(i));
                fixed.push(';');
                if i == 0 {
                    fixed.push_str("   # the stable track; weight=1 {\n");
                }
                gen_servers.push(GenServer { addr, params });
            }
            for (k, e) in &extras {
                if *k >= gen_servers.len() && !used.contains(e) {
                    used.push(*e);
                    fixed.push_str(&format!("\n    {}", extra_text(*e)));
                }
            }
            fixed.push_str("\n}\n");
            fixed.push_str(&after);
            fixed.push_str(&after2);
            if nested {
                fixed.push_str("}\n");
            }
            pieces.push(Piece::Fixed(fixed));
            Conf {
                pieces,
                servers: gen_servers,
            }
        })
}

/// Random target weights for the servers of `c`: a non-empty subset, each 0..=100, not all 0.
fn targets(n: usize) -> impl Strategy<Value = Vec<(usize, u32)>> {
    prop::collection::vec(prop::option::weighted(0.7, 0u32..=100), n)
        .prop_filter("at least one server, not all zero", |ws| {
            ws.iter().any(|w| w.is_some()) && ws.iter().any(|w| matches!(w, Some(n) if *n > 0))
        })
        .prop_map(|ws| {
            ws.into_iter()
                .enumerate()
                .filter_map(|(i, w)| w.map(|w| (i, w)))
                .collect()
        })
}

fn conf_and_targets(nested: bool, oss: bool) -> impl Strategy<Value = (Conf, Vec<(usize, u32)>)> {
    conf(nested, oss).prop_flat_map(|c| {
        let n = c.servers.len();
        (Just(c), targets(n))
    })
}

fn pairs(c: &Conf, t: &[(usize, u32)]) -> Vec<(String, u32)> {
    t.iter()
        .map(|(i, w)| (c.servers[*i].addr.clone(), *w))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checking a rewrite.

/// Split `out` along the fixed pieces of `c`: the new parameter span of each server. Fails if
/// a fixed piece is not found byte for byte where it belongs.
fn split_out(c: &Conf, out: &str) -> Result<Vec<String>, TestCaseError> {
    let mut spans = vec![String::new(); c.servers.len()];
    let mut rest = out;
    for p in &c.pieces {
        match p {
            Piece::Fixed(f) => {
                prop_assert!(
                    rest.starts_with(f.as_str()),
                    "fixed text changed: expected {:?} at {:?}",
                    f,
                    rest
                );
                rest = &rest[f.len()..];
            }
            Piece::Params(i) => {
                // Every fixed piece after a parameter span starts with its `;`, and spans (even
                // their comments) hold no `;`.
                let end = rest.find(';').unwrap_or(rest.len());
                spans[*i] = rest[..end].to_string();
                rest = &rest[end..];
            }
        }
    }
    prop_assert!(rest.is_empty(), "trailing text {:?}", rest);
    Ok(spans)
}

/// Parameters of a span, comments dropped.
fn words(span: &str) -> Vec<String> {
    span.lines()
        .flat_map(|l| l.split('#').next().unwrap_or_default().split_whitespace())
        .map(str::to_string)
        .collect()
}

/// Comments of a span, in order.
fn comments(span: &str) -> Vec<String> {
    span.lines()
        .filter_map(|l| l.find('#').map(|i| l[i..].to_string()))
        .collect()
}

/// The parameters the editor should leave for a server given `weight`.
fn expected_words(before: &[String], weight: u32) -> Vec<String> {
    let is_weight = |p: &String| p.starts_with("weight=");
    if weight == 0 {
        let mut w = before.to_vec();
        if !w.iter().any(|p| p == "down") {
            w.push("down".into());
        }
        return w;
    }
    let mut w: Vec<String> = before
        .iter()
        .filter(|p| *p != "down")
        .map(|p| {
            if is_weight(p) {
                format!("weight={weight}")
            } else {
                p.clone()
            }
        })
        .collect();
    if !before.iter().any(is_weight) {
        w.insert(0, format!("weight={weight}"));
    }
    w
}

fn check_rewrite(c: &Conf, t: &[(usize, u32)]) -> Result<(), TestCaseError> {
    let text = c.text();
    let before =
        read_upstream(&text, NAME).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert_eq!(before.len(), c.servers.len());
    let want: Vec<Option<u32>> = (0..c.servers.len())
        .map(|i| t.iter().find(|(j, _)| *j == i).map(|(_, w)| *w))
        .collect();
    let mut expected: Vec<ServerEntry> = before.clone();
    for (e, w) in expected.iter_mut().zip(&want) {
        match w {
            Some(0) => e.down = true,
            Some(w) => {
                e.down = false;
                e.weight = *w;
            }
            None => {}
        }
    }
    let all_down = expected.iter().filter(|e| !e.backup).all(|e| e.down);
    let out = match set_weights(&text, NAME, &pairs(c, t)) {
        Err(EditError::AllDown(_)) if all_down => return Ok(()),
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "unexpected error: {e}\n{text}"
            )))
        }
        Ok(_) if all_down => {
            return Err(TestCaseError::fail(format!(
                "every server down, yet accepted:\n{text}"
            )))
        }
        Ok(out) => out,
    };
    // (1) The file now says what was asked; servers not asked about read as before.
    let after =
        read_upstream(&out, NAME).map_err(|e| TestCaseError::fail(format!("{e}\n{out}")))?;
    prop_assert_eq!(
        &after,
        &expected,
        "\n--- before\n{}\n--- after\n{}",
        text,
        out
    );
    // (2) Byte for byte outside the parameter spans; inside them only weight/down moved.
    let spans = split_out(c, &out)?;
    for (i, s) in c.servers.iter().enumerate() {
        match want[i] {
            None => prop_assert_eq!(
                &spans[i],
                &s.params,
                "server {} was not asked about",
                s.addr
            ),
            Some(w) => {
                prop_assert_eq!(words(&spans[i]), expected_words(&words(&s.params), w));
                prop_assert_eq!(comments(&spans[i]), comments(&s.params));
            }
        }
    }
    // Idempotent: asking again changes nothing.
    let again = set_weights(&out, NAME, &pairs(c, t));
    prop_assert_eq!(again, Ok(out));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A real `nginx -t`.

fn nginx_binary() -> PathBuf {
    let sbin = Path::new("/usr/sbin/nginx");
    if sbin.exists() {
        return sbin.to_path_buf();
    }
    match Command::new("nginx").arg("-v").output() {
        Ok(_) => PathBuf::from("nginx"),
        Err(e) => panic!(
            "nginx is needed for this test and was not found at /usr/sbin/nginx or on PATH ({e}); \
             install it with `apt-get install nginx-light`"
        ),
    }
}

/// `nginx -t` on `upstream_conf` placed inside `http { }` next to a server that proxies to it,
/// with every path nginx writes inside a fresh temporary directory.
fn nginx_t(nginx: &Path, upstream_conf: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let p = dir.path().display().to_string();
    let main = format!(
        "pid {p}/nginx.pid;\n\
         error_log {p}/error.log;\n\
         events {{}}\n\
         http {{\n\
         access_log {p}/access.log;\n\
         client_body_temp_path {p}/client_body; proxy_temp_path {p}/proxy;\n\
         fastcgi_temp_path {p}/fastcgi; uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
         {upstream_conf}\n\
         server {{ listen 127.0.0.1:1; location / {{ proxy_pass http://{NAME}; }} }}\n\
         }}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), main).map_err(|e| e.to_string())?;
    let out = Command::new(nginx)
        .arg("-p")
        .arg(format!("{p}/"))
        .args(["-c", "nginx.conf", "-e"])
        .arg(format!("{p}/error.log"))
        .args(["-t", "-q"])
        .output()
        .map_err(|e| {
            format!(
                "cannot run {}: {e}; install nginx with `apt-get install nginx-light`",
                nginx.display()
            )
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Properties 1 and 2 on top-level upstreams (a conf.d file), with NGINX Plus parameters too.
    #[test]
    fn weights_are_as_asked_and_nothing_else_moves((c, t) in conf_and_targets(false, false)) {
        check_rewrite(&c, &t)?;
    }

    /// Properties 1 and 2 with the upstream nested inside `http { }`.
    #[test]
    fn weights_are_as_asked_in_a_nested_upstream((c, t) in conf_and_targets(true, false)) {
        check_rewrite(&c, &t)?;
    }

    /// Unknown addresses are refused, and then nothing is returned.
    #[test]
    fn unknown_addresses_are_refused(c in conf(false, false), w in 0u32..=100) {
        let mut asked = pairs(&c, &[(0, 50)]);
        asked.push(("127.0.0.11:9999".to_string(), w));
        let is_not_found = matches!(
            set_weights(&c.text(), NAME, &asked),
            Err(EditError::ServerNotFound { .. })
        );
        prop_assert!(is_not_found);
    }

    /// A moved server (a track given a new port): only its address changes, byte for byte,
    /// and moving it back gives the file it started from when the address was unquoted.
    #[test]
    fn a_moved_server_changes_only_its_address(c in conf(false, false), pick in 0usize..4, port in 20000u16..20004) {
        let i = pick % c.servers.len();
        let from = c.servers[i].addr.clone();
        let to = format!("127.0.0.11:{port}");
        let text = c.text();
        let out = set_address(&text, NAME, &from, &to)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        // Expected: the fixed piece before server i's parameters ends with its written address.
        let mut expected = String::new();
        for (k, p) in c.pieces.iter().enumerate() {
            match p {
                Piece::Fixed(s) if matches!(c.pieces.get(k + 1), Some(Piece::Params(j)) if *j == i) => {
                    let cut = s.rfind(from.as_str()).ok_or_else(|| TestCaseError::fail("address not in its piece"))?;
                    let cut = if s[..cut].ends_with('"') { cut - 1 } else { cut };
                    expected.push_str(&s[..cut]);
                    expected.push_str(&to);
                }
                Piece::Fixed(s) => expected.push_str(s),
                Piece::Params(j) => expected.push_str(&c.servers[*j].params),
            }
        }
        prop_assert_eq!(&out, &expected);
        let back = set_address(&out, NAME, &to, &from).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(read_upstream(&back, NAME).ok(), read_upstream(&text, NAME).ok());
        // Onto an address the upstream already has: refused.
        if c.servers.len() > 1 {
            let other = c.servers[(i + 1) % c.servers.len()].addr.clone();
            let refused = matches!(set_address(&text, NAME, &from, &other), Err(EditError::ServerTwice { .. }));
            prop_assert!(refused);
        }
    }

    /// Shares are percentages of the live servers' weights.
    #[test]
    fn traffic_shares_add_up(servers in prop::collection::vec((1u32..=1000, any::<bool>(), any::<bool>()), 0..6)) {
        let entries: Vec<ServerEntry> = servers
            .iter()
            .enumerate()
            .map(|(i, (weight, down, backup))| ServerEntry { addr: format!("s{i}"), weight: *weight, down: *down, backup: *backup })
            .collect();
        let shares = traffic_shares(&entries);
        prop_assert_eq!(shares.len(), entries.len());
        let live = entries.iter().filter(|e| !e.down && !e.backup).count();
        let sum: u32 = shares.iter().map(|s| u32::from(s.1)).sum();
        for (e, (addr, pct)) in entries.iter().zip(&shares) {
            prop_assert_eq!(&e.addr, addr);
            prop_assert!(*pct <= 100);
            if e.down || e.backup {
                prop_assert_eq!(*pct, 0);
            }
        }
        if live == 0 {
            prop_assert_eq!(sum, 0);
        } else {
            // Each share is off by at most half a percent.
            prop_assert!(sum.abs_diff(100) * 2 <= live as u32, "{:?}", shares);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Property 3: any string, any upstream name, any weights.
    #[test]
    fn never_panics_on_arbitrary_input(
        text in any::<String>(),
        name in any::<String>(),
        weights in prop::collection::vec((any::<String>(), any::<u32>()), 0..3),
    ) {
        let _ = read_upstream(&text, &name);
        let _ = set_weights(&text, &name, &weights);
    }

    /// Property 3 on input made of nginx's own tokens, where the parser does real work.
    #[test]
    fn never_panics_on_nginx_shaped_input(
        text in "(upstream|server|demo_backend|weight=[0-9]{0,2}|down|backup|127\\.0\\.0\\.11:808[12]|[{};#\"'\\\\$ \\n\\r\\té]){0,80}",
        w in 0u32..=2,
    ) {
        let _ = read_upstream(&text, NAME);
        let _ = set_weights(&text, NAME, &[("127.0.0.11:8081".to_string(), w), ("127.0.0.11:8082".to_string(), 1)]);
    }

    /// Property 3 on valid files with a few bytes spliced in or cut off; whenever the editor
    /// still accepts the file, the result reads back as asked.
    #[test]
    fn never_panics_on_damaged_files(
        (c, t) in conf_and_targets(false, false),
        at in any::<prop::sample::Index>(),
        insert in "[{};#\"'\\\\$ \\n]{0,3}",
        cut in 0usize..4,
    ) {
        let text = c.text();
        let mut i = at.index(text.len() + 1);
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        let mut j = (i + cut).min(text.len());
        while !text.is_char_boundary(j) {
            j += 1;
        }
        let damaged = format!("{}{}{}", &text[..i], insert, &text[j..]);
        let asked = pairs(&c, &t);
        if let Ok(out) = set_weights(&damaged, NAME, &asked) {
            let after = read_upstream(&out, NAME).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (addr, w) in &asked {
                let s = after.iter().find(|s| &s.addr == addr);
                prop_assert!(s.is_some(), "{} vanished", addr);
                if let Some(s) = s {
                    prop_assert_eq!(s.down, *w == 0);
                    if *w > 0 {
                        prop_assert_eq!(s.weight, *w);
                    }
                }
            }
        }
    }
}

proptest! {
    // Each case runs nginx twice (a few ms each); 48 cases keep this to about a second.
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Property 4: the generated file passes `nginx -t`, and so does every rewrite of it.
    #[test]
    fn rewritten_files_pass_nginx_t((c, t) in conf_and_targets(false, true)) {
        let nginx = nginx_binary();
        let text = c.text();
        nginx_t(&nginx, &text)
            .map_err(|e| TestCaseError::fail(format!("the generated input itself is rejected: {e}\n{text}")))?;
        match set_weights(&text, NAME, &pairs(&c, &t)) {
            Ok(out) => nginx_t(&nginx, &out)
                .map_err(|e| TestCaseError::fail(format!("nginx -t rejects the rewrite: {e}\n{out}")))?,
            Err(EditError::AllDown(_)) => {}
            Err(e) => return Err(TestCaseError::fail(format!("unexpected error {e}\n{text}"))),
        }
    }
}

/// The nginx check must fail loudly, never skip: this runs even when proptest would not.
#[test]
fn nginx_is_installed() {
    let nginx = nginx_binary();
    let ok = Command::new(&nginx).arg("-v").output();
    assert!(
        ok.is_ok_and(|o| o.status.success()),
        "{} does not run; install it with `apt-get install nginx-light`",
        nginx.display()
    );
}

/// nginx reads `server 10.128.0.2;` as `10.128.0.2:80`: either spelling finds the other, and
/// both at once are the same server twice.
#[test]
fn the_default_port_names_the_same_server() {
    let text = "upstream demo_backend {\n    server 10.128.0.2 weight=5;\n    server [::1]:80;\n    server 10.128.0.3:8081;\n}\n";
    let out = set_weights(text, NAME, &[("10.128.0.2:80".to_string(), 7)]).expect("found");
    assert!(out.contains("server 10.128.0.2 weight=7;"), "{out}");
    let out = set_weights(text, NAME, &[("[::1]".to_string(), 3)]).expect("found");
    assert!(out.contains("server [::1]:80 weight=3;"), "{out}");
    let out = set_weights(text, NAME, &[("10.128.0.3:8081".to_string(), 2)]).expect("found");
    assert!(out.contains("10.128.0.3:8081 weight=2;"), "{out}");
    let e = set_weights(
        text,
        NAME,
        &[
            ("10.128.0.2".to_string(), 1),
            ("10.128.0.2:80".to_string(), 2),
        ],
    )
    .unwrap_err();
    assert!(matches!(e, EditError::WeightGivenTwice(_)), "{e}");
    let twice = "upstream demo_backend {\n    server 10.128.0.2;\n    server 10.128.0.2:80;\n}\n";
    let e = set_weights(twice, NAME, &[("10.128.0.2".to_string(), 1)]).unwrap_err();
    assert!(matches!(e, EditError::ServerTwice { .. }), "{e}");
    let e = set_address(text, NAME, "10.128.0.3:8081", "10.128.0.2:80").unwrap_err();
    assert!(matches!(e, EditError::ServerTwice { .. }), "{e}");
}

/// The hint for a missing server writes an IPv6 address as nginx accepts it.
#[test]
fn the_hint_writes_ipv6_in_brackets() {
    let text = "upstream demo_backend {\n    server 127.0.0.1:8080;\n}\n";
    let e = set_weights(text, NAME, &[("::1:8081".to_string(), 1)]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("`server [::1]:8081 weight=1 down;`"), "{msg}");
    assert_eq!(
        sluice::remote::nginx::server_address("::1", 8081),
        "[::1]:8081"
    );
    assert_eq!(
        sluice::remote::nginx::server_address("10.0.0.1", 8081),
        "10.0.0.1:8081"
    );
}
