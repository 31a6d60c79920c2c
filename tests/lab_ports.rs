//! Ports allocated from a host's range (`port: auto`), against the local lab: the lab's second
//! service `shop` (set up by lab/shop.sh) has both tracks on auto ports in 20000-20009 on every
//! host, recorded in each host's registry. Checked on the hosts themselves: the registry, the
//! env files compose reads, the upstream lines nginx routes by, and real requests through nginx.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn registry_file(host: &str) -> PathBuf {
    PathBuf::from(format!("{LAB}/hosts/{host}/srv/ports"))
}

/// Another service, `cart`, holds port 20001 on every host.
fn cart_holds_20001() {
    for h in HOSTS {
        let f = registry_file(h);
        let mut text = std::fs::read_to_string(&f).unwrap();
        text.push_str("20001 cart canary held\n");
        std::fs::write(&f, text).unwrap();
    }
}

fn shop_upstream(host: &str) -> String {
    std::fs::read_to_string(format!("{LAB}/hosts/{host}/nginx/conf.d/shop.conf"))
        .expect("read shop.conf")
}

/// (port, state) of shop's track in the host's registry, and every held port is held once.
fn record(host: &str, track: &str) -> Option<(u16, String)> {
    let text = std::fs::read_to_string(registry_file(host)).expect("read the port registry");
    let mut held = Vec::new();
    let mut found = None;
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 4, "{host}: registry line {l:?}");
        if f[3] == "held" {
            held.push(f[0].to_string());
        }
        if f[1] == "shop" && f[2] == track {
            found = Some((f[0].parse().unwrap(), f[3].to_string()));
        }
    }
    let unique: BTreeSet<_> = held.iter().collect();
    assert_eq!(
        unique.len(),
        held.len(),
        "{host}: a port held twice:\n{text}"
    );
    found
}

/// shop's servers as (port, weight, down), read from the host's upstream file.
fn shop_servers(host: &str) -> Vec<(u16, u32, bool)> {
    sluice::remote::nginx::read_upstream(&shop_upstream(host), "shop_backend")
        .expect("parse shop.conf")
        .into_iter()
        .map(|s| {
            let port = s.addr.rsplit(':').next().unwrap().parse().unwrap();
            (port, s.weight, s.down)
        })
        .collect()
}

fn env_port(host: &str, track: &str) -> String {
    let f = format!("{LAB}/hosts/{host}/srv/shop/shop-{track}-{host}.env");
    let text = std::fs::read_to_string(&f).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("SLUICE_PORT="))
        .unwrap_or("")
        .to_string()
}

/// The lab config (no metric source) with a port range on every host and the `shop` service.
fn shop_config(dir: &Path, range: &str) -> PathBuf {
    shop_config_with(dir, range, "")
}

