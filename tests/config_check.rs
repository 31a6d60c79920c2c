//! `sluice check`: every class of configuration error gives a located, helpful message, and
//! every error in a file is reported at once, in file order.
//!
//! Locations are given by anchors: `has(&d, &text, "port: @@eighty", "...")` expects an error
//! exactly where `@@` stands in the first occurrence of `port: eighty` in the text.

use std::path::Path;
use std::time::Duration;

use sluice::config::{
    load, parse, Approval, Diagnostic, Finally, OnInconclusive, Provider, Store, StrategyKind,
};
use sluice::domain::BatchSize;

const LAB: &str = include_str!("../config/lab.yaml");

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse(Path::new("t.yaml"), text) {
        Ok(c) => panic!("expected errors, the configuration was accepted: {c:#?}"),
        Err(d) => d,
    }
}

fn listing(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where `anchor` points in `text`: its first occurrence, at the `@@` marker inside it.
fn pos(text: &str, anchor: &str) -> (u64, u64) {
    let mark = anchor.find("@@").expect("anchor needs an @@ marker");
    let plain = anchor.replace("@@", "");
    let at = text
        .find(&plain)
        .unwrap_or_else(|| panic!("`{plain}` not in the text:\n{text}"))
        + mark;
    let line = text[..at].matches('\n').count() as u64 + 1;
    let col = text[..at].rsplit('\n').next().unwrap_or("").chars().count() as u64 + 1;
    (line, col)
}

/// There is an error exactly at the anchor whose message contains `needle`.
fn has(diags: &[Diagnostic], text: &str, anchor: &str, needle: &str) {
    let (line, col) = pos(text, anchor);
    at(diags, line, col, needle);
}

/// There is an error exactly at `line:col` whose message contains `needle`.
fn at(diags: &[Diagnostic], line: u64, col: u64, needle: &str) {
    assert!(
        diags
            .iter()
            .any(|d| d.line == line && d.column == col && d.message.contains(needle)),
        "no error at {line}:{col} containing `{needle}`; got:\n{}",
        listing(diags)
    );
}

/// No error message contains `needle` (no cascades, no noise).
fn lacks(diags: &[Diagnostic], needle: &str) {
    assert!(
        !diags.iter().any(|d| d.message.contains(needle)),
        "unexpected error containing `{needle}`:\n{}",
        listing(diags)
    );
}

/// A minimal valid config with one service on two hosts.
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

/// A second service `web` on web-2 (inserted before `strategies:`), ports 9081/9082.
fn with_web(text: &str, extra: &str) -> String {
    text.replace(
        "strategies:\n",
        &format!(
            "  web:\n    hosts: [web-2]\n    image: example/web\n    nginx: {{ upstream_file: /etc/w.conf, upstream: w }}\n    tracks:\n      stable: {{ project: w-s, compose_file: /srv/w/s.yml, port: 9081 }}\n      canary: {{ project: w-c, compose_file: /srv/w/c.yml, port: 9082 }}\n    strategy: auto\n{extra}strategies:\n"
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Valid configurations.

#[test]
fn the_lab_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab.yaml");
    let c = match load(&path) {
        Ok(c) => c,
        Err(d) => panic!("{}", listing(&d)),
    };
    assert_eq!(parse(&path, LAB), Ok(c.clone()));
    assert_eq!(
        c.store,
        Store::Local {
            path: "/var/lib/sluice-lab/state".into()
        }
    );
    assert_eq!(c.ssh.connect_timeout, Duration::from_secs(5));
    assert_eq!(c.ssh.command_timeout, Duration::from_secs(60));

    assert_eq!(c.environments.len(), 2);
    let prod = &c.environments["production"];
    assert_eq!(prod.approval, Approval::Required);
    assert_eq!(prod.approvers, ["alice", "bob"]);
    assert!(prod.four_eyes);
    assert_eq!(prod.theme.as_deref(), Some("red-alert"));
    assert_eq!(c.environments["staging"].approval, Approval::None);

    assert_eq!(c.hosts.len(), 3);
    let web2 = &c.hosts["web-2"];
    assert_eq!(web2.address, "127.0.0.12");
    assert_eq!(web2.port, 2222);
    assert_eq!(web2.user, "sluice-deploy");
    assert_eq!(web2.backend_address, "127.0.0.12");
    assert_eq!(web2.environment, "staging");
    assert_eq!(
        web2.identity_file.as_deref(),
        Some(Path::new("/var/lib/sluice-lab/ssh/lab_key"))
    );
    assert_eq!(c.hosts["web-3"].region.as_deref(), Some("lab-b"));
    assert!(!web2.forbidden && !web2.accept_new_host_key);

    assert_eq!(c.services.len(), 1);
    let demo = &c.services["demo"];
    assert_eq!(demo.hosts, ["web-1", "web-2", "web-3"]);
    assert_eq!(demo.image, "sluice-demo");
    assert_eq!(demo.compose, "docker-compose");
    assert_eq!(demo.strategy, "canary-auto");
    assert_eq!(demo.trickle, 0);
    assert_eq!(demo.stable.port, sluice::config::Port::Fixed(8081));
    assert_eq!(demo.canary.port, sluice::config::Port::Fixed(8082));
    assert_eq!(demo.health.retries, 5);
    assert_eq!(demo.health.interval, Duration::from_millis(300));
    let p = demo.expand("web-2");
    assert_eq!(p.stable.project, "demo-stable-web-2");
    assert_eq!(
        p.upstream_file,
        "/var/lib/sluice-lab/hosts/web-2/nginx/conf.d/demo.conf"
    );
    assert_eq!(
        p.canary.env_file.as_deref(),
        Some("/var/lib/sluice-lab/hosts/web-2/srv/demo/demo-canary-web-2.env")
    );
    assert_eq!(
        c.service_environment(demo).map(|e| e.name.as_str()),
        Some("staging")
    );

    assert_eq!(c.strategies.len(), 5);
    assert_eq!(
        c.strategies["canary-auto"].kind,
        StrategyKind::Canary {
            steps: splits(&[10, 40, 70]),
            bake: Duration::from_secs(30),
            finally: Finally::Pause
        }
    );
    assert_eq!(
        c.strategies["canary-manual"].kind,
        StrategyKind::CanaryManual {
            initial: sluice::domain::Split::TEN
        }
    );
    assert_eq!(
        c.strategies["blue-green"].kind,
        StrategyKind::BlueGreen {
            verify: Duration::from_secs(20),
            keep: Duration::from_secs(60)
        }
    );
    assert_eq!(
        c.strategies["rolling"].kind,
        StrategyKind::Rolling {
            batch: BatchSize::Hosts(1),
            bake: Duration::from_secs(20)
        }
    );

    assert_eq!(c.analysis.provider, Provider::NginxLog);
    assert_eq!(c.analysis.window, Duration::from_secs(60));
    assert_eq!(c.analysis.p99_max, Duration::from_secs(1));
    assert_eq!(c.analysis.min_requests, 50);
    assert_eq!(c.analysis.on_inconclusive, OnInconclusive::Pause);
}

#[test]
fn defaults_fill_what_is_left_out() {
    let c = parse(Path::new("t.yaml"), &base()).unwrap();
    let home = std::env::var_os("HOME").unwrap_or_default();
    if !home.is_empty() {
        assert_eq!(
            c.store,
            Store::Local {
                path: Path::new(&home).join(".local/state/sluice")
            }
        );
    }
    assert_eq!(c.ssh.connect_timeout, Duration::from_secs(5));
    assert_eq!(c.ssh.command_timeout, Duration::from_secs(60));
    let api = &c.services["api"];
    assert_eq!(api.compose, "docker compose");
    assert_eq!(api.nginx.test, "nginx -t");
    assert_eq!(api.nginx.reload, "nginx -s reload");
    assert_eq!(api.health.path, "/health");
    assert_eq!(api.health.timeout, Duration::from_secs(2));
    assert_eq!(api.health.retries, 3);
    assert_eq!(api.health.interval, Duration::from_millis(500));
    assert_eq!(api.trickle, 0);
    let h = &c.hosts["web-1"];
    assert_eq!((h.port, h.user.as_str()), (22, "root"));
    assert_eq!(h.backend_address, "127.0.0.1");
    assert!(!h.forbidden && !h.accept_new_host_key);
    assert_eq!(
        c.strategies["auto"].kind,
        StrategyKind::Canary {
            steps: splits(&[10, 40, 70]),
            bake: Duration::from_secs(30),
            finally: Finally::Pause
        }
    );
    assert_eq!(c.analysis.provider, Provider::NginxLog);
    assert_eq!(c.analysis.interval, Duration::from_secs(10));
    assert_eq!(c.analysis.window, Duration::from_secs(60));
    assert_eq!(c.analysis.error_rate_max, 0.02);
    assert_eq!(c.analysis.p99_max, Duration::from_secs(1));
    assert_eq!(c.analysis.min_requests, 50);
    assert_eq!(c.analysis.on_inconclusive, OnInconclusive::Pause);
}

#[test]
fn other_kinds_and_forms_are_read() {
    let text = base()
        .replace(
            "environments:",
            "store: { kind: redis, url: \"redis://10.0.0.9:6379\" }\nssh: { connect_timeout: 1m30s }\nanalysis: { provider: { prometheus: { url: \"http://prom:9090\" } }, on_inconclusive: rollback }\nenvironments:",
        )
        .replace(
            "strategies:\n",
            "strategies:\n  bg: { kind: blue-green, verify: 2m }\n  roll: { kind: rolling, batch: 2, bake: 500ms }\n  man: { kind: canary-manual }\n",
        )
        // YAML 1.2: `no` is a string, not false (the "Norway problem").
        .replace(
            "address: 10.0.0.1,",
            "address: 10.0.0.1, region: no, cloud: on, user: deploy, port: 2222,",
        );
    let c = match parse(Path::new("t.yaml"), &text) {
        Ok(c) => c,
        Err(d) => panic!("{}", listing(&d)),
    };
    assert_eq!(
        c.store,
        Store::Redis {
            url: "redis://10.0.0.9:6379".into()
        }
    );
    assert_eq!(c.ssh.connect_timeout, Duration::from_secs(90));
    assert_eq!(
        c.analysis.provider,
        Provider::Prometheus {
            url: "http://prom:9090".into()
        }
    );
    assert_eq!(c.analysis.on_inconclusive, OnInconclusive::Rollback);
    assert_eq!(
        c.strategies["roll"].kind,
        StrategyKind::Rolling {
            batch: BatchSize::Hosts(2),
            bake: Duration::from_millis(500)
        }
    );
    assert_eq!(
        c.strategies["man"].kind,
        StrategyKind::CanaryManual {
            initial: sluice::domain::Split::TEN
        }
    );
    assert_eq!(
        c.strategies["bg"].kind,
        StrategyKind::BlueGreen {
            verify: Duration::from_secs(120),
            keep: Duration::from_secs(300)
        }
    );
    let h = &c.hosts["web-1"];
    assert_eq!(h.region.as_deref(), Some("no"));
    assert_eq!(h.cloud.as_deref(), Some("on"));
    assert_eq!((h.port, h.user.as_str()), (2222, "deploy"));
}

#[test]
fn anchors_and_merge_keys_are_followed() {
    let text = base().replace(
        "hosts:\n  - { name: web-1, address: 10.0.0.1, environment: staging }\n",
        "x-host: &host { user: deploy, port: 2222, environment: staging }\nhosts:\n  - { <<: *host, name: web-1, address: 10.0.0.1 }\n",
    );
    // `x-host` is not a key sluice knows: anchors live inside known keys or are errors.
    let d = errors(&text);
    has(&d, &text, "@@x-host", "unknown key `x-host`");
    assert_eq!(d.len(), 1, "{}", listing(&d));

    let text = base().replace(
        "  - { name: web-1, address: 10.0.0.1, environment: staging }\n  - { name: web-2, address: 10.0.0.2, environment: staging }\n",
        "  - &host { name: web-1, address: 10.0.0.1, environment: staging, user: deploy, port: 2222 }\n  - { <<: *host, name: web-2, address: 10.0.0.2 }\n",
    );
    let c = match parse(Path::new("t.yaml"), &text) {
        Ok(c) => c,
        Err(d) => panic!("{}", listing(&d)),
    };
    assert_eq!(c.hosts["web-2"].user, "deploy");
    assert_eq!(c.hosts["web-2"].port, 2222);

    // An error in a merged value is reported where it is used, and says where it comes from.
    let bad = text.replace("port: 2222", "port: 0");
    let d = errors(&bad);
    has(&d, &bad, "port: @@0", "port 0 is out of range");
    has(
        &d,
        &bad,
        "<<: @@*host",
        "port 0 is out of range 1..=65535 (the value comes from line 4)",
    );
}

// ---------------------------------------------------------------------------------------------
// One test per class of error.

#[test]
fn yaml_syntax_errors_are_located() {
    let text = "hosts:\n  - { name: web-1, address: 10.0.0.1\nservices: {}\n";
    let d = errors(text);
    assert_eq!(d.len(), 1, "{}", listing(&d));
    at(&d, 2, 5, "invalid YAML: unclosed bracket '{'");

    let text = "services:\n  api:\n    image: \"example/api\n    strategy: auto\n";
    let d = errors(text);
    assert_eq!(d.len(), 1, "{}", listing(&d));
    at(&d, 3, 12, "invalid YAML: unclosed quote");

    let text = "services:\n  api:\n    image: x\n   strategy: auto\n";
    let d = errors(text);
    at(
        &d,
        4,
        4,
        "invalid YAML: while parsing a block mapping, did not find expected key",
    );

    let d = errors("a: 1\n---\nb: 2\n");
    at(&d, 3, 1, "more than one YAML document");
    assert_eq!(
        d[0].to_string(),
        "t.yaml:3:1: invalid YAML: more than one YAML document (`---`); a configuration is one document"
    );
}

#[test]
fn repeated_keys_are_all_reported_and_checking_goes_on() {
    let text = base()
        .replace(
            "    strategy: auto\n",
            "    strategy: auto\n    strategy: auto\n",
        )
        .replace(
            "  staging: { approval: none }",
            "  staging: { approval: none, approval: required }",
        )
        .replace("port: 8082", "port: 0");
    let d = errors(&text);
    has(
        &d,
        &text,
        "none, @@approval: required",
        "key `approval` is repeated (first on line 2); keep one",
    );
    has(
        &d,
        &text,
        "auto\n    @@strategy: auto",
        "key `strategy` is repeated (first on line 14)",
    );
    // Not hidden by the repeated keys.
    has(&d, &text, "port: @@0", "port 0 is out of range 1..=65535");
    assert_eq!(d.len(), 3, "{}", listing(&d));
}

#[test]
fn unknown_keys_at_every_level() {
    let text = base()
        .replace("environments:", "colour: red\nenvironments:")
        .replace("approval: none }", "approval: none, aproval: none }")
        .replace("address: 10.0.0.1,", "address: 10.0.0.1, adress: x,")
        .replace(
            "    strategy: auto\n",
            "    strategy: auto\n    replicas: 3\n",
        )
        .replace(
            "upstream: api_backend }",
            "upstream: api_backend, tset: x }",
        )
        .replace("    tracks:\n", "    tracks:\n      preview: {}\n")
        .replace("port: 8082 }", "port: 8082, replicas: 2 }")
        .replace("bake: 30s }", "bake: 30s, finaly: pause }")
        .replace(
            "strategies:",
            "ssh: { timeout: 5s }\nanalysis: { window: 1m, threshold: 2 }\nstrategies:",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@colour",
        "unknown key `colour` in the configuration; expected one of: store, ssh, environments, hosts, services, strategies, analysis",
    );
    has(
        &d,
        &text,
        "@@aproval",
        "unknown key `aproval` in environment staging (did you mean `approval`?)",
    );
    has(
        &d,
        &text,
        "@@adress",
        "unknown key `adress` in host web-1 (did you mean `address`?)",
    );
    has(
        &d,
        &text,
        "    @@replicas: 3",
        "unknown key `replicas` in service api;",
    );
    has(
        &d,
        &text,
        "@@tset",
        "unknown key `tset` in nginx of service api (did you mean `test`?)",
    );
    has(
        &d,
        &text,
        "@@preview",
        "unknown key `preview` in tracks of service api; expected one of: stable, canary",
    );
    has(
        &d,
        &text,
        "8082, @@replicas",
        "unknown key `replicas` in the canary track of service api",
    );
    has(
        &d,
        &text,
        "@@finaly",
        "unknown key `finaly` in strategy auto (did you mean `finally`?)",
    );
    has(&d, &text, "{ @@timeout", "unknown key `timeout` in ssh");
    has(
        &d,
        &text,
        "@@threshold",
        "unknown key `threshold` in analysis",
    );
    assert_eq!(d.len(), 10, "{}", listing(&d));
}

#[test]
fn a_misspelt_required_key_is_reported_once() {
    let text = base().replace("    strategy: auto\n", "    stratgy: auto\n");
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@stratgy",
        "unknown key `stratgy` in service api (did you mean `strategy`?)",
    );
    lacks(&d, "missing required key `strategy`");
    assert_eq!(d.len(), 1, "{}", listing(&d));
}

#[test]
fn keys_of_another_strategy_kind() {
    let text = base().replace(
        "bake: 30s }",
        "bake: 30s, initial: 5 }\n  bg: { kind: blue-green, verify: 1m, batch: 2 }\n  odd: { kind: canery }",
    );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@initial: 5",
        "`initial` does not apply to a canary strategy; its keys are: kind, steps, bake, finally",
    );
    has(
        &d,
        &text,
        "@@batch: 2",
        "`batch` does not apply to a blue-green strategy; its keys are: kind, verify, keep",
    );
    has(
        &d,
        &text,
        "kind: @@canery",
        "kind `canery` is unknown (did you mean `canary`?)",
    );
}

#[test]
fn wrong_types() {
    let text = base()
        .replace("port: 8081", "port: eighty")
        .replace("port: 8082", "port: \"8082\"")
        .replace("hosts: [web-1, web-2]", "hosts: web-1")
        .replace("image: example/api", "image: [example/api]")
        .replace(
            "  staging: { approval: none }",
            "  staging: { approval: none, four_eyes: yes }",
        )
        .replace("    tracks:\n", "    health: [/health]\n    tracks:\n")
        .replace("steps: [10, 40, 70]", "steps: 10");
    let d = errors(&text);
    has(
        &d,
        &text,
        "hosts: @@web-1",
        "host must be a list such as [a, b], found the string `web-1`",
    );
    has(
        &d,
        &text,
        "port: @@eighty",
        "port must be a whole number, found the string `eighty`",
    );
    has(
        &d,
        &text,
        "port: @@\"8082\"",
        "port must be a whole number, found the string `8082`; write it as a plain number: 8082",
    );
    has(
        &d,
        &text,
        "image: @@[",
        "image must be a string, found a list",
    );
    has(
        &d,
        &text,
        "four_eyes: @@yes",
        "four_eyes must be true or false, found `yes`; write true or false",
    );
    has(
        &d,
        &text,
        "health: @@[",
        "health of service api must be a mapping, found a list",
    );
    has(
        &d,
        &text,
        "steps: @@10",
        "steps must be a list of percentages such as [10, 40, 70], found the number 10",
    );

    let d = errors("- a\n- b\n");
    at(
        &d,
        1,
        1,
        "the configuration must be a mapping, found a list",
    );
    let d = errors("hosts: { web-1: {} }\n");
    at(&d, 1, 8, "hosts must be a list of hosts");
}

#[test]
fn missing_required_keys_are_reported_at_their_parent() {
    let text = base()
        .replace("    image: example/api\n", "")
        .replace(
            "  - { name: web-2, address: 10.0.0.2, environment: staging }",
            "  - { name: web-2, environment: staging }",
        )
        .replace(", port: 8082 }", " }")
        .replace(
            "  auto: { kind: canary, steps: [10, 40, 70], bake: 30s }",
            "  auto: { kind: canary, steps: [10, 40, 70] }\n  other: { steps: [5] }",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "  @@api:",
        "service api is missing required key `image`",
    );
    has(
        &d,
        &text,
        "  - @@{ name: web-2",
        "host web-2 is missing required key `address`",
    );
    has(
        &d,
        &text,
        "      @@canary:",
        "the canary track of service api is missing required key `port`",
    );
    has(
        &d,
        &text,
        "  @@auto:",
        "strategy auto is missing required key `bake`",
    );
    has(
        &d,
        &text,
        "  @@other:",
        "strategy other is missing required key `kind`",
    );
}

#[test]
fn an_empty_section_is_checked_like_an_empty_mapping() {
    let text = base()
        .replace("  api:\n", "  web:\n  api:\n")
        .replace(
            "    tracks:\n      stable:",
            "    tracks:\n      stable:\n      old:",
        )
        .replace("hosts:\n", "hosts:\n  -\n")
        .replace("  staging: { approval: none }", "  staging:");
    let d = errors(&text);
    for key in ["hosts", "image", "nginx", "tracks", "strategy"] {
        has(
            &d,
            &text,
            "  @@web:",
            &format!("service web is missing required key `{key}`"),
        );
    }
    has(&d, &text, "  -@@\n", "empty host entry");
    has(
        &d,
        &text,
        "      @@stable:",
        "the stable track of service api is missing required key `project`",
    );
    // An environment with no settings takes the defaults.
    lacks(&d, "environment staging");
    lacks(&d, "environment `staging`");
}

#[test]
fn dangling_references() {
    let text = base()
        .replace("hosts: [web-1, web-2]", "hosts: [web-1, web-3]")
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
    has(
        &d,
        &text,
        "@@web-3",
        "host `web-3` is not defined (did you mean `web-1`?); hosts: web-1, web-2",
    );
    has(
        &d,
        &text,
        "strategy: @@fast",
        "strategy `fast` is not defined; strategies: auto",
    );
    has(
        &d,
        &text,
        "[@@auth]",
        "depends_on `auth` is not defined; services: api",
    );
    assert_eq!(d.len(), 4, "{}", listing(&d));
}

#[test]
fn a_broken_definition_is_not_reported_again_at_its_references() {
    // The strategy and the host exist but are invalid: one error each, where they are defined.
    let text = base()
        .replace(
            "kind: canary,",
            "kind: canary, steps: [10, 40, 70], bake: 30s }\n  x: { kind: canary,",
        )
        .replace(
            "  auto: { kind: canary, steps: [10, 40, 70], bake: 30s }\n",
            "  auto: { kind: canarie }\n",
        )
        .replace("address: 10.0.0.2", "address: \"10.0.0.2 x\"");
    let text = text.replace(
        "  x: { kind: canary, steps: [10, 40, 70], bake: 30s }\n",
        "",
    );
    let d = errors(&text);
    has(&d, &text, "kind: @@canarie", "kind `canarie` is unknown");
    has(
        &d,
        &text,
        "address: @@\"10.0.0.2 x\"",
        "is not a host name or IP address",
    );
    lacks(&d, "not defined");
    assert_eq!(d.len(), 2, "{}", listing(&d));
}

#[test]
fn dependency_cycles() {
    let text = with_web(&base(), "    depends_on: [api]\n").replace(
        "    strategy: auto\n  web:",
        "    strategy: auto\n    depends_on: [web]\n  web:",
    );
    let d = errors(&text);
    has(
        &d,
        &text,
        "depends_on: [@@api]",
        "dependency cycle: api → web → api",
    );
    assert_eq!(d.len(), 1, "{}", listing(&d));

    let text = base().replace(
        "    strategy: auto\n",
        "    strategy: auto\n    depends_on: [api]\n",
    );
    let d = errors(&text);
    has(&d, &text, "[@@api]", "dependency cycle: api → api");

    // A dependency that is fine.
    let text = with_web(&base(), "    depends_on: [api]\n");
    assert!(parse(Path::new("t.yaml"), &text).is_ok());
}

#[test]
fn bad_durations() {
    let text = base()
        .replace("bake: 30s", "bake: 30")
        .replace(
            "strategies:",
            "ssh: { connect_timeout: 5 days, command_timeout: 1.5s }\nanalysis: { interval: 10 s, window: [1m], p99_max: 0s }\nstrategies:",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@5 days",
        "ssh.connect_timeout: `5 days`: unknown unit `days`; use ms, s, m or h",
    );
    has(
        &d,
        &text,
        "@@1.5s",
        "ssh.command_timeout: `1.5s`: fractions are not supported; use a smaller unit, e.g. 1500ms",
    );
    has(
        &d,
        &text,
        "@@10 s",
        "analysis.interval: `10 s`: write the unit right after the number, e.g. 10s",
    );
    has(
        &d,
        &text,
        "window: @@[1m]",
        "analysis.window must be a duration such as 30s, 500ms or 1m30s, found a list",
    );
    has(
        &d,
        &text,
        "p99_max: @@0s",
        "analysis.p99_max must be longer than 0",
    );
    has(
        &d,
        &text,
        "bake: @@30",
        "bake: `30` has no unit; write e.g. 30s or 30ms",
    );
}

#[test]
fn weights_and_steps() {
    let text = base()
        .replace("steps: [10, 40, 70]", "steps: [10, 5, 120, 0, 40, 40]")
        .replace(
            "strategies:\n",
            "strategies:\n  manual: { kind: canary-manual, initial: 101 }\n  low: { kind: canary-manual, initial: -1 }\n  none: { kind: canary, steps: [], bake: 1s }\n",
        )
        .replace("    strategy: auto\n", "    strategy: auto\n    trickle: 6\n");
    let d = errors(&text);
    has(
        &d,
        &text,
        "initial: @@101",
        "initial weight 101 is out of range 0..=100",
    );
    has(
        &d,
        &text,
        "initial: @@-1",
        "initial weight -1 is out of range 0..=100",
    );
    has(
        &d,
        &text,
        "[10, @@5",
        "canary steps must increase: 5 comes after 10",
    );
    has(
        &d,
        &text,
        "@@120",
        "canary step (percent) 120 is out of range 1..=100",
    );
    has(
        &d,
        &text,
        "120, @@0",
        "canary step (percent) 0 is out of range 1..=100",
    );
    has(
        &d,
        &text,
        "40, @@40]",
        "canary steps must increase: 40 comes after 40",
    );
    has(&d, &text, "steps: @@[]", "steps is empty");
    has(&d, &text, "trickle: @@6", "trickle 6 is out of range 0..=5");
}

#[test]
fn duplicate_ports_on_a_host() {
    let text = base().replace("port: 8082", "port: 8081");
    let d = errors(&text);
    has(
        &d,
        &text,
        "canary.yml, port: @@8081",
        "the canary track uses port 8081, the same as the stable track (line 12)",
    );
    assert_eq!(d.len(), 1, "{}", listing(&d));

    // `web` runs on web-2, which api also uses: 8082 is taken there.
    let text = with_web(&base(), "").replace("port: 9081", "port: 8082");
    let d = errors(&text);
    has(
        &d,
        &text,
        "s.yml, port: @@8082",
        "port 8082 on host web-2 is already used by api.canary (line 13)",
    );
    assert_eq!(d.len(), 1, "{}", listing(&d));

    // A service whose name starts like another's is still another service.
    let text = with_web(&base(), "")
        .replace("  web:\n", "  api.v2:\n")
        .replace("port: 9081", "port: 8082");
    let d = errors(&text);
    has(
        &d,
        &text,
        "s.yml, port: @@8082",
        "port 8082 on host web-2 is already used by api.canary (line 13)",
    );

    // Services on different hosts may use the same ports.
    let text = with_web(&base(), "")
        .replace("hosts: [web-1, web-2]", "hosts: [web-1]")
        .replace("port: 9081", "port: 8081");
    assert!(parse(Path::new("t.yaml"), &text).is_ok());
}

#[test]
fn names_outside_the_alphabet() {
    let text = base()
        .replace(
            "  staging: { approval: none }",
            "  staging: { approval: none }\n  Prod: {}",
        )
        .replace("name: web-1", "name: Web_1")
        .replace("  api:\n", "  API:\n")
        .replace("upstream: api_backend", "upstream: \"api backend\"")
        .replace("project: api-canary", "project: \"Api-{host}\"")
        .replace("project: api-stable", "project: \"{service}.stable\"")
        .replace("  auto: {", "  Auto: {")
        .replace("strategy: auto", "strategy: Auto");
    let d = errors(&text);
    has(&d, &text, "@@Prod", "environment name `Prod` is not a valid name; use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit");
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
        "@@Auto: {",
        "strategy name `Auto` is not a valid name",
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
        "compose project `Api-web-2` (`Api-{host}` on host web-2) is not a valid name",
    );
    // `{service}` expands to the name as written.
    has(
        &d,
        &text,
        "@@\"{service}.stable\"",
        "compose project `API.stable` (`{service}.stable` on host web-2) is not a valid name",
    );
}

