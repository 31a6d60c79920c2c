//! Safety policy, pure: the risk score, deploy windows and constraints. The engine gathers what
//! it knows (clock, history, load, rollouts in flight) and asks [`evaluate`] whether a deploy
//! may start; the answer carries every refusal with its rule, until when, and the assessment.

pub mod constraints;
pub mod facts;
pub mod parse;
pub mod risk;
pub mod windows;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

pub use constraints::{Load, Refusal};
pub use risk::{Assessment, Factor, HistoryStats, Level};
pub use windows::{HighRiskDays, Span, Until, Window, WorkingHours};

/// The `policy:` section of the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The operator's time zone: working hours, high-risk days and windows without their own.
    pub timezone: Tz,
    pub working_hours: WorkingHours,
    pub high_risk_days: HighRiskDays,
    /// Deploys are refused inside these.
    pub blackouts: Vec<Window>,
    /// Deploys inside these are riskier (the time factor).
    pub business_critical: Vec<Window>,
    /// Services whose own deploys and whose dependents' deploys weigh more.
    pub critical: Vec<String>,
    pub max_concurrent: u32,
    pub traffic_gate: Option<TrafficGate>,
    pub freeze: Vec<Freeze>,
    pub risk: RiskPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timezone: Tz::UTC,
            working_hours: WorkingHours::default(),
            high_risk_days: HighRiskDays::default(),
            blackouts: Vec::new(),
            business_critical: Vec::new(),
            critical: Vec::new(),
            max_concurrent: 10,
            traffic_gate: None,
            freeze: Vec::new(),
            risk: RiskPolicy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrafficGate {
    /// Do not start while the service takes more than this many requests per second.
    pub max_rps: f64,
    /// When no recent measurement exists: start anyway (false) or refuse (true).
    pub refuse_unknown: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Freeze {
    pub service: String,
    pub reason: Option<String>,
    /// The freeze lifts at this instant (never, when absent).
    pub until: Option<DateTime<Utc>>,
}

/// `risk: { approval: high, refuse: critical }`; `None` is `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskPolicy {
    pub approval: Option<Level>,
    pub refuse: Option<Level>,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        RiskPolicy {
            approval: Some(Level::High),
            refuse: Some(Level::Critical),
        }
    }
}

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
