//! Console tests: keys reach the engine commands they name; screens render from fed events.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use super::app::{App, Mode};
use super::keymap::{Act, Keymap};
use super::ui;
use crate::config::*;
use crate::domain::StackState;
use crate::domain::{DeploymentState, Version};
use crate::engine::{Command, Event, EventKind};

pub fn test_config() -> Config {
    let env = |name: &str, approval| Environment {
        name: name.into(),
        approval,
        approvers: vec![],
        four_eyes: false,
        theme: None,
        notify: vec![],
        approval_timeout: std::time::Duration::from_secs(24 * 3600),
    };
    let host = |n: u8| Host {
        name: format!("web-{n}"),
        address: format!("127.0.0.{}", 10 + n),
        port: 2222,
        user: "root".into(),
        identity_file: None,
        known_hosts: None,
        accept_new_host_key: false,
        backend_address: format!("127.0.0.{}", 10 + n),
        cloud: None,
        region: None,
        environment: "staging".into(),
        forbidden: false,
        ports: None,
    };
    let track = |t: &str, port| Track {
        project: format!("demo-{t}-{{host}}"),
        compose_file: format!("/srv/{{host}}/{t}.yml"),
        env_file: None,
        port: crate::config::Port::Fixed(port),
    };
    let svc = Service {
        name: "demo".into(),
        hosts: vec!["web-1".into(), "web-2".into(), "web-3".into()],
        image: "sluice-demo".into(),
        nginx: Nginx {
            upstream_file: "/etc/{host}/demo.conf".into(),
            access_log: None,
            upstream: "demo_backend".into(),
            test: "nginx -t".into(),
            reload: "nginx -s reload".into(),
        },
        stable: track("stable", 8081),
        canary: track("canary", 8082),
        compose: "docker-compose".into(),
        health: Health {
            path: "/health".into(),
            timeout: Duration::from_secs(2),
            retries: 3,
            interval: Duration::from_millis(300),
        },
        depends_on: vec![],
        strategy: "canary-auto".into(),
        trickle: 0,
        warmup: None,
    };
    let mut api = svc.clone();
    api.name = "api".into();
    Config {
        path: PathBuf::from("config/lab.yaml"),
        store: Store::Local {
            path: PathBuf::from("/tmp/sluice"),
        },
        ssh: Ssh {
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(60),
        },
        environments: BTreeMap::from([
            ("staging".into(), env("staging", Approval::None)),
            ("production".into(), env("production", Approval::Required)),
        ]),
        hosts: (1..=3).map(|n| (format!("web-{n}"), host(n))).collect(),
        services: BTreeMap::from([("api".into(), api), ("demo".into(), svc)]),
        strategies: BTreeMap::from([(
            "canary-auto".into(),
            Strategy {
                name: "canary-auto".into(),
                kind: StrategyKind::Canary {
                    steps: [10, 40, 70]
                        .into_iter()
                        .filter_map(crate::domain::Split::new)
                        .collect(),
                    bake: Duration::from_secs(30),
                    finally: Finally::Pause,
                },
            },
        )]),
        analysis: Analysis {
            provider: Provider::NginxLog,
            interval: Duration::from_secs(10),
            window: Duration::from_secs(60),
            error_rate_max: 0.02,
            p99_max: Duration::from_secs(1),
            min_requests: 50,
            on_inconclusive: OnInconclusive::Pause,
            failure_limit: 1,
            prometheus: Default::default(),
            watch: Duration::from_secs(1800),
            compare: None,
        },
        policy: crate::policy::Policy::default(),
        checks: Checks { disk_min: None },
    }
}

fn app() -> App {
    App::new(Arc::new(test_config()), "alice".into())
}

fn key(c: char) -> KeyEvent {
    KeyEvent::from(KeyCode::Char(c))
}

fn at(secs: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + secs, 0).single().unwrap()
}

fn ev(secs: i64, deployment: Option<u64>, kind: EventKind) -> Event {
    Event {
        at: at(secs),
        service: "demo".into(),
        deployment,
        kind,
    }
}

