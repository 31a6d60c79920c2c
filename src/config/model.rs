//! The validated configuration that the rest of sluice consumes.
//!
//! Everything here has passed validation (see `validate.rs`): names are in
//! `[a-z0-9][a-z0-9._-]*`, references resolve, durations are parsed, steps increase.
//! Consumers never re-check these invariants.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this configuration was read from (for messages).
    pub path: PathBuf,
    pub store: Store,
    pub ssh: Ssh,
    pub environments: BTreeMap<String, Environment>,
    pub hosts: BTreeMap<String, Host>,
    pub services: BTreeMap<String, Service>,
    pub strategies: BTreeMap<String, Strategy>,
    pub analysis: Analysis,
    /// Deploy windows, constraints and the risk policy (`policy:`).
    pub policy: crate::policy::Policy,
    /// Pre-deploy checks (`checks:`).
    pub checks: super::safety::Checks,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Store {
    Local { path: PathBuf },
    Redis { url: String },
}

/// Connection settings shared by every host unless the host overrides them.
#[derive(Debug, Clone, PartialEq)]
pub struct Ssh {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    None,
    Required,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: String,
    pub approval: Approval,
    pub approvers: Vec<String>,
    pub four_eyes: bool,
    pub theme: Option<String>,
    /// Where this environment's deployments are announced (`notify:`).
    pub notify: Vec<super::safety::Notifier>,
    /// A pending approval expires after this (`approval_timeout`, default 24h).
    pub approval_timeout: std::time::Duration,
}

/// `approval_timeout` when an environment does not set it.
pub const DEFAULT_APPROVAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    /// Where sshd listens (IP or DNS name).
    pub address: String,
    pub port: u16,
    pub user: String,
    pub identity_file: Option<PathBuf>,
    /// known_hosts file used for strict host-key checking.
    pub known_hosts: Option<PathBuf>,
    /// Accept (and record) a host key that is not yet known. Never accepts a changed key.
    pub accept_new_host_key: bool,
    /// The address the host's nginx uses to reach its local containers
    /// (`server BACKEND:PORT` in the upstream). Default `127.0.0.1`.
    pub backend_address: String,
    pub cloud: Option<String>,
    pub region: Option<String>,
    pub environment: String,
    /// A forbidden host is never touched by a rollout.
    pub forbidden: bool,
    /// Where tracks with `port: auto` get their ports on this host (`ports:`).
    pub ports: Option<HostPorts>,
}

/// A host's range for allocated ports and the registry file that records who holds which.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPorts {
    pub range: crate::remote::ports::PortRange,
    /// Absolute path on the host (default `/var/lib/sluice/ports`).
    pub registry: String,
}

/// The default `ports.registry`.
pub const DEFAULT_PORT_REGISTRY: &str = "/var/lib/sluice/ports";

/// A track's port: fixed in the config, or allocated from its host's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    Fixed(u16),
    Auto,
}

