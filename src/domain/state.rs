//! The deployment state machine: a pure function from (state, transition) to the next state.
//!
//! ```text
//! pending → validating → awaiting-approval → progressing ⇄ paused
//!                      ↘ progressing                 ↘ succeeded | failed | rolled-back | aborted
//! blue/green: progressing → verifying → switched → succeeded   (either may pause; resume
//!             returns to progressing, and the rollout re-enters its phase)
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeploymentState {
    Pending,
    Validating,
    AwaitingApproval,
    Progressing,
    /// Blue/green: green runs beside blue on every host, without traffic, being verified.
    Verifying,
    /// Blue/green: all traffic is on green (or moving there); blue is kept for an instant
    /// rollback.
    Switched,
    Paused,
    Succeeded,
    Failed,
    RolledBack,
    Aborted,
}

/// What can happen to a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transition {
    /// Pre-deploy checks start.
    Validate,
    /// Checks passed; the next stage needs a human decision.
    NeedApproval,
    /// Checks passed (or approval given): traffic may move.
    Proceed,
    /// A human said no, or the operator abandoned the rollout before traffic moved.
    Abort,
    Pause,
    Resume,
    /// Blue/green: green is healthy on every host; its verification starts.
    Verify,
    /// Blue/green: all traffic moves to green on every host at once.
    Switch,
    /// The rollout completed (promoted).
    Succeed,
    /// A check, a host or a stack failed and nothing is left to roll back.
    Fail,
    /// Every host is verified back on stable with the canary stopped.
    RolledBack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a deployment that is {from} cannot {transition}")]
pub struct InvalidTransition {
    pub from: DeploymentState,
    pub transition: Transition,
}

impl DeploymentState {
    pub const ALL: [DeploymentState; 11] = [
        DeploymentState::Pending,
        DeploymentState::Validating,
        DeploymentState::AwaitingApproval,
        DeploymentState::Progressing,
        DeploymentState::Verifying,
        DeploymentState::Switched,
        DeploymentState::Paused,
        DeploymentState::Succeeded,
        DeploymentState::Failed,
        DeploymentState::RolledBack,
        DeploymentState::Aborted,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeploymentState::Succeeded
                | DeploymentState::Failed
                | DeploymentState::RolledBack
                | DeploymentState::Aborted
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::Pending => "pending",
            DeploymentState::Validating => "validating",
            DeploymentState::AwaitingApproval => "awaiting-approval",
            DeploymentState::Progressing => "progressing",
            DeploymentState::Verifying => "verifying",
            DeploymentState::Switched => "switched",
            DeploymentState::Paused => "paused",
            DeploymentState::Succeeded => "succeeded",
            DeploymentState::Failed => "failed",
            DeploymentState::RolledBack => "rolled-back",
            DeploymentState::Aborted => "aborted",
        }
    }

    /// The state after `t`, or why `t` is not allowed now.
    pub fn apply(self, t: Transition) -> Result<DeploymentState, InvalidTransition> {
        use DeploymentState as S;
        use Transition as T;
        let next = match (self, t) {
            (S::Pending, T::Validate) => S::Validating,
            (S::Validating, T::NeedApproval) => S::AwaitingApproval,
            // A production stage in the middle of a rollout asks again.
            (S::Progressing | S::Paused, T::NeedApproval) => S::AwaitingApproval,
            // Blue/green may ask for approval before the switch.
            (S::Verifying, T::NeedApproval) => S::AwaitingApproval,
            (S::Validating | S::AwaitingApproval, T::Proceed) => S::Progressing,
            (S::Pending | S::Validating | S::AwaitingApproval | S::Paused, T::Abort) => S::Aborted,
            (S::Progressing | S::Verifying | S::Switched, T::Pause) => S::Paused,
            (S::Paused, T::Resume) => S::Progressing,
            (S::Progressing, T::Verify) => S::Verifying,
            // From progressing: the switch after a resume (or an approval) re-enters the phase.
            (S::Progressing | S::Verifying, T::Switch) => S::Switched,
            (S::Progressing | S::Switched | S::Paused, T::Succeed) => S::Succeeded,
            (s, T::Fail) if !s.is_terminal() => S::Failed,
            // Rolling back is always allowed while anything may have moved, and is idempotent.
            (s, T::RolledBack) if !s.is_terminal() || s == S::RolledBack => S::RolledBack,
            (from, transition) => return Err(InvalidTransition { from, transition }),
        };
        Ok(next)
    }
}

impl Transition {
    pub const ALL: [Transition; 11] = [
        Transition::Validate,
        Transition::NeedApproval,
        Transition::Proceed,
        Transition::Abort,
        Transition::Pause,
        Transition::Resume,
        Transition::Verify,
        Transition::Switch,
        Transition::Succeed,
        Transition::Fail,
        Transition::RolledBack,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Transition::Validate => "start validating",
            Transition::NeedApproval => "wait for approval",
            Transition::Proceed => "proceed",
            Transition::Abort => "be aborted",
            Transition::Pause => "pause",
            Transition::Resume => "resume",
            Transition::Verify => "start verifying",
            Transition::Switch => "switch traffic",
            Transition::Succeed => "succeed",
            Transition::Fail => "fail",
            Transition::RolledBack => "be rolled back",
        }
    }
}

