//! Properties of the NGINX upstream editor over generated configs: the asked weights are what
//! the file then says, every other byte is unchanged, arbitrary input never panics, and the
//! result is accepted by a real `nginx -t`.

use std::process::Command;

use proptest::prelude::*;
use sluice::target::nginx::{read_upstream, set_weights, EditError};

#[derive(Debug, Clone)]
struct Server {
    port: u16,
    params: Vec<String>,
}

#[derive(Debug, Clone)]
struct Conf {
    text: String,
    servers: Vec<Server>,
}

fn ws() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        " ", "  ", "\t", " \t ", "\n", "\r\n", "\n\n    ", " \n\t",
    ])
    .prop_map(str::to_string)
}

fn noise(pool: &'static str) -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "# a comment mentioning upstream target { server 9.9.9.9:1; }\n",
        "# weight=5 down backup\r\n",
        "upstream other_pool { server 10.1.1.1:81 weight=3; server 10.1.1.2:81 down; }\n",
        "upstream target_v2 {\n    server 10.2.2.2:82 weight=9;\n}\n",
        "map $host $x { default \"{;}#\"; }\n",
        "log_format j escape=json '{\"a\":\"$status\"}';\n",
    ])
    // Upstream, log_format and map names must be unique in a file: each noise block gets its own.
    .prop_map(move |s| {
        s.replace("other_pool", pool)
            .replace("target_v2", &format!("{pool}_v2"))
            .replace("log_format j ", &format!("log_format j_{pool} "))
            .replace("$host $x ", &format!("$host $x_{pool} "))
    })
}

fn param() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u32..20).prop_map(|n| format!("max_fails={n}")),
        (1u32..60).prop_map(|n| format!("fail_timeout={n}s")),
        (1u32..100).prop_map(|n| format!("weight={n}")),
        Just("down".to_string()),
        (1u32..100).prop_map(|n| format!("max_conns={n}")),
    ]
}

fn server() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(param(), 0..4).prop_map(|ps| {
        // At most one of each parameter name, as nginx requires.
        let mut seen = Vec::new();
        ps.into_iter()
            .filter(|p| {
                let name = p.split('=').next().unwrap_or("").to_string();
                if seen.contains(&name) {
                    false
                } else {
                    seen.push(name);
                    true
                }
            })
            .collect()
    })
}

fn conf() -> impl Strategy<Value = Conf> {
    (
        noise("before_pool"),
        noise("after_pool"),
        ws(),
        ws(),
        prop::collection::vec((server(), ws()), 2..5),
        prop::bool::ANY,
        prop::bool::ANY,
    )
        .prop_map(|(before, after, w1, w2, servers, keepalive, least_conn)| {
            let mut text = format!("{before}upstream{w1}target{w2}{{");
            if least_conn {
                text.push_str("\n    least_conn;");
            }
            let mut out = Vec::new();
            for (i, (params, sep)) in servers.into_iter().enumerate() {
                let port = 8081 + i as u16;
                text.push_str(&format!("{sep}server 127.0.0.1:{port}"));
                for p in &params {
                    text.push(' ');
                    text.push_str(p);
                }
                text.push(';');
                if i == 0 {
                    text.push_str("   # the stable track\n");
                }
                out.push(Server { port, params });
            }
            // At least one server must be up for nginx to route anything; the generator may
            // have marked all down, which nginx accepts, so leave it.
            if keepalive {
                text.push_str("\n    keepalive 8;");
            }
            text.push_str(&format!("\n}}\n{after}"));
            Conf { text, servers: out }
        })
}

