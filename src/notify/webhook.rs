//! Generic JSON webhook: POST the notification's fields (see [`Message`]) as one JSON object.

use super::{Message, Request, Secret};

pub fn request(url: &Secret, m: &Message) -> Request {
    Request {
        url: url.clone(),
        body: serde_json::to_value(m).unwrap_or_else(|_| serde_json::json!({ "text": m.text })),
    }
}
