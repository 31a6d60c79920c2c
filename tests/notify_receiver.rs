//! Notifications against a local HTTP receiver (tests/common/receiver.rs): the request each
//! kind sends, retries after 500s, a hanging receiver that slows nothing, secrets that never
//! reach a log; and one real canary deploy on the lab that announces itself.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::receiver::Receiver;
use sluice::config::Config;
use sluice::engine::{Event, EventKind};
use sluice::notify::{resolve, Dispatcher, Reqwest, Settings};
use tokio::sync::broadcast;

const SECRET_PATH: &str = "/services/T0SECRET/B0SECRET/xoxSECRETwebhookTOKEN42";
const TG_TOKEN: &str = "123456:TELEGRAMsecretTOKENvalue";

/// Everything this test binary logs, to look for secrets in.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;
impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// The lab config (no metric source) with `notify` entries in the staging environment.
fn config_text(notify: &str, mechanics: bool) -> String {
    let base = if mechanics {
        common::mechanics_config()
    } else {
        common::lab_config()
    };
    let text = std::fs::read_to_string(base).expect("read the lab config");
    let replaced = text.replace(
        "  staging: { approval: none }",
        &format!("  staging:\n    approval: none\n    notify:\n{notify}"),
    );
    assert_ne!(
        replaced, text,
        "config/lab.yaml no longer has the staging line this test edits"
    );
    replaced
}

fn config(notify: &str) -> Config {
    let text = config_text(notify, false);
    sluice::config::parse(std::path::Path::new("notify-test.yaml"), &text)
        .unwrap_or_else(|d| panic!("test config invalid: {d:#?}"))
}

fn every_kind() -> String {
    [
        "      - { kind: slack, url_env: T_SLACK }",
        "      - { kind: mattermost, url_env: T_MM, events: [promoted] }",
        "      - { kind: telegram, token_env: T_TG, chat_id: \"-100200300\", api_url: T_API }",
        "      - { kind: webhook, url_env: T_HOOK, events: [started, rolled_back] }",
    ]
    .join("\n")
        + "\n"
}

fn ev(kind: EventKind) -> Event {
    Event {
        at: Utc::now(),
        service: "demo".into(),
        deployment: Some(42),
        kind,
    }
}

fn started() -> Event {
    ev(EventKind::DeployStarted {
        version: "1.1.0".into(),
        strategy: "canary-fast".into(),
        operator: "alice".into(),
        hosts: vec!["web-1".into(), "web-2".into()],
        steps: vec![10, 40],
    })
}

fn fast() -> Settings {
    Settings {
        tries: 3,
        backoff: Duration::from_millis(50),
        timeout: Duration::from_millis(500),
        queue: 8,
    }
}