#[test]
fn upstream_names_may_use_placeholders() {
    let text = base().replace("upstream: api_backend", "upstream: \"{service}_{host}\"");
    let c = parse(Path::new("t.yaml"), &text).unwrap();
    assert_eq!(c.services["api"].expand("web-2").upstream, "api_web-2");
}

#[test]
fn duplicate_host_names() {
    let text = base().replace(
        "  - { name: web-2, address: 10.0.0.2, environment: staging }",
        "  - { name: web-1, address: 10.0.0.2, environment: staging }\n  - { name: web-2, address: 10.0.0.3, environment: staging }",
    );
    let d = errors(&text);
    has(
        &d,
        &text,
        "name: @@web-1, address: 10.0.0.2",
        "host `web-1` is defined twice (first on line 4); host names must be unique",
    );
    assert_eq!(d.len(), 1, "{}", listing(&d));
}

#[test]
fn a_service_in_two_environments() {
    let text = base()
        .replace(
            "  staging: { approval: none }",
            "  staging: { approval: none }\n  prod: { approval: required }",
        )
        .replace(
            "address: 10.0.0.2, environment: staging",
            "address: 10.0.0.2, environment: prod",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "[web-1, @@web-2]",
        "host web-2 is in environment prod, but web-1 is in staging; a service's hosts must share one environment",
    );
    assert_eq!(d.len(), 1, "{}", listing(&d));
}

