//! The deploy policy as configured (`policy:`): windows, limits, freezes and the risk levels
//! that ask for approval or refuse. Plain data, validated by `config`, judged by `policy`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::windows::{HighRiskDays, Window, WorkingHours};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn of(score: u8) -> Level {
        match score {
            0..25 => Level::Low,
            25..50 => Level::Medium,
            50..75 => Level::High,
            _ => Level::Critical,
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "low" => Some(Level::Low),
            "medium" => Some(Level::Medium),
            "high" => Some(Level::High),
            "critical" => Some(Level::Critical),
            _ => None,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        })
    }
}
