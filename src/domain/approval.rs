//! Approval rules, pure: who may decide an approval (four-eyes, the approver list) and when a
//! pending approval has expired.

use chrono::{DateTime, Utc};

/// What a decision says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalDecision {
    Approved,
    Rejected,
    Expired,
}

impl ApprovalDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalDecision::Approved => "approved",
            ApprovalDecision::Rejected => "rejected",
            ApprovalDecision::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalDecision> {
        match s {
            "approved" => Some(ApprovalDecision::Approved),
            "rejected" => Some(ApprovalDecision::Rejected),
            "expired" => Some(ApprovalDecision::Expired),
            _ => None,
        }
    }
}

impl std::fmt::Display for ApprovalDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an operator may not decide an approval.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    #[error(
        "four-eyes: {operator} started this deployment and cannot also decide its approval; \
         another approver must (set SLUICE_OPERATOR to who you are)"
    )]
    SameOperator { operator: String },
    #[error("{operator} is not an approver of environment {environment} (approvers: {approvers})")]
    NotListed {
        operator: String,
        environment: String,
        approvers: String,
    },
}

/// The rules of the environment that decide who may approve.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Approvers {
    pub environment: String,
    /// Empty: anyone (but see `four_eyes`).
    pub list: Vec<String>,
    pub four_eyes: bool,
}

/// May `operator` decide an approval that `requested_by` asked for? Four-eyes (on for every
/// approval the risk policy asks for, and where the environment sets it) refuses the requester;
/// a non-empty list refuses anyone not on it.
pub fn may_decide(rules: &Approvers, requested_by: &str, operator: &str) -> Result<(), NotAllowed> {
    if rules.four_eyes && operator == requested_by {
        return Err(NotAllowed::SameOperator {
            operator: operator.to_string(),
        });
    }
    if !rules.list.is_empty() && !rules.list.iter().any(|a| a == operator) {
        return Err(NotAllowed::NotListed {
            operator: operator.to_string(),
            environment: rules.environment.clone(),
            approvers: rules.list.join(", "),
        });
    }
    Ok(())
}

/// A pending approval has expired once `now` reaches `expires_at`.
pub fn expired(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= expires_at
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn prod() -> Approvers {
        Approvers {
            environment: "production".into(),
            list: vec!["alice".into(), "bob".into()],
            four_eyes: true,
        }
    }

    #[test]
    fn the_requester_cannot_approve_under_four_eyes() {
        let e = may_decide(&prod(), "alice", "alice").unwrap_err();
        assert!(matches!(e, NotAllowed::SameOperator { .. }));
        assert!(e.to_string().contains("four-eyes"), "{e}");
    }

    #[test]
    fn an_unlisted_operator_is_refused_and_told_who_may() {
        let e = may_decide(&prod(), "alice", "mallory").unwrap_err();
        assert!(e.to_string().contains("alice, bob"), "{e}");
        assert!(e.to_string().contains("production"), "{e}");
    }

    #[test]
    fn another_listed_operator_may() {
        assert_eq!(may_decide(&prod(), "alice", "bob"), Ok(()));
        assert_eq!(may_decide(&prod(), "ci", "bob"), Ok(()));
    }

    #[test]
    fn without_four_eyes_the_requester_may_if_listed() {
        let mut r = prod();
        r.four_eyes = false;
        assert_eq!(may_decide(&r, "alice", "alice"), Ok(()));
    }

    #[test]
    fn an_empty_list_admits_anyone_but_the_requester() {
        let r = Approvers {
            environment: "staging".into(),
            list: vec![],
            four_eyes: true,
        };
        assert_eq!(may_decide(&r, "alice", "zoe"), Ok(()));
        assert!(may_decide(&r, "alice", "alice").is_err());
    }

    #[test]
    fn expiry_is_at_the_instant_not_before() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        assert!(!expired(t, t - chrono::Duration::milliseconds(1)));
        assert!(expired(t, t));
        assert!(expired(t, t + chrono::Duration::hours(1)));
    }

    #[test]
    fn decisions_round_trip() {
        for d in [
            ApprovalDecision::Approved,
            ApprovalDecision::Rejected,
            ApprovalDecision::Expired,
        ] {
            assert_eq!(ApprovalDecision::parse(d.as_str()), Some(d));
        }
        assert_eq!(ApprovalDecision::parse("maybe"), None);
    }
}

#[cfg(test)]
mod state_tests {
    use crate::domain::{DeploymentState as S, Transition as T};

    /// The path a deployment takes through an approval: it waits after its new version
    /// started (progressing) and before any traffic moves.
    #[test]
    fn the_approval_path_through_the_state_machine() {
        let waiting = S::Pending
            .apply(T::Validate)
            .and_then(|s| s.apply(T::Proceed))
            .and_then(|s| s.apply(T::NeedApproval))
            .unwrap();
        assert_eq!(waiting, S::AwaitingApproval);
        assert_eq!(waiting.apply(T::Proceed), Ok(S::Progressing));
        assert_eq!(waiting.apply(T::Abort), Ok(S::Aborted)); // rejected
        assert_eq!(waiting.apply(T::Fail), Ok(S::Failed)); // expired
        assert_eq!(waiting.apply(T::RolledBack), Ok(S::RolledBack)); // operator rollback
        assert!(waiting.apply(T::Switch).is_err());
        assert!(waiting.apply(T::Succeed).is_err());
    }
}