fn running(v: &str) -> StackState {
    StackState {
        version: Some(v.into()),
        running: true,
        status: "Up 1 minute".into(),
    }
}

/// A canary of demo 1.1.0 at step 2/3 (40 %), baking.
fn mid_bake(app: &mut App) {
    // The engine assesses the risk before the deployment starts.
    app.on_event(&ev(
        0,
        Some(7),
        EventKind::Risk {
            score: 27,
            level: crate::policy::Level::Medium,
            factors: vec![],
            mitigations: vec![],
        },
    ));
    app.on_event(&ev(
        0,
        Some(7),
        EventKind::DeployStarted {
            version: "1.1.0".into(),
            strategy: "canary-auto".into(),
            operator: "alice".into(),
            hosts: vec!["web-1".into(), "web-2".into(), "web-3".into()],
            steps: vec![10, 40, 70],
        },
    ));
    for (from, to) in [
        (DeploymentState::Pending, DeploymentState::Validating),
        (DeploymentState::Validating, DeploymentState::Progressing),
    ] {
        app.on_event(&ev(1, Some(7), EventKind::State { from, to }));
    }
    for h in ["web-1", "web-2", "web-3"] {
        app.on_event(&ev(
            2,
            None,
            EventKind::HostObserved {
                host: h.into(),
                read_at: at(2),
                stable_weight: 60,
                canary_weight: 40,
                canary_percent: Some(40),
                stable: running("1.0.0"),
                canary: running("1.1.0"),
            },
        ));
    }
    app.on_event(&ev(
        3,
        Some(7),
        EventKind::StepReached {
            step: 2,
            of: 3,
            canary_percent: 40,
            bake_until: Some(at(33)),
        },
    ));
}

fn render(app: &App, w: u16, h: u16, now: i64) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app, at(now))).unwrap();
    format!("{}", t.backend())
}

/// Press every key of every binding of `keymap` and check the command it leads to.
fn check_every_binding_reaches_its_command(keymap: &Keymap) {
    for b in &keymap.bindings {
        for k in &b.keys {
            let mut a = app();
            a.keymap = keymap.clone();
            a.selected = 1; // demo
            let cmds = a.on_key(KeyEvent::new(k.code, k.mods));
            let what = format!("{:?} via {}", b.act, k.label());
            match b.act {
                Act::Rollback => assert!(
                    matches!(&cmds[..], [Command::Rollback { service, .. }] if service == "demo"),
                    "{what}"
                ),
                Act::RollbackAll => {
                    assert!(matches!(&cmds[..], [Command::RollbackAll { .. }]), "{what}");
                    assert!(a.emergency.is_some());
                }
                Act::WeightUp => assert!(
                    matches!(
                        &cmds[..],
                        [Command::SetWeight {
                            canary_percent: 10,
                            ..
                        }]
                    ),
                    "{what}"
                ),
                Act::WeightDown => assert!(
                    matches!(
                        &cmds[..],
                        [Command::SetWeight {
                            canary_percent: 0,
                            ..
                        }]
                    ),
                    "{what}"
                ),
                Act::PauseResume => {
                    assert!(matches!(&cmds[..], [Command::Pause { .. }]), "{what}")
                }
                Act::Refresh => assert!(
                    matches!(&cmds[..], [Command::Refresh { service: None }]),
                    "{what}"
                ),
                Act::Promote => {
                    assert!(
                        matches!(a.mode, Mode::Confirm(_)) && cmds.is_empty(),
                        "{what}"
                    )
                }
                Act::Deploy => {
                    assert!(
                        matches!(a.mode, Mode::Deploy(_)) && cmds.is_empty(),
                        "{what}"
                    )
                }
                Act::Command | Act::Filter => {
                    assert!(
                        matches!(a.mode, Mode::Input { .. }) && cmds.is_empty(),
                        "{what}"
                    )
                }
                Act::Help => assert_eq!(a.mode, Mode::Help, "{what}"),
                Act::TakeOver => assert!(
                    matches!(&cmds[..], [Command::TakeOver { service }] if service == "demo"),
                    "{what}"
                ),
                Act::Details => assert!(
                    matches!(&a.mode, Mode::Details { service } if service == "demo")
                        && cmds.is_empty(),
                    "{what}"
                ),
                Act::NextPane => assert_eq!(a.focus, super::app::Focus::Events, "{what}"),
                Act::Back => assert!(a.filter.is_empty() && cmds.is_empty(), "{what}"),
                Act::ChartWindow => {
                    assert_eq!(a.chart_window, super::app::ChartWindow::Hour, "{what}")
                }
                Act::Quit => assert!(a.quit, "{what}"),
                Act::Down | Act::Up => assert!(cmds.is_empty(), "{what}"),
                // Nothing waits: a message, no command (tests_approvals.rs has the rest).
                Act::Approve | Act::Reject => {
                    assert!(cmds.is_empty() && a.message.is_some(), "{what}")
                }
            }
        }
    }
}

