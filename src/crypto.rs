//! The one cryptographic provider the process uses (ring, for rustls and for randomness).

use std::sync::Arc;

/// The rustls provider: ring, as every TLS configuration in the gateway uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Fills `out` from the operating system's secure random source.
pub fn fill_random(out: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(out)
}
