//! The command line: `sluice` opens the console; subcommands run headless for scripts and CI.
//!
//! Exit codes: 0 success; 1 the operation failed or was rolled back; 2 bad usage or an invalid
//! configuration; 3 a deployment is paused waiting for an operator's decision (`deploy
//! --exit-on-pause`), or `status` found a canary carrying traffic that nobody watches; 4 policy
//! refused the deploy (nothing was changed).

mod approvals;
mod deploy;
pub use crate::identity::operator;
mod colour;
mod nginx_plan;
mod ops;
mod ports;
mod store;
mod store_status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use crate::engine::wording::human;

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Safe rollouts for docker compose services behind NGINX"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "SLUICE_CONFIG",
        default_value = "sluice.yaml"
    )]
    pub config: PathBuf,
    /// Serve sluice's own metrics at http://ADDR/metrics (Prometheus text), e.g. 127.0.0.1:9464.
    #[arg(long, global = true, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Key bindings (YAML); default: keys.yaml beside the configuration, if present.
    #[arg(long, global = true, env = "SLUICE_KEYS")]
    pub keys: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Validate the configuration; every error is printed as FILE:LINE:COL: message.
    Check,
    /// Run a rollout headless and exit when it ends.
    Deploy {
        service: String,
        #[arg(long)]
        version: String,
        /// Strategy name (default: the service's).
        #[arg(long)]
        strategy: Option<String>,
        /// Refuse unless the service runs in this environment.
        #[arg(long)]
        env: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// One JSON event per line on stdout.
        #[arg(long)]
        json: bool,
        /// Start even if policy refuses (blackout, freeze, risk…); the reason is recorded.
        #[arg(long = "override", value_name = "REASON")]
        override_reason: Option<String>,
        /// Exit 3 when the rollout waits for a decision, leaving its canary UNWATCHED (by
        /// default deploy stays, judging the canary, until it is promoted or rolled back).
        #[arg(long)]
        exit_on_pause: bool,
    },
    /// Weights and versions read back from every host.
    Status {
        service: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stable to 100 % now and stop the canary.
    Rollback {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        service: Option<String>,
        /// Every service in the configuration.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value = "operator rollback")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Continue a deployment left paused by a crash (recovered) through its remaining steps.
    Resume {
        service: String,
        #[arg(long)]
        json: bool,
        /// Exit 3 when the rollout waits for a decision (see `deploy --exit-on-pause`).
        #[arg(long)]
        exit_on_pause: bool,
    },
    /// Take over a deployment nobody drives (UNWATCHED in `status`): hold its lease and judge
    /// its canary where it is, rolling it back on a breach, until it is promoted or rolled back.
    TakeOver {
        service: String,
        #[arg(long)]
        json: bool,
    },
    /// Make the running canary the new stable.
    Promote {
        service: String,
        #[arg(long)]
        json: bool,
    },
    /// Set the running canary's share of traffic, in percent.
    Weight {
        service: String,
        percent: u8,
        #[arg(long)]
        json: bool,
    },
    /// List the approvals that wait for a decision.
    Approvals {
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending stage (four-eyes: not the operator who started the deployment).
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a pending stage.
    Reject {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Every host's port registry: which `port: auto` track holds which port.
    Ports {
        #[arg(long)]
        json: bool,
    },
    /// Service leases: who acts on which service, since when, for what.
    Lock {
        #[command(subcommand)]
        command: Option<LockCmd>,
        #[arg(long)]
        json: bool,
    },
    /// Deployments from the journal, newest first.
    History {
        service: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The audit trail; `--verify` checks its hash chain (exit 1 naming the first bad record).
    Audit {
        service: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        verify: bool,
    },
    /// NGINX helpers.
    Nginx {
        #[command(subcommand)]
        command: NginxCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum LockCmd {
    /// Break a service's lease, whoever holds it (audited). Its holder's token is refused by
    /// the hosts as soon as a newer holder acts.
    Break {
        service: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NginxCmd {
    /// Print FILE as sluice would rewrite it (only the named weights change).
    Plan {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        upstream: String,
        /// ADDR=N, e.g. 127.0.0.1:8082=10 (0 = no traffic: `down`). Repeat for each server.
        #[arg(long = "weight", required = true)]
        weights: Vec<String>,
    },
}

pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_PAUSED: u8 = 3;
/// Policy refused the deploy (blackout, freeze, risk…); nothing was changed.
pub const EXIT_REFUSED: u8 = 4;

/// Run a subcommand. `None` (the console) is handled by the binary.
pub fn run(config: PathBuf, cmd: Cmd) -> ExitCode {
    // Commands that only read and print end at once when their reader goes away (`| head`);
    // commands that change hosts keep going (their event printer ignores a closed stdout).
    if matches!(
        cmd,
        Cmd::Status { .. }
            | Cmd::Ports { .. }
            | Cmd::History { .. }
            | Cmd::Audit { .. }
            | Cmd::Approvals { .. }
            | Cmd::Lock { command: None, .. }
            | Cmd::Nginx { .. }
            | Cmd::Check
    ) {
        // SAFETY: only sets the process's disposition for SIGPIPE back to the default; no
        // handler (and no Rust code) runs on the signal.
        #[allow(unsafe_code)]
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cmd {
        Cmd::Check => check(&config),
        Cmd::Nginx {
            command:
                NginxCmd::Plan {
                    file,
                    upstream,
                    weights,
                },
        } => nginx_plan::run(&file, &upstream, &weights),
        Cmd::Approvals { json } => match load(&config) {
            Some(cfg) => approvals::list(&cfg, json),
            None => ExitCode::from(EXIT_USAGE),
        },
        Cmd::Approve { id, reason } => match load(&config) {
            Some(cfg) => approvals::run(
                &cfg,
                &id,
                crate::domain::approval::ApprovalDecision::Approved,
                reason.as_deref(),
                &operator(),
            ),
            None => ExitCode::from(EXIT_USAGE),
        },
        Cmd::Reject { id, reason } => match load(&config) {
            Some(cfg) => approvals::run(
                &cfg,
                &id,
                crate::domain::approval::ApprovalDecision::Rejected,
                reason.as_deref(),
                &operator(),
            ),
            None => ExitCode::from(EXIT_USAGE),
        },
        Cmd::Lock { command, json } => {
            let Some(cfg) = load(&config) else {
                return ExitCode::from(EXIT_USAGE);
            };
            match command {
                None => store::locks(&cfg, json),
                Some(LockCmd::Break { service, reason }) => {
                    store::break_lock(&cfg, &service, &reason, &operator())
                }
            }
        }
        Cmd::History { service, json } => match load(&config) {
            Some(cfg) => store::history(&cfg, service.as_deref(), json),
            None => ExitCode::from(EXIT_USAGE),
        },
        Cmd::Audit {
            service,
            json,
            verify,
        } => match load(&config) {
            Some(cfg) => store::audit(&cfg, service.as_deref(), json, verify),
            None => ExitCode::from(EXIT_USAGE),
        },
        other => {
            let Some(cfg) = load(&config) else {
                return ExitCode::from(EXIT_USAGE);
            };
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("sluice: cannot start the async runtime: {e}");
                    return ExitCode::from(EXIT_FAILED);
                }
            };
            rt.block_on(ops::run(cfg, other))
        }
    }
}

/// `sluice check` of the configuration file (`main` adds the console's keymap file).
pub fn check(path: &std::path::Path) -> ExitCode {
    match crate::config::load(path) {
        Ok(cfg) => {
            println!(
                "{}: ok ({} hosts, {} services, {} strategies)",
                path.display(),
                cfg.hosts.len(),
                cfg.services.len(),
                cfg.strategies.len()
            );
            // Secrets are read at start; here a missing one is a warning, so that the file
            // can be checked where the secrets are not (CI, a laptop).
            if let Err(missing) = crate::notify::resolve(&cfg, |v| std::env::var(v).ok()) {
                for m in missing {
                    eprintln!("warning: {m}");
                }
            }
            for svc in cfg.services.values() {
                let file = &svc.nginx.upstream_file;
                if let Some(w) =
                    crate::remote::nginx::layout::upstream_file_warning(&svc.name, file)
                {
                    eprintln!("warning: {w}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("{}: {} error(s)", path.display(), diags.len());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Load and validate the configuration, printing every error.
pub fn load(path: &std::path::Path) -> Option<crate::config::Config> {
    match crate::config::load(path) {
        Ok(c) => Some(c),
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!(
                "sluice: {} has {} error(s); fix them (see `sluice check`)",
                path.display(),
                diags.len()
            );
            None
        }
    }
}
