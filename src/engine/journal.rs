//! The engine's recorder: turns events into journal rows and audit records, committed before
//! the event is published (see [`EventSink`]). A write that fails stops the holder from acting:
//! the service's fence is dropped, so no host command goes out unrecorded.

use std::sync::Arc;

use super::event::{Event, EventKind, EventSink};
use crate::domain::DeploymentState;
use crate::remote::fence::Fences;
use crate::store::{JournalChange, NewAudit, Store};

pub struct Recorder {
    pub store: Arc<Store>,
    pub fences: Fences,
    pub service: String,
    pub operator: String,
    /// The journaled deployment these events belong to, if any.
    pub deployment: Option<u64>,
    /// The lease token the holder acts with.
    pub token: u64,
}

impl Recorder {
    fn journal(&self, change: JournalChange) {
        let Some(id) = self.deployment else { return };
        // A holder that lost its lease no longer speaks for the deployment: its new holder does.
        if self.fences.token(&self.service) != Ok(self.token) {
            return;
        }
        if let Err(e) = self.store.record(id, &change) {
            self.stop(format!(
                "the journal could not be written ({e}); stopped acting"
            ));
        }
    }

    fn audit(&self, action: &str, from: &str, to: &str, result: &str, detail: String) {
        let r = NewAudit {
            actor: self.operator.clone(),
            action: action.to_string(),
            service: self.service.clone(),
            from: from.to_string(),
            to: to.to_string(),
            result: result.to_string(),
            detail: match self.deployment {
                Some(id) if detail.is_empty() => format!("deployment #{id}"),
                Some(id) => format!("deployment #{id}: {detail}"),
                None => detail,
            },
        };
        if let Err(e) = self.store.audit(&r) {
            self.stop(format!(
                "the audit trail could not be written ({e}); stopped acting"
            ));
        }
    }

    fn stop(&self, why: String) {
        tracing::error!(service = %self.service, "{why}");
        self.fences.lose(&self.service, self.token, why);
    }
}

impl EventSink for Recorder {
    fn previous(&self, version: &str) {
        self.journal(JournalChange::Previous(version.to_string()));
    }

    fn record(&self, e: &Event) {
        match &e.kind {
            EventKind::DeployStarted {
                version, strategy, ..
            } => self.audit(
                "deploy-started",
                "",
                version,
                "started",
                format!("strategy {strategy}"),
            ),
            EventKind::State { from, to } => {
                self.journal(JournalChange::State(*to));
                if to.is_terminal() {
                    self.audit(
                        "deploy-ended",
                        from.as_str(),
                        to.as_str(),
                        to.as_str(),
                        String::new(),
                    );
                }
            }
            EventKind::StepStarted {
                step,
                of,
                canary_percent,
            } => self.journal(JournalChange::Step {
                step: *step as u32,
                of: *of as u32,
                canary_percent: *canary_percent,
            }),
            EventKind::WeightsVerified {
                host,
                stable_weight,
                canary_weight,
                canary_percent,
            } => {
                self.journal(JournalChange::Note(format!(
                    "{host}: verified stable={stable_weight} canary={canary_weight}"
                )));
                self.audit(
                    "weight",
                    "",
                    &format!("canary {canary_percent} %"),
                    "verified",
                    format!("{host}: stable={stable_weight} canary={canary_weight}"),
                );
            }
            EventKind::RollbackStarted { reason } => {
                self.journal(JournalChange::Split(0));
                self.audit("rollback", "", "stable", "started", reason.clone());
            }
            EventKind::RolledBack { reason } => {
                self.audit("rollback", "", "stable", "ok", reason.clone());
                self.close(DeploymentState::RolledBack);
            }
            EventKind::Promoted { version } => {
                self.audit("promote", "", version, "ok", String::new());
                self.close(DeploymentState::Succeeded);
            }
            EventKind::Failed { error } => {
                self.journal(JournalChange::Note(format!("failed: {error}")));
                self.audit("failure", "", "", "failed", error.clone());
            }
            // Every judgement, with the numbers it rested on.
            EventKind::Analysis {
                track,
                verdict,
                requests,
                error_rate,
                p99_ms,
                window_secs,
                provider,
                summary,
                ..
            } => self.journal(JournalChange::Note(format!(
                "analysis {track}: {verdict:?} ({provider}, {window_secs}s window, {requests} \
                 requests, error rate {:.2} %, P99 {p99_ms:.0} ms) {summary}",
                error_rate * 100.0
            ))),
            EventKind::Risk { score, level, .. } => {
                self.journal(JournalChange::Note(format!("risk {score}/100 {level}")))
            }
            EventKind::PolicyOverridden {
                operator,
                reason,
                rules,
            } => self.audit(
                "policy-override",
                "",
                "",
                "overridden",
                format!(
                    "{operator}: {reason}; rules: {}",
                    rules
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(" | ")
                ),
            ),
            _ => {}
        }
    }
}

impl Recorder {
    /// A standalone promote or rollback that finished a recovered deployment closes it. (A
    /// running rollout closes its own with a state event.)
    fn close(&self, to: DeploymentState) {
        let Some(id) = self.deployment else { return };
        if let Ok(Some(d)) = self.store.deployment(id) {
            if !d.state.is_terminal() {
                self.journal(JournalChange::State(to));
            }
        }
    }
}