fn start(
    cfg: Config,
    vars: HashMap<&str, String>,
    settings: Settings,
) -> (Dispatcher, broadcast::Sender<Event>) {
    let targets = resolve(&cfg, |v| vars.get(v).cloned()).expect("every secret is set");
    let (tx, rx) = broadcast::channel(1024);
    let d = Dispatcher::start(
        Arc::new(cfg),
        targets,
        rx,
        Arc::new(Reqwest::new().expect("HTTP client")),
        settings,
    );
    (d, tx)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn each_kind_sends_its_own_request_shape() {
    capture_logs();
    let r = Receiver::start();
    let text = every_kind().replace("T_API", &r.url(""));
    let cfg = config(&text);
    let vars = HashMap::from([
        ("T_SLACK", r.url(&format!("/slack{SECRET_PATH}"))),
        ("T_MM", r.url("/hooks/mmSECRETtoken123")),
        ("T_TG", TG_TOKEN.to_string()),
        ("T_HOOK", r.url("/hook/webhookSECRET99")),
    ]);
    rt().block_on(async {
        let (d, tx) = start(cfg, vars, fast());
        tx.send(started()).unwrap();
        tx.send(ev(EventKind::RolledBack {
            reason: "analysis of the canary: error rate 12.5 % > 2 %".into(),
        }))
        .unwrap();
        tx.send(ev(EventKind::Promoted {
            version: "1.1.0".into(),
        }))
        .unwrap();
        d.finish(Duration::from_secs(5)).await;
    });
    let got = r.got();
    let on =
        |prefix: &str| -> Vec<_> { got.iter().filter(|g| g.path.starts_with(prefix)).collect() };
    for g in &got {
        assert_eq!(g.method, "POST");
        assert!(g
            .header("content-type")
            .unwrap_or("")
            .contains("application/json"));
    }
    // Slack wants everything: started, rolled back, promoted; `{"text": …}`.
    let slack = on("/slack/");
    assert_eq!(slack.len(), 3, "{got:#?}");
    assert_eq!(slack[0].path, format!("/slack{SECRET_PATH}"));
    let t = slack[0].json()["text"].as_str().unwrap().to_string();
    for want in [
        "demo 1.1.0",
        "started in staging",
        "by alice",
        "deployment #42",
        "web-1, web-2",
    ] {
        assert!(t.contains(want), "slack text lacks {want:?}: {t}");
    }
    let rb = slack[1].json()["text"].as_str().unwrap().to_string();
    assert!(
        rb.contains("ROLLED BACK") && rb.contains("error rate 12.5 %"),
        "{rb}"
    );
    // Mattermost asked only for promoted.
    let mm = on("/hooks/");
    assert_eq!(mm.len(), 1, "{got:#?}");
    assert!(mm[0].json()["text"].as_str().unwrap().contains("promoted"));
    // Telegram: /bot<TOKEN>/sendMessage with chat_id and text.
    let tg = on("/bot");
    assert_eq!(tg.len(), 3, "{got:#?}");
    assert_eq!(tg[0].path, format!("/bot{TG_TOKEN}/sendMessage"));
    assert_eq!(tg[0].json()["chat_id"], "-100200300");
    assert!(tg[0].json()["text"]
        .as_str()
        .unwrap()
        .contains("demo 1.1.0"));
    // The webhook: the fields as JSON, for started and rolled_back only.
    let hook = on("/hook/");
    assert_eq!(hook.len(), 2, "{got:#?}");
    let j = hook[1].json();
    assert_eq!(j["event"], "rolled_back");
    assert_eq!(j["service"], "demo");
    assert_eq!(j["environment"], "staging");
    assert_eq!(j["version"], "1.1.0");
    assert_eq!(j["operator"], "alice");
    assert_eq!(j["deployment"], 42);
    assert!(j["reason"].as_str().unwrap().contains("error rate"));
    assert!(j["text"].is_string());
}

/// Issue 13, fault 10: text read from hosts reached Slack unescaped (mentions, links) and with
/// terminal escape sequences.
#[test]
fn host_text_is_escaped_for_slack_and_stripped_of_controls() {
    let r = Receiver::start();
    let text = config_text(
        "      - { kind: slack, url_env: T_SLACK_ESC }\n      - { kind: telegram, token_env: T_TG_ESC, chat_id: \"-1\", api_url: T_API_ESC }\n",
        false,
    )
    .replace("T_API_ESC", &r.url(""));
    let cfg = sluice::config::parse(std::path::Path::new("notify-test.yaml"), &text)
        .unwrap_or_else(|d| panic!("test config invalid: {d:#?}"));
    let vars = HashMap::from([
        ("T_SLACK_ESC", r.url("/slack")),
        ("T_TG_ESC", TG_TOKEN.to_string()),
    ]);
    rt().block_on(async {
        let (d, tx) = start(cfg, vars, fast());
        tx.send(started()).unwrap();
        tx.send(ev(EventKind::Failed {
            error: "web-1: <!channel> a & b <http://evil.example|log in> \u{1b}[2J\u{1b}]0;owned\u{7}done"
                .into(),
        }))
        .unwrap();
        d.finish(Duration::from_secs(5)).await;
    });
    let got = r.got();
    let text_of = |path: &str| -> String {
        got.iter()
            .filter(|g| g.path.starts_with(path))
            .map(|g| g.json()["text"].as_str().unwrap_or("").to_string())
            .find(|t| t.contains("FAILED"))
            .unwrap_or_else(|| panic!("no failure notification at {path}: {got:#?}"))
    };
    let slack = text_of("/slack");
    assert!(
        slack.contains("web-1: &lt;!channel&gt; a &amp; b &lt;http://evil.example|log in&gt; done"),
        "{slack}"
    );
    let tg = text_of("/bot");
    assert!(
        tg.contains("web-1: <!channel> a & b <http://evil.example|log in> done"),
        "Telegram is plain text: {tg}"
    );
    for t in [&slack, &tg] {
        assert!(!t.contains('\u{1b}') && !t.contains('\u{7}'), "{t:?}");
    }
}

/// Issue 13, fault 12: redirects were followed, taking the body on and the webhook URL along
/// as a Referer.
#[test]
fn a_redirect_is_not_followed() {
    capture_logs();
    let elsewhere = Receiver::start();
    let r = Receiver::start();
    r.redirect_to(&elsewhere.url("/collect"));
    let cfg = config("      - { kind: webhook, url_env: T_REDIR }\n");
    let vars = HashMap::from([("T_REDIR", r.url(SECRET_PATH))]);
    rt().block_on(async {
        let (d, tx) = start(cfg, vars, fast());
        tx.send(started()).unwrap();
        d.finish(Duration::from_secs(5)).await;
    });
    assert_eq!(r.got().len(), 1, "one try: a redirect is not retried");
    let followed = elsewhere.wait_for(1, Duration::from_millis(300));
    assert!(
        followed.is_empty(),
        "the redirect was followed: {followed:#?}"
    );
}

/// Issue 13, fault 12: Slack's webhook URL is the secret; plain http only to loopback.
#[test]
fn a_plain_http_slack_url_is_refused_unless_loopback() {
    let cfg = config("      - { kind: slack, url_env: T_SLACK_PLAIN }\n");
    let bad = "http://hooks.slack.example/services/T0SECRET/B0SECRET/xoxSECRETwebhookTOKEN42";
    let missing = resolve(&cfg, |_| Some(bad.to_string())).unwrap_err();
    let m = missing[0].to_string();
    assert!(
        m.contains("T_SLACK_PLAIN is a plain http:// URL") && m.contains("https://"),
        "{m}"
    );
    assert!(!m.contains("SECRET"), "the value is never echoed: {m}");
    assert!(resolve(&cfg, |_| Some(format!(
        "https://hooks.slack.example{SECRET_PATH}"
    )))
    .is_ok());
    assert!(resolve(&cfg, |_| Some(format!("http://127.0.0.1:9{SECRET_PATH}"))).is_ok());
}

#[test]
fn a_failing_receiver_is_retried_with_back_off() {
    capture_logs();
    let r = Receiver::start();
    r.fail_next(2);
    let cfg = config("      - { kind: slack, url_env: T_SLACK }\n");
    let vars = HashMap::from([("T_SLACK", r.url(SECRET_PATH))]);
    let t = Instant::now();
    rt().block_on(async {
        let (d, tx) = start(cfg, vars, fast());
        tx.send(started()).unwrap();
        d.finish(Duration::from_secs(5)).await;
    });
    let got = r.got();
    assert_eq!(got.len(), 3, "two 500s, then delivered: {got:#?}");
    assert!(got.iter().all(|g| g.body == got[0].body));
    // Back-off: 50 ms, then 100 ms.
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );

    // Always failing: bounded tries, then a warning naming the variable, not its value.
    let r2 = Receiver::start();
    r2.fail_next(100);
    let cfg = config("      - { kind: webhook, url_env: T_HOOK2 }\n");
    let vars = HashMap::from([("T_HOOK2", r2.url(SECRET_PATH))]);
    rt().block_on(async {
        let (d, tx) = start(cfg, vars, fast());
        tx.send(started()).unwrap();
        d.finish(Duration::from_secs(5)).await;
    });
    assert_eq!(r2.got().len(), 3, "three tries, no more");
    let l = logs();
    assert!(
        l.contains("gave up on the started notification for demo after 3 attempts: HTTP 500"),
        "{l}"
    );
}

