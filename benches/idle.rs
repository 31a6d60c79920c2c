//! Benchmark: CPU used by the console with nothing in flight. Runs the release binary in tmux
//! (160x48) against the lab for 60 s after a 5 s warm-up and reads utime+stime from
//! /proc/PID/stat. The console redraws each second and re-reads every host each 5 s over SSH,
//! so this is the real idle cost. Needs the lab (`bash lab/up.sh`); it only reads the hosts.

use std::process::Command;
use std::time::{Duration, Instant};

const MEASURE: Duration = Duration::from_secs(60);

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run tmux ({e}); lab/up.sh installs it"));
    assert!(
        out.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (parent pid, utime + stime, cutime + cstime) of a process, in clock ticks.
fn stat(pid: u32) -> Option<(u32, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    Some((n(1) as u32, n(11) + n(12), n(13) + n(14)))
}

/// CPU ticks of the console, its waited-for children, and its live descendants (the SSH
/// master connections it keeps open).
fn cpu_ticks(pid: u32) -> u64 {
    let (_, own, children) = stat(pid).unwrap_or_else(|| panic!("the console (pid {pid}) is gone"));
    let all: Vec<(u32, u32, u64)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|p| stat(p).map(|(pp, t, c)| (p, pp, t + c)))
                .collect()
        })
        .unwrap_or_default();
    let mut family = vec![pid];
    let mut total = own + children;
    let mut i = 0;
    while i < family.len() {
        for (p, pp, t) in &all {
            if *pp == family[i] && !family.contains(p) {
                family.push(*p);
                total += t;
            }
        }
        i += 1;
    }
    total
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

struct Session(String);
impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!("{root}/config/lab.yaml");
    let bin = env!("CARGO_BIN_EXE_sluice");
    let status = Command::new(bin)
        .args(["status", "--config", &config])
        .output()
        .expect("run sluice status");
    assert!(
        status.status.success(),
        "the lab does not answer (`sluice status` failed); start it with `bash lab/up.sh`:\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let name = format!("sluice-idle-{}", std::process::id());
    // exec: the pane's process is the console itself.
    let cmd = format!("exec env SLUICE_OPERATOR=bench {bin} --config {config}");
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "160",
        "-y",
        "48",
        &cmd,
    ]);
    let session = Session(name);
    let pid: u32 = tmux(&["list-panes", "-t", &session.0, "-F", "#{pane_pid}"])
        .trim()
        .parse()
        .expect("pane pid");
    let ticks_per_sec: u64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100);
    std::thread::sleep(Duration::from_secs(5));
    let screen = tmux(&["capture-pane", "-p", "-t", &session.0]);
    assert!(
        screen.contains("demo") && screen.contains("web-1"),
        "the console did not come up:\n{screen}"
    );
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(MEASURE);
    let (wall, cpu) = (t0.elapsed(), cpu_ticks(pid) - c0);
    let cpu_secs = cpu as f64 / ticks_per_sec as f64;
    println!(
        "idle console against the 3-host lab, 160x48, {:.0} s: {:.2} s CPU (console and its SSH connections) = {:.2} % of one core; RSS {:.1} MB",
        wall.as_secs_f64(),
        cpu_secs,
        100.0 * cpu_secs / wall.as_secs_f64(),
        rss_kib(pid) as f64 / 1024.0
    );
    // Quit cleanly (closing the SSH masters) before the session is killed.
    tmux(&["send-keys", "-t", &session.0, "q"]);
    let t = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && t.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(session);
}