/// As [`shop_config`], with `extra` lines added to shop's `nginx:` section.
fn shop_config_with(dir: &Path, range: &str, extra: &str) -> PathBuf {
    let mut text = std::fs::read_to_string(mechanics_config()).unwrap();
    for (i, h) in HOSTS.iter().enumerate() {
        let region = if i < 2 { "lab-a" } else { "lab-b" };
        let from = format!("region: {region}, environment: staging }}");
        let at = text.find(&format!("name: {h},")).expect("host in lab.yaml");
        let end = at + text[at..].find(&from).expect("host line shape");
        text.replace_range(
            end..end + from.len(),
            &format!(
                "region: {region}, environment: staging, ports: {{ range: {range}, registry: {LAB}/hosts/{h}/srv/ports }} }}"
            ),
        );
    }
    let shop = format!(
        r#"  shop:
    hosts: [web-1, web-2, web-3]
    image: sluice-demo
    nginx:
      upstream_file: "{LAB}/hosts/{{host}}/nginx/conf.d/shop.conf"
      upstream: shop_backend
      test: "/usr/sbin/nginx -p {LAB}/hosts/{{host}}/nginx/ -c nginx.conf -e logs/error.log -t -q"
      reload: "/usr/sbin/nginx -p {LAB}/hosts/{{host}}/nginx/ -c nginx.conf -e logs/error.log -s reload"
{extra}    tracks:
      stable: {{ project: "shop-stable-{{host}}", compose_file: "{LAB}/hosts/{{host}}/srv/shop/stable.yml", port: auto }}
      canary: {{ project: "shop-canary-{{host}}", compose_file: "{LAB}/hosts/{{host}}/srv/shop/canary.yml", port: auto }}
    compose: docker-compose
    health: {{ path: /health, timeout: 2s, retries: 5, interval: 300ms }}
    strategy: canary-fast

strategies:
"#
    );
    let text = text.replacen("\nstrategies:\n", &format!("\n{shop}"), 1);
    let p = dir.join("shop.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The lab at its baseline, and shop at its own: stable 1.0.0 held at 20000, canary free at 20001.
fn shop_lab() -> LabGuard {
    let guard = lab();
    let out = Command::new("bash")
        .arg(root().join("lab/shop.sh"))
        .output()
        .expect("run lab/shop.sh");
    assert!(
        out.status.success(),
        "lab/shop.sh failed; re-run `bash lab/up.sh`:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    guard
}

fn get(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-m", "2", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_canary_takes_its_port_back_and_gives_it_up_when_removed() {
    let _lab = shop_lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = shop_config(dir.path(), "20000-20009");
    let out = run(sluice(&cfg).args(["check"]));
    assert!(out.status.success());

    let out = run(sluice(&cfg).args([
        "deploy",
        "shop",
        "--version",
        "1.1.0",
        "--yes",
        "--exit-on-pause",
    ]));
    assert_eq!(out.status.code(), Some(0), "canary-fast to promote");
    for h in HOSTS {
        // The canary had 20001 before and nobody took it: same port, line never moved.
        assert_eq!(record(h, "canary"), Some((20001, "free".into())), "{h}");
        assert_eq!(record(h, "stable"), Some((20000, "held".into())), "{h}");
        assert_eq!(
            env_port(h, "canary"),
            "20001",
            "{h}: the canary ran on its port"
        );
        assert_eq!(env_port(h, "stable"), "20000", "{h}");
        let s = shop_servers(h);
        assert_eq!(s.len(), 2, "{h}");
        assert_eq!((s[0].0, s[0].2), (20000, false), "{h}: stable serves");
        assert_eq!((s[1].0, s[1].2), (20001, true), "{h}: canary down");
        assert_eq!(
            container(&format!("shop-stable-{h}")),
            Some(("1.1.0".into(), true))
        );
        assert!(
            container(&format!("shop-canary-{h}")).is_none(),
            "{h}: removed"
        );
        nginx_t(h);
        assert_eq!(
            get(&format!("http://{}:8090/", host_ip(h))),
            "hello from stable 1.1.0"
        );
    }
}

#[test]
fn a_port_taken_meanwhile_moves_the_line_and_no_port_is_held_twice() {
    let _lab = shop_lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = shop_config(dir.path(), "20000-20009");
    // Another service took 20001 on every host; on web-2 a stranger also listens on 20002.
    cart_holds_20001();
    let _stranger = std::net::TcpListener::bind("127.0.0.12:20002").expect("bind 20002");

    let mut d = Deploy::start(
        &cfg,
        &["shop", "--version", "1.2.0", "--strategy", "canary-manual"],
    );
    d.until("awaiting-decision");
    let want = [("web-1", 20002u16), ("web-2", 20003), ("web-3", 20002)];
    for (h, port) in want {
        assert_eq!(record(h, "canary"), Some((port, "held".into())), "{h}");
        assert_eq!(env_port(h, "canary"), port.to_string(), "{h}");
        let s = shop_servers(h);
        assert_eq!(
            s,
            vec![(20000, 90, false), (port, 10, false)],
            "{h}: line moved"
        );
        nginx_t(h);
    }
    // Real traffic reaches the canary at its new port, through nginx.
    let out = run(sluice(&cfg).args(["weight", "shop", "50"]));
    assert!(out.status.success());
    let replies: Vec<String> = (0..20)
        .map(|_| get(&format!("http://{}:8090/", host_ip("web-2"))))
        .collect();
    assert!(
        replies.iter().any(|r| r == "hello from canary 1.2.0"),
        "{replies:?}"
    );
    let out = run(sluice(&cfg).args(["status", "shop", "--json"]));
    // Every host read (no exit 1); the canary the deploy left at its pause is unwatched (3).
    assert_eq!(out.status.code(), Some(3), "status reads auto ports");
    // `sluice ports` reads every host's registry.
    let out = run(sluice(&cfg).args(["ports", "--json"]));
    assert!(out.status.success());
    let hosts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let web2 = &hosts.as_array().unwrap()[1];
    assert_eq!(web2["host"], "web-2");
    assert_eq!(
        web2["unheld"], 7,
        "20000, 20001 (cart) and 20003 held of 10"
    );
    assert!(web2["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["port"] == 20003 && r["track"] == "canary" && r["state"] == "held"));

    let out = run(sluice(&cfg).args(["rollback", "shop"]));
    assert!(out.status.success());
    drop(d);
    for (h, port) in want {
        assert_eq!(
            record(h, "canary"),
            Some((port, "free".into())),
            "{h}: released"
        );
        let s = shop_servers(h);
        assert_eq!((s[1].0, s[1].2), (port, true), "{h}: line stays, down");
        assert!(
            container(&format!("shop-canary-{h}")).is_none_or(|(_, up)| !up),
            "{h}"
        );
        nginx_t(h);
    }
    // cart's port was never touched.
    for h in HOSTS {
        let text = std::fs::read_to_string(registry_file(h)).unwrap();
        assert!(text.contains("20001 cart canary held"), "{h}:\n{text}");
    }
}

#[test]
fn an_exhausted_range_or_a_broken_registry_is_refused_before_anything_changes() {
    let _lab = shop_lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = shop_config(dir.path(), "20000-20001");
    cart_holds_20001();
    let before: Vec<(String, String)> = HOSTS
        .iter()
        .map(|h| {
            (
                shop_upstream(h),
                std::fs::read_to_string(registry_file(h)).unwrap(),
            )
        })
        .collect();
    let out = run(sluice(&cfg).args([
        "deploy",
        "shop",
        "--version",
        "1.1.0",
        "--yes",
        "--exit-on-pause",
    ]));
    assert_ne!(out.status.code(), Some(0));
    let err =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no port of range 20000-20001 is free for shop canary"),
        "{err}"
    );
    assert!(
        err.contains("web-1") && err.contains("web-3"),
        "every host: {err}"
    );
    for (h, (up, reg)) in HOSTS.iter().zip(&before) {
        assert_eq!(&shop_upstream(h), up, "{h}: upstream untouched");
        assert_eq!(
            &std::fs::read_to_string(registry_file(h)).unwrap(),
            reg,
            "{h}"
        );
        assert!(container(&format!("shop-canary-{h}")).is_none(), "{h}");
    }

    // A registry line that is not PORT SERVICE TRACK STATE: named with host, file and line.
    std::fs::write(
        registry_file("web-3"),
        "20000 shop stable held\n20001 shop\n",
    )
    .unwrap();
    let out = run(sluice(&cfg).args(["status", "shop"]));
    assert_eq!(out.status.code(), Some(1));
    let err =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("web-3") && err.contains("srv/ports: line 2"),
        "{err}"
    );
}

#[test]
fn analysis_follows_a_canary_to_its_new_port() {
    let _lab = shop_lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = shop_config_with(
        dir.path(),
        "20000-20009",
        &format!("      access_log: \"{LAB}/hosts/{{host}}/nginx/logs/shop-access.log\"\n"),
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("  interval: 10s", "  interval: 1s")
        .replace("  window: 1m", "  window: 5s")
        .replace("  min_requests: 50", "  min_requests: 10");
    std::fs::write(&cfg, text).unwrap();
    cart_holds_20001();
    let load = common::load::Load::on(8090, 40);
    let mut d = Deploy::start(
        &cfg,
        &["shop", "--version", "1.2.0", "--strategy", "canary-fast"],
    );
    // The canary moved to 20002; its requests, logged by nginx as 127.0.0.1N:20002, are the
    // canary's: judged, with requests counted, and the rollout walks to promote.
    let judged = loop {
        let e = d.until("analysis");
        if e["track"] == "canary" && e["requests"].as_u64().unwrap_or(0) > 0 {
            break e;
        }
    };
    assert_eq!(judged["verdict"], "pass", "{judged}");
    let (code, _) = d.finish();
    drop(load);
    assert_eq!(code, Some(0), "promoted");
    for h in HOSTS {
        assert_eq!(record(h, "canary"), Some((20002, "free".into())), "{h}");
        assert_eq!(
            container(&format!("shop-stable-{h}")),
            Some(("1.2.0".into(), true))
        );
        nginx_t(h);
    }
}
