//! A [`Remote`] that runs the host scripts with the local `sh`, for tests on any machine (no
//! SSH, no Docker): point a service's files into a temporary directory, replace nginx's test
//! and reload commands with harmless ones, and the same scripts run as on a host.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::io::AsyncWriteExt;

use super::transport::{Output, RawOutput, Remote, RemoteError, Script};

/// Runs every script locally, whatever the host's name.
#[derive(Debug, Clone, Default)]
pub struct LocalShell {
    /// Directories put in front of `PATH` (e.g. stand-ins for `docker` or `curl`).
    path: Vec<PathBuf>,
    /// Directories put in front of `PATH` for one host only (e.g. a `date` that runs ahead).
    host_path: Vec<(String, PathBuf)>,
    /// Environment variables set for every script.
    env: Vec<(String, String)>,
    /// Send only this many bytes of each script's input, as a dropped channel would.
    cut_stdin: Option<usize>,
}

impl LocalShell {
    pub fn new() -> Self {
        LocalShell::default()
    }

    /// Look up commands in `dir` first.
    pub fn with_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.path.push(dir.into());
        self
    }

    /// Look up commands in `dir` first when running for `host`.
    pub fn with_host_path(mut self, host: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        self.host_path.push((host.into(), dir.into()));
        self
    }

    /// Set `key=value` in every script's environment (e.g. `SLUICE_LOCK_DIR`, where the
    /// scripts put the nginx instance lock instead of `/tmp`).
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Cut every script's input after `bytes`, as a connection dropped mid-upload would.
    pub fn cut_stdin_at(mut self, bytes: usize) -> Self {
        self.cut_stdin = Some(bytes);
        self
    }

    async fn run_local(&self, host: &str, script: Script<'_>) -> Result<RawOutput, RemoteError> {
        let what = script.what.to_string();
        let fail = |detail: String| RemoteError::Session {
            host: host.to_string(),
            what: what.clone(),
            detail,
        };
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&script.script)
            .arg("sluice")
            .args(&script.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if script.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let mut dirs: Vec<PathBuf> = self
            .host_path
            .iter()
            .filter(|(h, _)| h == host)
            .map(|(_, d)| d.clone())
            .collect();
        dirs.extend(self.path.iter().cloned());
        if !dirs.is_empty() {
            dirs.extend(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            ));
            let joined = std::env::join_paths(dirs).map_err(|e| fail(e.to_string()))?;
            cmd.env("PATH", joined);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("cannot run sh: {e}")))?;
        if let Some(data) = &script.stdin {
            let data = match self.cut_stdin {
                Some(n) => &data[..n.min(data.len())],
                None => &data[..],
            };
            if let Some(mut stdin) = child.stdin.take() {
                // A script that exits before reading all of it is not an error here.
                let _ = stdin.write_all(data).await;
                let _ = stdin.shutdown().await;
            }
        }
        let limit = script.timeout.unwrap_or(Duration::from_secs(60));
        match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok(RawOutput {
                code: out.status.code().unwrap_or(-1),
                stdout: out.stdout,
                stderr: out.stderr,
            }),
            Ok(Err(e)) => Err(fail(e.to_string())),
            Err(_) => Err(RemoteError::Timeout {
                host: host.to_string(),
                what,
                after: limit,
            }),
        }
    }
}

impl Remote for LocalShell {
    fn run<'a>(
        &'a self,
        host: &'a str,
        script: Script<'a>,
    ) -> BoxFuture<'a, Result<Output, RemoteError>> {
        async move { self.run_local(host, script).await.map(RawOutput::lossy) }.boxed()
    }

    fn run_raw<'a>(
        &'a self,
        host: &'a str,
        script: Script<'a>,
    ) -> BoxFuture<'a, Result<RawOutput, RemoteError>> {
        self.run_local(host, script).boxed()
    }

    fn connect<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, Result<(), RemoteError>> {
        async { Ok(()) }.boxed()
    }
}