#[test]
fn a_hanging_receiver_slows_nothing_and_drops_beyond_its_queue() {
    capture_logs();
    let hung = Receiver::start();
    hung.hang();
    let ok = Receiver::start();
    let cfg = config(
        "      - { kind: webhook, url_env: T_HUNG }\n      - { kind: slack, url_env: T_OK }\n",
    );
    let vars = HashMap::from([("T_HUNG", hung.url(SECRET_PATH)), ("T_OK", ok.url("/ok"))]);
    let settings = Settings {
        tries: 2,
        backoff: Duration::from_millis(50),
        timeout: Duration::from_millis(300),
        queue: 4,
    };
    rt().block_on(async {
        let (d, tx) = start(cfg, vars, settings);
        let t = Instant::now();
        for i in 0..40 {
            tx.send(ev(EventKind::StepReached {
                step: i,
                of: 40,
                canary_percent: 10,
                bake_until: None,
            }))
            .unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_millis(50),
            "emitting waited on a notifier"
        );
        // The healthy notifier is not held up by the hanging one.
        let got = tokio::task::spawn_blocking(move || ok.wait_for(4, Duration::from_secs(5)))
            .await
            .unwrap();
        assert!(
            got.len() >= 4,
            "the healthy notifier got {} messages",
            got.len()
        );
        let t = Instant::now();
        d.finish(Duration::from_secs(1)).await;
        assert!(
            t.elapsed() < Duration::from_millis(1500),
            "finish is bounded"
        );
    });
    let l = logs();
    assert!(
        l.contains("dropped the step notification for demo because its queue is full"),
        "{l}"
    );
    assert!(l.contains("no answer within"), "{l}");
}

