//! `environments.NAME.approval_timeout`: how long a pending approval waits before it expires
//! and its deployment ends (default 24 h).

use super::*;

const MAX_APPROVAL_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

pub(super) fn approval_timeout(v: &mut V, f: &Fields) -> Duration {
    v.opt(f, "approval_timeout", DEFAULT_APPROVAL_TIMEOUT, |v, n| {
        let d = v.duration(n, "approval_timeout")?;
        if d < Duration::from_secs(1) || d > MAX_APPROVAL_TIMEOUT {
            v.err(
                n,
                "approval_timeout must be between 1s and 30 days (720h); a pending approval \
                 expires after it and its deployment ends",
            );
            return None;
        }
        Some(d)
    })
}
