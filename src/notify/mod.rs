//! Notifications: Slack and Mattermost (incoming webhooks), Telegram (bot API) and a generic
//! JSON webhook, configured per environment (`environments.*.notify`). The dispatcher
//! subscribes to the engine's events and sends in the background with bounded retries; a
//! failing or hanging notifier never blocks or fails a rollout.
//!
//! Secrets (webhook URLs, bot tokens) come only from environment variables named in the
//! configuration; they are held in [`Secret`] and never reach logs, events or messages.

pub mod dispatcher;
pub mod http;
mod mattermost;
pub mod message;
mod secret;
mod slack;
mod telegram;
pub mod url_rule;
mod webhook;

pub use dispatcher::{attach, resolve, Dispatcher, MissingSecret, Settings, Target};
pub use http::{Reqwest, Transport};
pub use message::{Message, Tracker};
pub use secret::Secret;

use crate::config::NotifierKind;

/// An HTTP request a notifier makes: POST `url` with a JSON `body`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: Secret,
    pub body: serde_json::Value,
}

/// Build the request for one notification (pure).
pub fn request(kind: &NotifierKind, secret: &Secret, m: &Message) -> Request {
    match kind {
        NotifierKind::Slack { .. } => slack::request(secret, m),
        NotifierKind::Mattermost { .. } => mattermost::request(secret, m),
        NotifierKind::Telegram {
            chat_id, api_url, ..
        } => telegram::request(api_url, secret, chat_id, m),
        NotifierKind::Webhook { .. } => webhook::request(secret, m),
    }
}
