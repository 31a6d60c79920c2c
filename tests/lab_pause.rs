//! An operator's pause during a bake (the console's `space`), through the engine against the
//! lab: the step stops advancing while paused — past the end of its bake — and after the resume
//! the rest of the bake runs and the rollout walks on to promote.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::engine::until;
use common::*;
use sluice::domain::{DeploymentState, Version};
use sluice::engine::{Command, Engine, EventKind};
use sluice::remote::ssh::SshPool;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_mid_bake_holds_the_step_and_a_resume_finishes_the_bake() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    // Steps 10 → 40 with a 4 s bake, then promote; its own store.
    let text = std::fs::read_to_string(mechanics_config())
        .unwrap()
        .replace(
            "store: { kind: local, path: /var/lib/sluice-lab/state }",
            &format!("store: {{ kind: local, path: {} }}", dir.path().display()),
        )
        .replace(
            "strategies:\n",
            "strategies:\n  two-steps: { kind: canary, steps: [10, 40], bake: 4s, finally: promote }\n",
        );
    let cfg_path = dir.path().join("pause.yaml");
    std::fs::write(&cfg_path, text).unwrap();
    let config = Arc::new(sluice::config::load(&cfg_path).expect("valid config"));
    let handle = Engine::start(config.clone(), Arc::new(SshPool::new(&config)));
    let mut rx = handle.subscribe();
    handle
        .send(Command::Deploy {
            service: "demo".into(),
            version: Version::parse("1.1.0").unwrap(),
            strategy: Some("two-steps".into()),
            operator: "test".into(),
            override_reason: None,
        })
        .await
        .expect("deploy starts");
    let reached = |k: &EventKind, pct: u8| matches!(k, EventKind::StepReached { canary_percent, .. } if *canary_percent == pct);
    until(&mut rx, 60, |k| reached(k, 10))
        .await
        .expect("step 1 reached");
    tokio::time::sleep(Duration::from_secs(1)).await;
    handle
        .send(Command::Pause {
            service: "demo".into(),
        })
        .await
        .expect("pause accepted");
    until(
        &mut rx,
        5,
        |k| matches!(k, EventKind::State { to, .. } if *to == DeploymentState::Paused),
    )
    .await
    .expect("paused");
    // Paused for longer than the whole bake: the step does not advance.
    let moved = until(&mut rx, 6, |k| matches!(k, EventKind::StepStarted { .. })).await;
    assert!(moved.is_none(), "a paused step advanced: {moved:?}");
    for h in HOSTS {
        assert_eq!(weights(h), (90, 10), "{h}: held at step 1 while paused");
    }
    let resumed = Instant::now();
    handle
        .send(Command::Resume {
            service: "demo".into(),
        })
        .await
        .expect("resume accepted");
    until(&mut rx, 20, |k| reached(k, 40))
        .await
        .expect("step 2 after the resume");
    // The rest of the bake (about 3 of its 4 s) ran after the resume, not a new full bake
    // and not nothing.
    let waited = resumed.elapsed();
    assert!(
        waited >= Duration::from_millis(2500),
        "resumed step 1 ended after only {waited:?}"
    );
    until(
        &mut rx,
        60,
        |k| matches!(k, EventKind::State { to, .. } if *to == DeploymentState::Succeeded),
    )
    .await
    .expect("promoted");
    assert_baseline("1.1.0");
}
