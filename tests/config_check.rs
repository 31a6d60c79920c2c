//! `sluice check`: every class of configuration error gives a located, helpful message.

use std::path::Path;

use sluice::config::{parse, Diagnostic};

const LAB: &str = include_str!("../config/lab.yaml");

fn errors(text: &str) -> Vec<Diagnostic> {
    parse(Path::new("t.yaml"), text).expect_err("expected errors")
}

/// Where `anchor` points in `text`: its first occurrence, at the `@@` marker inside it.
fn pos(text: &str, anchor: &str) -> (u64, u64) {
    let mark = anchor.find("@@").expect("anchor needs an @@ marker");
    let plain = anchor.replace("@@", "");
    let at = text
        .find(&plain)
        .unwrap_or_else(|| panic!("`{plain}` not in the text"))
        + mark;
    let line = text[..at].matches('\n').count() as u64 + 1;
    let col = text[..at].rsplit('\n').next().unwrap_or("").chars().count() as u64 + 1;
    (line, col)
}

/// The error at the anchor whose message contains `needle`.
fn has(diags: &[Diagnostic], text: &str, anchor: &str, needle: &str) {
    let (line, col) = pos(text, anchor);
    assert!(
        diags
            .iter()
            .any(|d| d.line == line && d.column == col && d.message.contains(needle)),
        "no error at {line}:{col} containing `{needle}`; got:\n{}",
        diags
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A minimal valid config with one service on two hosts; `$X` markers are substituted.
fn base() -> String {
    r#"environments:
  staging: { approval: none }
hosts:
  - { name: web-1, address: 10.0.0.1, environment: staging }
  - { name: web-2, address: 10.0.0.2, environment: staging }
services:
  api:
    hosts: [web-1, web-2]
    image: example/api
    nginx: { upstream_file: /etc/nginx/conf.d/api.conf, upstream: api_backend }
    tracks:
      stable: { project: api-stable, compose_file: /srv/api/stable.yml, port: 8081 }
      canary: { project: api-canary, compose_file: /srv/api/canary.yml, port: 8082 }
    strategy: auto
strategies:
  auto: { kind: canary, steps: [10, 40, 70], bake: 30s }
"#
    .to_string()
}

#[test]
fn the_lab_config_is_valid() {
    let c = parse(Path::new("config/lab.yaml"), LAB).unwrap();
    assert_eq!(c.hosts.len(), 3);
    let demo = &c.services["demo"];
    assert_eq!(demo.hosts, ["web-1", "web-2", "web-3"]);
    assert_eq!(demo.compose, "docker-compose");
    assert_eq!(demo.expand("web-2").stable.project, "demo-stable-web-2");
    assert_eq!(
        demo.expand("web-2").canary.env_file.as_deref(),
        Some("/var/lib/sluice-lab/hosts/web-2/srv/demo/demo-canary-web-2.env")
    );
    assert_eq!(c.strategies.len(), 5);
}

#[test]
fn the_base_config_is_valid_with_defaults() {
    let c = parse(Path::new("t.yaml"), &base()).unwrap();
    let api = &c.services["api"];
    assert_eq!(api.compose, "docker compose");
    assert_eq!(api.nginx.test, "nginx -t");
    assert_eq!(api.health.retries, 3);
    assert_eq!(c.hosts["web-1"].port, 22);
    assert_eq!(c.hosts["web-1"].backend_address, "127.0.0.1");
    assert_eq!(c.analysis.error_rate_max, 0.02);
}

#[test]
fn yaml_syntax_error() {
    let d = errors("hosts: [a, b\nservices: {}\n");
    assert_eq!(d.len(), 1);
    assert!(d[0].message.starts_with("invalid YAML"), "{}", d[0]);
    assert!(d[0].line >= 1);
}

#[test]
fn duplicate_key() {
    let text = base().replace(
        "    strategy: auto\n",
        "    strategy: auto\n    strategy: auto\n",
    );
    let d = errors(&text);
    assert_eq!(d.len(), 1);
    assert!(d[0].message.contains("duplicate mapping key"), "{}", d[0]);
    assert_eq!(d[0].line, 15);
}

#[test]
fn unknown_keys_at_any_level() {
    let text = base()
        .replace("environments:", "colour: red\nenvironments:")
        .replace("port: 8082 }", "port: 8082, replicas: 2 }");
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@colour",
        "unknown key `colour` in the configuration",
    );
    has(
        &d,
        &text,
        "@@replicas",
        "unknown key `replicas` in the canary track",
    );
}

#[test]
fn wrong_types() {
    let text = base()
        .replace("port: 8081", "port: eighty")
        .replace("hosts: [web-1, web-2]", "hosts: web-1");
    let d = errors(&text);
    has(&d, &text, "hosts: @@web-1", "must be a list");
    has(
        &d,
        &text,
        "port: @@eighty",
        "port must be a whole number, found a string",
    );
}

#[test]
fn missing_required_key() {
    let text = base().replace("    image: example/api\n", "");
    let d = errors(&text);
    has(
        &d,
        &text,
        "    @@hosts: [web-1",
        "service api is missing required key `image`",
    );
}

#[test]
fn dangling_references() {
    let text = base()
        .replace("hosts: [web-1, web-2]", "hosts: [web-1, web-9]")
        .replace("strategy: auto", "strategy: fast")
        .replace(
            "environment: staging }\n  - { name: web-2",
            "environment: prod }\n  - { name: web-2",
        )
        .replace(
            "    strategy: fast\n",
            "    strategy: fast\n    depends_on: [auth]\n",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "environment: @@prod",
        "environment `prod` is not defined; environments: staging",
    );
    has(&d, &text, "@@web-9", "host `web-9` is not defined");
    has(
        &d,
        &text,
        "strategy: @@fast",
        "strategy `fast` is not defined; strategies: auto",
    );
    has(&d, &text, "[@@auth]", "depends_on `auth` is not a service");
}

#[test]
fn dependency_cycle() {
    let text = base()
        .replace("    strategy: auto\n", "    strategy: auto\n    depends_on: [web]\n")
        .replace(
            "strategies:",
            "  web:\n    hosts: [web-1]\n    image: example/web\n    nginx: { upstream_file: /etc/w.conf, upstream: w }\n    tracks:\n      stable: { project: w-s, compose_file: /srv/w/s.yml, port: 9081 }\n      canary: { project: w-c, compose_file: /srv/w/c.yml, port: 9082 }\n    strategy: auto\n    depends_on: [api]\nstrategies:",
        );
    let d = errors(&text);
    assert!(
        d.iter()
            .any(|x| x.message.contains("dependency cycle: api → web → api")
                || x.message.contains("dependency cycle: web → api → web")),
        "{d:?}"
    );
}

#[test]
fn bad_durations() {
    let text = base().replace("bake: 30s", "bake: 30").replace(
        "strategies:",
        "ssh: { connect_timeout: 5 days }\nstrategies:",
    );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@5 days",
        "ssh.connect_timeout: `5 days` has no unit",
    );
    has(&d, &text, "bake: @@30", "has no unit; write e.g. 30s");
}