#[test]
fn port_zero() {
    let text = base()
        .replace("port: 8081", "port: 0")
        .replace("address: 10.0.0.1,", "address: 10.0.0.1, port: 0,");
    let d = errors(&text);
    has(
        &d,
        &text,
        "stable.yml, port: @@0",
        "port 0 is out of range 1..=65535",
    );
    has(
        &d,
        &text,
        "10.0.0.1, port: @@0",
        "port 0 is out of range 1..=65535",
    );
    assert_eq!(d.len(), 2, "{}", listing(&d));
}

#[test]
fn compose_must_be_one_of_the_two() {
    let text = base().replace(
        "    strategy: auto\n",
        "    strategy: auto\n    compose: podman-compose\n",
    );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@podman-compose",
        "compose `podman-compose` is not supported; use \"docker compose\" or \"docker-compose\"",
    );
}

#[test]
fn paths_must_be_absolute() {
    let text = base()
        .replace(
            "compose_file: /srv/api/canary.yml",
            "compose_file: srv/canary.yml, env_file: api.env",
        )
        .replace(
            "upstream_file: /etc/nginx/conf.d/api.conf",
            "upstream_file: conf.d/api.conf, access_log: \"logs/{host}.log\"",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@srv/canary.yml",
        "compose_file `srv/canary.yml` must be an absolute path",
    );
    has(
        &d,
        &text,
        "@@api.env",
        "env_file `api.env` must be an absolute path",
    );
    has(
        &d,
        &text,
        "@@conf.d/api.conf",
        "upstream_file `conf.d/api.conf` must be an absolute path",
    );
    has(
        &d,
        &text,
        "@@\"logs/{host}.log\"",
        "access_log `logs/{host}.log` must be an absolute path",
    );
    assert_eq!(d.len(), 4, "{}", listing(&d));
}

