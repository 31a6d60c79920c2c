//! Policy against the lab through the CLI: a blackout refuses a deploy (rule, until when in the
//! zone and in UTC, how to override) without touching a host; `--override "REASON"` lets it
//! through and is emitted for the audit; a critical risk is refused.

mod common;

use std::path::PathBuf;

use chrono::{Duration, Utc};
use common::*;

/// config/lab.yaml without a metric source (steps advance on time) and with `policy` replaced;
/// `services` are added to the services section.
fn variant(name: &str, policy: &str, services: &str) -> PathBuf {
    let text = std::fs::read_to_string(lab_config()).expect("read config/lab.yaml");
    let mut text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("access_log:"))
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(i) = text.find("\npolicy:") {
        text.truncate(i + 1);
    }
    let text = text.replacen("\nstrategies:", &format!("{services}\nstrategies:"), 1);
    let p = std::env::temp_dir().join(format!("sluice-policy-{name}-{}.yaml", std::process::id()));
    std::fs::write(&p, format!("{text}\npolicy:\n{policy}")).expect("write the config");
    p
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_blackout_refuses_until_it_ends_and_an_override_goes_through() {
    let _lab = lab();
    let seoul = chrono_tz::Asia::Seoul;
    let now = Utc::now().with_timezone(&seoul);
    let from = (now - Duration::hours(1)).format("%Y-%m-%d %H:%M");
    let to = now + Duration::hours(2);
    let cfg = variant(
        "blackout",
        &format!(
            "  timezone: Asia/Seoul\n  blackouts:\n    - {{ from: \"{from}\", to: \"{}\", reason: \"db maintenance\" }}\n  risk: {{ approval: never, refuse: never }}\n",
            to.format("%Y-%m-%d %H:%M")
        ),
        "",
    );
    let check = run(sluice(&cfg).arg("check"));
    assert!(check.status.success(), "the variant config is valid");

    // Refused: exit 4, the rule, until when (Seoul and UTC), and how to override.
    let out = run(sluice(&cfg).args([
        "deploy",
        "demo",
        "--version",
        "1.1.0",
        "--strategy",
        "canary-fast",
        "--yes",
        "--exit-on-pause",
    ]));
    assert_eq!(out.status.code(), Some(4), "a policy refusal exits 4");
    let (stdout, stderr) = text(&out);
    let until_local = to.format("%a %Y-%m-%d %H:%M KST").to_string();
    let until_utc = to
        .with_timezone(&Utc)
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    for want in [
        "[blackout]",
        "db maintenance",
        until_local.as_str(),
        until_utc.as_str(),
        "sluice deploy demo --version 1.1.0 --strategy canary-fast --override \"REASON\"",
    ] {
        assert!(
            stderr.contains(want),
            "stderr should name `{want}`:\n{stderr}"
        );
    }
    assert!(
        stdout.contains("risk "),
        "the assessment is printed:\n{stdout}"
    );
    assert!(stdout.contains("REFUSED by policy"), "{stdout}");
    assert_baseline("1.0.0");

    // The JSON stream carries the assessment and the refusal.
    let out = run(sluice(&cfg).args([
        "deploy",
        "demo",
        "--version",
        "1.1.0",
        "--yes",
        "--exit-on-pause",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(4));
    let events: Vec<serde_json::Value> = text(&out)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON event per line"))
        .collect();
    let risk = events
        .iter()
        .find(|e| e["event"] == "risk")
        .expect("a risk event");
    assert!(risk["score"].as_u64().is_some_and(|s| s <= 100));
    assert_eq!(risk["factors"].as_array().map(Vec::len), Some(5));
    let refused = events
        .iter()
        .find(|e| e["event"] == "policy-refused")
        .expect("a policy-refused event");
    assert_eq!(refused["refusals"][0]["rule"], "blackout");
    assert!(refused["refusals"][0]["until"].is_string());

    // An empty reason is not an override.
    let out = run(sluice(&cfg).args([
        "deploy",
        "demo",
        "--version",
        "1.1.0",
        "--yes",
        "--exit-on-pause",
        "--override",
        " ",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert_baseline("1.0.0");

    // With a reason it goes through, and the override is an event for the audit.
    let mut d = Deploy::start(
        &cfg,
        &[
            "demo",
            "--version",
            "1.1.0",
            "--strategy",
            "canary-fast",
            "--override",
            "hotfix for INC-42",
        ],
    );
    let risk = d.until("risk");
    assert!(
        risk["deployment"].is_u64(),
        "the risk belongs to the deployment"
    );
    let o = d.until("policy-overridden");
    assert_eq!(o["reason"], "hotfix for INC-42");
    assert_eq!(o["operator"], "test");
    assert_eq!(o["rules"][0]["rule"], "blackout");
    d.until("deploy-started");
    let (code, _) = d.finish();
    assert_eq!(code, Some(0), "the overridden deploy succeeds");
    assert_baseline("1.1.0");
}

#[test]
fn a_critical_risk_is_refused_without_an_override() {
    let _lab = lab();
    // Two critical services depend on a critical demo, every day is high-risk and
    // business-critical, and there are no working hours: time 40 + dependencies 30 + scope.
    let mut services = String::new();
    for (i, name) in ["shop", "payments"].iter().enumerate() {
        let port = 9100 + 2 * i;
        services.push_str(&format!(
            r#"  {name}:
    hosts: [web-1]
    image: sluice-demo
    nginx:
      upstream_file: "/var/lib/sluice-lab/hosts/{{host}}/nginx/conf.d/{name}.conf"
      upstream: {name}_backend
      test: "true"
      reload: "true"
    tracks:
      stable: {{ project: "{name}-stable", compose_file: "/srv/{name}/stable.yml", port: {port} }}
      canary: {{ project: "{name}-canary", compose_file: "/srv/{name}/canary.yml", port: {} }}
    compose: docker-compose
    depends_on: [demo]
    strategy: canary-fast
"#,
            port + 1
        ));
    }
    let cfg = variant(
        "critical",
        "  timezone: Europe/Berlin\n  working_hours: { days: [] }\n  high_risk_days: [mon, tue, wed, thu, fri, sat, sun]\n  business_critical:\n    - { weekly: \"Mon 00:00 - Sun 24:00\" }\n  critical: [demo, shop, payments]\n",
        &services,
    );
    let out = run(sluice(&cfg).args([
        "deploy",
        "demo",
        "--version",
        "1.1.0",
        "--yes",
        "--exit-on-pause",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(4), "a critical risk is refused");
    let (stdout, stderr) = text(&out);
    assert!(stderr.contains("[risk]"), "{stderr}");
    assert!(stderr.contains("critical"), "{stderr}");
    let risk: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .find(|e| e["event"] == "risk")
        .expect("a risk event");
    assert_eq!(risk["level"], "critical");
    assert!(risk["score"].as_u64().is_some_and(|s| s >= 75));
    let deps = risk["factors"]
        .as_array()
        .and_then(|f| f.iter().find(|x| x["name"] == "dependencies"))
        .expect("a dependencies factor");
    assert!(deps["detail"]
        .as_str()
        .is_some_and(|d| d.contains("payments, shop")));
    assert_baseline("1.0.0");
}
