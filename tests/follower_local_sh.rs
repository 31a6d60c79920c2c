//! The access-log follower end to end without SSH: its real poll script runs with the local
//! `sh` against real log files, one directory per "host" (issue 13, faults 3 and 12). Only the
//! SSH hop is left out, and one host's `date` is a shim that runs 90 s ahead, as a host with a
//! wrong clock would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice::analysis::nginx_follower::NginxLogProvider;
use sluice::analysis::MetricProvider;
use sluice::domain::TrackName;
use sluice::remote::local::LocalShell;
use sluice::remote::Remote;

const LAB: &str = include_str!("../config/lab.yaml");
const LAB_LOG: &str = "/var/lib/sluice-lab/hosts/{host}/nginx/logs/access.log";

fn log_of(root: &Path, host: &str) -> PathBuf {
    root.join(host).join("access.log")
}

fn append(root: &Path, host: &str, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log_of(root, host))
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// One request line as the lab's nginx writes it, answered by `host`'s stable track.
fn line(host_ip: &str, at_ms: i64, request: &[u8]) -> Vec<u8> {
    let mut l = format!(
        r#"{{"time":"-","msec":{}.{:03},"upstream":"{host_ip}:8081","status":200,"request_time":0.010,"upstream_time":"0.010","request":""#,
        at_ms / 1000,
        at_ms % 1000
    )
    .into_bytes();
    l.extend_from_slice(request);
    l.extend_from_slice(b"\"}\n");
    l
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn setup() -> (tempfile::TempDir, NginxLogProvider) {
    let root = tempfile::tempdir().unwrap();
    for h in ["web-1", "web-2", "web-3"] {
        std::fs::create_dir_all(root.path().join(h)).unwrap();
        append(root.path(), h, b"");
    }
    // web-2's clock runs 90 s ahead.
    let bin = root.path().join("web-2/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let date = bin.join("date");
    std::fs::write(
        &date,
        "#!/bin/sh\nt=$(/bin/date +%s.%N)\nexec /bin/date -d \"@$(( ${t%.*} + 90 )).${t#*.}\" \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&date, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let text = LAB.replace(
        LAB_LOG,
        &format!("{}/{{host}}/access.log", root.path().display()),
    );
    assert_ne!(
        text, LAB,
        "config/lab.yaml's access_log moved; update this test"
    );
    let config =
        sluice::config::parse(Path::new("lab.yaml"), &text).unwrap_or_else(|d| panic!("{d:#?}"));
    let svc = config.services["demo"].clone();
    // The same scripts as over SSH, run here; a host's `bin/` (if any) comes first on PATH.
    let local = ["web-1", "web-2", "web-3"]
        .iter()
        .fold(LocalShell::new(), |l, h| {
            l.with_host_path(*h, root.path().join(h).join("bin"))
        });
    let remote: Arc<dyn Remote> = Arc::new(local);
    let p = NginxLogProvider::new(Arc::new(config), remote, svc);
    (root, p)
}

async fn stable_requests(p: &mut NginxLogProvider) -> u64 {
    p.read(TrackName::Stable, now_ms(), 60_000)
        .await
        .unwrap()
        .requests
}

/// Fault 12: web-2's requests stamped 90 s ahead pushed every other host's out of the window.
#[tokio::test]
async fn a_host_clock_ahead_is_corrected_and_trims_nobody() {
    let (root, mut p) = setup();
    assert!(p.refresh().await.is_empty(), "first poll starts at the end");
    let now = now_ms();
    for i in 0..10 {
        append(
            root.path(),
            "web-1",
            &line("127.0.0.11", now - i * 100, b"GET /"),
        );
        append(
            root.path(),
            "web-2",
            &line("127.0.0.12", now + 90_000 - i * 100, b"GET /"),
        );
    }
    let problems = p.refresh().await;
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(stable_requests(&mut p).await, 20);
}

/// Fault 3: 4000 raw 0xff bytes in a request moved the lossily decoded cursor 8000 bytes past
/// the end; the next poll then read the whole file again.
#[tokio::test]
async fn raw_bytes_in_a_request_do_not_move_the_cursor_off_the_file() {
    let (root, mut p) = setup();
    p.refresh().await;
    let now = now_ms();
    append(
        root.path(),
        "web-1",
        &line("127.0.0.11", now, &[0xff; 4000]),
    );
    append(root.path(), "web-1", &line("127.0.0.11", now, b"GET /"));
    assert!(p.refresh().await.is_empty());
    assert_eq!(stable_requests(&mut p).await, 2, "both requests count");
    append(
        root.path(),
        "web-1",
        &line("127.0.0.11", now_ms(), b"GET /next"),
    );
    p.refresh().await;
    assert_eq!(
        stable_requests(&mut p).await,
        3,
        "only the new request is read, nothing twice"
    );
}

/// Fault 12: a log growing faster than a poll reads left the follower behind for good; now it
/// skips to the newest bytes and says so, in an event and in the judgements.
#[tokio::test]
async fn a_follower_that_falls_behind_skips_ahead_and_says_so() {
    let (root, mut p) = setup();
    p.refresh().await;
    let now = now_ms();
    let one = line("127.0.0.11", now, b"GET /");
    let n = (9 * 1024 * 1024) / one.len() + 1;
    append(root.path(), "web-1", &one.repeat(n));
    let problems = p.refresh().await;
    assert!(
        problems
            .iter()
            .any(|m| m.contains("web-1") && m.contains("skipping ahead")),
        "{problems:#?}"
    );
    let got = stable_requests(&mut p).await;
    assert!(
        got > 0 && got < n as u64,
        "the newest {got} of {n} requests"
    );
    let caveat = p.caveat(now_ms(), 60_000).unwrap_or_default();
    assert!(caveat.contains("web-1's log fell behind"), "{caveat}");
    // Caught up: the next poll reads what is new, and no more is skipped.
    append(root.path(), "web-1", &one);
    assert!(p.refresh().await.is_empty());
    assert_eq!(stable_requests(&mut p).await, got + 1);
}
