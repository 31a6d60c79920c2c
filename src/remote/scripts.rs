//! The host-side scripts, one `.sh` file each under `scripts/`, checked by `shellcheck`
//! (`lab/test.sh`). Each takes its inputs as positional arguments (see [`Script::args`]);
//! scripts that use the shared functions of `lib.sh` (locks, fencing, helper files) are sent
//! with it in front, since a host keeps no copy to source.

use super::transport::Script;

const LIB: &str = include_str!("scripts/lib.sh");
const COMPOSE: &str = include_str!("scripts/compose.sh");

/// One host script: its file's text, and whether it needs `lib.sh` / `compose.sh` in front.
#[derive(Debug, Clone, Copy)]
pub struct HostScript {
    body: &'static str,
    lib: bool,
    compose: bool,
}

impl HostScript {
    const fn plain(body: &'static str) -> Self {
        HostScript {
            body,
            lib: false,
            compose: false,
        }
    }

    const fn with_lib(body: &'static str) -> Self {
        HostScript {
            body,
            lib: true,
            compose: false,
        }
    }

    const fn with_compose(body: &'static str) -> Self {
        HostScript {
            body,
            lib: true,
            compose: true,
        }
    }

    /// The text sent to the host.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.lib {
            s.push_str(LIB);
            s.push('\n');
        }
        if self.compose {
            s.push_str(COMPOSE);
            s.push('\n');
        }
        s.push_str(self.body);
        s
    }

    /// A [`Script`] named `what` that runs this one with `args` as `$1`, `$2`, …
    pub fn with<'a, I, S>(&self, what: impl Into<std::borrow::Cow<'a, str>>, args: I) -> Script<'a>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Script::new(what, self.text()).args(args)
    }
}

/// Swap a new upstream file in: fenced, hash-checked, tested, reloaded, restored on failure.
pub const APPLY: HostScript = HostScript::with_lib(include_str!("scripts/apply.sh"));
/// The upstream file as hex, then the port registry.
pub const READ_UPSTREAM: HostScript =
    HostScript::with_lib(include_str!("scripts/read_upstream.sh"));
/// The port registry.
pub const READ_REGISTRY: HostScript = HostScript::plain(include_str!("scripts/read_registry.sh"));
/// The registry, the listening sockets and the upstream file, for a port claim.
pub const READ_FOR_CLAIM: HostScript =
    HostScript::with_lib(include_str!("scripts/read_for_claim.sh"));
/// Record a claimed port.
pub const CLAIM_PORT: HostScript = HostScript::with_lib(include_str!("scripts/claim_port.sh"));
/// The configured nginx test.
pub const NGINX_TEST: HostScript = HostScript::plain(include_str!("scripts/nginx_test.sh"));
/// Write the env file's release lines and start the stack.
pub const STACK_UP: HostScript = HostScript::with_compose(include_str!("scripts/stack_up.sh"));
/// Remove the stack (and free an auto port).
pub const STACK_DOWN: HostScript = HostScript::with_compose(include_str!("scripts/stack_down.sh"));
/// Is an image present?
pub const IMAGE_PRESENT: HostScript = HostScript::plain(include_str!("scripts/image_present.sh"));
/// A compose project's containers.
pub const STACK_STATE: HostScript = HostScript::plain(include_str!("scripts/stack_state.sh"));
/// A track's last log lines.
pub const STACK_LOGS: HostScript = HostScript::plain(include_str!("scripts/stack_logs.sh"));
/// One health probe.
pub const HEALTH: HostScript = HostScript::plain(include_str!("scripts/health.sh"));
/// The warm-up.
pub const WARMUP: HostScript = HostScript::plain(include_str!("scripts/warmup.sh"));
/// The listening sockets.
pub const LISTENERS: HostScript = HostScript::plain(include_str!("scripts/listeners.sh"));
/// Free disk space.
pub const DISK_FREE: HostScript = HostScript::plain(include_str!("scripts/disk_free.sh"));

/// Decode the hex that scripts print for files whose bytes must cross unchanged.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The exit codes of the host scripts (the table at the top of `scripts/lib.sh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostExit {
    /// The file (or the port registry) changed since sluice read it.
    Changed,
    /// The nginx test rejected the new file; the previous one was restored.
    TestRejected,
    /// The reload failed; the previous file was restored and reloaded.
    ReloadFailed,
    /// A helper file could not be written.
    WriteFailed,
    /// Another writer held a lock for 30 s.
    Locked,
    /// The precheck (health of the track about to take traffic) failed.
    Unhealthy,
    /// The host has seen a newer fencing token.
    Fenced,
    /// The new file arrived incomplete (the channel dropped); nothing was changed.
    Incomplete,
}

impl HostExit {
    pub const ALL: [HostExit; 8] = [
        HostExit::Changed,
        HostExit::TestRejected,
        HostExit::ReloadFailed,
        HostExit::WriteFailed,
        HostExit::Locked,
        HostExit::Unhealthy,
        HostExit::Fenced,
        HostExit::Incomplete,
    ];

    pub fn code(self) -> i32 {
        match self {
            HostExit::Changed => 10,
            HostExit::TestRejected => 11,
            HostExit::ReloadFailed => 12,
            HostExit::WriteFailed => 13,
            HostExit::Locked => 14,
            HostExit::Unhealthy => 15,
            HostExit::Fenced => 16,
            HostExit::Incomplete => 17,
        }
    }

    /// The meaning of a script's exit code, `None` for 0 and codes outside the table.
    pub fn of(code: i32) -> Option<HostExit> {
        HostExit::ALL.into_iter().find(|e| e.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_round_trip_and_match_the_table_in_lib_sh() {
        for e in HostExit::ALL {
            assert_eq!(HostExit::of(e.code()), Some(e));
            let row = format!("{} ", e.code());
            assert!(LIB.contains(&row), "lib.sh documents exit {}", e.code());
        }
        assert_eq!(HostExit::of(0), None);
        assert_eq!(HostExit::of(1), None);
    }

    #[test]
    fn hex_decodes_every_byte() {
        assert_eq!(unhex("00ff41\n"), Some(vec![0, 0xff, 0x41]));
        assert_eq!(unhex(""), Some(vec![]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
