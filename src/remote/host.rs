//! Operations on one service on one host: NGINX weights (validated, atomic, restored on
//! failure), compose stacks, image presence, health checks. Each is one remote script built
//! from validated values, quoted.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::nginx;
use super::transport::{quote, Output, Remote, RemoteError, Script};
use crate::config::{Host, HostPaths, Service, Track};
use crate::domain::{Split, TrackWeights, Version};

mod checks;
mod ports;
mod warmup;
pub use checks::{parse_df, parse_listeners, DiskFree};
pub use ports::read_script as registry_read_script;
pub use warmup::{parse_warmup, WarmupReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackName {
    Stable,
    Canary,
}

impl std::fmt::Display for TrackName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrackName::Stable => "stable",
            TrackName::Canary => "canary",
        })
    }
}

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

/// What runs for a track on a host, read from docker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackState {
    /// The image tag of the track's container, if one exists.
    pub version: Option<String>,
    pub running: bool,
    /// docker's status text, e.g. `Up 3 minutes`.
    pub status: String,
}

impl StackState {
    /// The version, marked when stopped; `-` when there is no container.
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) if self.running => v.clone(),
            Some(v) => format!("{v} (stopped)"),
            None => "-".into(),
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

    /// The shell lines that take the lock beside the upstream file and check and raise the
    /// fence (exit 14: lock busy, 16: a newer token was seen, 13: the fence cannot be written).
    fn fence_prelude(&self) -> Result<String, HostError> {
        Ok(fence_prelude(
            &self.paths.upstream_file,
            &self.service.name,
            self.token()?,
        ))
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
            Some(p) => Ok(format!("{}:{p}", self.host.backend_address)),
            None => Err(self.err(format!(
                "the {t} track's port is not known yet: the host's port registry has no record of it"
            ))),
        }
    }

    async fn run(&self, what: &str, script: String) -> Result<Output, HostError> {
        Ok(self
            .remote
            .run(&self.host.name, Script::new(what, script))
            .await?)
    }

    // ---- NGINX -------------------------------------------------------------------------

    pub async fn read_upstream_text(&self) -> Result<String, HostError> {
        let f = quote(&self.paths.upstream_file);
        let registry = self.registry_path();
        let script = match registry {
            // One round trip: the upstream, then the registry that says where auto tracks are.
            Some(reg) => format!(
                "cat -- {f} || exit 1; printf '\\036'; {}",
                ports::read_script(reg)
            ),
            None => format!("cat -- {f}"),
        };
        let out = self.run("read upstream file", script).await?;
        if !out.ok() {
            return Err(self.err(format!(
                "cannot read {}: {}",
                self.paths.upstream_file,
                out.tail(3)
            )));
        }
        if registry.is_none() {
            return Ok(out.stdout);
        }
        let (text, registry) = out
            .stdout
            .rsplit_once('\u{1e}')
            .unwrap_or((&out.stdout, ""));
        self.learn_ports(&self.parse_registry(registry)?);
        Ok(text.to_string())
    }

    /// The weights the host's file holds now for the stable and canary servers.
    pub fn weights_in(&self, text: &str) -> Result<TrackWeights, HostError> {
        let servers = nginx::read_upstream(text, &self.paths.upstream)
            .map_err(|e| self.err(format!("{} on this host: {e}", self.paths.upstream_file)))?;
        let find = |t: TrackName| {
            let addr = self.server_addr(t)?;
            servers
                .iter()
                .find(|s| s.addr == addr)
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
            .run("nginx test", format!("{} 2>&1", self.paths.test))
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
        let text = self.read_upstream_text().await?;
        if self.weights_in(&text)? == want {
            return Ok(want);
        }
        let new_text = nginx::set_weights(
            &text,
            &self.paths.upstream,
            &[
                (self.server_addr(TrackName::Stable)?, want.stable),
                (self.server_addr(TrackName::Canary)?, want.canary),
            ],
        )
        .map_err(|e| self.err(format!("cannot edit {}: {e}", self.paths.upstream_file)))?;
        let precheck = match guard {
            Some(t) => format!(
                "curl -fsS -m {:.1} -o /dev/null {} >/dev/null 2>&1 || exit 15",
                self.service.health.timeout.as_secs_f64().max(0.1),
                quote(&format!(
                    "http://{}{}",
                    self.server_addr(t)?,
                    self.service.health.path
                ))
            ),
            None => ":".to_string(),
        };
        let script = apply_script(
            &self.fence_prelude()?,
            &self.paths.upstream_file,
            &hex(&Sha256::digest(text.as_bytes())),
            &precheck,
            &self.paths.test,
            &self.paths.reload,
        );
        let out = self
            .remote
            .run(
                &self.host.name,
                Script::new("apply upstream weights", script).stdin(new_text.into_bytes()),
            )
            .await?;
        let f = &self.paths.upstream_file;
        match out.code {
            0 => {}
            10 => {
                return Err(HostError::Conflict {
                    host: self.host.name.clone(),
                    service: self.service.name.clone(),
                    file: f.clone(),
                })
            }
            11 => {
                return Err(self.err(format!(
                    "`{}` rejected the new {f}; the previous file was restored: {}",
                    self.paths.test,
                    out.tail(3)
                )))
            }
            16 => return Err(self.fenced_error(&out)),
            15 => {
                return Err(HostError::Unhealthy {
                    host: self.host.name.clone(),
                    service: self.service.name.clone(),
                    track: guard.unwrap_or(TrackName::Stable),
                })
            }
            12 => {
                return Err(self.err(format!(
                    "`{}` failed; the previous {f} was restored and reloaded: {}",
                    self.paths.reload,
                    out.tail(3)
                )))
            }
            _ => {
                return Err(self.err(format!(
                    "writing {f} failed (exit {}); the previous file was restored: {}",
                    out.code,
                    out.tail(3)
                )))
            }
        }
        let got = self.weights_in(&out.stdout)?;
        if got != want {
            return Err(self.err(format!(
                "read back weights stable={} canary={} from {f}, expected stable={} canary={}",
                got.stable, got.canary, want.stable, want.canary
            )));
        }
        Ok(got)
    }

    // ---- compose -----------------------------------------------------------------------

    fn compose_prefix(&self, t: TrackName) -> String {
        let track = self.track(t);
        let env = track.env_file.clone().unwrap_or_default();
        format!(
            "{} --env-file {} -p {} -f {}",
            self.service.compose,
            quote(&env),
            quote(&track.project),
            quote(&track.compose_file)
        )
    }

    pub async fn image_present(&self, version: &Version) -> Result<bool, HostError> {
        let image = format!("{}:{}", self.service.image, version);
        let out = self
            .run(
                "check image",
                format!(
                    "docker image inspect --format '{{{{.Id}}}}' {} >/dev/null 2>&1",
                    quote(&image)
                ),
            )
            .await?;
        Ok(out.ok())
    }

    /// Write the track's env file with the release version and `up -d` its stack.
    pub async fn stack_up(&self, t: TrackName, version: &Version) -> Result<(), HostError> {
        let env = self.track(t).env_file.clone().unwrap_or_default();
        // A `port: auto` track gets its port first (and its upstream line moved there).
        let port_line = match self.track(t).port {
            crate::config::Port::Auto => format!("SLUICE_PORT={}\\n", self.claim_port(t).await?),
            crate::config::Port::Fixed(_) => String::new(),
        };
        let script = format!(
            "{fence}set -e; umask 022; printf 'SLUICE_VERSION=%s\\n{port_line}' {v} > {tmp}; mv -f {tmp} {env}; {c} up -d --remove-orphans 2>&1",
            v = quote(version.as_str()),
            tmp = quote(&format!("{env}.sluice-new")),
            env = quote(&env),
            c = self.compose_prefix(t),
            fence = self.fence_prelude()?,
        );
        let out = self.run(&format!("start {t} stack"), script).await?;
        if out.code == 16 {
            return Err(self.fenced_error(&out));
        }
        if out.ok() {
            Ok(())
        } else {
            Err(self.err(format!(
                "starting the {t} stack {} at {version} failed: {}",
                self.track(t).project,
                out.tail(5)
            )))
        }
    }

    pub async fn stack_down(&self, t: TrackName) -> Result<(), HostError> {
        let env = self.track(t).env_file.clone().unwrap_or_default();
        // Without an env file compose cannot interpolate the image; give it a harmless one.
        let script = format!(
            "{fence}set -e; [ -f {env} ] || printf 'SLUICE_VERSION=none\\n' > {env}; {c} down --remove-orphans 2>&1{release}",
            env = quote(&env),
            c = self.compose_prefix(t),
            fence = self.fence_prelude()?,
            release = self.release_script(t),
        );
        let out = self.run(&format!("stop {t} stack"), script).await?;
        if out.code == 16 {
            return Err(self.fenced_error(&out));
        }
        if out.ok() {
            Ok(())
        } else {
            Err(self.err(format!(
                "stopping the {t} stack {} failed: {}",
                self.track(t).project,
                out.tail(5)
            )))
        }
    }

    /// What runs for the track, read from docker (by the compose project label).
    pub async fn stack_state(&self, t: TrackName) -> Result<StackState, HostError> {
        let project = &self.track(t).project;
        let script = format!(
            "docker ps -a --filter label=com.docker.compose.project={} --format '{{{{.Image}}}}|{{{{.Status}}}}'",
            quote(project)
        );
        let out = self.run("list containers", script).await?;
        if !out.ok() {
            return Err(self.err(format!("`docker ps` failed: {}", out.tail(3))));
        }
        Ok(parse_stack_state(&out.stdout, &self.service.image))
    }

    /// The stack's last container log lines, control characters removed (see
    /// [`crate::sanitize`]); never put them in an error message.
    pub async fn stack_logs(&self, t: TrackName, lines: u32) -> Vec<String> {
        let script = format!(
            "{} logs --no-color --tail {lines} 2>&1",
            self.compose_prefix(t)
        );
        match self.run(&format!("{t} logs"), script).await {
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
        let script = format!(
            "curl -sS -o /dev/null -m {secs:.1} -w '%{{http_code}}' {} 2>&1",
            quote(&url)
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
            let out = self
                .run(&format!("{t} health check"), script.clone())
                .await?;
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lock the file beside the upstream file (fd 9, held until the script ends) and check the
/// fencing token against the highest this host has seen for the service, kept in
/// `<upstream_file>.sluice-fence` as `SERVICE TOKEN` lines. A lower token exits 16 (naming
/// the seen token on stderr); a higher one is recorded before anything else happens.
pub fn fence_prelude(upstream_file: &str, service: &str, token: u64) -> String {
    let f = quote(upstream_file);
    let s = quote(service);
    format!(
        r#"exec 9>>{f}.sluice-lock && flock -w 30 9 || exit 14
fence={f}.sluice-fence
seen=$(awk -v s={s} '$1==s {{print $2}}' "$fence" 2>/dev/null | tail -n 1)
case "$seen" in '') seen=0;; *[!0-9]*) echo "$fence is corrupt; fix or remove its {s} line" >&2; exit 13;; esac
if [ "$seen" -gt {token} ]; then echo "sluice-fence-seen $seen" >&2; exit 16; fi
if [ "$seen" -ne {token} ]; then {{ awk -v s={s} '$1!=s' "$fence" 2>/dev/null; echo {s} {token}; }} > "$fence.new" && mv -f "$fence.new" "$fence" || exit 13; fi
"#
    )
}

/// The host-side half of a weight change. Exit codes: 10 the file changed since it was read,
/// 11 the test command rejected it, 12 reload failed, 14 another writer holds the lock, 15 the
/// precheck (health of the track about to take traffic) failed, 16 the fencing token is older
/// than one the host has seen; any
/// failure restores the backup. The whole check-and-swap holds an flock on a lock file beside
/// the upstream file, so two writers (a stuck step and an emergency rollback) serialize and the
/// later one sees the earlier one's change through the hash check.
fn apply_script(
    fence: &str,
    file: &str,
    expected_sha: &str,
    precheck: &str,
    test: &str,
    reload: &str,
) -> String {
    apply_script_then(fence, file, expected_sha, precheck, test, reload, ":")
}

/// [`apply_script`] with `commit` run once the new file is live; if `commit` fails, the
/// previous file is restored and reloaded (exit 13), so both happen or neither does.
fn apply_script_then(
    fence: &str,
    file: &str,
    expected_sha: &str,
    precheck: &str,
    test: &str,
    reload: &str,
    commit: &str,
) -> String {
    let f = quote(file);
    format!(
        r#"set -u
{fence}f={f}; new="$f.sluice-new"; bak="$f.sluice-bak"
cat > "$new" || {{ rm -f "$new"; exit 13; }}
if [ "$(sha256sum < "$f" | cut -d' ' -f1)" != {expected_sha} ]; then rm -f "$new"; exit 10; fi
{precheck} || {{ rm -f "$new"; exit 15; }}
cp -p "$f" "$bak" || {{ rm -f "$new"; exit 13; }}
chmod --reference="$bak" "$new" 2>/dev/null || true
mv -f "$new" "$f" || {{ rm -f "$new"; exit 13; }}
if ! out=$( {{ {test} ; }} 2>&1 ); then mv -f "$bak" "$f"; printf '%s\n' "$out" >&2; exit 11; fi
if ! out=$( {{ {reload} ; }} 2>&1 ); then mv -f "$bak" "$f"; {{ {reload} ; }} >/dev/null 2>&1; printf '%s\n' "$out" >&2; exit 12; fi
if ! out=$( {{ {commit} ; }} 2>&1 ); then mv -f "$bak" "$f"; {{ {reload} ; }} >/dev/null 2>&1; printf '%s\n' "$out" >&2; exit 13; fi
cat -- "$f"
"#
    )
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

    #[test]
    fn apply_script_quotes_the_path() {
        let s = apply_script("", "/x/it's.conf", "ab", ":", "nginx -t", "nginx -s reload");
        assert!(s.contains(r#"f='/x/it'\''s.conf'"#));
    }
}
