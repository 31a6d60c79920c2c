//! The gate inside the engine: a refused deploy never reaches a host; an override does, after
//! the assessment and the override are emitted.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::domain::Version;
use crate::engine::{Command, Engine, EngineError, EventKind, Reply};
use crate::remote::{Output, Remote, RemoteError, Script};

/// Counts every attempt to reach a host, and reaches none.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Remote for Counting {
    fn run<'a>(
        &'a self,
        host: &'a str,
        _script: Script<'a>,
    ) -> BoxFuture<'a, Result<Output, RemoteError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            Err(RemoteError::UnknownHost {
                host: host.to_string(),
            })
        })
    }

    fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), RemoteError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            Err(RemoteError::UnknownHost {
                host: host.to_string(),
            })
        })
    }
}

const CONFIG: &str = r#"
environments: { staging: { approval: none } }
hosts: [{ name: h1, address: 10.0.0.1, user: deploy, environment: staging }]
services:
  api:
    hosts: [h1]
    image: example/api
    nginx: { upstream_file: /etc/nginx/api.conf, upstream: api_b, test: "nginx -t", reload: "nginx -s reload" }
    tracks:
      stable: { project: api-s, compose_file: /srv/api/s.yml, port: 8000 }
      canary: { project: api-c, compose_file: /srv/api/c.yml, port: 8001 }
    strategy: c
strategies:
  c: { kind: canary, steps: [10], bake: 1s }
policy:
  blackouts: [{ weekly: "Mon 00:00 - Sun 24:00", reason: "always" }]
  risk: { approval: never, refuse: never }
"#;

fn deploy(override_reason: Option<&str>) -> Command {
    Command::Deploy {
        service: "api".into(),
        version: Version::parse("1.1.0").unwrap(),
        strategy: None,
        operator: "alice".into(),
        override_reason: override_reason.map(str::to_string),
    }
}

#[tokio::test]
async fn a_refused_deploy_touches_no_host_and_an_override_goes_through() {
    let config = Arc::new(crate::config::parse(Path::new("t.yaml"), CONFIG).unwrap());
    let remote = Arc::new(Counting::default());
    let handle = Engine::start(config, remote.clone());
    let mut events = handle.subscribe();

    match handle.send(deploy(None)).await {
        Err(EngineError::Refused { refusals, hint, .. }) => {
            assert!(refusals.contains("[blackout]"), "{refusals}");
            assert!(refusals.contains("covers every moment"), "{refusals}");
            assert!(hint.contains("--override"), "{hint}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        handle.send(deploy(Some("  "))).await,
        Err(EngineError::EmptyOverride)
    ));
    let kinds: Vec<EventKind> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.kind)
        .collect();
    assert!(matches!(kinds[0], EventKind::Risk { .. }), "{kinds:?}");
    assert!(
        matches!(kinds[1], EventKind::PolicyRefused { .. }),
        "{kinds:?}"
    );
    assert_eq!(remote.0.load(Ordering::SeqCst), 0, "no host was touched");

    let Ok(Reply::Started(id)) = handle.send(deploy(Some("hotfix INC-9"))).await else {
        panic!("the override starts the deploy");
    };
    let first: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .take(3)
        .collect();
    assert!(first.iter().all(|e| e.deployment == Some(id)));
    assert!(matches!(first[0].kind, EventKind::Risk { .. }));
    match &first[1].kind {
        EventKind::PolicyOverridden {
            operator,
            reason,
            rules,
        } => {
            assert_eq!(
                (operator.as_str(), reason.as_str()),
                ("alice", "hotfix INC-9")
            );
            assert_eq!(rules[0].rule, "blackout");
        }
        other => panic!("expected the override, got {other:?}"),
    }
    assert!(matches!(first[2].kind, EventKind::DeployStarted { .. }));
}