#[test]
fn weights_and_steps() {
    let text = base()
        .replace("steps: [10, 40, 70]", "steps: [10, 5, 120]")
        .replace(
            "strategies:\n",
            "strategies:\n  manual: { kind: canary-manual, initial: 101 }\n",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@101",
        "initial weight 101 is out of range 0..=100",
    );
    has(
        &d,
        &text,
        "[10, @@5",
        "canary steps must increase: 5 comes after 10",
    );
    has(&d, &text, "@@120", "out of range 1..=100");
}

#[test]
fn duplicate_ports() {
    let text = base().replace("port: 8082", "port: 8081");
    let same = errors(&text);
    has(
        &same,
        &text,
        "canary.yml, port: @@8081",
        "same as the stable track",
    );
    let text = base().replace(
        "strategies:",
        "  web:\n    hosts: [web-2]\n    image: example/web\n    nginx: { upstream_file: /etc/w.conf, upstream: w }\n    tracks:\n      stable: { project: w-s, compose_file: /srv/w/s.yml, port: 8082 }\n      canary: { project: w-c, compose_file: /srv/w/c.yml, port: 9082 }\n    strategy: auto\nstrategies:",
    );
    let d = errors(&text);
    has(
        &d,
        &text,
        "s.yml, port: @@8082",
        "port 8082 on host web-2 is already used by api.canary",
    );
}

