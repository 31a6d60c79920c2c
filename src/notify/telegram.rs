//! Telegram bot API: POST `{api_url}/bot{TOKEN}/sendMessage` with `chat_id` and `text`
//! (plain text: no parse mode, so nothing in a reason can break the markup).

use super::{Message, Request, Secret};

pub fn request(api_url: &str, token: &Secret, chat_id: &str, m: &Message) -> Request {
    let url = format!(
        "{}/bot{}/sendMessage",
        api_url.trim_end_matches('/'),
        token.expose()
    );
    Request {
        url: token.derive(url),
        body: serde_json::json!({
            "chat_id": chat_id,
            "text": m.text,
            "disable_web_page_preview": true,
        }),
    }
}
