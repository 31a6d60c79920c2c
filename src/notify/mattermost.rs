//! Mattermost incoming webhook: POST `{"text": …, "username": "sluice"}` to the webhook URL
//! (Slack-compatible; `username` shows only when the server allows overrides).

use super::{Message, Request, Secret};

pub fn request(url: &Secret, m: &Message) -> Request {
    Request {
        url: url.clone(),
        // Slack-compatible: the same `&<>` escaping keeps a reason from mentioning or linking.
        body: serde_json::json!({ "text": super::slack::escape(&m.text), "username": "sluice" }),
    }
}
