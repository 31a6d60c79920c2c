//! Benchmark: `rollback --all`, from the command to every host verified at stable 100 %.
//!
//! For 3 and 12 lab hosts it measures (1) the engine with warm SSH connections, (2) a cold
//! `sluice rollback --all` process (until it reports every host verified), and (3) a plain
//! sequential `ssh host 'edit; nginx -t; nginx -s reload'` loop over the same hosts.
//! Run: `cargo bench --bench rollback` (as root; it brings up a 12-host lab with lab/up.sh).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::config::Config;
use sluice::domain::Split;
use sluice::engine::{ops, Ctx, Emitter, EventKind};
use sluice::remote::ssh::SshPool;
use sluice::store::{Holder, Store};

const LAB: &str = "/var/lib/sluice-lab";
const ROUNDS: usize = 15;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config for `n` lab hosts, derived from config/lab.yaml.
fn config_for(n: usize, dir: &Path) -> PathBuf {
    let lab = std::fs::read_to_string(root().join("config/lab.yaml")).expect("config/lab.yaml");
    let start = lab.find("hosts:\n").expect("hosts section");
    let end = lab.find("services:").expect("services section");
    let mut hosts = String::from("hosts:\n");
    for i in 1..=n {
        hosts.push_str(&format!(
            "  - {{ name: web-{i}, address: 127.0.0.{ip}, port: 2222, user: sluice-deploy, identity_file: {LAB}/ssh/lab_key,\n      known_hosts: {LAB}/ssh/known_hosts, backend_address: 127.0.0.{ip}, environment: staging }}\n",
            ip = 10 + i
        ));
    }
    let list: Vec<String> = (1..=n).map(|i| format!("web-{i}")).collect();
    let text = format!("{}{}\n{}", &lab[..start], hosts, &lab[end..]).replace(
        "hosts: [web-1, web-2, web-3]",
        &format!("hosts: [{}]", list.join(", ")),
    );
    let path = dir.join(format!("lab-{n}.yaml"));
    std::fs::write(&path, text).expect("write config");
    path
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p90(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Take demo's lease (over from whoever holds it, e.g. the previous round's CLI process) and
/// hold its token in `ctx`, so the next host commands carry a token the hosts accept.
fn relock(ctx: &Ctx) {
    let store = Store::for_config(&ctx.config).expect("open the store");
    let holder = Holder::current("bench", "rollback benchmark");
    let got = store
        .acquire("demo", &holder, true)
        .expect("take the lease");
    ctx.fences.hold("demo", got.lease.token);
}

/// Put 10 % on the canary on every host (the state a rollback starts from).
async fn spoil(ctx: &Ctx, em: &Emitter) {
    relock(ctx);
    let svc = ctx.config.services.get("demo").expect("demo");
    ops::set_split(ctx, svc, Split::new(10).expect("10"), em)
        .await
        .expect("set 10 %");
}

fn main() {
    assert_eq!(uid(), 0, "run the benchmark as root (it drives the lab)");
    let status = Command::new("bash")
        .arg(root().join("lab/up.sh"))
        .env("LAB_HOSTS", "12")
        .stdout(Stdio::null())
        .status()
        .expect("run lab/up.sh");
    assert!(status.success(), "LAB_HOSTS=12 bash lab/up.sh failed");
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!("rollback --all to every host verified at stable 100 % ({ROUNDS} rounds each, median / p90)");
    println!(
        "{:<6} {:>22} {:>22} {:>22} {:>9}",
        "hosts", "engine, warm", "CLI, cold", "sequential ssh loop", "speed-up"
    );
    for n in [3usize, 12] {
        let cfg_path = config_for(n, dir.path());
        let config: Config = sluice::config::load(&cfg_path).expect("generated config is valid");
        let config = Arc::new(config);
        let ctx = Ctx::new(config.clone(), Arc::new(SshPool::new(&config)));
        let (tx, _) = tokio::sync::broadcast::channel(4096);
        // Healthy canaries to send 10 % to (traffic only moves onto a track that answers its
        // health check). They run as plain processes, so each rollback's `compose down` of the
        // canary project leaves them for the next round.
        let _canaries = Canaries::start(n);

        // (1) warm engine.
        let warm: Vec<Duration> = rt.block_on(async {
            let em = Emitter::new(tx.clone(), "demo", None);
            spoil(&ctx, &em).await; // also opens every connection
            let mut times = Vec::new();
            for _ in 0..ROUNDS {
                spoil(&ctx, &em).await;
                let mut rx = tx.subscribe();
                let svc = ctx.config.services.get("demo").expect("demo").clone();
                let t = Instant::now();
                let ctx2 = ctx.clone();
                let em2 = em.clone();
                let task =
                    tokio::spawn(
                        async move { ops::rollback(&ctx2, &svc, "bench", None, &em2).await },
                    );
                loop {
                    let e = rx.recv().await.expect("event");
                    if let EventKind::TrafficOnStable { .. } = e.kind {
                        times.push(t.elapsed());
                        break;
                    }
                    if let EventKind::HostFailed { error, .. } = e.kind {
                        panic!("rollback failed: {error}");
                    }
                }
                task.await.expect("join").expect("rollback");
            }
            times
        });

        // (2) cold CLI process, until it prints that every host is verified.
        let mut cold = Vec::new();
        for _ in 0..ROUNDS {
            rt.block_on(async {
                let em = Emitter::new(tx.clone(), "demo", None);
                spoil(&ctx, &em).await;
            });
            let t = Instant::now();
            let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
                .args(["rollback", "--all", "--json", "--config"])
                .arg(&cfg_path)
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn sluice");
            let stdout = child.stdout.take().expect("stdout");
            let mut seen = false;
            for line in BufReader::new(stdout).lines() {
                let line = line.expect("line");
                if line.contains("\"traffic-on-stable\"") {
                    cold.push(t.elapsed());
                    seen = true;
                    break;
                }
            }
            assert!(
                seen,
                "sluice rollback --all did not report every host verified"
            );
            let _ = child.wait();
        }

        // (3) the sequential ssh loop an operator might script.
        let mut seq = Vec::new();
        for _ in 0..ROUNDS {
            rt.block_on(async {
                let em = Emitter::new(tx.clone(), "demo", None);
                spoil(&ctx, &em).await;
            });
            let t = Instant::now();
            for i in 1..=n {
                let ip = format!("127.0.0.{}", 10 + i);
                let f = format!("{LAB}/hosts/web-{i}/nginx/conf.d/demo.conf");
                let nginx = format!(
                    "/usr/sbin/nginx -p {LAB}/hosts/web-{i}/nginx/ -c nginx.conf -e logs/error.log"
                );
                let script = format!(
                    "sed -i -e 's/\\(:8081\\) weight=[0-9]*/\\1 weight=100/' -e 's/\\(:8082 weight=[0-9]*\\);/\\1 down;/' {f} && {nginx} -t -q && {nginx} -s reload"
                );
                let ok = Command::new("ssh")
                    .args([
                        "-q",
                        "-i",
                        &format!("{LAB}/ssh/lab_key"),
                        "-o",
                        &format!("UserKnownHostsFile={LAB}/ssh/known_hosts"),
                        "-o",
                        "StrictHostKeyChecking=yes",
                        "-o",
                        "BatchMode=yes",
                        "-p",
                        "2222",
                    ])
                    .arg(format!("sluice-deploy@{ip}"))
                    .arg(script)
                    .status()
                    .expect("ssh");
                assert!(ok.success(), "ssh loop failed on web-{i}");
            }
            seq.push(t.elapsed());
        }
        // Leave the hosts clean.
        rt.block_on(async {
            let em = Emitter::new(tx.clone(), "demo", None);
            let svc = ctx.config.services.get("demo").expect("demo");
            relock(&ctx);
            ops::rollback(&ctx, svc, "bench done", None, &em)
                .await
                .expect("final rollback");
        });

        let speedup = median(seq.clone()).as_secs_f64() / median(warm.clone()).as_secs_f64();
        println!(
            "{:<6} {:>22} {:>22} {:>22} {:>8.1}x",
            n,
            format!("{} / {}", ms(median(warm.clone())), ms(p90(warm))),
            format!("{} / {}", ms(median(cold.clone())), ms(p90(cold))),
            format!("{} / {}", ms(median(seq.clone())), ms(p90(seq))),
            speedup
        );
    }
}

struct Canaries(Vec<std::process::Child>);

impl Canaries {
    fn start(n: usize) -> Canaries {
        let bin = root().join("lab/demo/target/x86_64-unknown-linux-gnu/release/sluice-demo");
        let children = (1..=n)
            .map(|i| {
                Command::new(&bin)
                    .env("DEMO_LISTEN", format!("127.0.0.{}:8082", 10 + i))
                    .env("DEMO_VERSION", "bench")
                    .env("DEMO_TRACK", "canary")
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start a canary stand-in (lab/up.sh builds it)")
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        Canaries(children)
    }
}

impl Drop for Canaries {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn uid() -> u32 {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(u32::MAX)
}
