//! Slack incoming webhook: POST `{"text": …}` to the webhook URL.

use super::{Message, Request, Secret};

pub fn request(url: &Secret, m: &Message) -> Request {
    Request {
        url: url.clone(),
        body: serde_json::json!({ "text": m.text }),
    }
}