#[test]
fn every_binding_reaches_the_command_it_names() {
    check_every_binding_reaches_its_command(&Keymap::default());
}

/// A keymap that moves every action to other keys.
const REMAPPED: &str = "down: [n, ctrl-n]\nup: [e, ctrl-p]\ndeploy: D\nweight-up: \"]\"\nweight-down: \"[\"\npause-resume: P\npromote: alt-p\nrollback: R\nrollback-all: [f12, \"!\"]\nrefresh: f5\ncommand: \";\"\nfilter: f\nnext-pane: backtab\nback: backspace\nchart-window: W\napprove: A\nreject: ctrl-x\ndetails: i\ntake-over: T\nhelp: f1\nquit: Q\n";

#[test]
fn every_binding_of_a_keymap_file_reaches_the_command_it_names() {
    let keymap = super::keymap::file::parse(std::path::Path::new("keys.yaml"), REMAPPED).unwrap();
    for b in &keymap.bindings {
        let defaults = b.act.info().defaults;
        assert!(
            b.keys
                .iter()
                .all(|k| !defaults.contains(k) || *k == super::keymap::CTRL_C || k.label() == "!"),
            "{:?} kept a default key",
            b.act
        );
    }
    check_every_binding_reaches_its_command(&keymap);
    // The old keys do nothing now.
    let mut a = app();
    a.keymap = keymap;
    for c in ['d', 'r', 'p', 'j', 'g'] {
        assert!(a.on_key(key(c)).is_empty());
        assert_eq!(a.mode, Mode::Normal);
    }
}

fn press(a: &mut App, code: KeyCode) -> Vec<Command> {
    a.on_key(KeyEvent::from(code))
}

fn type_in(a: &mut App, text: &str) {
    for c in text.chars() {
        a.on_key(key(c));
    }
}

