//! Shared helpers for tests against the local lab (`lab/up.sh`). A test that cannot find the
//! lab fails with instructions; it never skips.
#![allow(dead_code)]

pub mod load;
pub mod receiver;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub const HOSTS: [&str; 3] = ["web-1", "web-2", "web-3"];
pub const LAB: &str = "/var/lib/sluice-lab";

static LAB_LOCK: Mutex<()> = Mutex::new(());

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn lab_config() -> PathBuf {
    root().join("config/lab.yaml")
}

/// The lab config without a metric source: for tests of rollout mechanics, whose steps must
/// advance on time alone (with analysis on, an idle lab is inconclusive and pauses — which
/// tests/lab_analysis.rs covers).
pub fn mechanics_config() -> PathBuf {
    let text = std::fs::read_to_string(lab_config()).expect("read config/lab.yaml");
    let text: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("access_log:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let p = std::env::temp_dir().join(format!("sluice-mechanics-{}.yaml", std::process::id()));
    std::fs::write(&p, text).expect("write the mechanics config");
    p
}

/// Held while a test uses the lab: the in-process mutex (tests of one binary run in threads)
/// and an exclusive `flock` on the lab's lock file (other test binaries, benches and worktrees
/// use the same hosts). Both are released on drop.
pub struct LabGuard {
    _thread: MutexGuard<'static, ()>,
    _file: std::fs::File,
}

/// Take the lab for one test (tests share its hosts), check it runs, and reset it to the
/// baseline: stable 1.0.0 at 100 % on every host, no canary.
pub fn lab() -> LabGuard {
    let thread = LAB_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let lock_path = Path::new(LAB).join("test.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| {
            panic!(
                "cannot open {}: {e}; start the lab as root with `bash lab/up.sh`",
                lock_path.display()
            )
        });
    file.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    let guard = LabGuard {
        _thread: thread,
        _file: file,
    };
    for (i, h) in HOSTS.iter().enumerate() {
        let addr: SocketAddr = format!("127.0.0.{}:2222", 11 + i).parse().unwrap();
        if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
            panic!(
                "the local lab is not running (no sshd for {h} at {addr}); start it as root with \
                 `bash lab/up.sh` (or run every test with `bash lab/test.sh`)"
            );
        }
    }
    let out = Command::new("bash")
        .arg(root().join("lab/reset.sh"))
        .output()
        .expect("run lab/reset.sh");
    assert!(
        out.status.success(),
        "lab/reset.sh failed; re-run `bash lab/up.sh`:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    guard
}

pub fn sluice(config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.arg("--config").arg(config).env("SLUICE_OPERATOR", "test");
    c
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run sluice");
    eprintln!(
        "--- {:?} exit {:?}\n{}{}",
        cmd,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn upstream_file(host: &str) -> PathBuf {
    PathBuf::from(format!("{LAB}/hosts/{host}/nginx/conf.d/demo.conf"))
}

pub fn upstream_text(host: &str) -> String {
    std::fs::read_to_string(upstream_file(host)).expect("read upstream file")
}

pub fn host_ip(host: &str) -> String {
    let n: u32 = host.trim_start_matches("web-").parse().unwrap();
    format!("127.0.0.{}", 10 + n)
}

/// (stable weight, canary weight) with 0 for `down`, read from the host's file.
pub fn weights(host: &str) -> (u32, u32) {
    let servers = sluice::remote::nginx::read_upstream(&upstream_text(host), "demo_backend")
        .expect("parse upstream");
    let ip = host_ip(host);
    let w = |port: u16| {
        let s = servers
            .iter()
            .find(|s| s.addr == format!("{ip}:{port}"))
            .expect("server in upstream");
        if s.down {
            0
        } else {
            s.weight
        }
    };
    (w(8081), w(8082))
}

/// The image tag and whether it runs, for a compose project; None when absent.
pub fn container(project: &str) -> Option<(String, bool)> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--format",
            "{{.Image}}|{{.Status}}",
        ])
        .output()
        .expect("docker ps");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?;
    let (image, status) = line.split_once('|')?;
    let tag = image.rsplit(':').next().unwrap_or("").to_string();
    Some((tag, status.starts_with("Up")))
}

