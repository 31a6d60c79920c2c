//! The analysis section's newer keys: the prometheus provider with its query templates,
//! the post-promotion watch, and the canary-against-stable comparison.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice::config::{parse, Compare, Diagnostic, Provider, Queries};

fn lab_with(analysis: &str) -> String {
    let text =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/lab.yaml"))
            .unwrap();
    let at = text
        .find("\nanalysis:")
        .expect("config/lab.yaml has an analysis section");
    format!("{}\n{analysis}\n", &text[..at])
}

fn errors(text: &str) -> Vec<String> {
    match parse(Path::new("a.yaml"), text) {
        Ok(_) => panic!("expected errors in:\n{text}"),
        Err(d) => d.iter().map(Diagnostic::to_string).collect(),
    }
}

#[test]
fn prometheus_beside_provider_with_templates() {
    let c = parse(
        Path::new("a.yaml"),
        &lab_with(
            r#"analysis:
  provider: prometheus
  prometheus:
    url: http://127.0.0.1:9090/
    timeout: 2s
    max_age: 10s
    queries:
      requests: 'sum(increase(http_requests_total{app="{service}",role="{track}"}[{window}]))'
  watch: 10s
  compare: { error_rate_margin: 0.01, p99_margin: 200ms }"#,
        ),
    )
    .unwrap_or_else(|d| panic!("{d:?}"));
    let a = &c.analysis;
    assert_eq!(
        a.provider,
        Provider::Prometheus {
            url: "http://127.0.0.1:9090".into()
        }
    );
    assert_eq!(a.prometheus.timeout, Duration::from_secs(2));
    assert_eq!(a.prometheus.max_age, Duration::from_secs(10));
    assert!(a
        .prometheus
        .queries
        .requests
        .starts_with("sum(increase(http_requests_total"));
    assert_eq!(a.prometheus.queries.p99, Queries::default().p99);
    assert_eq!(a.watch, Duration::from_secs(10));
    assert_eq!(
        a.compare,
        Some(Compare {
            error_rate_margin: Some(0.01),
            p99_margin: Some(Duration::from_millis(200))
        })
    );
}

#[test]
fn defaults_and_the_older_form() {
    let c = parse(
        Path::new("a.yaml"),
        &lab_with(
            "analysis: { provider: { prometheus: { url: \"http://prom:9090\", timeout: 1s } } }",
        ),
    )
    .unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(c.analysis.prometheus.timeout, Duration::from_secs(1));
    assert_eq!(c.analysis.watch, Duration::from_secs(1800));
    assert_eq!(c.analysis.compare, None);
    let c = parse(
        Path::new("a.yaml"),
        &lab_with("analysis: { provider: nginx-log }"),
    )
    .unwrap();
    assert_eq!(c.analysis.watch, Duration::from_secs(1800));
}

#[test]
fn mistakes_are_reported_in_place() {
    let e = errors(&lab_with("analysis:\n  provider: prometheus"));
    assert!(
        e[0].contains("a.yaml:") && e[0].contains("provider prometheus needs its url"),
        "{e:?}"
    );
    let e = errors(&lab_with(
        "analysis:\n  provider: prometheus\n  prometheus:\n    url: http://p:9090\n    queries:\n      p99: 'histogram_quantile(0.99, x{job=\"{servce}\"})'\n      latency: x",
    ));
    let all = e.join("\n");
    assert!(
        all.contains("unknown placeholder `{servce}` (did you mean `{service}`?)"),
        "{all}"
    );
    assert!(
        all.contains("unknown key `latency` in prometheus.queries"),
        "{all}"
    );
    assert!(
        e[0].starts_with("a.yaml:") && e[0].contains(":12: prometheus.queries.p99"),
        "reported at the query: {all}"
    );
    let e = errors(&lab_with(
        "analysis:\n  provider: prometheus\n  prometheus: { url: ftp://p, timeout: 0s }",
    ));
    let all = e.join("\n");
    assert!(all.contains("must be an http:// or https:// URL"), "{all}");
    let e = errors(&lab_with("analysis:\n  compare: {}\n  watch: soon"));
    let all = e.join("\n");
    assert!(
        all.contains("analysis.compare needs error_rate_margin"),
        "{all}"
    );
    assert!(all.contains("analysis.watch"), "{all}");
    let e = errors(&lab_with("analysis:\n  compare: { error_rate_margin: 5 }"));
    assert!(
        e.join("\n")
            .contains("error_rate_margin must be a fraction"),
        "{e:?}"
    );
    let e = errors(&lab_with(
        "analysis:\n  provider: { prometheus: { url: http://a } }\n  prometheus: { url: http://b }",
    ));
    assert!(e.join("\n").contains("prometheus is set twice"), "{e:?}");
}
