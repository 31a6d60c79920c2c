//! `environments.*.notify`: where an environment's deployments are announced. Webhook URLs
//! and bot tokens never live in the file: each notifier names the environment variable that
//! holds its secret (`url_env`, `token_env`), read when sluice starts.

use super::*;
use crate::config::safety::*;

const NOTIFIER_KEYS: &[&str] = &[
    "kind",
    "url_env",
    "token_env",
    "chat_id",
    "api_url",
    "events",
    // Accepted only to say where a secret belongs instead.
    "url",
    "token",
];

const KINDS: &[&str] = &["slack", "mattermost", "telegram", "webhook"];

/// An environment variable name: `[A-Z_][A-Z0-9_]*`.
pub fn is_env_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && c.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn env_name(v: &mut V, n: &Node, what: &str) -> Option<String> {
    let s = v.string(n, what)?;
    if is_env_name(&s) {
        Some(s)
    } else {
        // Not echoed: what was written here may be the secret itself.
        let hint = if s.contains(':') || s.contains('/') {
            "; it looks like a URL or token: remove it from this file (and rotate it if the file was shared)"
        } else {
            ""
        };
        v.err(
            n,
            format!(
                "{what} must name an environment variable: capitals, digits and `_`, \
                 e.g. SLUICE_SLACK_URL; the secret itself goes in that variable, never in this file{hint}"
            ),
        );
        None
    }
}

fn events(v: &mut V, n: &Node) -> Vec<NotifyEvent> {
    let Value::Seq(items) = &n.value else {
        v.err(
            n,
            format!(
                "notify events must be a list such as [started, promoted, failed], found {}",
                n.value.found()
            ),
        );
        return Vec::new();
    };
    let names: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.name()).collect();
    let mut out = Vec::new();
    for i in items {
        let Some(s) = v.string(i, "notify event") else {
            continue;
        };
        match NotifyEvent::ALL.iter().find(|e| e.name() == s) {
            Some(e) if out.contains(e) => v.err(i, format!("notify event `{s}` is listed twice")),
            Some(e) => out.push(*e),
            None => v.err(
                i,
                format!(
                    "notify event `{s}` is unknown{}; use any of: {}",
                    did_you_mean(&s, &names),
                    names.join(", ")
                ),
            ),
        }
    }
    out
}

fn http_url(v: &mut V, n: &Node, what: &str) -> Option<String> {
    let s = v.string(n, what)?;
    let ok = ["http://", "https://"].iter().any(|p| {
        s.strip_prefix(p)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
    });
    if ok {
        Some(s.trim_end_matches('/').to_string())
    } else {
        v.err(n, format!("{what} must be an http:// or https:// URL"));
        None
    }
}

fn notifier(v: &mut V, n: &Node, env: &str) -> Option<Notifier> {
    let what = format!("a notifier of environment {env}");
    let f = v.fields(n, &what, NOTIFIER_KEYS)?;
    // A secret written in the file is refused without echoing it.
    for key in ["url", "token"] {
        if let Some((k, _)) = f.entry(key) {
            v.err(
                k,
                format!(
                    "`{key}` must not be written in the configuration (it is a secret); put it in \
                     an environment variable and name that variable with `{key}_env`"
                ),
            );
        }
    }
    let kind_node = v.require(&f, "kind", &what)?;
    let kind = v.string(kind_node, "notifier kind")?;
    let allowed_extra: &[&str] = match kind.as_str() {
        "slack" | "mattermost" | "webhook" => &["url_env"],
        "telegram" => &["token_env", "chat_id", "api_url"],
        _ => {
            v.err(
                kind_node,
                format!(
                    "notifier kind `{kind}` is unknown{}; use one of: {}",
                    did_you_mean(&kind, KINDS),
                    KINDS.join(", ")
                ),
            );
            return None;
        }
    };
    for key in ["url_env", "token_env", "chat_id", "api_url"] {
        if let Some((k, _)) = f.entry(key) {
            if !allowed_extra.contains(&key) {
                v.err(
                    k,
                    format!(
                        "`{key}` does not apply to a {kind} notifier; it takes: kind, events, {}",
                        allowed_extra.join(", ")
                    ),
                );
            }
        }
    }
    let events = match f.get("events") {
        Some(e) => {
            let list = events(v, e);
            if list.is_empty() && matches!(&e.value, Value::Seq(s) if s.is_empty()) {
                v.err(e, "notify events is empty; list the events to send, or leave `events` out for all of them");
            }
            list
        }
        None => NotifyEvent::ALL.to_vec(),
    };
    let at = format!("{}:{}:{}", v.file.display(), n.line, n.column);
    let kind = match kind.as_str() {
        "telegram" => {
            let token_env = v
                .require(&f, "token_env", "a telegram notifier")
                .and_then(|t| env_name(v, t, "token_env"));
            let chat_id = v
                .require(&f, "chat_id", "a telegram notifier")
                .and_then(|c| {
                    let s = v.string(c, "chat_id")?;
                    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                        v.err(c, "chat_id must be a chat number such as -1001234567890 or a @channelname");
                        return None;
                    }
                    Some(s)
                });
            let api_url = match f.get("api_url") {
                // The bot token travels in this URL's path: https only, unless loopback.
                Some(u) => http_url(v, u, "api_url").and_then(|url| {
                    match crate::notify::url_rule::https_or_loopback(&url) {
                        Ok(()) => Some(url),
                        Err(why) => {
                            v.err(u, format!("api_url {why}"));
                            None
                        }
                    }
                }),
                None => Some("https://api.telegram.org".to_string()),
            };
            NotifierKind::Telegram {
                token_env: token_env?,
                chat_id: chat_id?,
                api_url: api_url?,
            }
        }
        k => {
            let url_env = v
                .require(&f, "url_env", &format!("a {k} notifier"))
                .and_then(|u| env_name(v, u, "url_env"))?;
            match k {
                "slack" => NotifierKind::Slack { url_env },
                "mattermost" => NotifierKind::Mattermost { url_env },
                _ => NotifierKind::Webhook { url_env },
            }
        }
    };
    Some(Notifier { kind, events, at })
}

