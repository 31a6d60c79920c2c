//! From engine events to notifications: which event a notifier can ask for, and a message
//! that is useful at 3 a.m. (service, environment, version, step/split, operator, reason,
//! the canary's latest numbers). Pure: the dispatcher feeds it events.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::analysis::Verdict;
use crate::config::NotifyEvent;
use crate::domain::TrackName;
use crate::engine::{Event, EventKind};

/// One notification, as sent (the generic webhook posts exactly these fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub event: NotifyEvent,
    pub at: DateTime<Utc>,
    pub service: String,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// `[step, of]` for a step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<[usize; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_percent: Option<u8>,
    /// Why it rolled back or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The canary's latest judgement, e.g. `pass: 0.4 % errors, P99 120 ms over 812 requests`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<String>,
    /// The risk assessment, when the policy module reports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk: Option<String>,
    /// The human text (what Slack, Mattermost and Telegram show).
    pub text: String,
}

/// What is known about a service's deployment in flight, from its earlier events.
#[derive(Debug, Clone, Default)]
struct Known {
    deployment: Option<u64>,
    version: Option<String>,
    strategy: Option<String>,
    operator: Option<String>,
    hosts: Vec<String>,
    canary_percent: Option<u8>,
    analysis: Option<String>,
}

/// Folds the event stream into notifications.
#[derive(Debug, Default)]
pub struct Tracker {
    services: HashMap<String, Known>,
}

impl Tracker {
    /// The notification this event makes, if any. `environment` is the service's.
    pub fn on_event(&mut self, e: &Event, environment: &str) -> Option<Message> {
        let k = self.services.entry(e.service.clone()).or_default();
        if e.deployment.is_some() && k.deployment != e.deployment {
            *k = Known {
                deployment: e.deployment,
                ..Known::default()
            };
        }
        let mut step = None;
        let mut reason = None;
        let mut risk = None;
        let event = match &e.kind {
            EventKind::DeployStarted {
                version,
                strategy,
                operator,
                hosts,
                ..
            } => {
                k.version = Some(version.clone());
                k.strategy = Some(strategy.clone());
                k.operator = Some(operator.clone());
                k.hosts = hosts.clone();
                k.canary_percent = Some(0);
                NotifyEvent::Started
            }
            EventKind::StepReached {
                step: s,
                of,
                canary_percent,
                ..
            } => {
                k.canary_percent = Some(*canary_percent);
                step = Some([*s, *of]);
                NotifyEvent::Step
            }
            EventKind::WeightSet { canary_percent } => {
                k.canary_percent = Some(*canary_percent);
                NotifyEvent::Step
            }
            EventKind::WeightsVerified { canary_percent, .. } => {
                k.canary_percent = Some(*canary_percent);
                return None;
            }
            EventKind::AwaitingDecision { canary_percent } => {
                k.canary_percent = Some(*canary_percent);
                NotifyEvent::ApprovalNeeded
            }
            EventKind::ApprovalRequested {
                id,
                stage,
                requested_by,
                expires_at,
                risk: r,
                ..
            } => {
                risk = r.clone();
                reason = Some(format!(
                    "approval #{id} before the {stage}, asked by {requested_by}, expires {}: \
                     `sluice approve {id}` or `sluice reject {id} --reason R`",
                    expires_at.format("%Y-%m-%d %H:%M UTC")
                ));
                NotifyEvent::ApprovalNeeded
            }
            EventKind::Analysis {
                track: TrackName::Canary,
                verdict,
                requests,
                error_rate,
                p99_ms,
                ..
            } => {
                let v = match verdict {
                    Verdict::Pass => "pass",
                    Verdict::Fail => "FAIL",
                    Verdict::Inconclusive => "inconclusive",
                };
                k.analysis = Some(format!(
                    "{v}: {:.1} % errors, P99 {p99_ms:.0} ms over {requests} requests",
                    error_rate * 100.0
                ));
                return None;
            }
            EventKind::Promoted { version } => {
                k.version = Some(version.clone());
                k.canary_percent = None;
                NotifyEvent::Promoted
            }
            EventKind::RolledBack { reason: r } => {
                reason = Some(r.clone());
                NotifyEvent::RolledBack
            }
            EventKind::Failed { error } => {
                reason = Some(error.clone());
                NotifyEvent::Failed
            }
            _ => return None,
        };
        let k = k.clone();
        let mut m = Message {
            event,
            at: e.at,
            service: e.service.clone(),
            environment: environment.to_string(),
            deployment: e.deployment.or(k.deployment),
            version: k.version,
            strategy: k.strategy,
            operator: k.operator,
            hosts: k.hosts,
            step,
            canary_percent: k.canary_percent,
            reason,
            analysis: k.analysis,
            risk,
            text: String::new(),
        };
        // Reasons carry error text read from hosts: no control characters in a notification.
        m.reason = m.reason.as_deref().map(crate::sanitize::text);
        m.text = crate::sanitize::text(&text(&m));
        Some(m)
    }
}

