//! `X-Request-Id`: kept when the client sent a well-formed one, generated otherwise.
//!
//! Generated ids are 32 hex characters: a random 64-bit process prefix and a 64-bit counter, so
//! they are unique without a lock or a system call per request. A client id is kept only if it is
//! 1 to `MAX_REQUEST_ID_LEN` characters of `[A-Za-z0-9._:-]`, so it is safe in logs and headers.

use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;

use crate::limits::MAX_REQUEST_ID_LEN;

pub struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl std::fmt::Debug for RequestIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestIds")
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestIds {
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        // A failed random source leaves a fixed prefix: ids stay unique within the process.
        let _ = crate::crypto::fill_random(&mut seed);
        RequestIds {
            prefix: u64::from_le_bytes(seed),
            counter: AtomicU64::new(0),
        }
    }

    /// The client's id if acceptable, else a fresh one.
    pub fn pick(&self, client: Option<&HeaderValue>) -> HeaderValue {
        match client {
            Some(v) if is_acceptable(v.as_bytes()) => v.clone(),
            _ => self.generate(),
        }
    }

    pub fn generate(&self) -> HeaderValue {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.prefix.to_be_bytes());
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        let mut text = [0u8; 32];
        // 16 bytes always fit 32 hex digits; the fallback is never taken.
        if hex::encode_to_slice(bytes, &mut text).is_err() {
            return HeaderValue::from_static("0");
        }
        HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

pub fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_distinct_and_acceptable() {
        let ids = RequestIds::new();
        let a = ids.generate();
        let b = ids.generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(is_acceptable(a.as_bytes()));
    }

    #[test]
    fn client_ids_are_kept_only_when_clean() {
        let ids = RequestIds::new();
        let good = HeaderValue::from_static("req-123_abc.def:9");
        assert_eq!(ids.pick(Some(&good)), good);
        for bad in [
            "",
            "has space",
            "semi;colon",
            "quote\"",
            &"x".repeat(MAX_REQUEST_ID_LEN + 1),
        ] {
            let v = HeaderValue::from_str(bad).unwrap();
            assert_ne!(ids.pick(Some(&v)), v, "{bad:?}");
        }
    }
}
