//! `port: auto` tracks on one host: read the host's port registry, claim a port when a stack
//! starts (moving the track's upstream line when its port changes, through the same checked,
//! restorable NGINX write as a weight change), give it back when the stack is removed.
//! The decisions are the pure functions of [`crate::remote::ports`].

use std::collections::BTreeSet;

use super::raw::{sha256_hex, RawText};
use super::{HostError, ServiceOnHost, TrackName};
use crate::config::{HostPorts, Port};
use crate::remote::nginx;
use crate::remote::ports::{allocate, listening_ports, Registry};
use crate::remote::scripts::{self, HostExit};
use crate::remote::Script;

/// What one read of the host gives a claim: the registry (text and parsed), the ports that
/// something listens on, and the upstream file.
struct ClaimRead {
    registry_text: String,
    registry: Registry,
    listening: BTreeSet<u16>,
    upstream: RawText,
}

/// The script that prints the registry (nothing when it does not exist yet).
pub fn registry_read_script(registry: &str) -> Script<'static> {
    scripts::READ_REGISTRY.with("read port registry", [registry])
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
        let out = self.run(registry_read_script(reg)).await?;
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
        let script = scripts::READ_FOR_CLAIM.with(
            "read port registry",
            [reg, self.paths.upstream_file.as_str()],
        );
        let out = self.run(script).await?;
        if !out.ok() {
            return Err(self.err(format!(
                "cannot read the port registry, listening ports (`ss` from iproute2) and {}: {}",
                self.paths.upstream_file,
                out.tail(3)
            )));
        }
        let mut parts = out.stdout.splitn(3, '\u{1e}');
        let (Some(registry_text), Some(ss), Some(upstream_hex)) =
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
            upstream: self.raw(upstream_hex)?,
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
        for _ in 0..4 {
            let read = self.read_for_claim().await?;
            let a = self.allocate_for(&read, t)?;
            if a.registry == read.registry {
                self.learn_ports(&a.registry);
                return Ok(a.port);
            }
            let registry_args = [
                hp.registry.clone(),
                sha256_hex(read.registry_text.as_bytes()),
                a.registry.render(),
            ];
            let out = match a.moved_from {
                Some(old) => {
                    let b = &self.host.backend_address;
                    let moved = nginx::set_address(
                        &read.upstream.text,
                        &self.paths.upstream,
                        &nginx::server_address(b, old),
                        &nginx::server_address(b, a.port),
                    )
                    .map_err(|e| {
                        self.err(format!(
                            "cannot move the {t} track's line in {} to port {}: {e}",
                            self.paths.upstream_file, a.port
                        ))
                    })?;
                    self.run_apply(
                        format!("move the {t} track to port {}", a.port),
                        &read.upstream,
                        &moved,
                        None,
                        Some(registry_args),
                    )
                    .await?
                }
                None => {
                    let mut args = self.fence_args()?;
                    args.extend(registry_args);
                    let what = format!("claim port {} for the {t} track", a.port);
                    self.run(scripts::CLAIM_PORT.with(what, args)).await?
                }
            };
            if out.ok() {
                self.learn_ports(&a.registry);
                return Ok(a.port);
            }
            if let Some(e) = self.common_exit(&out) {
                return Err(e);
            }
            match HostExit::of(out.code) {
                // The registry or the upstream changed meanwhile: read again.
                Some(HostExit::Changed) => continue,
                Some(HostExit::TestRejected | HostExit::ReloadFailed) => {
                    return Err(self.err(format!(
                        "moving the {t} track to port {} was refused by `{}` or its reload; the previous {} was restored: {}",
                        a.port,
                        self.paths.test,
                        self.paths.upstream_file,
                        out.tail(3)
                    )))
                }
                _ => {
                    return Err(self.err(format!(
                        "recording port {} in {} failed (exit {}); nothing changed: {}",
                        a.port,
                        hp.registry,
                        out.code,
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
}