pub fn stable_of(host: &str) -> Option<(String, bool)> {
    container(&format!("demo-stable-{host}"))
}

pub fn canary_of(host: &str) -> Option<(String, bool)> {
    container(&format!("demo-canary-{host}"))
}

/// Assert every host is at stable 100 % with the canary stopped, stable at `version`.
pub fn assert_baseline(version: &str) {
    for h in HOSTS {
        assert_eq!(weights(h), (100, 0), "{h}: weights");
        assert_eq!(
            stable_of(h),
            Some((version.to_string(), true)),
            "{h}: stable stack"
        );
        assert!(
            canary_of(h).is_none_or(|(_, running)| !running),
            "{h}: canary should be stopped, is {:?}",
            canary_of(h)
        );
    }
}

/// A headless deploy whose JSON events are read line by line as they come.
pub struct Deploy {
    pub child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    pub seen: Vec<serde_json::Value>,
}

impl Deploy {
    /// A deploy that exits 3 at a decision point (`--exit-on-pause`), as the tests written
    /// before deploy stayed to judge a paused canary expect.
    pub fn start(config: &Path, args: &[&str]) -> Deploy {
        Deploy::start_with(config, &[], args)
    }

    /// With global options before `deploy`.
    pub fn start_with(config: &Path, global: &[&str], args: &[&str]) -> Deploy {
        Deploy::spawn(config, global, args, true)
    }

    /// A deploy that stays at a decision point, judging the canary, until someone decides.
    pub fn staying(config: &Path, args: &[&str]) -> Deploy {
        Deploy::spawn(config, &[], args, false)
    }

    fn spawn(config: &Path, global: &[&str], args: &[&str], exit_on_pause: bool) -> Deploy {
        let mut child = sluice(config)
            .args(global)
            .arg("deploy")
            .args(args)
            .args(["--yes", "--json"])
            .args(exit_on_pause.then_some("--exit-on-pause"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sluice deploy");
        let stdout = child.stdout.take().expect("stdout");
        Deploy {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// The next event, or None at the end of output.
    pub fn next(&mut self) -> Option<serde_json::Value> {
        let line = self.lines.next()?.ok()?;
        eprintln!("event: {line}");
        let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON event per line");
        self.seen.push(v.clone());
        Some(v)
    }

    /// Read events until one of kind `event` arrives (panics at the end of output).
    pub fn until(&mut self, event: &str) -> serde_json::Value {
        while let Some(v) = self.next() {
            if v["event"] == event {
                return v;
            }
        }
        panic!(
            "deploy ended before a `{event}` event; saw {:#?}",
            self.seen
        );
    }

    pub fn finish(mut self) -> (Option<i32>, Vec<serde_json::Value>) {
        while self.next().is_some() {}
        let status = self.child.wait().expect("wait deploy");
        (status.code(), std::mem::take(&mut self.seen))
    }
}

/// A test that panics mid-deploy does not leave the deploy running on the shared lab.
impl Drop for Deploy {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `nginx -t` of one lab host's nginx passes (as its deploy user would run it).
pub fn nginx_t(host: &str) {
    let prefix = format!("{LAB}/hosts/{host}/nginx/");
    let out = Command::new("/usr/sbin/nginx")
        .args([
            "-p",
            &prefix,
            "-c",
            "nginx.conf",
            "-e",
            "logs/error.log",
            "-t",
            "-q",
        ])
        .output()
        .expect("run nginx -t");
    assert!(
        out.status.success(),
        "{host}: nginx -t fails: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn nginx_t_everywhere() {
    for h in HOSTS {
        nginx_t(h);
    }
}
