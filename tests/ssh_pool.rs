//! The SSH pool against the lab's sshd: reuse, reconnect, timeouts, host keys, quoting.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sluice::config::Config;
use sluice::remote::ssh::SshPool;
use sluice::remote::{quote, Remote, RemoteError, Script};

fn lab_cfg() -> Config {
    sluice::config::load(&lab_config()).expect("config/lab.yaml is valid")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn reuses_one_connection_and_reconnects_after_a_drop() {
    let _lab = lab();
    let pool = SshPool::new(&lab_cfg());
    rt().block_on(async {
        let first = pool
            .run("web-1", Script::new("echo", "echo $PPID"))
            .await
            .unwrap();
        assert!(first.ok());
        // Commands after the first go over the open master: fast, and in parallel.
        let t = Instant::now();
        let outs = futures::future::join_all(
            (0..20).map(|i| pool.run("web-1", Script::new("echo", format!("echo {i}")))),
        )
        .await;
        for (i, o) in outs.into_iter().enumerate() {
            assert_eq!(o.unwrap().stdout.trim(), i.to_string());
        }
        eprintln!("20 parallel commands over one master: {:?}", t.elapsed());

        // Kill the ControlMaster for web-1; the next command reconnects by itself.
        let killed = std::process::Command::new("pkill")
            .args(["-f", "ssh .*-M -f -N .*127\\.0\\.0\\.11$"])
            .status()
            .unwrap();
        assert!(killed.success(), "no ssh master for web-1 to kill");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let again = pool
            .run("web-1", Script::new("echo", "echo back"))
            .await
            .unwrap();
        assert_eq!(again.stdout.trim(), "back");
    });
}

#[test]
fn a_command_that_hangs_times_out_and_the_host_stays_usable() {
    let _lab = lab();
    let pool = SshPool::new(&lab_cfg());
    rt().block_on(async {
        let err = pool
            .run(
                "web-2",
                Script::new("sleep", "sleep 30").timeout(Duration::from_millis(800)),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RemoteError::Timeout { ref host, .. } if host == "web-2"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("host web-2: `sleep` did not finish"),
            "{err}"
        );
        let ok = pool
            .run("web-2", Script::new("echo", "echo fine"))
            .await
            .unwrap();
        assert_eq!(ok.stdout.trim(), "fine");
    });
}

#[test]
fn an_unreachable_host_is_named_in_the_error() {
    let _lab = lab();
    let mut cfg = lab_cfg();
    let h = cfg.hosts.get_mut("web-3").unwrap();
    h.port = 2299; // nothing listens there
    let pool = SshPool::new(&cfg);
    let err = rt().block_on(pool.connect("web-3")).unwrap_err();
    assert!(matches!(err, RemoteError::Connect { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("host web-3") && msg.contains("sluice-deploy@127.0.0.13:2299"),
        "{msg}"
    );
}

#[test]
fn an_unknown_host_key_is_refused_with_its_fingerprint() {
    let _lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    let mut cfg = lab_cfg();
    cfg.hosts.get_mut("web-1").unwrap().known_hosts = Some(empty.clone());
    let pool = SshPool::new(&cfg);
    let err = rt().block_on(pool.connect("web-1")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RemoteError::HostKey { .. }), "{msg}");
    assert!(
        msg.contains("no key is recorded") && msg.contains("SHA256:"),
        "{msg}"
    );

    // accept_new_host_key records a key never seen before, and then works.
    cfg.hosts.get_mut("web-1").unwrap().accept_new_host_key = true;
    let pool = SshPool::new(&cfg);
    rt().block_on(pool.connect("web-1")).unwrap();
    // (Debian hashes host names in known_hosts, so look for the key type.)
    assert!(std::fs::read_to_string(&empty)
        .unwrap()
        .contains("ssh-ed25519"));
}

#[test]
fn quoted_arguments_reach_the_remote_shell_unchanged() {
    let _lab = lab();
    let pool = SshPool::new(&lab_cfg());
    let nasty = "a b;c 'd' \"e\" $(id) `id` \\ $HOME * \n end";
    let out = rt()
        .block_on(pool.run(
            "web-1",
            Script::new("printf", format!("printf %s {}", quote(nasty))),
        ))
        .unwrap();
    assert_eq!(out.stdout, nasty);
    // stdin reaches the script byte for byte.
    let data = "line 1\n{;}#\n\u{1F600}\n";
    let out = rt()
        .block_on(pool.run("web-1", Script::new("cat", "cat").stdin(data)))
        .unwrap();
    assert_eq!(out.stdout, data);
}
