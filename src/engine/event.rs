//! What the engine tells the world. Serialized one per line by `deploy --json`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::domain::DeploymentState;
use crate::target::host::{StackState, TrackName};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub service: String,
    /// The deployment this belongs to, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<u64>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    DeployStarted {
        version: String,
        strategy: String,
        operator: String,
        hosts: Vec<String>,
        /// Canary percent of each automatic step (empty for a manual canary).
        steps: Vec<u8>,
    },
    State {
        from: DeploymentState,
        to: DeploymentState,
    },
    /// What a host really has, read back from it; `read_at` is when the read started, so an
    /// observation that raced with a newer change cannot overwrite it.
    HostObserved {
        host: String,
        read_at: DateTime<Utc>,
        stable_weight: u32,
        canary_weight: u32,
        canary_percent: Option<u8>,
        stable: StackState,
        canary: StackState,
    },
    StackStarted {
        host: String,
        track: TrackName,
        version: String,
    },
    StackStopped {
        host: String,
        track: TrackName,
    },
    HealthOk {
        host: String,
        track: TrackName,
    },
    /// Weights written and read back on one host.
    WeightsVerified {
        host: String,
        stable_weight: u32,
        canary_weight: u32,
        canary_percent: u8,
    },
    StepStarted {
        step: usize,
        of: usize,
        canary_percent: u8,
    },
    /// Every host carries this split, verified; traffic bakes until `until`.
    StepReached {
        step: usize,
        of: usize,
        canary_percent: u8,
        bake_until: Option<DateTime<Utc>>,
    },
    /// Steps done; waiting for an operator to promote or roll back.
    AwaitingDecision {
        canary_percent: u8,
    },
    /// A judgement over one track's window, with the numbers it rested on.
    Analysis {
        track: TrackName,
        verdict: crate::analysis::Verdict,
        requests: u64,
        error_rate: f64,
        p50_ms: f64,
        p99_ms: f64,
        window_secs: u64,
        provider: String,
        summary: String,
    },
    HostFailed {
        host: String,
        error: String,
    },
    RollbackStarted {
        reason: String,
    },
    /// Every host verified at stable 100 %.
    TrafficOnStable {
        hosts: Vec<String>,
    },
    RolledBack {
        reason: String,
    },
    Promoted {
        version: String,
    },
    Failed {
        error: String,
    },
    Info {
        message: String,
    },
}

/// Durable recording of events (the journal and the audit trail). Called synchronously before
/// the event is published, so a transition is committed before anything acts on it.
pub trait EventSink: Send + Sync {
    fn record(&self, e: &Event);
    /// The stable version validation found on the hosts (what a rollback returns to).
    fn previous(&self, _version: &str) {}
}

/// Sends events for one service (and deployment) on the engine's broadcast channel.
#[derive(Clone)]
pub struct Emitter {
    tx: broadcast::Sender<Event>,
    service: String,
    deployment: Option<u64>,
    sink: Option<std::sync::Arc<dyn EventSink>>,
}

impl Emitter {
    pub fn new(tx: broadcast::Sender<Event>, service: &str, deployment: Option<u64>) -> Self {
        Emitter {
            tx,
            service: service.to_string(),
            deployment,
            sink: None,
        }
    }

    /// Record every event in `sink` before publishing it.
    pub fn with_sink(mut self, sink: std::sync::Arc<dyn EventSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Journal the stable version found on the hosts.
    pub fn previous(&self, version: &str) {
        if let Some(s) = &self.sink {
            s.previous(version);
        }
    }

    pub fn emit(&self, kind: EventKind) {
        tracing::info!(service = %self.service, deployment = ?self.deployment, event = ?kind);
        let event = Event {
            at: Utc::now(),
            service: self.service.clone(),
            deployment: self.deployment,
            kind,
        };
        if let Some(s) = &self.sink {
            s.record(&event);
        }
        // No subscriber is fine: the engine works headless and unobserved.
        let _ = self.tx.send(event);
    }

    pub fn service(&self) -> &str {
        &self.service
    }
}
