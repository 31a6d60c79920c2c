//! The seam between the engine and hosts: run a shell script on a named host.
//!
//! The SSH pool implements it for real hosts, [`super::local::LocalShell`] runs the same
//! scripts with the local `sh` for tests, and tests of pure engine logic may implement it with
//! a recording double. Scripts are the files of [`super::scripts`]; their inputs travel as
//! arguments, each quoted with [`quote`] on the command line.

use std::borrow::Cow;
use std::time::Duration;

use futures::future::BoxFuture;

/// What a remote script printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// The last non-empty lines of stderr (or stdout when stderr is empty), for messages;
    /// control characters removed (the text came from a host).
    pub fn tail(&self, lines: usize) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        crate::sanitize::text(&all[all.len().saturating_sub(lines)..].join("\n"))
    }
}

/// What a remote script printed, byte for byte, and how it ended: for output that is not text
/// or whose byte positions matter (the access-log follower counts its cursor in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawOutput {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl RawOutput {
    /// The text view [`Remote::run`] gives (invalid UTF-8 replaced).
    pub fn lossy(self) -> Output {
        Output {
            code: self.code,
            stdout: String::from_utf8_lossy(&self.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("host {host}: unknown host (not in the configuration)")]
    UnknownHost { host: String },
    #[error(
        "host {host}: host key {fingerprint} is not trusted ({detail}); \
         check it out of band, then add it to {known_hosts} (or set accept_new_host_key: true for a new host)"
    )]
    HostKey {
        host: String,
        fingerprint: String,
        known_hosts: String,
        detail: String,
    },
    #[error("host {host}: cannot connect over SSH to {target}: {detail}")]
    Connect {
        host: String,
        target: String,
        detail: String,
    },
    #[error("host {host}: `{what}` did not finish within {after:?}; the connection was dropped and will be re-opened")]
    Timeout {
        host: String,
        what: String,
        after: Duration,
    },
    #[error("host {host}: SSH session failed while running `{what}`: {detail}")]
    Session {
        host: String,
        what: String,
        detail: String,
    },
}

impl RemoteError {
    pub fn host(&self) -> &str {
        match self {
            RemoteError::UnknownHost { host }
            | RemoteError::HostKey { host, .. }
            | RemoteError::Connect { host, .. }
            | RemoteError::Timeout { host, .. }
            | RemoteError::Session { host, .. } => host,
        }
    }
}

/// A script to run: `what` names it in messages, `script` is POSIX sh, run as
/// `sh -c SCRIPT sluice ARGS…` so that its inputs arrive as positional parameters (`$1`…),
/// never inside its text.
#[derive(Debug, Clone)]
pub struct Script<'a> {
    pub what: Cow<'a, str>,
    pub script: String,
    pub args: Vec<String>,
    pub stdin: Option<Vec<u8>>,
    /// Overrides the configured command timeout.
    pub timeout: Option<Duration>,
}

impl<'a> Script<'a> {
    pub fn new(what: impl Into<Cow<'a, str>>, script: impl Into<String>) -> Self {
        Script {
            what: what.into(),
            script: script.into(),
            args: Vec::new(),
            stdin: None,
            timeout: None,
        }
    }

    /// Append positional arguments (`$1`, `$2`, … in order).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command line that runs the script with its arguments, every word quoted.
    pub fn command_line(&self) -> String {
        let mut line = format!("sh -c {} sluice", quote(&self.script));
        for a in &self.args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        line
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}

pub trait Remote: Send + Sync {
    /// Run `script` with `sh` on `host`; a non-zero exit is an `Ok(Output)`, not an error.
    fn run<'a>(
        &'a self,
        host: &'a str,
        script: Script<'a>,
    ) -> BoxFuture<'a, Result<Output, RemoteError>>;

    /// As [`Remote::run`], with stdout and stderr as the bytes the script wrote. The default
    /// re-encodes `run`'s text (enough for test doubles that only produce text); the SSH pool
    /// returns the bytes themselves.
    fn run_raw<'a>(
        &'a self,
        host: &'a str,
        script: Script<'a>,
    ) -> BoxFuture<'a, Result<RawOutput, RemoteError>> {
        Box::pin(async move {
            let out = self.run(host, script).await?;
            Ok(RawOutput {
                code: out.code,
                stdout: out.stdout.into_bytes(),
                stderr: out.stderr.into_bytes(),
            })
        })
    }

    /// Make sure a session to `host` is open (connect, verify the host key).
    fn connect<'a>(&'a self, host: &'a str) -> BoxFuture<'a, Result<(), RemoteError>>;
}

/// Quote one word for a POSIX shell. Every value that reaches a remote shell goes through here.
pub fn quote(word: &str) -> Cow<'_, str> {
    shell_escape::unix::escape(Cow::Borrowed(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_neutralises_metacharacters() {
        assert_eq!(quote("plain-name_1.2"), "plain-name_1.2");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("x'; rm -rf /"), "'x'\\''; rm -rf /'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn arguments_are_quoted_words_after_the_script() {
        let s = Script::new("t", "echo \"$1\"").args(["it's", "a b"]);
        assert_eq!(
            s.command_line(),
            r#"sh -c 'echo "$1"' sluice 'it'\''s' 'a b'"#
        );
    }

    #[test]
    fn tail_prefers_stderr() {
        let o = Output {
            code: 1,
            stdout: "out".into(),
            stderr: "a\n\nb\nc\n".into(),
        };
        assert_eq!(o.tail(2), "b\nc");
        let o = Output {
            code: 1,
            stdout: String::new(),
            stderr: "nginx: \u{1b}[31m[emerg]\u{1b}[0m bad\n".into(),
        };
        assert_eq!(o.tail(1), "nginx: [emerg] bad");
    }
}
