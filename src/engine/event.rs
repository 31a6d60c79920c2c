//! What the engine tells the world. Serialized one per line by `deploy --json`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::domain::DeploymentState;
use crate::domain::{StackState, TrackName};

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
    /// The operator set the canary's share by hand (`weight`, `+`/`-`); every host verified.
    WeightSet {
        canary_percent: u8,
    },
    /// Blue/green: green is healthy on every host beside blue and is verified (health, and
    /// analysis when configured) until `until`, without traffic.
    VerifyStarted {
        hosts: Vec<String>,
        until: Option<DateTime<Utc>>,
    },
    /// Blue/green: every host verified with all traffic on green; blue is kept running until
    /// `keep_until` so that a rollback is instant.
    TrafficSwitched {
        hosts: Vec<String>,
        keep_until: Option<DateTime<Utc>>,
    },
    /// Rolling: batch `batch` of `of` starts the new version on `hosts`.
    BatchStarted {
        batch: usize,
        of: usize,
        hosts: Vec<String>,
    },
    /// Rolling: the batch's hosts are verified on the new version (100 %); baking until
    /// `bake_until`.
    BatchReached {
        batch: usize,
        of: usize,
        hosts: Vec<String>,
        bake_until: Option<DateTime<Utc>>,
    },
    /// The deployment waits for an approval before traffic moves (`sluice approve ID`).
    ApprovalRequested {
        id: u64,
        stage: String,
        environment: String,
        requested_by: String,
        expires_at: DateTime<Utc>,
        /// "61 high", when the risk was assessed.
        #[serde(skip_serializing_if = "Option::is_none")]
        risk: Option<String>,
    },
    /// An approval was decided: approved, rejected or expired.
    ApprovalDecided {
        id: u64,
        decision: crate::domain::approval::ApprovalDecision,
        by: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
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
        /// Each comparison: metric, value, threshold, whether it held.
        checks: Vec<crate::analysis::judge::Check>,
    },
    HostFailed {
        host: String,
        error: String,
    },
    /// A stack that failed its health check: its last container log lines, control characters
    /// removed. For the operator's eyes (console, `deploy` output) only: never journaled,
    /// audited or notified, and not written to the log, because apps that crash at start print
    /// DSNs and tokens.
    ContainerLogs {
        host: String,
        track: TrackName,
        lines: Vec<String>,
    },
    /// The canary's warm-up on one host, before it gets any traffic.
    WarmUp {
        host: String,
        requests: u32,
        errors: u32,
        p50_ms: f64,
        p99_ms: f64,
        max_ms: f64,
        /// Within `warmup.p99_max` (when set) and without errors.
        passed: bool,
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
    /// After a promotion the new stable is judged until `until`.
    Watching {
        version: String,
        until: Option<DateTime<Utc>>,
        provider: String,
    },
    WatchPassed {
        version: String,
        /// Passing judgements during the watch.
        passes: u32,
    },
    /// Nothing conclusive over the whole watch (no traffic, metrics down).
    WatchInconclusive {
        version: String,
        reason: String,
    },
    /// The new stable failed; every host goes back to the previous version.
    WatchFailed {
        version: String,
        previous: Option<String>,
        reason: String,
    },
    Failed {
        error: String,
    },
    Info {
        message: String,
    },
    /// The deployment's risk, assessed before anything touches a host.
    Risk {
        score: u8,
        level: crate::policy::Level,
        factors: Vec<crate::policy::Factor>,
        mitigations: Vec<String>,
    },
    /// Policy refused a deploy; nothing was changed.
    PolicyRefused {
        version: String,
        refusals: Vec<crate::policy::Refusal>,
        override_hint: String,
    },
    /// An operator overrode these policy rules, for this reason (for the audit).
    PolicyOverridden {
        operator: String,
        reason: String,
        rules: Vec<crate::policy::Refusal>,
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
        match &kind {
            EventKind::ContainerLogs { host, track, lines } => tracing::info!(
                service = %self.service, deployment = ?self.deployment,
                "{host}: {} container log lines of the {track} stack shown to the operator (not logged)",
                lines.len()
            ),
            _ => {
                tracing::info!(service = %self.service, deployment = ?self.deployment, event = ?kind)
            }
        }
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
