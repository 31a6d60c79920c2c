//! The HTTP seam: POST a JSON body, answer the status code. Errors never carry the URL.

use std::time::Duration;

use futures::future::BoxFuture;

use super::Request;

pub trait Transport: Send + Sync {
    /// POST `req` with a timeout for the whole exchange; the HTTP status, or why it failed
    /// (already redacted: no URL, no secret).
    fn post<'a>(
        &'a self,
        req: &'a Request,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<u16, String>>;
}

/// reqwest with rustls (ring) for https webhooks.
pub struct Reqwest {
    client: reqwest::Client,
}

impl Reqwest {
    pub fn new() -> Result<Self, String> {
        // Never follow a redirect: it would carry the webhook URL on as a Referer (and the
        // body) to wherever the answer points. A 3xx is a failure to deliver, logged.
        let client = crate::http::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {}", e.without_url()))?;
        Ok(Reqwest { client })
    }
}

impl Transport for Reqwest {
    fn post<'a>(
        &'a self,
        req: &'a Request,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<u16, String>> {
        Box::pin(async move {
            let sent = self
                .client
                .post(req.url.expose())
                .timeout(timeout)
                .json(&req.body)
                .send()
                .await;
            match sent {
                Ok(r) => Ok(r.status().as_u16()),
                Err(e) => {
                    let what = if e.is_timeout() {
                        format!("no answer within {timeout:?}")
                    } else if e.is_connect() {
                        "cannot connect".to_string()
                    } else {
                        "request failed".to_string()
                    };
                    // Source chains can quote the URL; cut it and redact what is left.
                    let detail = std::error::Error::source(&e)
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default();
                    Err(req.url.redact(&format!("{what}{detail}")))
                }
            }
        })
    }
}
