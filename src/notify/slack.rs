//! Slack incoming webhook: POST `{"text": …}` to the webhook URL. The text is mrkdwn, in which
//! `<…>` makes links and mentions (`<!channel>`) and `&` starts an entity: those three are
//! escaped, so a reason read from a host can neither ping a channel nor forge a link.

use super::{Message, Request, Secret};

pub fn request(url: &Secret, m: &Message) -> Request {
    Request {
        url: url.clone(),
        body: serde_json::json!({ "text": escape(&m.text) }),
    }
}

/// Slack's escaping for message text: `&` `<` `>` as `&amp;` `&lt;` `&gt;` (nothing else).
/// Mattermost reads the same escapes (its webhooks are Slack-compatible).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_mentions_and_entities_are_escaped() {
        assert_eq!(
            escape("<!channel> a & b <http://evil|click> -> ok"),
            "&lt;!channel&gt; a &amp; b &lt;http://evil|click&gt; -&gt; ok"
        );
        assert_eq!(escape("`sluice approve 12`"), "`sluice approve 12`");
    }
}
