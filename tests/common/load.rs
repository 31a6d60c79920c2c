//! Load and knobs for analysis tests: wrk through every lab host's nginx, and the demo
//! canary's error rate and latency changed at run time.

use std::process::{Child, Command, Stdio};

use super::{host_ip, HOSTS};

/// wrk against every host's nginx, for a bounded time; killed on drop.
pub struct Load(Vec<Child>);

impl Load {
    pub fn start(secs: u32) -> Load {
        Load::on(8080, secs)
    }

    /// wrk against every host's nginx listening on `port` (8080 demo, 8090 shop).
    pub fn on(port: u16, secs: u32) -> Load {
        Load(
            HOSTS
                .iter()
                .map(|h| {
                    Command::new("wrk")
                        .args(["-t1", "-c8", &format!("-d{secs}s"), "--timeout", "5s"])
                        .arg(format!("http://{}:{port}/", host_ip(h)))
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap_or_else(|e| {
                            panic!("cannot run wrk ({e}); install it with `apt-get install wrk` (lab/up.sh does)")
                        })
                })
                .collect(),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Change a knob of the demo on every host, on the track's port (8081 stable, 8082 canary).
pub fn knob(port: u16, query: &str) {
    for h in HOSTS {
        let ok = Command::new("curl")
            .args(["-fsS", "-X", "POST", "-o", "/dev/null"])
            .arg(format!("http://{}:{port}/knobs?{query}", host_ip(h)))
            .status()
            .expect("run curl");
        assert!(ok.success(), "setting {query} on {h}:{port}");
    }
}