impl std::fmt::Display for DeploymentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Transition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::DeploymentState as S;
    use super::Transition as T;
    use super::*;

    /// The whole table, written out: every (state, transition) pair not listed is invalid.
    const ALLOWED: &[(S, T, S)] = &[
        (S::Pending, T::Validate, S::Validating),
        (S::Pending, T::Abort, S::Aborted),
        (S::Pending, T::Fail, S::Failed),
        (S::Pending, T::RolledBack, S::RolledBack),
        (S::Validating, T::NeedApproval, S::AwaitingApproval),
        (S::Validating, T::Proceed, S::Progressing),
        (S::Validating, T::Abort, S::Aborted),
        (S::Validating, T::Fail, S::Failed),
        (S::Validating, T::RolledBack, S::RolledBack),
        (S::AwaitingApproval, T::Proceed, S::Progressing),
        (S::AwaitingApproval, T::Abort, S::Aborted),
        (S::AwaitingApproval, T::Fail, S::Failed),
        (S::AwaitingApproval, T::RolledBack, S::RolledBack),
        (S::Progressing, T::NeedApproval, S::AwaitingApproval),
        (S::Progressing, T::Pause, S::Paused),
        (S::Progressing, T::Verify, S::Verifying),
        (S::Progressing, T::Switch, S::Switched),
        (S::Progressing, T::Succeed, S::Succeeded),
        (S::Progressing, T::Fail, S::Failed),
        (S::Progressing, T::RolledBack, S::RolledBack),
        (S::Verifying, T::NeedApproval, S::AwaitingApproval),
        (S::Verifying, T::Pause, S::Paused),
        (S::Verifying, T::Switch, S::Switched),
        (S::Verifying, T::Fail, S::Failed),
        (S::Verifying, T::RolledBack, S::RolledBack),
        (S::Switched, T::Pause, S::Paused),
        (S::Switched, T::Succeed, S::Succeeded),
        (S::Switched, T::Fail, S::Failed),
        (S::Switched, T::RolledBack, S::RolledBack),
        (S::Paused, T::NeedApproval, S::AwaitingApproval),
        (S::Paused, T::Resume, S::Progressing),
        (S::Paused, T::Abort, S::Aborted),
        (S::Paused, T::Succeed, S::Succeeded),
        (S::Paused, T::Fail, S::Failed),
        (S::Paused, T::RolledBack, S::RolledBack),
        (S::RolledBack, T::RolledBack, S::RolledBack),
    ];

    #[test]
    fn every_pair_matches_the_table() {
        for from in S::ALL {
            for t in T::ALL {
                let expected = ALLOWED
                    .iter()
                    .find(|(f, tr, _)| *f == from && *tr == t)
                    .map(|(_, _, to)| *to);
                match (from.apply(t), expected) {
                    (Ok(got), Some(want)) => assert_eq!(got, want, "{from} + {t:?}"),
                    (Err(e), None) => assert_eq!(
                        e,
                        InvalidTransition {
                            from,
                            transition: t
                        }
                    ),
                    (got, want) => panic!("{from} + {t:?}: got {got:?}, table says {want:?}"),
                }
            }
        }
    }

    #[test]
    fn terminal_states_only_accept_idempotent_rollback() {
        for from in S::ALL.into_iter().filter(|s| s.is_terminal()) {
            for t in T::ALL {
                let ok = from.apply(t).is_ok();
                assert_eq!(
                    ok,
                    from == S::RolledBack && t == T::RolledBack,
                    "{from} + {t:?}"
                );
            }
        }
    }

    #[test]
    fn every_state_reaches_a_terminal_state() {
        for from in S::ALL {
            let mut reachable = vec![from];
            let mut i = 0;
            while i < reachable.len() {
                for t in T::ALL {
                    if let Ok(next) = reachable[i].apply(t) {
                        if !reachable.contains(&next) {
                            reachable.push(next);
                        }
                    }
                }
                i += 1;
            }
            assert!(reachable.iter().any(|s| s.is_terminal()), "{from}");
        }
    }

    #[test]
    fn blue_green_walks_verify_switch_succeed_and_re_enters_after_a_pause() {
        let walk = |ts: &[T]| ts.iter().try_fold(S::Pending, |s, t| s.apply(*t));
        use T::*;
        assert_eq!(
            walk(&[Validate, Proceed, Verify, Switch, Succeed]),
            Ok(S::Succeeded)
        );
        assert_eq!(
            walk(&[Validate, Proceed, Verify, Pause, Resume, Verify, Switch]),
            Ok(S::Switched)
        );
        assert_eq!(
            walk(&[Validate, Proceed, Verify, Switch, Pause, Resume, Switch]),
            Ok(S::Switched)
        );
        // Never switched twice in a row, never succeeded straight from verifying.
        assert!(walk(&[Validate, Proceed, Verify, Switch, Switch]).is_err());
        assert!(walk(&[Validate, Proceed, Verify, Succeed]).is_err());
    }

    #[test]
    fn message_names_state_and_transition() {
        let e = S::Succeeded.apply(T::Pause).unwrap_err();
        assert_eq!(e.to_string(), "a deployment that is succeeded cannot pause");
    }
}
