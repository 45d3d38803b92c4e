//! The audit log's signing keys: an Ed25519 key pair as a type that cannot leak (`key`), the
//! PEM files it lives in (`pem`), and reading, creating and atomically replacing those files
//! (`file`). Signatures are ring's, the provider rustls already uses. What a checkpoint says and
//! signs is `audit::checkpoint`'s; when one is written is the audit writer's.

mod file;
mod key;
mod pem;

pub use self::file::{create_new, read_public_key, read_signing_key, replace_secret};
pub use self::key::{KeyError, KeyId, PublicKey, SigningKey, KEY_ID_HEX, SIGNATURE_LEN};
