//! The master key as a type that cannot leak by accident, and the constant-time key check.
//!
//! A [`SecretKey`] never prints its value: `Debug` shows the fingerprint only, and the bytes are
//! zeroed on drop. Keys are compared as SHA-256 digests with `subtle`, so neither the content nor
//! the length of a wrong key changes the time the comparison takes. This module does not decide
//! where a key comes from (see `config::source`) or what a match allows (see `proxy::auth`).

use std::fmt;

use http::HeaderValue;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Keys shorter than this get a warning at start.
pub const RECOMMENDED_MIN_KEY_LEN: usize = 32;
/// Domain label so that a fingerprint is never simply "the SHA-256 of the key".
const FINGERPRINT_LABEL: &[u8] = b"blnk-gateway key fingerprint v1\0";
/// Hex characters of the fingerprint shown in logs (48 bits).
const FINGERPRINT_HEX_LEN: usize = 12;

/// A SHA-256 digest of a key, the only form in which keys are compared.
#[derive(Clone, Copy)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    pub fn of(bytes: &[u8]) -> Self {
        KeyDigest(Sha256::digest(bytes).into())
    }

    /// A digest computed elsewhere (a clients file stores them).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        KeyDigest(bytes)
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &KeyDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyDigest(..)")
    }
}

/// Bytes of a fingerprint (48 bits): short enough to log, long enough to tell keys apart.
pub const FINGERPRINT_BYTES: usize = FINGERPRINT_HEX_LEN / 2;

/// A short, non-secret name for a key, safe to log. Fixed-size, so copying one is free.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    bytes: [u8; FINGERPRINT_BYTES],
    hex: [u8; FINGERPRINT_HEX_LEN],
}

impl Fingerprint {
    pub fn of(bytes: &[u8]) -> Self {
        let bytes = Self::bytes_of(bytes);
        let mut hex = [0u8; FINGERPRINT_HEX_LEN];
        // FINGERPRINT_HEX_LEN is twice FINGERPRINT_BYTES, so this cannot fail.
        let _ = hex::encode_to_slice(bytes, &mut hex);
        Fingerprint { bytes, hex }
    }

    /// The fingerprint's bytes, without the allocation of its text (the rate limiter's key).
    pub fn bytes_of(key: &[u8]) -> [u8; FINGERPRINT_BYTES] {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_LABEL);
        h.update(key);
        let digest = h.finalize();
        let mut out = [0u8; FINGERPRINT_BYTES];
        out.copy_from_slice(&digest[..FINGERPRINT_BYTES]);
        out
    }

    pub fn as_bytes(&self) -> &[u8; FINGERPRINT_BYTES] {
        &self.bytes
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII hex, so this never fails.
        std::str::from_utf8(&self.hex).unwrap_or("")
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.as_str())
    }
}

/// The master key. Only [`SecretKey::header_value`] hands its bytes out, as a header value
/// marked sensitive (never indexed by HPACK, redacted by `http`'s `Debug`).
pub struct SecretKey {
    bytes: Zeroizing<Vec<u8>>,
    digest: KeyDigest,
    fingerprint: Fingerprint,
    header: HeaderValue,
}

/// Why a byte string cannot be a key. Says nothing about the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is empty or only whitespace")]
    Empty,
    #[error("contains characters that cannot travel in an HTTP header (control characters, or non-visible bytes)")]
    NotHeaderSafe,
    #[error("contains a comma, which HTTP treats as a list separator")]
    Comma,
    #[error("has leading or trailing whitespace")]
    Whitespace,
}

impl SecretKey {
    /// Accepts a key as it will be sent in `X-Blnk-Key`: visible ASCII, no comma, no surrounding
    /// whitespace, not empty.
    pub fn new(bytes: Vec<u8>) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(KeyError::Empty);
        }
        if bytes.first().is_some_and(u8::is_ascii_whitespace)
            || bytes.last().is_some_and(u8::is_ascii_whitespace)
        {
            return Err(KeyError::Whitespace);
        }
        if bytes.contains(&b',') {
            return Err(KeyError::Comma);
        }
        if !bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Err(KeyError::NotHeaderSafe);
        }
        let mut header = HeaderValue::from_bytes(&bytes).map_err(|_| KeyError::NotHeaderSafe)?;
        header.set_sensitive(true);
        Ok(SecretKey {
            digest: KeyDigest::of(&bytes),
            fingerprint: Fingerprint::of(&bytes),
            header,
            bytes,
        })
    }

    pub fn digest(&self) -> &KeyDigest {
        &self.digest
    }

    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The key as the header value to inject upstream.
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(fingerprint={})", self.fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let key = SecretKey::new(b"super-secret-value-0123456789abcdef".to_vec()).unwrap();
        let shown = format!("{key:?} {:?} {:?}", key.digest(), key.header_value());
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains(key.fingerprint().as_str()));
    }

    #[test]
    fn rejects_keys_that_cannot_be_sent() {
        assert_eq!(SecretKey::new(b"".to_vec()).unwrap_err(), KeyError::Empty);
        assert_eq!(
            SecretKey::new(b" \t\n".to_vec()).unwrap_err(),
            KeyError::Empty
        );
        assert_eq!(
            SecretKey::new(b"a,b".to_vec()).unwrap_err(),
            KeyError::Comma
        );
        assert_eq!(
            SecretKey::new(b" ab".to_vec()).unwrap_err(),
            KeyError::Whitespace
        );
        assert_eq!(
            SecretKey::new(b"a\x01b".to_vec()).unwrap_err(),
            KeyError::NotHeaderSafe
        );
        assert_eq!(
            SecretKey::new("clé".as_bytes().to_vec()).unwrap_err(),
            KeyError::NotHeaderSafe
        );
    }

    #[test]
    fn digests_match_only_the_same_key() {
        let key = SecretKey::new(b"k1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec()).unwrap();
        assert!(key
            .digest()
            .matches(&KeyDigest::of(b"k1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")));
        assert!(!key
            .digest()
            .matches(&KeyDigest::of(b"k1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab")));
        assert!(!key.digest().matches(&KeyDigest::of(b"")));
        assert_ne!(key.fingerprint(), &Fingerprint::of(b"other"));
    }
}
