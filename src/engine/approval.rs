//! Approvals at the engine's edge: whether a deployment needs one (its environment requires
//! it, or the risk policy does) and deciding one under the environment's rules (four-eyes,
//! approver list), for the CLI and the console alike.

use std::sync::Arc;

use super::event::{Emitter, EventKind};
use super::rollout::ApprovalNeed;
use crate::config::{Approval as Required, Config, Service, DEFAULT_APPROVAL_TIMEOUT};
use crate::domain::approval::{may_decide, ApprovalDecision, Approvers};
use crate::policy::Decision;
use crate::store::{Approval, DecideError, Store};

/// The approval this deployment waits for, if any.
pub fn need(
    config: &Config,
    svc: &Service,
    decision: &Decision,
    store: &Arc<Store>,
    deployment: u64,
    operator: &str,
    em: &Emitter,
) -> Option<ApprovalNeed> {
    let env = config.service_environment(svc);
    let by_env = env.is_some_and(|e| e.approval == Required::Required);
    if !by_env && decision.approval.is_none() {
        return None;
    }
    if let (false, Some(why)) = (by_env, &decision.approval) {
        em.emit(EventKind::Info {
            message: format!("{}: {why}; the deployment waits for one", svc.name),
        });
    }
    let a = &decision.assessment;
    Some(ApprovalNeed {
        store: store.clone(),
        deployment,
        environment: env.map(|e| e.name.clone()).unwrap_or_default(),
        requested_by: operator.to_string(),
        timeout: env.map_or(DEFAULT_APPROVAL_TIMEOUT, |e| e.approval_timeout),
        risk_score: Some(a.score),
        risk_level: Some(a.level.to_string()),
    })
}

/// Who may decide approvals in `environment`. An approval the risk policy asked for (the
/// environment itself needs none) is always four-eyes.
pub fn rules(config: &Config, environment: &str) -> Approvers {
    match config.environments.get(environment) {
        Some(e) => Approvers {
            environment: environment.to_string(),
            list: e.approvers.clone(),
            four_eyes: e.four_eyes || e.approval != Required::Required,
        },
        None => Approvers {
            environment: environment.to_string(),
            list: Vec::new(),
            four_eyes: true,
        },
    }
}

/// Why a decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DecideRefused {
    #[error("{0}; approval #{1} stays pending")]
    NotAllowed(crate::domain::approval::NotAllowed, u64),
    #[error("rejecting needs a reason: --reason \"why\"")]
    NoReason,
    #[error(transparent)]
    Decide(#[from] DecideError),
}

/// Decide approval `id` as `operator`, under its environment's rules. The waiting deployment
/// (in whichever process) sees the decision on its next poll.
pub fn decide(
    config: &Config,
    store: &Store,
    id: u64,
    decision: ApprovalDecision,
    operator: &str,
    reason: Option<&str>,
) -> Result<Approval, DecideRefused> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if decision == ApprovalDecision::Rejected && reason.is_none() {
        return Err(DecideRefused::NoReason);
    }
    let a = store
        .approval(id)
        .map_err(DecideError::from)?
        .ok_or(DecideError::Unknown(id))?;
    if a.decision.is_none() {
        may_decide(&rules(config, &a.environment), &a.requested_by, operator)
            .map_err(|e| DecideRefused::NotAllowed(e, id))?;
    }
    Ok(store.decide_approval(id, decision, operator, reason)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewApproval;
    use std::time::Duration;

    fn lab() -> Config {
        crate::config::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lab.yaml"),
        )
        .expect("the lab config is valid")
    }

    fn ask(store: &Store, environment: &str, by: &str) -> u64 {
        store
            .request_approval(&NewApproval {
                deployment: 1,
                service: "demo".into(),
                environment: environment.into(),
                stage: "first traffic step".into(),
                requested_by: by.into(),
                timeout: Duration::from_secs(60),
                risk_score: None,
                risk_level: None,
            })
            .unwrap()
            .id
    }

    #[test]
    fn production_rules_refuse_the_requester_and_strangers_and_rejects_need_a_reason() {
        let c = lab();
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let id = ask(&s, "production", "alice");
        let e = decide(&c, &s, id, ApprovalDecision::Approved, "alice", None).unwrap_err();
        assert!(e.to_string().contains("four-eyes"), "{e}");
        let e = decide(&c, &s, id, ApprovalDecision::Approved, "mallory", None).unwrap_err();
        assert!(e.to_string().contains("alice, bob"), "{e}");
        let e = decide(&c, &s, id, ApprovalDecision::Rejected, "bob", Some("  ")).unwrap_err();
        assert!(matches!(e, DecideRefused::NoReason));
        let a = decide(&c, &s, id, ApprovalDecision::Approved, "bob", None).unwrap();
        assert_eq!(a.decided_by.as_deref(), Some("bob"));
        let e = decide(&c, &s, id, ApprovalDecision::Approved, "bob", None).unwrap_err();
        assert!(e.to_string().contains("already approved"), "{e}");
    }

    #[test]
    fn a_risk_approval_outside_production_is_four_eyes_but_open_to_anyone_else() {
        let c = lab();
        assert!(rules(&c, "staging").four_eyes);
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let id = ask(&s, "staging", "ci");
        assert!(decide(&c, &s, id, ApprovalDecision::Approved, "ci", None).is_err());
        assert!(decide(&c, &s, id, ApprovalDecision::Approved, "zoe", None).is_ok());
    }
}
