//! Operations on one service on one host: NGINX weights (validated, atomic, restored on
//! failure), compose stacks, image presence, health checks. Each runs one host script of
//! [`super::scripts`], its inputs passed as arguments.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::nginx;
use super::scripts::{self, unhex, HostExit};
use super::transport::{Output, Remote, RemoteError, Script};
use crate::config::{Host, HostPaths, Service, Track};
use crate::domain::{Split, TrackWeights, Version};

mod checks;
mod ports;
mod raw;
mod warmup;
pub use checks::{parse_df, parse_listeners, DiskFree};
pub use ports::registry_read_script;
pub use raw::RawText;
pub use warmup::{parse_warmup, WarmupReport};

pub use crate::domain::tracks::{StackState, TrackName};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("host {host}, service {service}: {file} changed while sluice was editing it; nothing was written")]
    Conflict {
        host: String,
        service: String,
        file: String,
    },
    #[error("host {host}, service {service}: the {track} track does not answer its health check; traffic was not moved")]
    Unhealthy {
        host: String,
        service: String,
        track: TrackName,
    },
    /// The host has seen a newer lease's token: this sluice lost its lease and must stop.
    #[error("host {host}, service {service}: refused fencing token {offered}: the host has seen token {seen} from a newer lease holder; this sluice lost its lease and changed nothing (see `sluice lock`)")]
    Fenced {
        host: String,
        service: String,
        seen: u64,
        offered: u64,
    },
    /// A started stack failed its health check. `logs` (its last container log lines,
    /// control characters removed) are not part of the message: apps that crash at start print
    /// DSNs and tokens, and the message goes to the journal, the audit trail and notifiers.
    /// The engine shows them in a `container-logs` event instead.
    #[error("host {host}, service {service}: the {track} stack is unhealthy: {detail}; its last container log lines are shown in the console and in `deploy` output (not recorded)")]
    StackUnhealthy {
        host: String,
        service: String,
        track: TrackName,
        detail: String,
        logs: Vec<String>,
    },
    #[error("host {host}, service {service}: {message}")]
    Op {
        host: String,
        service: String,
        message: String,
    },
}

impl HostError {
    pub fn host(&self) -> &str {
        match self {
            HostError::Remote(e) => e.host(),
            HostError::Op { host, .. }
            | HostError::StackUnhealthy { host, .. }
            | HostError::Conflict { host, .. }
            | HostError::Unhealthy { host, .. }
            | HostError::Fenced { host, .. } => host,
        }
    }
}

pub struct ServiceOnHost<'a> {
    remote: &'a dyn Remote,
    host: &'a Host,
    service: &'a Service,
    paths: HostPaths,
    /// The lease's fencing token every mutating command carries, or why there is none.
    fence: Result<u64, String>,
    /// Each track's port (stable, canary): fixed ones from the config, `auto` ones once read
    /// from the host's port registry.
    ports: std::sync::Mutex<[Option<u16>; 2]>,
}

impl<'a> ServiceOnHost<'a> {
    pub fn new(remote: &'a dyn Remote, host: &'a Host, service: &'a Service) -> Self {
        ServiceOnHost {
            remote,
            host,
            service,
            paths: service.expand(&host.name),
            fence: Err(format!(
                "no lease is held on service {}; take it before changing hosts",
                service.name
            )),
            ports: std::sync::Mutex::new([
                service.stable.port.fixed(),
                service.canary.port.fixed(),
            ]),
        }
    }

    /// Mutating commands carry `fence`'s token (or fail with its reason, changing nothing).
    pub fn fenced(mut self, fence: Result<u64, String>) -> Self {
        self.fence = fence;
        self
    }

    fn token(&self) -> Result<u64, HostError> {
        self.fence.clone().map_err(|why| self.err(why))
    }

    /// The first three arguments of every fenced script: the upstream file (whose lock the
    /// script takes), the service and the lease's token.
    fn fence_args(&self) -> Result<Vec<String>, HostError> {
        Ok(vec![
            self.paths.upstream_file.clone(),
            self.service.name.clone(),
            self.token()?.to_string(),
        ])
    }

