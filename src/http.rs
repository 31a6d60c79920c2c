//! The one way sluice builds an HTTP client (notifiers, Prometheus): rustls with the `ring`
//! provider installed first, so no client can be built without a crypto provider.

/// A reqwest client builder with sluice's user agent and the TLS provider in place.
pub fn client_builder() -> reqwest::ClientBuilder {
    // Only one crypto provider is compiled in; installing it again is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
}

/// A body larger than the caller's bound, or one that failed while being read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {limit} bytes; refused without reading the rest")]
    TooLarge { limit: usize },
    #[error(transparent)]
    Read(#[from] reqwest::Error),
}

/// Read a response's body, at most `limit` bytes: a server (or anything between) that sends
/// more is refused as soon as it says so (Content-Length) or once it did, never buffered whole.
pub async fn read_bounded(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
