//! `port: auto` tracks on one host: read the host's port registry, claim a port when a stack
//! starts (moving the track's upstream line when its port changes, through the same checked,
//! restorable NGINX write as a weight change), give it back when the stack is removed.
//! The decisions are the pure functions of [`crate::remote::ports`].

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::{apply_script_then, hex, HostError, ServiceOnHost, TrackName};
use crate::config::{HostPorts, Port};
use crate::remote::nginx;
use crate::remote::ports::{allocate, listening_ports, Registry};
use crate::remote::{quote, Script};

/// What one read of the host gives a claim: the registry (text and parsed), the ports that
/// something listens on, and the upstream file's text.
struct ClaimRead {
    registry_text: String,
    registry: Registry,
    listening: BTreeSet<u16>,
    upstream_text: String,
}

/// Shell that prints the registry (nothing when it does not exist yet).
pub fn read_script(registry: &str) -> String {
    format!("cat -- {} 2>/dev/null; true", quote(registry))
}

/// Shell that takes the registry's lock (fd 8, held until the script ends) for every writer;
/// `reg` is the quoted path.
fn lock_script(reg: &str) -> String {
    format!("exec 8>>{reg}.sluice-lock && flock -w 30 8")
}

fn slot(t: TrackName) -> usize {
    match t {
        TrackName::Stable => 0,
        TrackName::Canary => 1,
    }
}