#[test]
fn names_outside_the_alphabet() {
    let text = base()
        .replace("name: web-1", "name: Web_1")
        .replace("  api:\n", "  API:\n")
        .replace("upstream: api_backend", "upstream: \"api backend\"")
        .replace("project: api-canary", "project: \"Api-{host}\"");
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@Web_1",
        "host name `Web_1` is not a valid name",
    );
    has(
        &d,
        &text,
        "@@API:",
        "service name `API` is not a valid name",
    );
    has(
        &d,
        &text,
        "@@\"api backend\"",
        "upstream `api backend` is not a valid name",
    );
    has(
        &d,
        &text,
        "@@\"Api-{host}\"",
        "compose project `Api-web-2` (on host web-2) is not a valid name",
    );
}

#[test]
fn duplicate_hosts_and_mixed_environments() {
    let text = base()
        .replace("  - { name: web-2, address: 10.0.0.2, environment: staging }", "  - { name: web-1, address: 10.0.0.2, environment: staging }\n  - { name: web-2, address: 10.0.0.3, environment: prod }")
        .replace("  staging: { approval: none }", "  staging: { approval: none }\n  prod: { approval: required }");
    let d = errors(&text);
    has(
        &d,
        &text,
        "name: @@web-1, address: 10.0.0.2",
        "host `web-1` is defined twice (first on line 5)",
    );
    has(
        &d,
        &text,
        "[web-1, @@web-2]",
        "host web-2 is in environment prod, but web-1 is in staging",
    );
}

#[test]
fn ports_compose_paths_addresses_placeholders() {
    let text = base()
        .replace("port: 8081", "port: 0")
        .replace(
            "strategy: auto\nstrategies",
            "strategy: auto\n    compose: podman-compose\nstrategies",
        )
        .replace(
            "compose_file: /srv/api/canary.yml",
            "compose_file: srv/canary.yml",
        )
        .replace("address: 10.0.0.2", "address: \"10.0.0.2; rm -rf /\"")
        .replace(
            "upstream_file: /etc/nginx/conf.d/api.conf",
            "upstream_file: \"/etc/{hostname}/api.conf\"",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@\"10.0.0.2; rm",
        "is not a host name or IP address",
    );
    has(
        &d,
        &text,
        "@@\"/etc/{hostname}",
        "unknown placeholder `{hostname}`",
    );
    has(&d, &text, "port: @@0", "port 0 is out of range 1..=65535");
    has(&d, &text, "@@srv/canary.yml", "must be an absolute path");
    has(
        &d,
        &text,
        "@@podman-compose",
        "compose `podman-compose` is not supported",
    );
}

#[test]
fn many_errors_are_all_reported_in_file_order() {
    let text = base()
        .replace("name: web-1", "name: Web_1")
        .replace("port: 8081", "port: x")
        .replace("bake: 30s", "bake: soon")
        .replace(
            "strategy: auto\nstrategies",
            "strategy: nope\n    trickle: 9\nstrategies",
        )
        .replace("environments:", "bogus: 1\nenvironments:");
    let d = errors(&text);
    assert!(d.len() >= 5, "{d:?}");
    let lines: Vec<u64> = d.iter().map(|x| x.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
    for x in &d {
        assert!(x
            .to_string()
            .starts_with(&format!("t.yaml:{}:{}: ", x.line, x.column)));
    }
}

#[test]
fn empty_and_unreadable_files() {
    let d = errors("");
    assert_eq!(d.len(), 1);
    let d = sluice::config::load(Path::new("/nonexistent/sluice.yaml")).unwrap_err();
    assert!(d[0]
        .to_string()
        .starts_with("/nonexistent/sluice.yaml:1:1: cannot read"));
}

#[test]
fn check_command_prints_located_errors_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(&f, base().replace("bake: 30s", "bake: 30")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:16:52: bake: `30` has no unit", f.display())),
        "{err}"
    );
    let ok = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["check", "--config", "config/lab.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
