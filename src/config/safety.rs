//! Settings for notifications, pre-deploy checks and the canary warm-up (validated in
//! `validate/notify.rs` and `validate/checks.rs`).

use std::time::Duration;

/// Engine events a notifier can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    Started,
    Step,
    ApprovalNeeded,
    Promoted,
    RolledBack,
    Failed,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 6] = [
        NotifyEvent::Started,
        NotifyEvent::Step,
        NotifyEvent::ApprovalNeeded,
        NotifyEvent::Promoted,
        NotifyEvent::RolledBack,
        NotifyEvent::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NotifyEvent::Started => "started",
            NotifyEvent::Step => "step",
            NotifyEvent::ApprovalNeeded => "approval_needed",
            NotifyEvent::Promoted => "promoted",
            NotifyEvent::RolledBack => "rolled_back",
            NotifyEvent::Failed => "failed",
        }
    }
}

/// Where a notifier sends. Secrets are never held here: `*_env` name the environment
/// variables that hold the webhook URL or bot token, read when sluice starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifierKind {
    /// Slack incoming webhook: POST `{"text": ...}`.
    Slack { url_env: String },
    /// Mattermost incoming webhook: POST `{"text": ...}`.
    Mattermost { url_env: String },
    /// Telegram bot API: POST `{api_url}/bot{TOKEN}/sendMessage` with `chat_id` and `text`.
    Telegram {
        token_env: String,
        chat_id: String,
        api_url: String,
    },
    /// A generic JSON webhook: POST the event's fields as JSON.
    Webhook { url_env: String },
}

impl NotifierKind {
    pub fn name(&self) -> &'static str {
        match self {
            NotifierKind::Slack { .. } => "slack",
            NotifierKind::Mattermost { .. } => "mattermost",
            NotifierKind::Telegram { .. } => "telegram",
            NotifierKind::Webhook { .. } => "webhook",
        }
    }

    /// The environment variable holding this notifier's secret.
    pub fn secret_env(&self) -> &str {
        match self {
            NotifierKind::Slack { url_env }
            | NotifierKind::Mattermost { url_env }
            | NotifierKind::Webhook { url_env } => url_env,
            NotifierKind::Telegram { token_env, .. } => token_env,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    pub kind: NotifierKind,
    /// The events it wants; all of them when the config lists none.
    pub events: Vec<NotifyEvent>,
    /// `FILE:LINE:COL` of its entry, for messages about it.
    pub at: String,
}

/// Pre-deploy checks (top-level `checks:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checks {
    /// Free space needed on each host's docker data directory and compose directories.
    pub disk_min: Option<u64>,
}

/// How the canary is warmed up before its first traffic step (`services.*.warmup`).
#[derive(Debug, Clone, PartialEq)]
pub struct Warmup {
    pub requests: u32,
    pub concurrency: u32,
    pub path: String,
    /// Per-request timeout; a request that takes longer counts as an error.
    pub timeout: Duration,
    /// When set, a canary whose warm-up P99 is above this gets no traffic.
    pub p99_max: Option<Duration>,
}
