//! [`SigningKey`] (an Ed25519 key pair that never prints itself), [`PublicKey`] and [`KeyId`],
//! the short name of a key that checkpoints carry and logs show.

use std::fmt;

use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::pem;

/// Hex characters of a key id (64 bits of SHA-256 of the public key).
pub const KEY_ID_HEX: usize = 16;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Domain label, so an id is never simply "the SHA-256 of the key".
const KEY_ID_LABEL: &[u8] = b"blnk-gateway audit signing key v1\0";
/// The DER of a PKCS#8 v1 Ed25519 private key before its 32-byte seed (RFC 8410).
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The same in ring's v2 form (the public key follows the seed).
const PKCS8_V2_PREFIX: [u8; 16] = [
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The DER of an Ed25519 SubjectPublicKeyInfo before its 32 key bytes (RFC 8410).
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why a file's content is not a key. Says nothing about the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is not a PEM \"PRIVATE KEY\" (PKCS#8) block")]
    NotPrivatePem,
    #[error("is not an Ed25519 private key")]
    NotEd25519,
    #[error("is not a PEM \"PUBLIC KEY\" block or 64 hex digits")]
    NotPublic,
    #[error("the system's random source failed")]
    Random,
}

/// The short, public name of a signing key: 16 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; KEY_ID_HEX]);

impl KeyId {
    fn of(public: &[u8; 32]) -> KeyId {
        let mut h = Sha256::new();
        h.update(KEY_ID_LABEL);
        h.update(public);
        let mut out = [0u8; KEY_ID_HEX];
        // 8 bytes always fit 16 hex digits.
        let _ = hex::encode_to_slice(&h.finalize()[..KEY_ID_HEX / 2], &mut out);
        KeyId(out)
    }

    /// An id as written in a checkpoint; `None` unless 16 lower-case hex digits.
    pub fn parse(s: &str) -> Option<KeyId> {
        let ok = s.len() == KEY_ID_HEX && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let mut out = [0u8; KEY_ID_HEX];
        out.copy_from_slice(s.as_bytes().get(..KEY_ID_HEX).filter(|_| ok)?);
        Some(KeyId(out))
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII hex.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.as_str())
    }
}

/// An Ed25519 public key: checks signatures, names its key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; 32],
    id: KeyId,
}

impl PublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey {
            id: KeyId::of(&bytes),
            bytes,
        }
    }

    /// 64 hex digits, as a checkpoint's `next_key` carries it.
    pub fn from_hex(s: &str) -> Option<PublicKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).ok()?;
        Some(PublicKey::from_bytes(bytes))
    }

    /// A public key file: PEM `PUBLIC KEY` (as `openssl pkey -pubout` writes) or 64 hex digits.
    pub fn parse(text: &[u8]) -> Result<PublicKey, KeyError> {
        let trimmed = std::str::from_utf8(text).map(str::trim).unwrap_or("");
        if let Some(k) = PublicKey::from_hex(trimmed) {
            return Ok(k);
        }
        let der = pem::decode_public(text).ok_or(KeyError::NotPublic)?;
        match der.strip_prefix(&SPKI_PREFIX[..]) {
            Some(key) if key.len() == 32 => {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(key);
                Ok(PublicKey::from_bytes(bytes))
            }
            _ => Err(KeyError::NotPublic),
        }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub fn hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// The key as a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo), readable by OpenSSL.
    pub fn to_pem(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.bytes);
        pem::encode("PUBLIC KEY", &der)
    }

    /// Whether `sig` is this key's Ed25519 signature of `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.bytes)
            .verify(msg, sig)
            .is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id)
    }
}

/// An Ed25519 key pair. Its `Debug` shows the key id only; nothing hands the private key out
/// except [`SigningKey::generate`], once, as the PEM to store.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl SigningKey {
    /// A new key pair, and its private key as a PEM `PRIVATE KEY` block to store: PKCS#8 v1
    /// (RFC 8410), as `openssl genpkey` writes it, so OpenSSL 3.0 reads it too (it does not
    /// read ring's v2 form).
    pub fn generate() -> Result<(SigningKey, Zeroizing<String>), KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random)?;
        let v2 = doc.as_ref();
        let der = match v2.strip_prefix(&PKCS8_V2_PREFIX[..]) {
            Some(rest) if rest.len() >= 32 => {
                let mut v1 = Zeroizing::new(PKCS8_V1_PREFIX.to_vec());
                v1.extend_from_slice(&rest[..32]);
                v1
            }
            _ => Zeroizing::new(v2.to_vec()),
        };
        let key = SigningKey::from_der(&der)?;
        Ok((key, Zeroizing::new(pem::encode("PRIVATE KEY", &der))))
    }

    /// A PEM `PRIVATE KEY` block holding an Ed25519 key: as `generate` or
    /// `openssl genpkey -algorithm ed25519` writes it.
    pub fn from_pem(text: &[u8]) -> Result<SigningKey, KeyError> {
        let der = pem::decode_private(text).ok_or(KeyError::NotPrivatePem)?;
        SigningKey::from_der(&der)
    }

    fn from_der(der: &[u8]) -> Result<SigningKey, KeyError> {
        let pair =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| KeyError::NotEd25519)?;
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(pair.public_key().as_ref());
        Ok(SigningKey {
            pair,
            public: PublicKey::from_bytes(bytes),
        })
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub fn id(&self) -> KeyId {
        self.public.id
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(key={})", self.public.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_never_prints_itself() {
        let (key, pem) = SigningKey::generate().unwrap();
        // PKCS#8 v1, which OpenSSL 3.0 reads (tests/it/audit/seal_cli.rs checks with openssl).
        assert_eq!(pem::decode_private(pem.as_bytes()).unwrap().len(), 48);
        let again = SigningKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(again.public(), key.public());
        let sig = key.sign(b"msg");
        assert!(key.public().verify(b"msg", &sig));
        assert!(!key.public().verify(b"msh", &sig));
        let (other, _) = SigningKey::generate().unwrap();
        assert!(!other.public().verify(b"msg", &sig));
        assert_ne!(other.id(), key.id());
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("SigningKey(key={})", key.id()));
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!shown.contains(&body[..16]));
    }

    #[test]
    fn public_keys_read_from_pem_or_hex() {
        let (key, _) = SigningKey::generate().unwrap();
        let pem = key.public().to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert_eq!(PublicKey::parse(pem.as_bytes()).unwrap(), *key.public());
        let hex = format!("{}\n", key.public().hex());
        assert_eq!(PublicKey::parse(hex.as_bytes()).unwrap(), *key.public());
        assert_eq!(PublicKey::parse(b"nope"), Err(KeyError::NotPublic));
        assert_eq!(KeyId::parse(key.id().as_str()), Some(key.id()));
        assert_eq!(KeyId::parse("ABCDEF0123456789"), None);
    }

    #[test]
    fn bad_private_keys_are_named_without_their_content() {
        assert_eq!(
            SigningKey::from_pem(b"secret-ish text").unwrap_err(),
            KeyError::NotPrivatePem
        );
        let not_ed = pem::encode("PRIVATE KEY", b"\x30\x03\x02\x01\x00");
        assert_eq!(
            SigningKey::from_pem(not_ed.as_bytes()).unwrap_err(),
            KeyError::NotEd25519
        );
    }
}