#[test]
fn secrets_never_reach_logs_or_messages() {
    capture_logs();
    // Nothing listens on this port: connection errors must not quote the URL either.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = Receiver::start();
    r.fail_next(100);
    let text = "      - { kind: slack, url_env: T_DEAD }\n      - { kind: telegram, token_env: T_TG2, chat_id: 7, api_url: T_API }\n"
        .replace("T_API", &r.url(""));
    let cfg = config(&text);
    let vars = HashMap::from([
        ("T_DEAD", format!("http://{closed}{SECRET_PATH}")),
        ("T_TG2", TG_TOKEN.to_string()),
    ]);
    rt().block_on(async {
        let (d, tx) = start(cfg.clone(), vars, fast());
        tx.send(started()).unwrap();
        tx.send(ev(EventKind::Failed {
            error: "boom".into(),
        }))
        .unwrap();
        d.finish(Duration::from_secs(5)).await;
    });
    // A missing variable is named, with where the notifier is configured.
    let missing = resolve(&cfg, |_| None).unwrap_err();
    assert_eq!(missing.len(), 2);
    let m = missing[0].to_string();
    assert!(
        m.contains("environment variable T_DEAD is not set") && m.contains("notify-test.yaml:"),
        "{m}"
    );
    let l = logs();
    assert!(l.contains("gave up"), "the failures were logged: {l}");
    for secret in [
        "T0SECRET",
        "xoxSECRETwebhookTOKEN42",
        "TELEGRAMsecretTOKENvalue",
        SECRET_PATH,
    ] {
        assert!(!l.contains(secret), "secret {secret} in the logs:\n{l}");
    }
}

#[test]
fn a_secret_written_in_the_file_is_refused_without_echoing_it() {
    let text = config_text(
        "      - { kind: slack, url: \"https://hooks.slack.com/services/SECRETVALUE\" }\n",
        false,
    );
    let d = sluice::config::parse(std::path::Path::new("x.yaml"), &text).unwrap_err();
    let all = format!("{d:?}");
    assert!(
        all.contains("must not be written in the configuration"),
        "{all}"
    );
    assert!(!all.contains("SECRETVALUE"), "{all}");
}