/// The `notify:` list of one environment.
pub(super) fn notifiers(v: &mut V, n: Option<&Node>, env: &str) -> Vec<Notifier> {
    let Some(n) = n else { return Vec::new() };
    match &n.value {
        Value::Seq(items) => items.iter().filter_map(|i| notifier(v, i, env)).collect(),
        Value::Null => Vec::new(),
        other => {
            v.err(
                n,
                format!(
                    "notify must be a list of notifiers such as [{{ kind: slack, url_env: SLUICE_SLACK_URL }}], found {}",
                    other.found()
                ),
            );
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(notify: &str) -> Vec<String> {
        let text = format!(
            "environments:\n  staging:\n    notify:\n{notify}hosts:\n  - {{ name: web-1, address: 10.0.0.1, user: d, environment: staging }}\n"
        );
        match crate::config::parse(std::path::Path::new("c.yaml"), &text) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    /// Issue 13, fault 12: an http:// Telegram api_url passed `check` (the bot token is in
    /// its path).
    #[test]
    fn telegram_api_url_is_https_unless_loopback() {
        let tg = |url: &str| {
            errors(&format!(
                "      - {{ kind: telegram, token_env: TG, chat_id: \"-1\", api_url: \"{url}\" }}\n"
            ))
        };
        let e = tg("http://api.telegram.org");
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains("api_url is a plain http:// URL") && e[0].contains("use https://"),
            "{e:#?}"
        );
        assert!(tg("https://api.telegram.org").is_empty());
        assert!(
            tg("http://127.0.0.1:8081").is_empty(),
            "local receivers stay allowed"
        );
    }

    #[test]
    fn notifier_errors_are_located_and_explained() {
        let e = errors(
            "      - { kind: slak, url_env: X }\n      - { kind: slack, url_env: \"https://xSECRET\" }\n      - { kind: telegram, token_env: TG, events: [started, promotd] }\n      - { kind: webhook, url_env: H, token_env: T }\n",
        );
        let want = [
            "c.yaml:4:17: notifier kind `slak` is unknown (did you mean `slack`?)",
            "c.yaml:5:33: url_env must name an environment variable",
            "c.yaml:6:9: a telegram notifier is missing required key `chat_id`",
            "c.yaml:6:60: notify event `promotd` is unknown (did you mean `promoted`?)",
            "c.yaml:7:38: `token_env` does not apply to a webhook notifier",
        ];
        assert_eq!(e.len(), want.len(), "{e:#?}");
        assert!(!e.concat().contains("xSECRET"), "{e:#?}");
        for (got, want) in e.iter().zip(want) {
            assert!(got.starts_with(want), "{got}\n  wanted {want}");
        }
        assert!(
            errors("      - { kind: slack, url_env: SLUICE_SLACK_URL, events: [failed] }\n")
                .is_empty()
        );
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("SLUICE_SLACK_URL"));
        assert!(is_env_name("_X1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("https://hooks.slack.com/x"));
        assert!(!is_env_name(""));
        assert!(!is_env_name("lower"));
    }
}
