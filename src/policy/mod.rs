//! Safety policy, pure: the risk score, deploy windows and constraints. The engine gathers what
//! it knows (clock, history, load, rollouts in flight) and asks [`evaluate`] whether a deploy
//! may start; the answer carries every refusal with its rule, until when, and the assessment.

pub mod constraints;
pub mod facts;
pub mod risk;

use serde::Serialize;

pub use crate::domain::deploy_policy::{Freeze, Level, Policy, RiskPolicy, TrafficGate};
pub use crate::domain::window_parse as parse;
pub use crate::domain::windows;
pub use constraints::{Load, Refusal};
pub use risk::{Assessment, Factor, HistoryStats};
pub use windows::{HighRiskDays, Span, Until, Window, WorkingHours};

/// The policy's answer for one deploy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub assessment: Assessment,
    /// Empty: the deploy may start.
    pub refusals: Vec<Refusal>,
    /// The risk policy asks for an approval before traffic moves (why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

/// Judge a deploy of `service`: its risk, and every rule that refuses it.
pub fn evaluate(
    config: &crate::config::Config,
    service: &str,
    known: &facts::Known,
    load: &Load,
) -> Decision {
    let f = facts::gather(config, service, known);
    let assessment = risk::assess(&f);
    let mut refusals = constraints::check(config, service, known.now, load);
    refusals.extend(constraints::risk(&config.policy, &assessment));
    let approval = constraints::risk_approval(&config.policy, &assessment);
    Decision {
        assessment,
        refusals,
        approval,
    }
}
