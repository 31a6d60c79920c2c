//! The host scripts run with the local `sh` in a temporary directory (no SSH, no Docker):
//! nginx's test and reload are stand-ins that read the include glob as nginx does and fail on
//! demand, and `docker compose`, `curl` and `ss` are stand-ins on `PATH`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use sluice::config::{Config, Host, Service};
use sluice::domain::{Split, Version};
use sluice::remote::host::{HostError, ServiceOnHost, TrackName};
use sluice::remote::local::LocalShell;
use sluice::remote::{Output, Remote, RemoteError, Script};

const UPSTREAM: &str = "# demo\nupstream demo_backend {\n    server 10.0.0.1:8000 weight=100;\n    server 10.0.0.1:8001 weight=1 down;\n}\n";

/// The nginx test stand-in: every file `conf.d/*` matches (as glob(3) does: no dot files)
/// may define `upstream demo_backend` once in all; `fail-test` makes it fail.
const FAKE_TEST: &str = r#"#!/bin/sh
d=$(dirname "$0")
[ -e "$d/fail-test" ] && { echo "nginx: [emerg] test failed on demand"; exit 1; }
n=$(cat "$d"/conf.d/* 2>/dev/null | grep -c 'upstream demo_backend')
[ "$n" -le 1 ] || { echo "nginx: [emerg] duplicate upstream \"demo_backend\""; exit 1; }
# The instance lock must be held while nginx is tested.
[ -z "$LOCK" ] || ! flock -n "$LOCK" true || { echo "instance lock not held"; exit 1; }
"#;

const FAKE_RELOAD: &str = r#"#!/bin/sh
d=$(dirname "$0")
echo reload >> "$d/reloads"
[ -e "$d/fail-reload" ] && { echo "reload failed on demand"; exit 1; }
exit 0
"#;

/// `docker compose` stand-in: logs its arguments, says something, fails on demand.
const FAKE_DOCKER: &str = r#"#!/bin/sh
d=$(dirname "$0")/..
echo "$@" >> "$d/compose-calls"
echo "compose says: pulling"
[ -e "$d/fail-compose" ] && { echo "error: port is already allocated"; exit 1; }
exit 0
"#;

/// `curl` stand-in: records its URL (the last argument), answers 200.
const FAKE_CURL: &str = r#"#!/bin/sh
for a in "$@"; do last=$a; done
printf '%s\n' "$last" >> "$(dirname "$0")/urls"
printf '200 0.010\n'
"#;

struct Lab {
    dir: tempfile::TempDir,
    config: Config,
}

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a stand-in");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn lab_with(port: &str) -> Lab {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    for sub in ["conf.d", "bin", "srv"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    std::fs::write(d.join("conf.d/demo.conf"), UPSTREAM).expect("write the upstream");
    write_exec(&d.join("fake-test"), FAKE_TEST);
    write_exec(&d.join("fake-reload"), FAKE_RELOAD);
    write_exec(&d.join("bin/docker"), FAKE_DOCKER);
    write_exec(&d.join("bin/curl"), FAKE_CURL);
    write_exec(&d.join("bin/ss"), "#!/bin/sh\nexit 0\n");
    let p = d.display();
    let yaml = format!(
        r#"
environments: {{ staging: {{ approval: none }} }}
hosts: [{{ name: h1, address: 10.0.0.1, backend_address: 10.0.0.1, user: deploy, environment: staging,
          ports: {{ range: 20000-20009, registry: {p}/srv/ports }} }}]
services:
  demo:
    hosts: [h1]
    image: example/demo
    nginx: {{ upstream_file: {p}/conf.d/demo.conf, upstream: demo_backend,
             test: "{p}/fake-test", reload: "{p}/fake-reload" }}
    compose: "docker compose"
    tracks:
      stable: {{ project: demo-s, compose_file: {p}/srv/stable.yml, port: 8000 }}
      canary: {{ project: demo-c, compose_file: {p}/srv/canary.yml, port: {port} }}
    strategy: c
strategies:
  c: {{ kind: canary, steps: [10], bake: 1s }}
"#
    );
    let config = sluice::config::parse(Path::new("t.yaml"), &yaml).expect("the test config");
    Lab { dir, config }
}

fn lab() -> Lab {
    lab_with("8001")
}

impl Lab {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn shell(&self) -> LocalShell {
        LocalShell::new()
            .with_path(self.path("bin"))
            .with_env("SLUICE_LOCK_DIR", self.dir.path().display().to_string())
    }
    fn host(&self) -> &Host {
        &self.config.hosts["h1"]
    }
    fn service(&self) -> &Service {
        &self.config.services["demo"]
    }
    fn upstream(&self) -> Vec<u8> {
        std::fs::read(self.path("conf.d/demo.conf")).expect("read the upstream")
    }
    fn on<'a>(&'a self, remote: &'a dyn Remote, token: u64) -> ServiceOnHost<'a> {
        ServiceOnHost::new(remote, self.host(), self.service()).fenced(Ok(token))
    }
}

fn split(p: u8) -> Split {
    Split::new(p).expect("a valid split")
}

#[tokio::test]
async fn a_change_is_written_with_helper_files_outside_the_include_glob() {
    let lab = lab();
    let sh = lab.shell();
    let got = lab.on(&sh, 1).apply_split(split(10)).await.expect("apply");
    assert_eq!((got.stable, got.canary), (90, 10));
    let text = String::from_utf8(lab.upstream()).expect("utf-8");
    assert!(text.contains("10.0.0.1:8001 weight=10;"), "{text}");
    // Only the upstream file and the dot directory; a second change still passes the test.
    let mut names: Vec<String> = std::fs::read_dir(lab.path("conf.d"))
        .expect("list conf.d")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".sluice", "demo.conf"]);
    assert!(lab.path("conf.d/.sluice/demo.conf.bak").exists());
    assert!(lab.path("conf.d/.sluice/demo.conf.fence").exists());
    lab.on(&sh, 1).apply_split(split(40)).await.expect("again");
}

#[tokio::test]
async fn old_helper_files_beside_the_file_are_moved_out_of_the_glob() {
    let lab = lab();
    std::fs::write(lab.path("conf.d/demo.conf.sluice-bak"), UPSTREAM).expect("old backup");
    std::fs::write(lab.path("conf.d/demo.conf.sluice-fence"), "demo 7\n").expect("old fence");
    let sh = lab.shell();
    let e = lab.on(&sh, 6).apply_split(split(10)).await.unwrap_err();
    assert!(matches!(e, HostError::Fenced { seen: 7, .. }), "{e}");
    assert!(!lab.path("conf.d/demo.conf.sluice-bak").exists());
    assert!(!lab.path("conf.d/demo.conf.sluice-fence").exists());
    lab.on(&sh, 7).apply_split(split(10)).await.expect("apply");
}

#[tokio::test]
async fn a_rejected_test_restores_the_file_byte_for_byte() {
    let lab = lab();
    let before = lab.upstream();
    std::fs::write(lab.path("fail-test"), "").expect("flag");
    let sh = lab.shell();
    let e = lab.on(&sh, 1).apply_split(split(10)).await.unwrap_err();
    assert!(e.to_string().contains("test failed on demand"), "{e}");
    assert!(e.to_string().contains("restored"), "{e}");
    assert_eq!(lab.upstream(), before);
    assert!(
        !lab.path("reloads").exists(),
        "no reload after a failed test"
    );
}

#[tokio::test]
async fn a_failed_reload_restores_and_reloads_the_previous_file() {
    let lab = lab();
    let before = lab.upstream();
    std::fs::write(lab.path("fail-reload"), "").expect("flag");
    let sh = lab.shell();
    let e = lab.on(&sh, 1).apply_split(split(10)).await.unwrap_err();
    assert!(e.to_string().contains("restored and reloaded"), "{e}");
    assert_eq!(lab.upstream(), before);
    let reloads = std::fs::read_to_string(lab.path("reloads")).expect("reloads");
    assert_eq!(reloads.lines().count(), 2);
}

#[tokio::test]
async fn a_lower_token_is_refused_and_the_highest_is_kept() {
    let lab = lab();
    let sh = lab.shell();
    lab.on(&sh, 5)
        .apply_split(split(10))
        .await
        .expect("token 5");
    let before = lab.upstream();
    match lab.on(&sh, 4).apply_split(split(40)).await {
        Err(HostError::Fenced { seen, offered, .. }) => assert_eq!((seen, offered), (5, 4)),
        other => panic!("token 4 must be refused, got {other:?}"),
    }
    assert_eq!(lab.upstream(), before);
    lab.on(&sh, 6)
        .apply_split(split(40))
        .await
        .expect("token 6");
    let fence = std::fs::read_to_string(lab.path("conf.d/.sluice/demo.conf.fence")).expect("fence");
    assert_eq!(fence, "demo 6\n");
}

/// Runs scripts locally, but changes the upstream file just before the weight script runs.
struct Meddler(LocalShell, PathBuf);

impl Remote for Meddler {
    fn run<'a>(
        &'a self,
        host: &'a str,
        script: Script<'a>,
    ) -> BoxFuture<'a, Result<Output, RemoteError>> {
        if script.what == "apply upstream weights" {
            let mut text = std::fs::read(&self.1).expect("read");
            text.extend_from_slice(b"# edited by someone else\n");
            std::fs::write(&self.1, text).expect("write");
        }
        self.0.run(host, script)
    }
    fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), RemoteError>> {
        self.0.connect(host)
    }
}

#[tokio::test]
async fn a_file_changed_since_it_was_read_is_not_overwritten() {
    let lab = lab();
    let meddler = Meddler(lab.shell(), lab.path("conf.d/demo.conf"));
    let e = lab
        .on(&meddler, 1)
        .apply_split(split(10))
        .await
        .unwrap_err();
    assert!(matches!(e, HostError::Conflict { .. }), "{e}");
    let text = String::from_utf8(lab.upstream()).expect("utf-8");
    assert!(text.ends_with("# edited by someone else\n") && text.contains("weight=100;"));
}

#[tokio::test]
async fn a_dropped_channel_swaps_nothing_in() {
    let lab = lab();
    let before = lab.upstream();
    let cut = lab.shell().cut_stdin_at(20);
    let e = lab.on(&cut, 1).apply_split(split(10)).await.unwrap_err();
    assert!(e.to_string().contains("arrived incomplete"), "{e}");
    assert_eq!(lab.upstream(), before);
    assert!(!lab.path("conf.d/.sluice/demo.conf.new").exists());
    let empty = lab.shell().cut_stdin_at(0);
    assert!(lab.on(&empty, 1).apply_split(split(10)).await.is_err());
    assert_eq!(lab.upstream(), before);
}

#[tokio::test]
async fn a_symlinked_upstream_file_keeps_its_link_and_its_target_is_edited() {
    let lab = lab();
    std::fs::create_dir_all(lab.path("available")).expect("mkdir");
    std::fs::rename(
        lab.path("conf.d/demo.conf"),
        lab.path("available/demo.conf"),
    )
    .expect("mv");
    std::os::unix::fs::symlink("../available/demo.conf", lab.path("conf.d/demo.conf"))
        .expect("symlink");
    let sh = lab.shell();
    lab.on(&sh, 1).apply_split(split(10)).await.expect("apply");
    let meta = std::fs::symlink_metadata(lab.path("conf.d/demo.conf")).expect("stat");
    assert!(meta.file_type().is_symlink(), "the link stays a link");
    let target = std::fs::read_to_string(lab.path("available/demo.conf")).expect("target");
    assert!(target.contains("weight=10;"), "{target}");
    assert!(lab.path("available/.sluice/demo.conf.bak").exists());
}

#[tokio::test]
async fn a_file_that_is_not_utf8_is_edited_and_its_bytes_kept() {
    let lab = lab();
    let mut bytes = b"# caf\xe9 \xff\n".to_vec();
    bytes.extend_from_slice(UPSTREAM.as_bytes());
    std::fs::write(lab.path("conf.d/demo.conf"), &bytes).expect("write");
    let sh = lab.shell();
    let got = lab.on(&sh, 1).apply_split(split(10)).await.expect("apply");
    assert_eq!((got.stable, got.canary), (90, 10));
    let after = lab.upstream();
    assert!(after.starts_with(b"# caf\xe9 \xff\n"), "{after:?}");
}

#[tokio::test]
async fn the_instance_lock_is_held_while_nginx_is_tested() {
    let lab = lab();
    let paths = lab.service().expand("h1");
    let key = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(format!("{}\n{}\n", paths.test, paths.reload));
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
    };
    let lock = format!("{}/sluice-nginx-{key}.lock", lab.dir.path().display());
    // The test stand-in fails when it can take the lock itself.
    let text = FAKE_TEST.replace(
        "[ -z \"$LOCK\" ]",
        &format!("LOCK={lock}; [ -z \"$LOCK\" ]"),
    );
    write_exec(&lab.path("fake-test"), &text);
    let sh = lab.shell();
    lab.on(&sh, 1).apply_split(split(10)).await.expect("apply");
    assert!(Path::new(&lock).exists(), "the instance lock is {lock}");
}

#[tokio::test]
async fn the_env_file_keeps_other_variables_and_compose_output_stays_on_the_host() {
    let lab = lab();
    let env = lab.path("srv/demo-c.env");
    std::fs::write(
        &env,
        "DATABASE_URL=postgres://x\nSLUICE_VERSION=0.9.0\nTZ=UTC\n",
    )
    .expect("env");
    let sh = lab.shell();
    let on = lab.on(&sh, 1);
    on.stack_up(
        TrackName::Canary,
        &Version::parse("1.1.0").expect("version"),
    )
    .await
    .expect("stack up");
    let text = std::fs::read_to_string(&env).expect("env");
    assert_eq!(
        text,
        "DATABASE_URL=postgres://x\nTZ=UTC\nSLUICE_VERSION=1.1.0\n"
    );
    let log = std::fs::read_to_string(lab.path("srv/.sluice/demo-c.log")).expect("log");
    assert!(log.contains("compose says"), "{log}");
    let calls = std::fs::read_to_string(lab.path("compose-calls")).expect("calls");
    let srv = lab.path("srv");
    assert_eq!(
        calls,
        format!(
            "compose --env-file {s}/demo-c.env -p demo-c -f {s}/canary.yml up -d --remove-orphans\n",
            s = srv.display()
        )
    );
    std::fs::write(lab.path("fail-compose"), "").expect("flag");
    let e = on
        .stack_up(
            TrackName::Canary,
            &Version::parse("1.2.0").expect("version"),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("port is already allocated"), "{e}");
}

#[tokio::test]
async fn the_warm_up_sends_the_url_unchanged() {
    let lab = lab();
    let w = warmup_with_at_signs();
    let sh = lab.shell();
    let on = lab.on(&sh, 1);
    let r = on.warm_up(TrackName::Canary, &w).await.expect("warm-up");
    assert_eq!((r.requests, r.errors), (3, 0));
    let urls = std::fs::read_to_string(lab.path("bin/urls")).expect("urls");
    assert_eq!(urls, "http://10.0.0.1:8001/a@b?c=@\n".repeat(3));
}

fn warmup_with_at_signs() -> sluice::config::Warmup {
    sluice::config::Warmup {
        requests: 3,
        concurrency: 2,
        path: "/a@b?c=@".into(),
        timeout: std::time::Duration::from_secs(1),
        p99_max: None,
    }
}

#[tokio::test]
async fn an_auto_port_is_claimed_in_the_registry_and_released_by_stack_down() {
    let lab = lab_with("auto");
    let text = UPSTREAM.replace(":8001", ":20001");
    std::fs::write(lab.path("conf.d/demo.conf"), text).expect("upstream");
    std::fs::write(lab.path("srv/ports"), "20001 demo canary free\n").expect("registry");
    let sh = lab.shell();
    let on = lab.on(&sh, 1);
    on.stack_up(
        TrackName::Canary,
        &Version::parse("1.1.0").expect("version"),
    )
    .await
    .expect("stack up");
    let reg = std::fs::read_to_string(lab.path("srv/ports")).expect("registry");
    assert!(reg.contains("demo canary held"), "{reg}");
    let env = std::fs::read_to_string(lab.path("srv/demo-c.env")).expect("env");
    assert!(env.contains("SLUICE_PORT=2000"), "{env}");
    on.stack_down(TrackName::Canary).await.expect("stack down");
    let reg = std::fs::read_to_string(lab.path("srv/ports")).expect("registry");
    assert!(reg.contains("demo canary free"), "{reg}");
}

/// A connection dropped while `compose up` runs: compose goes on (in its own session, its
/// output in the log on the host, not in the dropped channel) and finishes.
#[tokio::test]
async fn compose_up_survives_a_dropped_connection() {
    let lab = lab();
    let slow =
        "#!/bin/sh\nsleep 1\necho \"still here\"\necho done > \"$(dirname \"$0\")/../finished\"\n";
    write_exec(&lab.path("bin/docker"), slow);
    let p = |rel: &str| lab.path(rel).display().to_string();
    let script = sluice::remote::scripts::STACK_UP
        .with(
            "start canary stack",
            [
                p("conf.d/demo.conf"),
                "demo".into(),
                "1".into(),
                p("srv/demo-c.env"),
                "1.1.0".into(),
                String::new(),
                "docker compose".into(),
                "demo-c".into(),
                p("srv/canary.yml"),
            ],
        )
        .timeout(std::time::Duration::from_millis(300));
    let e = lab.shell().run("h1", script).await.unwrap_err();
    assert!(matches!(e, RemoteError::Timeout { .. }), "{e}");
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    assert!(
        lab.path("finished").exists(),
        "compose was stopped half-way"
    );
    let log = std::fs::read_to_string(lab.path("srv/.sluice/demo-c.log")).expect("log");
    assert_eq!(log, "still here\n");
}