#[test]
fn d_opens_the_form_and_enter_deploys() {
    let mut a = app();
    a.selected = 1;
    a.on_key(key('d'));
    type_in(&mut a, "1.2.0");
    let cmds = press(&mut a, KeyCode::Enter);
    assert_eq!(
        cmds,
        vec![Command::Deploy {
            service: "demo".into(),
            version: Version::parse("1.2.0").unwrap(),
            strategy: None,
            operator: "alice".into(),
            override_reason: None,
        }]
    );
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn a_bad_version_stays_in_the_form_and_esc_cancels() {
    let mut a = app();
    a.on_key(key('d'));
    type_in(&mut a, "1 2;x");
    assert!(press(&mut a, KeyCode::Enter).is_empty());
    let Mode::Deploy(form) = &a.mode else {
        panic!("{:?}", a.mode)
    };
    assert!(form.tried);
    let screen = render(&a, 100, 30, 0);
    assert!(screen.contains("not a valid image tag"), "{screen}");
    assert!(press(&mut a, KeyCode::Esc).is_empty());
    assert_eq!(a.mode, Mode::Normal);
}

#[test]
fn colon_deploy_without_every_argument_opens_the_form() {
    for (typed, service, version, strategy) in [
        ("deploy", "demo", "", "canary-auto"),
        ("deploy api", "api", "", "canary-auto"),
        ("deploy demo 1.3.0", "demo", "1.3.0", "canary-auto"),
        ("deploy demo 1.3.0 nope", "demo", "1.3.0", "nope"),
    ] {
        let mut a = app();
        a.selected = 1;
        a.on_key(key(':'));
        type_in(&mut a, typed);
        assert!(press(&mut a, KeyCode::Enter).is_empty());
        let Mode::Deploy(form) = &a.mode else {
            panic!("{typed}: {:?}", a.mode)
        };
        assert_eq!(
            (
                form.service.as_str(),
                form.version.as_str(),
                form.strategy.as_str()
            ),
            (service, version, strategy),
            "{typed}"
        );
    }
}

/// The form for demo with `version` typed (tab to the strategy field when `strategy` is set).
fn form(version: &str, strategy: Option<&str>, enter: bool) -> App {
    let mut a = app();
    a.selected = 1;
    mid_bake(&mut a);
    a.on_key(key('d'));
    type_in(&mut a, version);
    if let Some(s) = strategy {
        press(&mut a, KeyCode::Tab);
        a.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        type_in(&mut a, s);
    }
    if enter {
        assert!(press(&mut a, KeyCode::Enter).is_empty());
    }
    a
}

#[test]
fn snapshot_deploy_form_80x24() {
    insta::assert_snapshot!(render(&form("1.2.0", None, false), 80, 24, 10));
}

#[test]
fn snapshot_deploy_form_160x48() {
    insta::assert_snapshot!(render(&form("1.2.0", None, false), 160, 48, 10));
}

#[test]
fn snapshot_deploy_form_invalid_80x24() {
    insta::assert_snapshot!(render(&form("", Some("nope"), true), 80, 24, 10));
}

#[test]
fn snapshot_deploy_form_invalid_160x48() {
    insta::assert_snapshot!(render(&form("", Some("nope"), true), 160, 48, 10));
}

#[test]
fn quitting_with_rollouts_in_flight_asks_first() {
    let mut a = app();
    mid_bake(&mut a);
    a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(!a.quit);
    let cmds = a.on_key(key('r'));
    assert!(matches!(&cmds[..], [Command::RollbackAll { .. }]));
    assert!(a.quit);
}

#[test]
fn command_mode_parses_commands() {
    let mut a = app();
    a.on_key(key(':'));
    for c in "weight demo 25".chars() {
        a.on_key(key(c));
    }
    let cmds = a.on_key(KeyEvent::from(KeyCode::Enter));
    assert_eq!(
        cmds,
        vec![Command::SetWeight {
            service: "demo".into(),
            canary_percent: 25
        }]
    );
    a.on_key(key(':'));
    for c in "rollback nope".chars() {
        a.on_key(key(c));
    }
    assert!(a.on_key(KeyEvent::from(KeyCode::Enter)).is_empty());
    assert!(a
        .message
        .as_ref()
        .unwrap()
        .1
        .contains("unknown service `nope`"));
}

#[test]
fn a_deploy_can_override_policy_with_a_reason_from_command_mode() {
    let mut a = app();
    let command = |a: &mut App, text: &str| {
        a.on_key(key(':'));
        for c in text.chars() {
            a.on_key(key(c));
        }
        a.on_key(KeyEvent::from(KeyCode::Enter))
    };
    assert!(command(&mut a, "deploy demo 1.2.0 --override ").is_empty());
    assert!(a.message.as_ref().unwrap().1.contains("needs a reason"));
    assert!(command(
        &mut a,
        "deploy demo 1.2.0 canary-auto --override hotfix INC-7"
    )
    .is_empty());
    let screen = render(&a, 80, 24, 10);
    assert!(screen.contains("OVERRIDING"), "{screen}");
    // The form confirms with enter; the service's own strategy is sent as "the default".
    assert_eq!(
        a.on_key(KeyEvent::from(KeyCode::Enter)),
        vec![Command::Deploy {
            service: "demo".into(),
            version: Version::parse("1.2.0").unwrap(),
            strategy: None,
            operator: "alice".into(),
            override_reason: Some("hotfix INC-7".into()),
        }]
    );
}

/// Judgements for both tracks over the last minute; the canary breaches at the end.
fn with_analysis(app: &mut App) {
    for i in 0..30 {
        for (track, err) in [
            (crate::domain::TrackName::Stable, 0.002),
            (
                crate::domain::TrackName::Canary,
                if i < 25 { 0.004 } else { 0.08 },
            ),
        ] {
            app.on_event(&ev(
                -50 + 2 * i,
                Some(7),
                EventKind::Analysis {
                    track,
                    verdict: if err > 0.02 {
                        crate::analysis::Verdict::Fail
                    } else {
                        crate::analysis::Verdict::Pass
                    },
                    requests: 400,
                    error_rate: err,
                    p50_ms: 12.0,
                    p99_ms: 180.0 + i as f64,
                    window_secs: 60,
                    provider: "nginx-log".into(),
                    summary: "x".into(),
                    checks: Vec::new(),
                },
            ));
        }
    }
}

#[test]
fn snapshot_a_breach_in_red_160x48() {
    let mut a = app();
    a.selected = 1;
    mid_bake(&mut a);
    with_analysis(&mut a);
    insta::assert_snapshot!(render(&a, 160, 48, 10));
}

#[test]
fn snapshot_canary_mid_bake_80x24() {
    let mut a = app();
    a.selected = 1;
    mid_bake(&mut a);
    insta::assert_snapshot!(render(&a, 80, 24, 10));
}

#[test]
fn snapshot_canary_mid_bake_160x48() {
    let mut a = app();
    a.selected = 1;
    mid_bake(&mut a);
    insta::assert_snapshot!(render(&a, 160, 48, 10));
}

/// A canary carrying traffic whose lease nobody alive holds (its deploy exited at the pause,
/// or crashed): red UNWATCHED in the table, and the bar offers the take-over and the rollback.
#[test]
fn snapshot_unwatched_canary() {
    let mut a = app();
    a.selected = 1;
    mid_bake(&mut a);
    assert!(
        !a.unwatched("demo"),
        "nothing is unwatched before the store is read"
    );
    a.leases = Some(Vec::new());
    assert!(a.unwatched("demo"));
    assert!(!a.unwatched("api"), "api carries no canary traffic");
    let screen = render(&a, 120, 30, 10);
    assert!(screen.contains("UNWATCHED"), "{screen}");
    assert!(
        screen.contains("demo UNWATCHED: t take over · r roll back"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
    // A live holder watches it.
    let lease = crate::store::Lease {
        service: "demo".into(),
        token: 3,
        holder: crate::store::Holder::current("bob", "deploy demo 1.1.0"),
        acquired_at: at(0),
        expires_at: at(30),
    };
    a.leases = Some(vec![(lease.clone(), crate::store::Liveness::Live)]);
    assert!(!a.unwatched("demo"));
    a.leases = Some(vec![(lease, crate::store::Liveness::HolderDead)]);
    assert!(a.unwatched("demo"));
    assert!(
        matches!(&a.on_key(key('t'))[..], [Command::TakeOver { service }] if service == "demo")
    );
}

#[test]
fn snapshot_emergency_and_stale() {
    let mut a = app();
    a.selected = 1;
    mid_bake(&mut a);
    a.on_key(key('!'));
    a.emergency = Some(at(60));
    // 60 s later, nothing was re-read: every host row is stale.
    insta::assert_snapshot!(render(&a, 100, 30, 70));
}

#[test]
fn theme_command_switches_and_refuses_unknown_names() {
    let mut a = app();
    a.on_key(key(':'));
    for c in "theme high-contrast".chars() {
        a.on_key(key(c));
    }
    a.on_key(KeyEvent::from(KeyCode::Enter));
    assert_eq!(a.theme.name, "high-contrast");
    a.on_key(key(':'));
    for c in "theme nope".chars() {
        a.on_key(key(c));
    }
    a.on_key(KeyEvent::from(KeyCode::Enter));
    assert_eq!(a.theme.name, "high-contrast");
    assert!(a.message.as_ref().unwrap().1.contains("no theme `nope`"));
}

#[test]
fn production_services_get_their_environment_theme_frame() {
    let mut cfg = test_config();
    cfg.environments.get_mut("staging").unwrap().theme = Some("red-alert".into());
    let a = App::new(Arc::new(cfg), "alice".into());
    let t = a.theme_for_env(Some("staging"));
    assert_eq!(t.name, "red-alert");
    assert_eq!(a.theme_for_env(Some("production")).name, "dark");
}

#[test]
fn filter_narrows_the_table_and_esc_clears_it() {
    let mut a = app();
    assert_eq!(a.visible(), ["api", "demo"]);
    a.on_key(key('/'));
    for c in "dem".chars() {
        a.on_key(key(c));
    }
    a.on_key(KeyEvent::from(KeyCode::Enter));
    assert_eq!(a.visible(), ["demo"]);
    assert_eq!(a.selected_service(), Some("demo"));
    let cmds = a.on_key(key('r'));
    assert!(matches!(&cmds[..], [Command::Rollback { service, .. }] if service == "demo"));
    a.on_key(KeyEvent::from(KeyCode::Esc));
    assert_eq!(a.visible(), ["api", "demo"]);
}

#[test]
fn tab_moves_j_and_k_to_the_events_pane() {
    let mut a = app();
    mid_bake(&mut a);
    a.on_key(KeyEvent::from(KeyCode::Tab));
    a.on_key(key('j'));
    a.on_key(key('j'));
    assert_eq!((a.events_scroll, a.selected), (2, 0));
    let screen = render(&a, 100, 30, 10);
    assert!(screen.contains("2 newer above"), "{screen}");
}

/// The help overlay's lines between its borders (it is 120 wide, centred in 140 columns).
fn help_lines(a: &App) -> Vec<String> {
    let screen = render(a, 140, 30, 0);
    // Each line of a TestBackend is printed in quotes.
    let overlay: Vec<String> = screen
        .lines()
        .map(|l| l.chars().skip(1 + 10).take(120).collect())
        .collect();
    let top = overlay
        .iter()
        .position(|l| l.contains(" keys (any key closes) "))
        .unwrap();
    overlay[top + 1..]
        .iter()
        .take_while(|l| !l.starts_with('└'))
        .map(|l| l.trim_matches(|c| c == '│' || c == ' ').to_string())
        .collect()
}

#[test]
fn help_lists_exactly_the_bindings() {
    for keymap in [
        Keymap::default(),
        super::keymap::file::parse(std::path::Path::new("k.yaml"), REMAPPED).unwrap(),
        super::keymap::file::parse(
            std::path::Path::new("k.yaml"),
            "refresh: []\nfilter: [f, /]\n",
        )
        .unwrap(),
    ] {
        let mut a = app();
        a.keymap = keymap.clone();
        a.on_key(KeyEvent::new(
            keymap.binding(Act::Help).unwrap().keys[0].code,
            keymap.binding(Act::Help).unwrap().keys[0].mods,
        ));
        let lines = help_lines(&a);
        let expected: Vec<String> = keymap
            .bound()
            .map(|b| format!("{}  {}", b.label(), b.info().help))
            .collect();
        assert_eq!(lines, expected);
    }
}

#[test]
fn the_key_bar_comes_from_the_keymap() {
    let mut a = app();
    a.keymap = super::keymap::file::parse(
        std::path::Path::new("k.yaml"),
        "deploy: D\nrollback-all: f12\n",
    )
    .unwrap();
    let screen = render(&a, 160, 48, 0);
    let bar = screen.lines().rev().find(|l| l.contains("help")).unwrap();
    assert!(bar.contains(" D deploy"), "{bar}");
    assert!(bar.contains(" f12 ROLLBACK ALL"), "{bar}");
    assert!(!bar.contains(" d deploy"), "{bar}");
}

#[test]
fn the_table_scrolls_to_keep_the_selected_service_in_view() {
    let mut yaml = String::from(
        "environments: { staging: {} }\nhosts: [{ name: h, address: 10.0.0.1, environment: staging }]\nstrategies: { a: { kind: canary-manual } }\nservices:\n",
    );
    for i in 0..30 {
        yaml.push_str(&format!(
            "  svc-{i:02}: {{ hosts: [h], image: x, strategy: a, nginx: {{ upstream_file: /u{i}, upstream: u{i} }}, tracks: {{ stable: {{ project: s{i}, compose_file: /s{i}, port: {} }}, canary: {{ project: c{i}, compose_file: /c{i}, port: {} }} }} }}\n",
            1000 + 2 * i,
            1001 + 2 * i
        ));
    }
    let cfg = crate::config::parse(std::path::Path::new("t.yaml"), &yaml).unwrap();
    let mut a = App::new(Arc::new(cfg), "alice".into());
    for _ in 0..25 {
        a.on_key(key('j'));
    }
    assert_eq!(a.selected_service(), Some("svc-25"));
    let screen = render(&a, 100, 30, 0);
    assert!(screen.contains("svc-25"), "{screen}");
}

#[test]
fn w_switches_the_chart_window_and_old_judgements_show_only_in_the_long_ones() {
    let mut a = app();
    a.selected = 1;
    mid_bake(&mut a);
    // A breach two hours ago, and a quiet canary now.
    for (secs, err) in [(-7200, 0.5), (0, 0.001)] {
        a.on_event(&ev(
            secs,
            Some(7),
            EventKind::Analysis {
                track: crate::domain::TrackName::Canary,
                verdict: crate::analysis::Verdict::Pass,
                requests: 400,
                error_rate: err,
                p50_ms: 10.0,
                p99_ms: 100.0,
                window_secs: 60,
                provider: "nginx-log".into(),
                summary: "x".into(),
                checks: Vec::new(),
            },
        ));
    }
    let screen = render(&a, 160, 48, 10);
    assert!(screen.contains("error rate % · last 5 min (w)"), "{screen}");
    // The y axis grows to the largest value shown: 3 % (1.5 × the threshold) until the 50 %
    // breach is in the window.
    assert!(screen.contains("│3"), "{screen}");
    a.on_key(key('w'));
    let screen = render(&a, 160, 48, 10);
    assert!(screen.contains("error rate % · last 1 h (w)"), "{screen}");
    assert!(!screen.contains("│50"), "{screen}");
    a.on_key(key('w'));
    let screen = render(&a, 160, 48, 10);
    assert!(
        screen.contains("error rate % · last 24 h, per-minute max (w)"),
        "{screen}"
    );
    assert!(screen.contains("50"), "{screen}");
    a.on_key(key('w'));
    assert_eq!(a.chart_window, super::app::ChartWindow::FiveMinutes);
}

#[test]
fn keys_that_act_on_hosts_say_so_at_once() {
    let mut a = app();
    a.selected = 1;
    mid_bake(&mut a);
    a.on_key(key('+'));
    assert_eq!(
        a.message.as_ref().unwrap().1,
        "moving demo's canary from 40 % to 50 %…"
    );
    a.on_key(key('r'));
    let screen = render(&a, 100, 30, 10);
    assert!(
        screen.contains("rolling demo back to stable 100 % on every host…"),
        "{screen}"
    );
}

#[test]
fn the_last_error_keeps_the_line_after_a_colon() {
    let mut a = app();
    a.selected = 1;
    mid_bake(&mut a);
    a.on_event(&ev(
        20,
        Some(7),
        EventKind::Failed {
            error: "validation failed on 3 host(s):\n  host web-1: image missing".into(),
        },
    ));
    let screen = render(&a, 120, 30, 20);
    assert!(
        screen.contains("last error: validation failed on 3 host(s): host web-1: image missing"),
        "{screen}"
    );
}