    /// The error of an exit code that means the same in every fenced script (a newer token,
    /// a lock held too long, an incomplete upload), `None` for the others.
    fn common_exit(&self, out: &Output) -> Option<HostError> {
        match HostExit::of(out.code)? {
            HostExit::Fenced => Some(self.fenced_error(out)),
            HostExit::Locked => Some(self.err(format!(
                "a lock on the host (beside {}, the nginx instance's or the port registry's)                  was held by another writer for 30 s; nothing was changed; try again",
                self.paths.upstream_file
            ))),
            HostExit::Incomplete => Some(self.err(format!(
                "the new {} arrived incomplete (the connection dropped?); nothing was changed;                  try again: {}",
                self.paths.upstream_file,
                out.tail(2)
            ))),
            _ => None,
        }
    }

    fn fenced_error(&self, out: &Output) -> HostError {
        let seen = out
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("sluice-fence-seen "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        HostError::Fenced {
            host: self.host.name.clone(),
            service: self.service.name.clone(),
            seen,
            offered: self.fence.clone().unwrap_or(0),
        }
    }

    pub fn host_name(&self) -> &str {
        &self.host.name
    }

    pub fn paths(&self) -> &HostPaths {
        &self.paths
    }

    fn err(&self, message: impl Into<String>) -> HostError {
        HostError::Op {
            host: self.host.name.clone(),
            service: self.service.name.clone(),
            message: message.into(),
        }
    }

    fn track(&self, t: TrackName) -> &Track {
        match t {
            TrackName::Stable => &self.paths.stable,
            TrackName::Canary => &self.paths.canary,
        }
    }

    /// `ADDR:PORT` of the track's server line in the upstream. A `port: auto` track's port is
    /// known once the host's registry has been read (every upstream read does).
    pub fn server_addr(&self, t: TrackName) -> Result<String, HostError> {
        match self.port_of(t) {
            Some(p) => Ok(nginx::server_address(&self.host.backend_address, p)),
            None => Err(self.err(format!(
                "the {t} track's port is not known yet: the host's port registry has no record of it"
            ))),
        }
    }

    async fn run(&self, script: Script<'_>) -> Result<Output, HostError> {
        Ok(self.remote.run(&self.host.name, script).await?)
    }

    // ---- NGINX -------------------------------------------------------------------------

    /// The upstream file as the editor sees it (see [`RawText`]).
    pub async fn read_upstream_text(&self) -> Result<String, HostError> {
        Ok(self.read_upstream().await?.text)
    }

    /// The upstream file's bytes (and, in the same round trip, the port registry that says
    /// where auto tracks are).
    pub async fn read_upstream(&self) -> Result<RawText, HostError> {
        let registry = self.registry_path();
        let script = scripts::READ_UPSTREAM.with(
            "read upstream file",
            [
                self.paths.upstream_file.as_str(),
                registry.unwrap_or_default(),
            ],
        );
        let out = self.run(script).await?;
        if !out.ok() {
            return Err(self.err(format!(
                "cannot read {}: {}",
                self.paths.upstream_file,
                out.tail(3)
            )));
        }
        let (hex, registry_text) = out.stdout.split_once('\u{1e}').unwrap_or((&out.stdout, ""));
        if registry.is_some() {
            self.learn_ports(&self.parse_registry(registry_text)?);
        }
        self.raw(hex)
    }

    /// Bytes a script printed as hex.
    fn raw(&self, hex: &str) -> Result<RawText, HostError> {
        unhex(hex).map(RawText::new).ok_or_else(|| {
            self.err(format!(
                "reading {} returned unexpected output (not hex); is `od` installed on the host?",
                self.paths.upstream_file
            ))
        })
    }

    /// Run the apply script: swap in `new` (an edit of `read`), checked against `read`'s hash
    /// and its own, with an optional health precheck and port-registry write.
    async fn run_apply(
        &self,
        what: String,
        read: &RawText,
        new: &str,
        precheck: Option<String>,
        registry: Option<[String; 3]>,
    ) -> Result<Output, HostError> {
        let bytes = read.encode(new).ok_or_else(|| {
            self.err(format!(
                "the edit of {} holds characters its encoding cannot (the file is not UTF-8)",
                self.paths.upstream_file
            ))
        })?;
        let mut args = self.fence_args()?;
        args.extend([
            read.sha256(),
            raw::sha256_hex(&bytes),
            self.paths.test.clone(),
            self.paths.reload.clone(),
            precheck.unwrap_or_default(),
            format!("{:.1}", self.service.health.timeout.as_secs_f64().max(0.1)),
        ]);
        args.extend(registry.into_iter().flatten());
        self.run(scripts::APPLY.with(what, args).stdin(bytes)).await
    }

    /// The weights the host's file holds now for the stable and canary servers.
    pub fn weights_in(&self, text: &str) -> Result<TrackWeights, HostError> {
        let servers = nginx::read_upstream(text, &self.paths.upstream)
            .map_err(|e| self.err(format!("{} on this host: {e}", self.paths.upstream_file)))?;
        let find = |t: TrackName| {
            let addr = self.server_addr(t)?;
            servers
                .iter()
                .find(|s| nginx::same_server(&s.addr, &addr))
                .map(|s| if s.down { 0 } else { s.weight })
                .ok_or_else(|| {
                    self.err(format!(
                        "upstream {} in {} has no `server {addr}` for the {t} track; add it \
                         (e.g. `server {addr} weight=1 down;`) so sluice can steer traffic",
                        self.paths.upstream, self.paths.upstream_file
                    ))
                })
        };
        Ok(TrackWeights {
            stable: find(TrackName::Stable)?,
            canary: find(TrackName::Canary)?,
        })
    }

    pub async fn read_weights(&self) -> Result<TrackWeights, HostError> {
        let text = self.read_upstream_text().await?;
        self.weights_in(&text)
    }

    /// Run the configured `nginx -t`.
    pub async fn nginx_test(&self) -> Result<(), HostError> {
        let out = self
            .run(scripts::NGINX_TEST.with("nginx test", [self.paths.test.as_str()]))
            .await?;
        if out.ok() {
            Ok(())
        } else {
            Err(self.err(format!(
                "`{}` fails before any change: {}; fix the host's NGINX config first",
                self.paths.test,
                out.tail(3)
            )))
        }
    }

    /// Set the split on this host: rewrite the upstream file (only the two weights change),
    /// back it up, swap it in atomically, `nginx -t`, reload, read it back and verify. On any
    /// failure the backup is restored (and nginx reloaded if it had been), so the host is left
    /// as it was.
    pub async fn apply_split(&self, split: Split) -> Result<TrackWeights, HostError> {
        self.apply_split_guarded(split, None).await
    }

    /// As [`apply_split`](Self::apply_split), but first (inside the same remote script, under
    /// the lock) check that `guard`'s track answers its health check; if it does not, nothing
    /// is changed and [`HostError::Unhealthy`] is returned. A rollback uses this to move
    /// traffic in two round trips without first asking docker whether stable runs.
    pub async fn apply_split_guarded(
        &self,
        split: Split,
        guard: Option<TrackName>,
    ) -> Result<TrackWeights, HostError> {
        let want = split.weights(self.service.trickle);
        let read = self.read_upstream().await?;
        if self.weights_in(&read.text)? == want {
            return Ok(want);
        }
        let new_text = nginx::set_weights(
            &read.text,
            &self.paths.upstream,
            &[
                (self.server_addr(TrackName::Stable)?, want.stable),
                (self.server_addr(TrackName::Canary)?, want.canary),
            ],
        )
        .map_err(|e| self.err(format!("cannot edit {}: {e}", self.paths.upstream_file)))?;
        let precheck = match guard {
            Some(t) => Some(format!(
                "http://{}{}",
                self.server_addr(t)?,
                self.service.health.path
            )),
            None => None,
        };
        let out = self
            .run_apply(
                "apply upstream weights".into(),
                &read,
                &new_text,
                precheck,
                None,
            )
            .await?;
        if !out.ok() {
            return Err(self.apply_error(&out, guard.unwrap_or(TrackName::Stable)));
        }
        let got = self.weights_in(&self.raw(&out.stdout)?.text)?;
        let f = &self.paths.upstream_file;
        if got != want {
            return Err(self.err(format!(
                "read back weights stable={} canary={} from {f}, expected stable={} canary={}",
                got.stable, got.canary, want.stable, want.canary
            )));
        }
        Ok(got)
    }

    /// What a failed apply script means, `guard` naming the track its precheck probed.
    fn apply_error(&self, out: &Output, guard: TrackName) -> HostError {
        if let Some(e) = self.common_exit(out) {
            return e;
        }
        let f = &self.paths.upstream_file;
        match HostExit::of(out.code) {
            Some(HostExit::Changed) => HostError::Conflict {
                host: self.host.name.clone(),
                service: self.service.name.clone(),
                file: f.clone(),
            },
            Some(HostExit::TestRejected) => self.err(format!(
                "`{}` rejected the new {f}; the previous file was restored: {}",
                self.paths.test,
                out.tail(3)
            )),
            Some(HostExit::ReloadFailed) => self.err(format!(
                "`{}` failed; the previous {f} was restored and reloaded: {}",
                self.paths.reload,
                out.tail(3)
            )),
            Some(HostExit::Unhealthy) => HostError::Unhealthy {
                host: self.host.name.clone(),
                service: self.service.name.clone(),
                track: guard,
            },
            _ => self.err(format!(
                "writing {f} failed (exit {}); the previous file was restored: {}",
                out.code,
                out.tail(3)
            )),
        }
    }

    // ---- compose -----------------------------------------------------------------------

    pub async fn image_present(&self, version: &Version) -> Result<bool, HostError> {
        let image = format!("{}:{}", self.service.image, version);
        let out = self
            .run(scripts::IMAGE_PRESENT.with("check image", [image]))
            .await?;
        Ok(out.ok())
    }

    /// Set the release in the track's env file (only its `SLUICE_VERSION` and, for an auto
    /// port, `SLUICE_PORT` lines: the operator's other variables stay) and `up -d` its stack,
    /// compose's output kept on the host (`.sluice/PROJECT.log` beside the compose file).
    pub async fn stack_up(&self, t: TrackName, version: &Version) -> Result<(), HostError> {
        // A `port: auto` track gets its port first (and its upstream line moved there).
        let port = match self.track(t).port {
            crate::config::Port::Auto => self.claim_port(t).await?.to_string(),
            crate::config::Port::Fixed(_) => String::new(),
        };
        let track = self.track(t);
        let mut args = self.fence_args()?;
        args.extend([
            track.env_file.clone().unwrap_or_default(),
            version.as_str().to_string(),
            port,
            self.service.compose.clone(),
            track.project.clone(),
            track.compose_file.clone(),
        ]);
        let out = self
            .run(scripts::STACK_UP.with(format!("start {t} stack"), args))
            .await?;
        if let Some(e) = self.common_exit(&out) {
            return Err(e);
        }
        if out.ok() {
            Ok(())
        } else {
            Err(self.err(format!(
                "starting the {t} stack {} at {version} failed: {}",
                track.project,
                out.tail(5)
            )))
        }
    }

    pub async fn stack_down(&self, t: TrackName) -> Result<(), HostError> {
        let track = self.track(t);
        let registry = match (&self.host.ports, track.port) {
            (Some(hp), crate::config::Port::Auto) => hp.registry.clone(),
            _ => String::new(),
        };
        let mut args = self.fence_args()?;
        args.extend([
            track.env_file.clone().unwrap_or_default(),
            self.service.compose.clone(),
            track.project.clone(),
            track.compose_file.clone(),
            registry,
            t.to_string(),
        ]);
        let out = self
            .run(scripts::STACK_DOWN.with(format!("stop {t} stack"), args))
            .await?;
        if let Some(e) = self.common_exit(&out) {
            return Err(e);
        }
        if out.ok() {
            Ok(())
        } else {
            Err(self.err(format!(
                "stopping the {t} stack {} failed: {}",
                track.project,
                out.tail(5)
            )))
        }
    }

    /// What runs for the track, read from docker (by the compose project label).
    pub async fn stack_state(&self, t: TrackName) -> Result<StackState, HostError> {
        let project = &self.track(t).project;
        let out = self
            .run(scripts::STACK_STATE.with("list containers", [project.as_str()]))
            .await?;
        if !out.ok() {
            return Err(self.err(format!("`docker ps` failed: {}", out.tail(3))));
        }
        Ok(parse_stack_state(&out.stdout, &self.service.image))
    }

    /// The stack's last container log lines, control characters removed (see
    /// [`crate::sanitize`]); never put them in an error message.
    pub async fn stack_logs(&self, t: TrackName, lines: u32) -> Vec<String> {
        let track = self.track(t);
        let script = scripts::STACK_LOGS.with(
            format!("{t} logs"),
            [
                self.service.compose.clone(),
                track.env_file.clone().unwrap_or_default(),
                track.project.clone(),
                track.compose_file.clone(),
                lines.to_string(),
            ],
        );
        match self.run(script).await {
            Ok(out) => out.stdout.lines().map(crate::sanitize::line).collect(),
            Err(e) => vec![format!("(logs unavailable: {e})")],
        }
    }

    /// Probe the track's health endpoint from the host itself (the port is usually bound to
    /// loopback), retrying with exponential back-off. On failure, the error carries the
    /// stack's last log lines.
    pub async fn health(&self, t: TrackName, cancel: &CancellationToken) -> Result<(), HostError> {
        let h = &self.service.health;
        let url = format!("http://{}{}", self.addr_of(t).await?, h.path);
        let secs = h.timeout.as_secs_f64().max(0.1);
        let script = scripts::HEALTH.with(
            format!("{t} health check"),
            [url.clone(), format!("{secs:.1}")],
        );
        let mut delay = h.interval;
        let mut last = String::new();
        for attempt in 0..=h.retries {
            if attempt > 0 {
                tokio::select! {
                    _ = cancel.cancelled() => return Err(self.err("health check cancelled")),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            let out = self.run(script.clone()).await?;
            let code = out.stdout.trim();
            if out.ok() && code.starts_with('2') {
                return Ok(());
            }
            last = if out.ok() {
                format!("HTTP {code}")
            } else {
                out.tail(1)
            };
        }
        let logs = self.stack_logs(t, 20).await;
        Err(HostError::StackUnhealthy {
            host: self.host.name.clone(),
            service: self.service.name.clone(),
            track: t,
            detail: format!("GET {url} gave {last} after {} attempts", h.retries + 1),
            logs,
        })
    }
}

fn parse_stack_state(stdout: &str, image: &str) -> StackState {
    let mut state = StackState {
        version: None,
        running: false,
        status: "absent".to_string(),
    };
    // Several containers: the service is running only if all are; report the first's version.
    let mut first = true;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let (img, status) = line.split_once('|').unwrap_or((line, ""));
        let up = status.starts_with("Up");
        if first {
            state.version = img
                .strip_prefix(image)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(str::to_string)
                .or_else(|| Some(img.to_string()));
            state.running = up;
            state.status = status.to_string();
            first = false;
        } else {
            state.running &= up;
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_state_reads_version_and_status() {
        let s = parse_stack_state("sluice-demo:1.1.0|Up 3 minutes\n", "sluice-demo");
        assert_eq!(s.version.as_deref(), Some("1.1.0"));
        assert!(s.running);
        let s = parse_stack_state("", "sluice-demo");
        assert_eq!(s.version, None);
        assert!(!s.running);
        let s = parse_stack_state(
            "sluice-demo:1.0.0|Exited (1) 2 seconds ago\n",
            "sluice-demo",
        );
        assert!(!s.running);
    }
}
