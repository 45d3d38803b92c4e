//! Who a request counts against for rate limiting: a fixed-size [`Identity`] (no allocation per
//! request), written in the configuration as `client:<id>`, `key:<fingerprint>`, `cert:<sha256>`
//! or `ip:<address>`. Which identity a request has is the pipeline's decision (`proxy::auth`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::secret::{Fingerprint, FINGERPRINT_BYTES};

/// Hex digits of a client key's id (`bgw_<id>_...`).
pub const CLIENT_ID_LEN: usize = 12;

/// Bytes of a client certificate's SHA-256 kept as its identity (128 bits: no collisions).
const CERT_ID_BYTES: usize = 16;

/// Bytes of a client key's id (`bgw_<id>_...`, 12 hex digits).
const CLIENT_ID_BYTES: usize = CLIENT_ID_LEN / 2;

/// A client, as the per-client limits see it. Written `client:<id>` (a scoped client key's id),
/// `key:<12 hex>` (a key's fingerprint, as the logs show it), `cert:<hex>` (the client
/// certificate's SHA-256; 64 or the first 32 hex digits), or `ip:<address>`. 17 bytes, `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    Client([u8; CLIENT_ID_BYTES]),
    Key([u8; FINGERPRINT_BYTES]),
    Cert([u8; CERT_ID_BYTES]),
    Ip(IpAddr),
}

impl Identity {
    /// A scoped client key's identity, from its id.
    pub fn client(id: &str) -> Option<Identity> {
        let hex = id.as_bytes();
        (hex.len() == CLIENT_ID_LEN)
            .then(|| decode_hex(hex))
            .flatten()
            .map(Identity::Client)
    }

    /// The kind, as written before the colon.
    pub fn kind(&self) -> &'static str {
        match self {
            Identity::Client(_) => "client",
            Identity::Key(_) => "key",
            Identity::Cert(_) => "cert",
            Identity::Ip(_) => "ip",
        }
    }
}

impl Identity {
    /// A key's identity, from its fingerprint.
    pub fn key(fingerprint: &Fingerprint) -> Identity {
        Identity::Key(*fingerprint.as_bytes())
    }

    /// A client certificate's identity, from its SHA-256.
    pub fn cert(sha256: &[u8; 32]) -> Identity {
        let mut id = [0u8; CERT_ID_BYTES];
        id.copy_from_slice(&sha256[..CERT_ID_BYTES]);
        Identity::Cert(id)
    }

    /// An address's identity (IPv4-mapped IPv6 as IPv4).
    pub fn ip(addr: IpAddr) -> Identity {
        Identity::Ip(addr.to_canonical())
    }
}

/// The first `N` bytes of a hex string at least `2 * N` digits long.
fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let mut out = [0u8; N];
    for (i, pair) in hex.get(..2 * N)?.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// Why a configured identity could not be read. Says nothing of the text, which could be a key
/// pasted by mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a client identity: write client:<id> (a client key's 12-digit id), key:<12 hex digits> (a key's fingerprint, as the logs show it, never the key), cert:<64 hex digits> (a client certificate's SHA-256) or ip:<address>")]
pub struct BadIdentity;

impl FromStr for Identity {
    type Err = BadIdentity;

    fn from_str(s: &str) -> Result<Self, BadIdentity> {
        let (kind, value) = s.trim().split_once(':').ok_or(BadIdentity)?;
        let hex = value.as_bytes();
        match kind {
            "client" => Identity::client(value),
            "key" if hex.len() == 2 * FINGERPRINT_BYTES => decode_hex(hex).map(Identity::Key),
            "cert" if hex.len() == 64 || hex.len() == 2 * CERT_ID_BYTES => decode_hex(hex)
                .filter(|_| hex.iter().all(u8::is_ascii_hexdigit))
                .map(Identity::Cert),
            "ip" => value.parse().ok().map(Identity::ip),
            _ => None,
        }
        .ok_or(BadIdentity)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.kind())?;
        match self {
            Identity::Client(b) | Identity::Key(b) => {
                b.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Identity::Cert(b) => b.iter().try_for_each(|b| write!(f, "{b:02x}")),
            Identity::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_and_stay_small() {
        let fp = Fingerprint::of(b"some key");
        let key: Identity = format!("key:{fp}").parse().unwrap();
        assert_eq!(key, Identity::Key(*fp.as_bytes()));
        assert_eq!(key.to_string(), format!("key:{fp}"));
        let full = "ab".repeat(32);
        let cert: Identity = format!("cert:{full}").parse().unwrap();
        assert_eq!(cert.to_string(), format!("cert:{}", "ab".repeat(16)));
        assert_eq!(cert.to_string().parse::<Identity>().unwrap(), cert);
        let client: Identity = "client:3f9a0c1b2d4e".parse().unwrap();
        assert_eq!(client, Identity::client("3f9a0c1b2d4e").unwrap());
        assert_eq!(client.to_string(), "client:3f9a0c1b2d4e");
        assert_ne!(client, "key:3f9a0c1b2d4e".parse().unwrap());
        let ip: Identity = "ip:::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ip.to_string(), "ip:10.0.0.1");
        for bad in [
            "",
            "key:",
            "key:0123456789ag",
            "key:0123456789abc",
            "client:3f9a0c1b2d4",
            "cert:abcd",
            "ip:not-an-ip",
            "mk-the-master-key-by-mistake",
        ] {
            assert_eq!(bad.parse::<Identity>(), Err(BadIdentity), "{bad}");
        }
        assert!(std::mem::size_of::<Identity>() <= 18);
    }
}
