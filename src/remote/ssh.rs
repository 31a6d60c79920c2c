//! A pool of multiplexed SSH sessions, one per host, over the system `ssh` (ControlMaster).
//!
//! Connect once, reuse for every command, reconnect when the master died. Host keys are
//! checked strictly against the host's configured known_hosts file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::transport::{Output, RawOutput, Remote, RemoteError, Script};
use crate::config::{Config, Host};

struct Slot {
    host: Host,
    session: Mutex<Option<Arc<Session>>>,
}

pub struct SshPool {
    slots: HashMap<String, Slot>,
    connect_timeout: Duration,
    command_timeout: Duration,
    control_dir: PathBuf,
}

impl SshPool {
    pub fn new(config: &Config) -> SshPool {
        let slots = config
            .hosts
            .values()
            .map(|h| {
                (
                    h.name.clone(),
                    Slot {
                        host: h.clone(),
                        session: Mutex::new(None),
                    },
                )
            })
            .collect();
        SshPool {
            slots,
            connect_timeout: config.ssh.connect_timeout,
            command_timeout: config.ssh.command_timeout,
            // Control sockets must fit in sun_path (108 bytes): keep them short, under /tmp.
            control_dir: std::env::temp_dir(),
        }
    }

    fn slot(&self, host: &str) -> Result<&Slot, RemoteError> {
        self.slots
            .get(host)
            .ok_or_else(|| RemoteError::UnknownHost {
                host: host.to_string(),
            })
    }

    async fn session(&self, slot: &Slot) -> Result<Arc<Session>, RemoteError> {
        let mut guard = slot.session.lock().await;
        if let Some(s) = guard.as_ref() {
            // A local round trip to the mux master; cheap, and tells us whether it still lives.
            if s.check().await.is_ok() {
                return Ok(s.clone());
            }
            tracing::info!(host = %slot.host.name, "SSH master gone; reconnecting");
            *guard = None;
        }
        let session = Arc::new(self.open(&slot.host).await?);
        *guard = Some(session.clone());
        Ok(session)
    }