/// Keep a reason readable in a chat line: its first lines, at most ~600 characters.
fn short(s: &str) -> String {
    let mut out: String = s.lines().take(6).collect::<Vec<_>>().join("\n");
    if out.chars().count() > 600 {
        out = out.chars().take(600).collect::<String>() + "…";
    }
    out
}

/// The human text of a notification.
pub fn text(m: &Message) -> String {
    let who = m
        .version
        .as_deref()
        .map_or(m.service.clone(), |v| format!("{} {v}", m.service));
    let env = &m.environment;
    let head = match m.event {
        NotifyEvent::Started => format!("🚀 {who}: deployment started in {env}"),
        NotifyEvent::Step => match (m.step, m.canary_percent) {
            (Some([s, of]), Some(p)) => {
                format!("➡️ {who} in {env}: step {s}/{of}, canary at {p} % of traffic")
            }
            (None, Some(p)) => format!("🎚️ {who} in {env}: canary set by hand to {p} % of traffic"),
            _ => format!("➡️ {who} in {env}: next step"),
        },
        NotifyEvent::ApprovalNeeded
            if m.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("approval #")) =>
        {
            format!("✋ {who} in {env} needs an approval before traffic moves")
        }
        NotifyEvent::ApprovalNeeded => format!(
            "✋ {who} in {env} waits for a decision (canary at {} %): promote or roll back",
            m.canary_percent.unwrap_or(0)
        ),
        NotifyEvent::Promoted => format!("✅ {who} promoted in {env}: it is the new stable"),
        NotifyEvent::RolledBack => format!("↩️ {who} ROLLED BACK in {env}: traffic is on stable"),
        NotifyEvent::Failed => format!("❌ {who} FAILED in {env}"),
    };
    let mut lines = vec![head];
    if let Some(r) = &m.reason {
        lines.push(format!("reason: {}", short(r)));
    }
    let mut facts = Vec::new();
    if let Some(d) = m.deployment {
        facts.push(format!("deployment #{d}"));
    }
    if let Some(s) = &m.strategy {
        facts.push(format!("strategy {s}"));
    }
    if let Some(o) = &m.operator {
        facts.push(format!("by {o}"));
    }
    if !m.hosts.is_empty() {
        facts.push(format!("hosts {}", m.hosts.join(", ")));
    }
    if !facts.is_empty() {
        lines.push(facts.join(" · "));
    }
    if let Some(a) = &m.analysis {
        lines.push(format!("canary analysis: {a}"));
    }
    if let Some(r) = &m.risk {
        lines.push(format!("risk: {r}"));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(deployment: Option<u64>, kind: EventKind) -> Event {
        Event {
            at: Utc::now(),
            service: "api".into(),
            deployment,
            kind,
        }
    }

    #[test]
    fn a_rollback_says_what_who_where_and_why() {
        let mut t = Tracker::default();
        let started = t
            .on_event(
                &ev(
                    Some(7),
                    EventKind::DeployStarted {
                        version: "1.2.0".into(),
                        strategy: "canary-auto".into(),
                        operator: "alice".into(),
                        hosts: vec!["web-1".into(), "web-2".into()],
                        steps: vec![10, 40],
                    },
                ),
                "production",
            )
            .unwrap();
        assert_eq!(started.event, NotifyEvent::Started);
        let step = t
            .on_event(
                &ev(
                    Some(7),
                    EventKind::StepReached {
                        step: 2,
                        of: 2,
                        canary_percent: 40,
                        bake_until: None,
                    },
                ),
                "production",
            )
            .unwrap();
        assert!(
            step.text.contains("step 2/2, canary at 40 %"),
            "{}",
            step.text
        );
        assert!(t
            .on_event(
                &ev(
                    Some(7),
                    EventKind::Analysis {
                        track: TrackName::Canary,
                        verdict: Verdict::Fail,
                        requests: 812,
                        error_rate: 0.125,
                        p50_ms: 10.0,
                        p99_ms: 830.0,
                        window_secs: 60,
                        provider: "nginx-log".into(),
                        summary: String::new(),
                        checks: Vec::new(),
                    }
                ),
                "production"
            )
            .is_none());
        let rb = t
            .on_event(
                &ev(
                    Some(7),
                    EventKind::RolledBack {
                        reason: "analysis of the canary: error rate 12.5 % > 2 %".into(),
                    },
                ),
                "production",
            )
            .unwrap();
        assert_eq!(rb.event, NotifyEvent::RolledBack);
        for want in [
            "api 1.2.0 ROLLED BACK in production",
            "reason: analysis of the canary",
            "deployment #7",
            "by alice",
            "web-1, web-2",
            "FAIL: 12.5 % errors, P99 830 ms over 812 requests",
        ] {
            assert!(rb.text.contains(want), "missing {want:?} in {}", rb.text);
        }
        assert_eq!(rb.canary_percent, Some(40));
    }

    #[test]
    fn a_new_deployment_forgets_the_last_one() {
        let mut t = Tracker::default();
        let start = |v: &str| {
            ev(
                Some(if v == "1" { 1 } else { 2 }),
                EventKind::DeployStarted {
                    version: v.into(),
                    strategy: "s".into(),
                    operator: "o".into(),
                    hosts: vec![],
                    steps: vec![],
                },
            )
        };
        t.on_event(&start("1"), "e");
        t.on_event(
            &ev(Some(1), EventKind::AwaitingDecision { canary_percent: 10 }),
            "e",
        );
        t.on_event(&start("2"), "e");
        let f = t
            .on_event(&ev(Some(2), EventKind::Failed { error: "x".into() }), "e")
            .unwrap();
        assert_eq!(f.version.as_deref(), Some("2"));
        assert_eq!(f.canary_percent, Some(0));
    }

    #[test]
    fn a_weight_set_by_hand_is_announced_as_a_step() {
        let mut t = Tracker::default();
        t.on_event(
            &ev(
                Some(3),
                EventKind::DeployStarted {
                    version: "1.2.0".into(),
                    strategy: "canary-manual".into(),
                    operator: "alice".into(),
                    hosts: vec![],
                    steps: vec![],
                },
            ),
            "staging",
        );
        let m = t
            .on_event(
                &ev(Some(3), EventKind::WeightSet { canary_percent: 50 }),
                "staging",
            )
            .unwrap();
        assert_eq!(m.event, NotifyEvent::Step);
        assert!(
            m.text.contains("canary set by hand to 50 % of traffic"),
            "{}",
            m.text
        );
    }

    #[test]
    fn an_approval_request_notifies_with_the_command_and_the_risk() {
        let mut t = Tracker::default();
        let m = t
            .on_event(
                &ev(
                    Some(3),
                    EventKind::ApprovalRequested {
                        id: 12,
                        stage: "first traffic step".into(),
                        environment: "production".into(),
                        requested_by: "alice".into(),
                        expires_at: Utc::now(),
                        risk: Some("61 high".into()),
                    },
                ),
                "production",
            )
            .expect("a notification");
        assert_eq!(m.event, NotifyEvent::ApprovalNeeded);
        assert!(m.text.contains("needs an approval"), "{}", m.text);
        assert!(m.text.contains("`sluice approve 12`"), "{}", m.text);
        assert!(m.text.contains("risk: 61 high"), "{}", m.text);
    }

    #[test]
    fn other_events_are_quiet() {
        let mut t = Tracker::default();
        assert!(t
            .on_event(
                &ev(
                    None,
                    EventKind::Info {
                        message: "x".into()
                    }
                ),
                "e"
            )
            .is_none());
    }
}
