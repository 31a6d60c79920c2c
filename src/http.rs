//! The one way sluice builds an HTTP client (notifiers, Prometheus): rustls with the `ring`
//! provider installed first, so no client can be built without a crypto provider.

/// A reqwest client builder with sluice's user agent and the TLS provider in place.
pub fn client_builder() -> reqwest::ClientBuilder {
    // Only one crypto provider is compiled in; installing it again is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
}