impl ServiceOnHost<'_> {
    /// The registry file, when one of the service's tracks has `port: auto`.
    pub(super) fn registry_path(&self) -> Option<&str> {
        let auto = self.service.stable.port == Port::Auto || self.service.canary.port == Port::Auto;
        match &self.host.ports {
            Some(p) if auto => Some(p.registry.as_str()),
            _ => None,
        }
    }

    /// The host's range and registry; validation gives every host of an auto track one.
    fn host_ports(&self, t: TrackName) -> Result<&HostPorts, HostError> {
        self.host.ports.as_ref().ok_or_else(|| {
            self.err(format!(
                "the {t} track has port: auto but the host has no ports.range"
            ))
        })
    }

    pub(super) fn port_of(&self, t: TrackName) -> Option<u16> {
        self.ports.lock().map(|p| p[slot(t)]).unwrap_or(None)
    }

    /// Remember where the registry says the auto tracks are (held or last held).
    pub(super) fn learn_ports(&self, registry: &Registry) {
        if let Ok(mut ports) = self.ports.lock() {
            for t in [TrackName::Stable, TrackName::Canary] {
                if self.track(t).port == Port::Auto {
                    ports[slot(t)] = registry.get(&self.service.name, t).map(|r| r.port);
                }
            }
        }
    }

    pub(super) fn parse_registry(&self, text: &str) -> Result<Registry, HostError> {
        Registry::parse(text).map_err(|e| {
            self.err(format!(
                "port registry {}: {e}; fix the file on the host",
                self.registry_path().unwrap_or("?")
            ))
        })
    }

    /// Read the registry so that `server_addr` knows the auto tracks' ports (a no-op for a
    /// service with fixed ports).
    pub async fn resolve_ports(&self) -> Result<(), HostError> {
        let Some(reg) = self.registry_path() else {
            return Ok(());
        };
        let out = self.run("read port registry", read_script(reg)).await?;
        self.learn_ports(&self.parse_registry(&out.stdout)?);
        Ok(())
    }

    /// `ADDR:PORT` of the track, reading the registry first when its port is not known yet.
    pub(super) async fn addr_of(&self, t: TrackName) -> Result<String, HostError> {
        if self.port_of(t).is_none() {
            self.resolve_ports().await?;
        }
        self.server_addr(t)
    }

    async fn read_for_claim(&self) -> Result<ClaimRead, HostError> {
        let reg = self.registry_path().unwrap_or_default();
        let script = format!(
            "cat -- {reg} 2>/dev/null; printf '\\036'; ss -Hltn || exit 3; printf '\\036'; cat -- {up}",
            reg = quote(reg),
            up = quote(&self.paths.upstream_file),
        );
        let out = self.run("read port registry", script).await?;
        if !out.ok() {
            return Err(self.err(format!(
                "cannot read the port registry, listening ports (`ss` from iproute2) and {}: {}",
                self.paths.upstream_file,
                out.tail(3)
            )));
        }
        let mut parts = out.stdout.splitn(3, '\u{1e}');
        let (Some(registry_text), Some(ss), Some(upstream_text)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(self.err("the port registry read returned unexpected output"));
        };
        let registry = self.parse_registry(registry_text)?;
        let listening = listening_ports(ss, &self.host.backend_address).map_err(|e| self.err(e))?;
        Ok(ClaimRead {
            registry_text: registry_text.to_string(),
            registry,
            listening,
            upstream_text: upstream_text.to_string(),
        })
    }

    fn allocate_for(
        &self,
        read: &ClaimRead,
        t: TrackName,
    ) -> Result<crate::remote::ports::Allocation, HostError> {
        let hp = self.host_ports(t)?;
        allocate(
            &read.registry,
            hp.range,
            &read.listening,
            &self.service.name,
            t,
        )
        .map_err(|e| self.err(format!("port registry {}: {e}", hp.registry)))
    }

    /// The port the track would get now, changing nothing (a pre-deploy check).
    pub async fn port_plan(&self, t: TrackName) -> Result<u16, HostError> {
        let read = self.read_for_claim().await?;
        Ok(self.allocate_for(&read, t)?.port)
    }

    /// Give the track a port from the host's range and record it as held. When its port
    /// changes, its `server` line in the upstream moves with it, in one script under the
    /// upstream's lock and the registry's: the registry is written only once the moved line
    /// passed `nginx -t` and the reload, and a failure restores the file.
    pub(super) async fn claim_port(&self, t: TrackName) -> Result<u16, HostError> {
        let hp = self.host_ports(t)?;
        let reg = quote(&hp.registry);
        for _ in 0..4 {
            let read = self.read_for_claim().await?;
            let a = self.allocate_for(&read, t)?;
            if a.registry == read.registry {
                self.learn_ports(&a.registry);
                return Ok(a.port);
            }
            let dir = match hp.registry.rfind('/') {
                Some(0) | None => "/".to_string(),
                Some(i) => hp.registry[..i].to_string(),
            };
            let lock = format!(
                "mkdir -p -- {dir} || exit 13\n{lock} || exit 14\n\
                 if [ \"$(cat -- {reg} 2>/dev/null | sha256sum | cut -d' ' -f1)\" != {sha} ]; then exit 10; fi\n",
                dir = quote(&dir),
                lock = lock_script(&reg),
                sha = hex(&Sha256::digest(read.registry_text.as_bytes())),
            );
            let write = format!(
                "printf '%s' {content} > {tmp} && mv -f {tmp} {reg}",
                content = quote(&a.registry.render()),
                tmp = quote(&format!("{}.sluice-new", hp.registry)),
            );
            let fence = self.fence_prelude()?;
            let script = match a.moved_from {
                Some(old) => {
                    let b = &self.host.backend_address;
                    let moved = nginx::set_address(
                        &read.upstream_text,
                        &self.paths.upstream,
                        &format!("{b}:{old}"),
                        &format!("{b}:{}", a.port),
                    )
                    .map_err(|e| {
                        self.err(format!(
                            "cannot move the {t} track's line in {} to port {}: {e}",
                            self.paths.upstream_file, a.port
                        ))
                    })?;
                    Script::new(
                        format!("move the {t} track to port {}", a.port),
                        apply_script_then(
                            &format!("{fence}{lock}"),
                            &self.paths.upstream_file,
                            &hex(&Sha256::digest(read.upstream_text.as_bytes())),
                            ":",
                            &self.paths.test,
                            &self.paths.reload,
                            &write,
                        ),
                    )
                    .stdin(moved.into_bytes())
                }
                None => Script::new(
                    format!("claim port {} for the {t} track", a.port),
                    format!("set -u\n{fence}{lock}{write} || exit 13\n"),
                ),
            };
            let out = self.remote.run(&self.host.name, script).await?;
            match out.code {
                0 => {
                    self.learn_ports(&a.registry);
                    return Ok(a.port);
                }
                10 => continue, // the registry or the upstream changed meanwhile: read again
                16 => return Err(self.fenced_error(&out)),
                14 => {
                    return Err(self.err(format!(
                        "the port registry {} or the upstream file is locked by another writer for 30 s; try again",
                        hp.registry
                    )))
                }
                11 | 12 => {
                    return Err(self.err(format!(
                        "moving the {t} track to port {} was refused by `{}` or its reload; the previous {} was restored: {}",
                        a.port,
                        self.paths.test,
                        self.paths.upstream_file,
                        out.tail(3)
                    )))
                }
                code => {
                    return Err(self.err(format!(
                        "recording port {} in {} failed (exit {code}); nothing changed: {}",
                        a.port,
                        hp.registry,
                        out.tail(3)
                    )))
                }
            }
        }
        Err(self.err(format!(
            "the port registry {} kept changing while sluice claimed a port; try again",
            hp.registry
        )))
    }

    /// Shell that, after the track's stack was removed, marks its port free in the registry
    /// (appended to the stop script, so it runs only when the removal succeeded).
    pub(super) fn release_script(&self, t: TrackName) -> String {
        let (Some(hp), Port::Auto) = (&self.host.ports, self.track(t).port) else {
            return String::new();
        };
        let reg = quote(&hp.registry);
        format!(
            "\n{lock}\n\
             if [ -f {reg} ]; then awk -v s={s} -v t={t} '$2==s && $3==t && $4==\"held\" {{$4=\"free\"}} {{print}}' {reg} > {reg}.sluice-new && mv -f {reg}.sluice-new {reg}; fi",
            lock = lock_script(&reg),
            s = quote(&self.service.name),
            t = t,
        )
    }
}