#[test]
fn addresses_must_be_plausible() {
    let text = base()
        .replace("address: 10.0.0.2", "address: \"10.0.0.2; rm -rf /\"")
        .replace(
            "address: 10.0.0.1,",
            "address: 10.0.0.1, backend_address: \"$(id)\",",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@\"10.0.0.2; rm",
        "address `10.0.0.2; rm -rf /` is not a host name or IP address",
    );
    has(
        &d,
        &text,
        "@@\"$(id)\"",
        "backend_address `$(id)` is not a host name or IP address",
    );
    for bad in ["web 1", "10.0.0.256", "-oProxyCommand=x", "a|b"] {
        let text = base().replace("address: 10.0.0.2", &format!("address: \"{bad}\""));
        let d = errors(&text);
        has(
            &d,
            &text,
            &format!("@@\"{bad}\""),
            "is not a host name or IP address",
        );
    }
}

#[test]
fn unknown_placeholders() {
    let text = base()
        .replace(
            "upstream_file: /etc/nginx/conf.d/api.conf",
            "upstream_file: \"/etc/{hostname}/api.conf\", test: \"nginx -t -c /etc/{hots}.conf\"",
        )
        .replace("project: api-stable", "project: \"api-{env}\"")
        .replace(
            "compose_file: /srv/api/canary.yml",
            "compose_file: \"/srv/{service/canary.yml\"",
        );
    let d = errors(&text);
    has(
        &d,
        &text,
        "@@\"/etc/{hostname}",
        "upstream_file: unknown placeholder `{hostname}`; only {host} and {service} are expanded",
    );
    has(
        &d,
        &text,
        "@@\"nginx -t",
        "nginx.test: unknown placeholder `{hots}` (did you mean `{host}`?)",
    );
    has(
        &d,
        &text,
        "@@\"api-{env}\"",
        "project: unknown placeholder `{env}`",
    );
    has(
        &d,
        &text,
        "@@\"/srv/{service/",
        "compose_file: unknown placeholder `{service/canary.yml` (unclosed `{`)",
    );
    assert_eq!(d.len(), 4, "{}", listing(&d));
}

