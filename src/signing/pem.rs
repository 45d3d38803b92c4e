//! PEM armour for the key files: decoding through rustls-pki-types (already a dependency),
//! encoding here (base64 in 64-column lines, RFC 7468).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer};
use zeroize::Zeroizing;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `der` as a PEM block labelled `label`.
pub(super) fn encode(label: &str, der: &[u8]) -> String {
    let mut b64 = Zeroizing::new(Vec::with_capacity(der.len().div_ceil(3) * 4));
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            let c = if i <= chunk.len() {
                ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]
            } else {
                b'='
            };
            b64.push(c);
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.chunks(64) {
        out.extend(line.iter().map(|b| char::from(*b)));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER of the first `PRIVATE KEY` block.
pub(super) fn decode_private(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let key = PrivatePkcs8KeyDer::from_pem_slice(text).ok()?;
    Some(Zeroizing::new(key.secret_pkcs8_der().to_vec()))
}

/// The DER of the first `PUBLIC KEY` block.
pub(super) fn decode_public(text: &[u8]) -> Option<Vec<u8>> {
    let spki = SubjectPublicKeyInfoDer::from_pem_slice(text).ok()?;
    Some(spki.as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let pem = encode("X", input.as_bytes());
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            assert_eq!(body, want, "{input}");
        }
        let long = encode("X", &[0u8; 100]);
        assert!(long.lines().all(|l| l.len() <= 64));
    }
}