    async fn open(&self, host: &Host) -> Result<Session, RemoteError> {
        let mut b = SessionBuilder::default();
        b.user(host.user.clone())
            .port(host.port)
            .connect_timeout(self.connect_timeout)
            .server_alive_interval(Duration::from_secs(5))
            .control_directory(&self.control_dir)
            .known_hosts_check(if host.accept_new_host_key {
                KnownHosts::Add
            } else {
                KnownHosts::Strict
            });
        if let Some(k) = &host.identity_file {
            b.keyfile(k);
        }
        if let Some(k) = &host.known_hosts {
            b.user_known_hosts_file(k);
        }
        let connect = b.connect_mux(&host.address);
        // ConnectTimeout bounds TCP connect only; bound the whole handshake as well.
        let limit = self.connect_timeout + Duration::from_secs(5);
        match tokio::time::timeout(limit, connect).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(self.connect_error(host, e).await),
            Err(_) => Err(RemoteError::Connect {
                host: host.name.clone(),
                target: target(host),
                detail: format!("no SSH handshake within {limit:?}"),
            }),
        }
    }

    async fn connect_error(&self, host: &Host, e: openssh::Error) -> RemoteError {
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        let detail = detail.trim().replace('\n', " ");
        let key_problem = [
            "Host key verification failed",
            "IDENTIFICATION HAS CHANGED",
            "host key is known",
        ]
        .iter()
        .any(|m| detail.contains(m));
        if key_problem {
            let known_hosts = host
                .known_hosts
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.ssh/known_hosts".to_string());
            let why = if detail.contains("CHANGED")
                || detail.contains("Host key verification failed") && !detail.contains("is known")
            {
                "it does not match the key recorded for this host"
            } else {
                "no key is recorded for this host"
            };
            return RemoteError::HostKey {
                host: host.name.clone(),
                fingerprint: fingerprint(host).await,
                known_hosts,
                detail: why.to_string(),
            };
        }
        RemoteError::Connect {
            host: host.name.clone(),
            target: target(host),
            detail,
        }
    }

    async fn run_on(&self, host: &str, script: Script<'_>) -> Result<Output, RemoteError> {
        self.run_raw_on(host, script).await.map(RawOutput::lossy)
    }

    async fn run_raw_on(&self, host: &str, script: Script<'_>) -> Result<RawOutput, RemoteError> {
        let slot = self.slot(host)?;
        let session = self.session(slot).await?;
        let limit = script.timeout.unwrap_or(self.command_timeout);
        let what = script.what.to_string();
        let session_err = |detail: String| RemoteError::Session {
            host: host.to_string(),
            what: what.clone(),
            detail,
        };
        let fut = async {
            let mut cmd = Session::to_raw_command(session.clone(), script.command_line());
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.stdin(if script.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
            let mut child = cmd.spawn().await.map_err(|e| session_err(e.to_string()))?;
            if let Some(data) = &script.stdin {
                if let Some(mut stdin) = child.stdin().take() {
                    stdin
                        .write_all(data)
                        .await
                        .map_err(|e| session_err(e.to_string()))?;
                    stdin
                        .shutdown()
                        .await
                        .map_err(|e| session_err(e.to_string()))?;
                }
            }
            let out = child
                .wait_with_output()
                .await
                .map_err(|e| session_err(e.to_string()))?;
            Ok(RawOutput {
                code: out.status.code().unwrap_or(-1),
                stdout: out.stdout,
                stderr: out.stderr,
            })
        };
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => {
                // The remote side may still be running; drop the session so the next command
                // starts from a fresh master rather than a wedged one.
                *slot.session.lock().await = None;
                Err(RemoteError::Timeout {
                    host: host.to_string(),
                    what,
                    after: limit,
                })
            }
        }
    }
}

impl Remote for SshPool {
    fn run<'a>(
        &'a self,
        host: &'a str,
        script: Script<'a>,
    ) -> BoxFuture<'a, Result<Output, RemoteError>> {
        self.run_on(host, script).boxed()
    }

    fn run_raw<'a>(
        &'a self,
        host: &'a str,
        script: Script<'a>,
    ) -> BoxFuture<'a, Result<RawOutput, RemoteError>> {
        self.run_raw_on(host, script).boxed()
    }

    fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), RemoteError>> {
        async move {
            let slot = self.slot(host)?;
            self.session(slot).await.map(|_| ())
        }
        .boxed()
    }
}

fn target(host: &Host) -> String {
    format!("{}@{}:{}", host.user, host.address, host.port)
}

/// The fingerprint(s) the host offers now, for an operator to compare out of band.
async fn fingerprint(host: &Host) -> String {
    let scan = tokio::process::Command::new("ssh-keyscan")
        .args(["-T", "3", "-p", &host.port.to_string(), &host.address])
        .stderr(std::process::Stdio::null())
        .output()
        .await;
    let Ok(scan) = scan else {
        return "(unknown: ssh-keyscan not available)".to_string();
    };
    let Ok(mut keygen) = tokio::process::Command::new("ssh-keygen")
        .args(["-l", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        return "(unknown: ssh-keygen not available)".to_string();
    };
    if let Some(mut stdin) = keygen.stdin.take() {
        let _ = stdin.write_all(&scan.stdout).await;
    }
    match keygen.wait_with_output().await {
        Ok(out) => {
            let prints: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    let mut parts = l.split_whitespace();
                    let fp = parts.nth(1)?;
                    let kind = l.rsplit(' ').next().unwrap_or("");
                    Some(format!("{fp} {kind}"))
                })
                .collect();
            if prints.is_empty() {
                "(unknown: the host offered no key)".to_string()
            } else {
                prints.join(", ")
            }
        }
        Err(_) => "(unknown)".to_string(),
    }
}
