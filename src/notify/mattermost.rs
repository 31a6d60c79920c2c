//! Mattermost incoming webhook: POST `{"text": …, "username": "sluice"}` to the webhook URL
//! (Slack-compatible; `username` shows only when the server allows overrides).

use super::{Message, Request, Secret};

pub fn request(url: &Secret, m: &Message) -> Request {
    Request {
        url: url.clone(),
        body: serde_json::json!({ "text": m.text, "username": "sluice" }),
    }
}