/// The text with every target server directive (from `server 127.0.0.1:` to its `;`) removed.
fn without_servers(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("server 127.0.0.1:") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').map_or(rest.len(), |j| i + j + 1);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Parameters of a server line other than weight and down, in order.
fn other_params(text: &str, port: u16) -> Vec<String> {
    let key = format!("server 127.0.0.1:{port}");
    let i = text.find(&key).expect("server line");
    let end = text[i..].find(';').expect("semicolon") + i;
    text[i + key.len()..end]
        .split_whitespace()
        .filter(|p| !p.starts_with("weight=") && *p != "down")
        .map(str::to_string)
        .collect()
}

fn targets() -> impl Strategy<Value = Vec<(usize, u32)>> {
    prop::collection::vec((0usize..4, 0u32..=100), 1..4)
}

fn nginx_t(upstream_conf: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let p = dir.path();
    std::fs::create_dir_all(p.join("logs")).map_err(|e| e.to_string())?;
    std::fs::write(p.join("upstream.conf"), upstream_conf).map_err(|e| e.to_string())?;
    let main = format!(
        "pid {0}/logs/nginx.pid;\nevents {{}}\nhttp {{\n  client_body_temp_path {0}/t1; proxy_temp_path {0}/t2; fastcgi_temp_path {0}/t3; uwsgi_temp_path {0}/t4; scgi_temp_path {0}/t5;\n  include {0}/upstream.conf;\n  server {{ listen 127.0.0.1:1; location / {{ proxy_pass http://target; }} }}\n}}\n",
        p.display()
    );
    std::fs::write(p.join("nginx.conf"), main).map_err(|e| e.to_string())?;
    let out = Command::new("nginx")
        .arg("-p")
        .arg(p)
        .arg("-c")
        .arg(p.join("nginx.conf"))
        .arg("-e")
        .arg(p.join("logs/error.log"))
        .args(["-t", "-q"])
        .output()
        .map_err(|e| {
            format!("cannot run nginx ({e}); install it with `apt-get install nginx-light` (or run `bash lab/up.sh`)")
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn weights_are_as_asked_and_nothing_else_moves(c in conf(), t in targets()) {
        let n = c.servers.len();
        let mut want: Vec<Option<u32>> = vec![None; n];
        for (i, w) in &t {
            want[i % n] = Some(*w);
        }
        let pairs: Vec<(String, u32)> = want
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.map(|w| (format!("127.0.0.1:{}", c.servers[i].port), w)))
            .collect();
        let before = read_upstream(&c.text, "target").unwrap();
        let would_be_down: Vec<bool> = before
            .iter()
            .enumerate()
            .map(|(i, s)| match want[i] { Some(w) => w == 0, None => s.down })
            .collect();
        match set_weights(&c.text, "target", &pairs) {
            Err(EditError::AllDown(_)) => prop_assert!(would_be_down.iter().all(|d| *d)),
            Err(e) => prop_assert!(false, "unexpected error {e} on\n{}", c.text),
            Ok(out) => {
                prop_assert!(!would_be_down.iter().all(|d| *d));
                let after = read_upstream(&out, "target").unwrap();
                for (i, s) in after.iter().enumerate() {
                    match want[i] {
                        Some(0) => prop_assert!(s.down, "{}", out),
                        Some(w) => prop_assert!(!s.down && s.weight == w, "{}", out),
                        None => prop_assert_eq!(s, &before[i]),
                    }
                    prop_assert_eq!(other_params(&out, c.servers[i].port), other_params(&c.text, c.servers[i].port));
                }
                prop_assert_eq!(without_servers(&out), without_servers(&c.text));
                // Untouched servers keep their exact bytes.
                for (i, s) in c.servers.iter().enumerate() {
                    if want[i].is_none() {
                        let line = format!("server 127.0.0.1:{}{};", s.port, s.params.iter().map(|p| format!(" {p}")).collect::<String>());
                        prop_assert!(out.contains(&line), "{} lost `{}`", out, line);
                    }
                }
            }
        }
    }

    #[test]
    fn never_panics_on_arbitrary_input(text in "\\PC{0,300}", name in "[a-z_{}\"; ]{0,12}", addr in "\\PC{0,20}", w in 0u32..2000) {
        let _ = read_upstream(&text, &name);
        let _ = set_weights(&text, &name, &[(addr, w)]);
    }

    #[test]
    fn never_panics_on_nginx_shaped_input(text in "(upstream|server|weight=[0-9]|down|[{};#\"'\\\\$ \\n\\r\\t]|[a-z0-9.:]{1,6}){0,60}") {
        let _ = read_upstream(&text, "target");
        let _ = set_weights(&text, "target", &[("127.0.0.1:8081".to_string(), 5)]);
    }
}

proptest! {
    // Each case starts nginx twice; keep the count small so the suite stays quick.
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn rewritten_files_pass_nginx_t(c in conf(), t in targets()) {
        nginx_t(&c.text).map_err(|e| TestCaseError::fail(format!("generated input rejected: {e}\n{}", c.text)))?;
        let n = c.servers.len();
        let mut pairs: Vec<(String, u32)> = Vec::new();
        for (i, w) in &t {
            let addr = format!("127.0.0.1:{}", c.servers[i % n].port);
            if !pairs.iter().any(|(a, _)| *a == addr) {
                pairs.push((addr, *w));
            }
        }
        if let Ok(out) = set_weights(&c.text, "target", &pairs) {
            nginx_t(&out).map_err(|e| TestCaseError::fail(format!("nginx -t rejected the rewrite: {e}\n{out}")))?;
        }
    }
}