impl Port {
    pub fn fixed(self) -> Option<u16> {
        match self {
            Port::Fixed(p) => Some(p),
            Port::Auto => None,
        }
    }
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Port::Fixed(p) => write!(f, "{p}"),
            Port::Auto => f.write_str("auto"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub hosts: Vec<String>,
    /// Image repository; the release version is its tag (`image:version`).
    pub image: String,
    pub nginx: Nginx,
    pub stable: Track,
    pub canary: Track,
    /// The compose command on the hosts: `docker compose` or `docker-compose`.
    pub compose: String,
    pub health: Health,
    pub depends_on: Vec<String>,
    /// Name of the default strategy (a key of `Config::strategies`).
    pub strategy: String,
    /// Weight kept on a 0 % track so it stays observable (0 = really no traffic).
    pub trickle: u32,
    /// Requests sent to the canary before its first traffic step (`warmup:`).
    pub warmup: Option<super::safety::Warmup>,
}

/// NGINX settings. String fields may contain `{host}` and `{service}` placeholders,
/// expanded per host by `Service::expand`.
#[derive(Debug, Clone, PartialEq)]
pub struct Nginx {
    pub upstream_file: String,
    /// The access log in sluice's JSON format, for the nginx-log metric provider.
    pub access_log: Option<String>,
    pub upstream: String,
    pub test: String,
    pub reload: String,
}

/// One compose stack. `project`, `compose_file` and `env_file` may contain `{host}`/`{service}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub project: String,
    pub compose_file: String,
    /// Env file written on the host with `SLUICE_VERSION=...`; default: beside the compose file,
    /// named `<project>.env`.
    pub env_file: Option<String>,
    /// `auto`: allocated from the host's `ports.range` when the stack starts; the compose file
    /// reads it as `${SLUICE_PORT}` (sluice writes it to the env file beside the version).
    pub port: Port,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub path: String,
    pub timeout: Duration,
    pub retries: u32,
    /// Delay before the first retry; doubles on each further retry.
    pub interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finally {
    Pause,
    Promote,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrategyKind {
    /// Automatic steps (percent of traffic on the canary), baking between them.
    Canary {
        steps: Vec<crate::domain::Split>,
        bake: Duration,
        finally: Finally,
    },
    /// The operator sets the canary weight; starts at `initial` percent.
    CanaryManual { initial: crate::domain::Split },
    /// Green beside blue, verified for `verify`, all traffic switched at once, blue kept
    /// for `keep` (instant rollback), then finished like a promotion.
    BlueGreen { verify: Duration, keep: Duration },
    /// Hosts in batches (config order), each switched to the new version and baked.
    Rolling {
        batch: crate::domain::BatchSize,
        bake: Duration,
    },
}

impl StrategyKind {
    /// An automatic canary's steps in percent of traffic (none for the other kinds), for
    /// events and plans that speak in percent.
    pub fn step_percents(&self) -> Vec<u8> {
        match self {
            StrategyKind::Canary { steps, .. } => {
                steps.iter().map(|s| s.canary_percent()).collect()
            }
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    pub name: String,
    pub kind: StrategyKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInconclusive {
    Pause,
    Rollback,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    NginxLog,
    Prometheus { url: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub provider: Provider,
    pub interval: Duration,
    pub window: Duration,
    pub error_rate_max: f64,
    pub p99_max: Duration,
    pub min_requests: u64,
    pub on_inconclusive: OnInconclusive,
    /// Consecutive failed judgements that trigger a rollback.
    pub failure_limit: u32,
    /// Settings of the prometheus provider (defaults fit the lab's demo service).
    pub prometheus: super::analysis_model::Prometheus,
    /// How long the new stable is judged after a promotion (zero: not at all).
    pub watch: Duration,
    /// Canary against stable: how much worse the canary may be.
    pub compare: Option<super::analysis_model::Compare>,
}

/// A service's settings with `{host}`/`{service}` expanded for one host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPaths {
    pub upstream_file: String,
    pub access_log: Option<String>,
    pub upstream: String,
    pub test: String,
    pub reload: String,
    pub stable: Track,
    pub canary: Track,
}

fn expand(template: &str, service: &str, host: &str) -> String {
    template
        .replace("{host}", host)
        .replace("{service}", service)
}

impl Track {
    fn expand(&self, service: &str, host: &str) -> Track {
        Track {
            project: expand(&self.project, service, host),
            compose_file: expand(&self.compose_file, service, host),
            env_file: Some(match &self.env_file {
                Some(f) => expand(f, service, host),
                None => {
                    let file = expand(&self.compose_file, service, host);
                    let dir = match file.rfind('/') {
                        Some(i) => &file[..=i],
                        None => "",
                    };
                    format!("{dir}{}.env", expand(&self.project, service, host))
                }
            }),
            port: self.port,
        }
    }
}

impl Service {
    pub fn expand(&self, host: &str) -> HostPaths {
        let s = &self.name;
        HostPaths {
            upstream_file: expand(&self.nginx.upstream_file, s, host),
            access_log: self.nginx.access_log.as_deref().map(|a| expand(a, s, host)),
            upstream: expand(&self.nginx.upstream, s, host),
            test: expand(&self.nginx.test, s, host),
            reload: expand(&self.nginx.reload, s, host),
            stable: self.stable.expand(s, host),
            canary: self.canary.expand(s, host),
        }
    }
}

impl Config {
    /// The environment of a service: that of its hosts (validation ensures they agree).
    pub fn service_environment(&self, service: &Service) -> Option<&Environment> {
        let host = self.hosts.get(service.hosts.first()?)?;
        self.environments.get(&host.environment)
    }
}