#[test]
fn check_warns_about_a_missing_secret_and_deploy_refuses_before_anything_moves() {
    let text = config_text(
        "      - { kind: slack, url_env: SLUICE_T_UNSET_URL }\n",
        true,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, text).unwrap();
    let out = common::run(
        common::sluice(&path)
            .arg("check")
            .env_remove("SLUICE_T_UNSET_URL"),
    );
    assert_eq!(out.status.code(), Some(0), "the file itself is valid");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: ")
            && err.contains("c.yaml:")
            && err.contains("environment variable SLUICE_T_UNSET_URL is not set"),
        "{err}"
    );
    // No lab needed: the deploy stops before the engine touches a host.
    let out = common::run(
        common::sluice(&path)
            .args(["deploy", "demo", "--version", "1.1.0", "--yes"])
            .env_remove("SLUICE_T_UNSET_URL"),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SLUICE_T_UNSET_URL is not set") && err.contains("nothing was changed"),
        "{err}"
    );
}

/// A real, short canary deploy on the lab through the headless CLI announces itself: started,
/// each step, promoted; a second notifier that hangs does not slow it down.
#[test]
fn lab_canary_deploy_notifies_started_steps_and_promoted() {
    let r = Receiver::start();
    let hung = Receiver::start();
    hung.hang();
    let text = config_text(
        "      - { kind: slack, url_env: SLUICE_T_SLACK, events: [started, step, promoted, rolled_back, failed] }\n      - { kind: webhook, url_env: SLUICE_T_HUNG }\n",
        true,
    );
    let path = std::env::temp_dir().join(format!("sluice-notify-{}.yaml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let logdir = tempfile::tempdir().unwrap();
    let _lab = common::lab();
    let t = Instant::now();
    let out = common::run(
        common::sluice(&path)
            .args([
                "deploy",
                "demo",
                "--version",
                "1.1.0",
                "--strategy",
                "canary-fast",
                "--yes",
                "--json",
            ])
            .env("SLUICE_T_SLACK", r.url(SECRET_PATH))
            .env("SLUICE_T_HUNG", hung.url("/hung/HUNGsecretPATH77"))
            .env("SLUICE_LOG_DIR", logdir.path()),
    );
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "the deploy succeeds");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let at = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == name)
            .and_then(|e| e["at"].as_str())
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .unwrap_or_else(|| panic!("no {name} event"))
    };
    let rollout = (at("promoted") - at("deploy-started")).to_std().unwrap();
    eprintln!("rollout {rollout:?}, CLI {took:?}");
    let texts: Vec<String> = r
        .wait_for(5, Duration::from_secs(5))
        .iter()
        .map(|g| g.json()["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(texts.len(), 5, "started, 3 steps, promoted: {texts:#?}");
    assert!(
        texts[0].contains("demo 1.1.0: deployment started in staging"),
        "{texts:#?}"
    );
    assert!(texts[0].contains("by test"), "{texts:#?}");
    assert!(texts[1].contains("step 1/3, canary at 10 %"), "{texts:#?}");
    assert!(texts[3].contains("step 3/3, canary at 70 %"), "{texts:#?}");
    assert!(texts[4].contains("promoted in staging"), "{texts:#?}");
    // The hanging notifier got its messages but held up nothing: the CLI only waits its
    // bounded 10 s for the queue at exit.
    assert!(!hung.got().is_empty());
    assert!(
        took < rollout + Duration::from_secs(14),
        "CLI {took:?} vs rollout {rollout:?}"
    );
    let log = std::fs::read_to_string(logdir.path().join("sluice.log")).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for s in ["T0SECRET", "xoxSECRETwebhookTOKEN42", "HUNGsecretPATH77"] {
        assert!(
            !log.contains(s) && !stderr.contains(s),
            "secret {s} leaked:\n{log}\n{stderr}"
        );
    }
    assert!(
        log.contains("webhook notifier"),
        "the hanging notifier was logged: {log}"
    );
    common::assert_baseline("1.1.0");
}
