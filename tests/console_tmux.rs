//! The console end to end, as an on-call engineer uses it: in tmux against the lab, a canary
//! started with keys, the weights seen on screen and in the hosts' files, then `!`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

struct Tmux(String);

impl Tmux {
    fn start(cmd: &str) -> Tmux {
        let name = format!("sluice-test-{}", std::process::id());
        let ok = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "110", "-y", "32", cmd])
            .status()
            .unwrap_or_else(|e| panic!("cannot run tmux ({e}); install it with `apt-get install tmux` (lab/up.sh does)"));
        assert!(ok.success(), "tmux new-session failed");
        Tmux(name)
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            assert!(Command::new("tmux")
                .args(["send-keys", "-t", &self.0, k])
                .status()
                .unwrap()
                .success());
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until `ok` holds for the screen (and the hosts), or fail showing the screen.
    fn until(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) {
        let t = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return;
            }
            if t.elapsed() > Duration::from_secs(secs) {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

#[test]
fn canary_from_the_keyboard_then_emergency_rollback() {
    let _lab = lab();
    let cmd = format!(
        "SLUICE_OPERATOR=oncall {} --config {}",
        env!("CARGO_BIN_EXE_sluice"),
        lab_config().display()
    );
    let t = Tmux::start(&cmd);
    t.until("the console to read the hosts", 20, |s| {
        s.contains("100/0") && s.contains("web-3")
    });

    // The deploy form: d, the version, tab to the strategy, choose it, enter.
    t.keys(&["d", "1.2.0", "Tab", "C-u", "canary-manual"]);
    t.until("the deploy form with its plan", 5, |s| {
        s.contains("deploy demo") && s.contains("canary 1.2.0 at 10 % of traffic")
    });
    t.keys(&["Enter"]);
    t.until("the canary at 10 %", 40, |s| {
        s.contains("90/10") && s.contains("paused")
    });
    for h in HOSTS {
        assert_eq!(weights(h), (90, 10), "{h}");
    }
    t.keys(&["+"]);
    t.until("the canary at 20 %", 20, |s| s.contains("80/20"));
    for h in HOSTS {
        assert_eq!(weights(h), (80, 20), "{h}");
    }

    t.keys(&["!"]);
    t.until("the emergency rollback to finish", 30, |s| {
        s.contains("emergency rollback done: every host verified at stable 100 %")
            && s.contains("rolled-back")
    });
    for h in HOSTS {
        assert_eq!(weights(h), (100, 0), "{h}");
    }
    let s = t.screen();
    assert!(s.contains("100/0"), "{s}");
    t.keys(&["q"]);
}