#[test]
fn approvals_that_cannot_be_given() {
    let text = base().replace(
        "  staging: { approval: none }",
        "  staging: { approval: none, four_eyes: true }\n  prod: { approval: required, approvers: [alice, alice], four_eyes: true }",
    );
    let d = errors(&text);
    has(
        &d,
        &text,
        "none, four_eyes: @@true",
        "four_eyes needs approval: required",
    );
    has(
        &d,
        &text,
        "[alice, @@alice]",
        "approver `alice` is listed twice",
    );
    has(
        &d,
        &text,
        "alice], four_eyes: @@true",
        "four_eyes needs two different approvers, but only alice is listed",
    );
}

// ---------------------------------------------------------------------------------------------
// All at once.

#[test]
fn many_errors_are_all_reported_in_file_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/many_errors.yaml");
    let d = load(&path).unwrap_err();
    let got: Vec<String> = d
        .iter()
        .map(|x| {
            assert_eq!(x.file, path);
            format!("{}:{}: {}", x.line, x.column, x.message)
        })
        .collect();
    let name_rule =
        "use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit";
    let expected = [
        "3:25: ssh.connect_timeout: `5` has no unit; write e.g. 5s or 5ms".to_string(),
        format!("7:3: environment name `Production` is not a valid name; {name_rule}"),
        "7:27: approval `maybe` is unknown; use none or required".into(),
        "11:29: address `10.0.0.2 && reboot` is not a host name or IP address (such as web-1.example.com or 10.0.1.11)".into(),
        "12:13: host `web-1` is defined twice (first on line 10); host names must be unique".into(),
        "13:52: environment `qa` is not defined; environments: staging, Production".into(),
        "13:62: port 0 is out of range 1..=65535".into(),
        "17:20: host `web-9` is not defined (did you mean `web-1`?); hosts: web-1, web-2, web-4".into(),
        "19:29: upstream_file `conf.d/api.conf` must be an absolute path".into(),
        "21:26: project: unknown placeholder `{env}`; only {host} and {service} are expanded".into(),
        "22:79: the canary track uses port 8081, the same as the stable track (line 21); they run side by side".into(),
        "23:14: compose `podman-compose` is not supported; use \"docker compose\" or \"docker-compose\"".into(),
        "24:5: unknown key `stratgy` in service api (did you mean `strategy`?); expected one of: hosts, image, nginx, tracks, compose, health, depends_on, strategy, trickle, warmup".into(),
        "31:79: port 8081 on host web-1 is already used by api.stable (line 21)".into(),
        "34:18: dependency cycle: api → web → api".into(),
        "35:14: trickle 9 is out of range 0..=5".into(),
        "38:41: canary steps must increase: 30 comes after 40".into(),
        "39:43: initial weight 150 is out of range 0..=100".into(),
        "39:48: `bake` does not apply to a canary-manual strategy; its keys are: kind, initial".into(),
        "43:11: analysis.window: `1 minute`: unknown unit `minute`; use ms, s, m or h (write e.g. 30s, 500ms or 1m30s)".into(),
        "44:20: on_inconclusive `panic` is unknown; use pause or rollback".into(),
    ];
    assert_eq!(got, expected, "\n{}", got.join("\n"));
    // Every error is on a line the fixture marks with a comment.
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for x in &d {
        let line = lines[x.line as usize - 1];
        assert!(line.contains("# "), "unmarked line {}: {line}", x.line);
    }
    assert!(
        d[0].to_string()
            .starts_with(&format!("{}:3:25: ssh.connect_timeout", path.display())),
        "{}",
        d[0]
    );
}

