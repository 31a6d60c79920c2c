//! Where a SaaS notifier may send: Slack's webhook URL and Telegram's bot URL carry their
//! secret in the URL itself, so they go over https only. Plain http is allowed to a loopback
//! address (a local test receiver, a relay on the same machine), where nothing crosses a
//! network. Mattermost (usually self-hosted) and generic webhooks are the operator's own
//! servers and may use either.

/// `Ok` when `url` is https, or http to a loopback host; else why not (never quoting the URL,
/// which may hold the secret).
pub fn https_or_loopback(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| "is not a valid URL".to_string())?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(
            "is a plain http:// URL to a host that is not loopback; the secret in it would cross \
             the network unencrypted: use https:// (http:// is only for 127.0.0.1, ::1 or \
             localhost)"
                .to_string(),
        ),
        _ => Err("is not an https:// URL".to_string()),
    }
}

fn is_loopback(u: &reqwest::Url) -> bool {
    let Some(host) = u.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        for ok in [
            "https://hooks.slack.com/services/T/B/X",
            "https://api.telegram.org",
            "http://127.0.0.1:8080/hook",
            "http://127.1.2.3/x",
            "http://[::1]:9000/",
            "http://localhost:1234",
        ] {
            assert_eq!(https_or_loopback(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://api.telegram.org",
            "http://10.0.0.5/hook",
            "http://127.0.0.1.evil.example/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(https_or_loopback(bad).is_err(), "{bad}");
        }
    }
}
