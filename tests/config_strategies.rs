//! The blue-green and rolling strategy keys: `keep`, and `batch` as a count or a percentage,
//! each error located and saying what to write instead.

use std::path::Path;
use std::time::Duration;

use sluice::config::{parse, Diagnostic, StrategyKind};
use sluice::domain::BatchSize;

fn config(strategies: &str) -> String {
    format!(
        r#"environments:
  staging: {{ approval: none }}
hosts:
  - {{ name: web-1, address: 10.0.0.1, environment: staging }}
services:
  api:
    hosts: [web-1]
    image: example/api
    nginx: {{ upstream_file: /etc/nginx/conf.d/api.conf, upstream: api_backend }}
    tracks:
      stable: {{ project: api-stable, compose_file: /srv/api/stable.yml, port: 8081 }}
      canary: {{ project: api-canary, compose_file: /srv/api/canary.yml, port: 8082 }}
    strategy: s
strategies:
{strategies}"#
    )
}

fn kind(strategies: &str, name: &str) -> StrategyKind {
    match parse(Path::new("t.yaml"), &config(strategies)) {
        Ok(c) => c.strategies[name].kind.clone(),
        Err(d) => panic!("{}", listing(&d)),
    }
}

fn listing(d: &[Diagnostic]) -> String {
    d.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one error of `strategies`, as `LINE:COL: message`.
fn error(strategies: &str) -> String {
    match parse(Path::new("t.yaml"), &config(strategies)) {
        Ok(c) => panic!("accepted: {:?}", c.strategies),
        Err(d) => {
            assert_eq!(d.len(), 1, "{}", listing(&d));
            format!("{}:{}: {}", d[0].line, d[0].column, d[0].message)
        }
    }
}

#[test]
fn blue_green_reads_verify_and_keep_with_defaults() {
    assert_eq!(
        kind("  s: { kind: blue-green, verify: 3s, keep: 10s }\n", "s"),
        StrategyKind::BlueGreen {
            verify: Duration::from_secs(3),
            keep: Duration::from_secs(10)
        }
    );
    assert_eq!(
        kind("  s: { kind: blue-green }\n", "s"),
        StrategyKind::BlueGreen {
            verify: Duration::from_secs(60),
            keep: Duration::from_secs(300)
        }
    );
}

#[test]
fn rolling_batch_is_a_count_or_a_percentage() {
    let k = |b: &str| match kind(
        &format!("  s: {{ kind: rolling, batch: {b}, bake: 5s }}\n"),
        "s",
    ) {
        StrategyKind::Rolling { batch, bake } => {
            assert_eq!(bake, Duration::from_secs(5));
            batch
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(k("2"), BatchSize::Hosts(2));
    assert_eq!(k("\"25%\""), BatchSize::Percent(25));
    assert_eq!(k("'100 %'"), BatchSize::Percent(100));
    assert_eq!(k("50%"), BatchSize::Percent(50));
    assert_eq!(
        kind("  s: { kind: rolling }\n", "s"),
        StrategyKind::Rolling {
            batch: BatchSize::Hosts(1),
            bake: Duration::from_secs(20)
        }
    );
}

#[test]
fn bad_batches_say_what_to_write() {
    let line = |b: &str| format!("  s: {{ kind: rolling, batch: {b} }}\n");
    // `  s: { kind: rolling, batch: ` is 29 characters; the value starts in column 30.
    let e = error(&line("\"0%\""));
    assert!(
        e.starts_with("15:30: batch 0% is out of range 1%..=100%"),
        "{e}"
    );
    let e = error(&line("\"150%\""));
    assert!(e.contains("batch 150% is out of range"), "{e}");
    let e = error(&line("\"3\""));
    assert!(
        e.contains("batch `3` is neither a count nor a percentage; write 3 (hosts) or \"3%\""),
        "{e}"
    );
    let e = error(&line("half"));
    assert!(e.contains("batch `half` is neither a count nor a percentage; write a number of hosts such as 1, or a percentage"), "{e}");
    let e = error(&line("\"x%\""));
    assert!(e.contains("batch `x%` is not a whole percentage"), "{e}");
    let e = error(&line("1.5"));
    assert!(e.contains("batch must be a number of hosts such as 1, or a percentage of them such as \"25%\", found"), "{e}");
    let e = error(&line("0"));
    assert!(e.contains("batch 0 is out of range 1..=10000"), "{e}");
}

#[test]
fn keep_is_checked_and_misspellings_are_named() {
    let e = error("  s: { kind: blue-green, keep: 10 }\n");
    assert!(e.contains("keep: `10` has no unit; write e.g. 10s"), "{e}");
    let e = error("  s: { kind: blue-green, kep: 1m }\n");
    assert!(
        e.contains("unknown key `kep` in strategy s (did you mean `keep`?)"),
        "{e}"
    );
    let e = error("  s: { kind: rolling, keep: 1m }\n");
    assert!(
        e.contains("`keep` does not apply to a rolling strategy; its keys are: kind, batch, bake"),
        "{e}"
    );
    let e = error("  s: { kind: blue-green, verfy: 1m }\n");
    assert!(e.contains("(did you mean `verify`?)"), "{e}");
}