#[test]
fn five_errors_in_a_small_file() {
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
    let expected = [
        ("@@bogus", "unknown key `bogus`"),
        ("@@Web_1", "host name `Web_1` is not a valid name"),
        ("@@web-1, web-2]", "host `web-1` is not defined"),
        (
            "port: @@x",
            "port must be a whole number, found the string `x`",
        ),
        ("strategy: @@nope", "strategy `nope` is not defined"),
        ("trickle: @@9", "trickle 9 is out of range 0..=5"),
        ("bake: @@soon", "bake: `soon` is not a duration"),
    ];
    assert_eq!(d.len(), expected.len(), "{}", listing(&d));
    for (x, (anchor, needle)) in d.iter().zip(expected) {
        assert_eq!((x.line, x.column), pos(&text, anchor), "{x}");
        assert!(x.message.contains(needle), "{x}");
    }
}

#[test]
fn empty_and_unreadable_files() {
    for text in ["", "# only a comment\n", "~\n"] {
        let d = errors(text);
        assert_eq!(d.len(), 1, "{}", listing(&d));
        assert_eq!((d[0].line, d[0].column), (1, 1));
        assert!(
            d[0].message.contains("the configuration is empty"),
            "{}",
            d[0]
        );
    }
    let d = load(Path::new("/nonexistent/sluice.yaml")).unwrap_err();
    assert_eq!(d.len(), 1);
    assert!(
        d[0].to_string().starts_with(
            "/nonexistent/sluice.yaml:1:1: cannot read the configuration: No such file"
        ),
        "{}",
        d[0]
    );
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
    assert_ne!(out.status.code(), Some(0));
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

#[test]
fn allocated_ports_need_a_range_and_keep_out_of_fixed_ones() {
    // Both tracks auto, both hosts with a range: valid, and read as such.
    let text = base()
        .replace("port: 8081", "port: auto")
        .replace("port: 8082", "port: auto")
        .replace(
            "environment: staging }",
            "environment: staging, ports: { range: 20000-20099 } }",
        );
    let c = sluice::config::parse(std::path::Path::new("t.yaml"), &text)
        .unwrap_or_else(|d| panic!("{}", listing(&d)));
    let api = &c.services["api"];
    assert_eq!(api.canary.port, sluice::config::Port::Auto);
    let p = c.hosts["web-1"].ports.as_ref().unwrap();
    assert_eq!((p.range.start, p.range.end), (20000, 20099));
    assert_eq!(p.registry, sluice::config::DEFAULT_PORT_REGISTRY);

    // auto on a host without a range: named at the port, per host.
    let text = base().replace("port: 8082", "port: auto");
    let d = errors(&text);
    has(
        &d,
        &text,
        "canary.yml, port: @@auto",
        "port: auto needs a port range on host web-1",
    );
    has(
        &d,
        &text,
        "canary.yml, port: @@auto",
        "port: auto needs a port range on host web-2",
    );
    assert_eq!(d.len(), 2, "{}", listing(&d));

    // A fixed port inside a host's range would collide with allocations.
    let text = base().replace(
        "address: 10.0.0.2, environment: staging }",
        "address: 10.0.0.2, environment: staging, ports: { range: 8000-8099, registry: /var/lib/x/ports } }",
    );
    let d = errors(&text);
    has(
        &d,
        &text,
        "stable.yml, port: @@8081",
        "port 8081 is inside host web-2's ports.range 8000-8099",
    );
    assert_eq!(d.len(), 2, "{}", listing(&d));

    // Bad ranges, registries and port values.
    for (range, needle) in [
        ("9000-8000", "empty or starts at 0"),
        ("20000", "is not a port range"),
    ] {
        let text = base().replace(
            "address: 10.0.0.1, environment: staging }",
            &format!("address: 10.0.0.1, environment: staging, ports: {{ range: \"{range}\" }} }}"),
        );
        has(&errors(&text), &text, "ports: { range: @@\"", needle);
    }
    let text = base().replace(
        "address: 10.0.0.1, environment: staging }",
        "address: 10.0.0.1, environment: staging, ports: { range: 20000-20010, registry: ports.txt } }",
    );
    has(
        &errors(&text),
        &text,
        "registry: @@ports.txt",
        "must be an absolute path",
    );
    let text = base().replace("port: 8082", "port: any");
    has(
        &errors(&text),
        &text,
        "port: @@any",
        "port must be a whole number, found the string `any`",
    );
}

fn splits(percents: &[u8]) -> Vec<sluice::domain::Split> {
    percents
        .iter()
        .map(|p| sluice::domain::Split::new(*p).expect("a percentage"))
        .collect()
}
