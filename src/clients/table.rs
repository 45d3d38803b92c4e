//! The validated client keys, and which client presented a key: constant-time digest comparison,
//! expiry, revocation, and the network and certificate a key may be bound to.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ipnet::IpNet;

use crate::error::Reject;
use crate::secret::KeyDigest;
use serde::{Deserialize, Serialize};

use super::scope::Scope;
use crate::conn::CertHash;

/// The recognisable prefix of every client key.
pub const KEY_PREFIX: &str = "bgw_";
/// Hex digits of a key id.
pub const ID_LEN: usize = crate::config::CLIENT_ID_LEN;
/// Hex digits of a key secret (32 random bytes).
pub const SECRET_LEN: usize = 64;

/// A per-key quota, applied by the rate limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRate {
    pub per_second: u32,
    pub burst: u32,
}

/// One client, validated.
#[derive(Debug)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub(super) digest: KeyDigest,
    pub scopes: Vec<Scope>,
    /// Seconds since the Unix epoch; none means no expiry.
    pub expires_at: Option<u64>,
    pub disabled: bool,
    pub allow_networks: Vec<IpNet>,
    pub client_cert: Option<CertHash>,
    pub rate_limit: Option<ClientRate>,
    /// Seconds since the Unix epoch of the last accepted request; 0 for never.
    pub last_used: Arc<AtomicU64>,
}

/// Every client, by id.
#[derive(Debug, Default)]
pub struct ClientTable {
    by_id: HashMap<String, Client>,
}

/// Facts about the connection a key may be bound to.
pub struct Presented<'a> {
    pub key: &'a [u8],
    pub peer: IpAddr,
    pub client_cert: Option<&'a CertHash>,
}

/// Splits `bgw_<id>_<secret>` into the id, or none if the shape is wrong.
pub fn key_id(key: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(key).ok()?;
    let rest = s.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |t: &str, n: usize| {
        t.len() == n
            && t.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (hex(id, ID_LEN) && hex(secret, SECRET_LEN)).then_some(id)
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ClientTable {
    pub fn new(clients: Vec<Client>) -> Self {
        ClientTable {
            by_id: clients.into_iter().map(|c| (c.id.clone(), c)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Client> {
        self.by_id.values()
    }

    /// Keeps the last-use times of clients that are still present (after a reload).
    pub fn carry_last_used(&mut self, old: &ClientTable) {
        for (id, c) in &mut self.by_id {
            if let Some(prev) = old.by_id.get(id) {
                c.last_used = prev.last_used.clone();
            }
        }
    }

    /// Which client presented this key. Unknown ids still cost one digest, so timing says
    /// nothing about which ids exist.
    pub fn authenticate(&self, p: &Presented<'_>, now: u64) -> Result<&Client, Reject> {
        let digest = KeyDigest::of(p.key);
        let client = key_id(p.key).and_then(|id| self.by_id.get(id));
        let Some(client) = client.filter(|c| c.digest.matches(&digest)) else {
            return Err(Reject::InvalidKey);
        };
        if client.disabled || client.expires_at.is_some_and(|t| now >= t) {
            return Err(Reject::ExpiredKey);
        }
        let peer = p.peer.to_canonical();
        if !client.allow_networks.is_empty()
            && !client.allow_networks.iter().any(|n| n.contains(&peer))
        {
            return Err(Reject::NetworkNotAllowed);
        }
        if let Some(bound) = &client.client_cert {
            if p.client_cert.map(CertHash::bytes) != Some(bound.bytes()) {
                return Err(Reject::CertificateMismatch);
            }
        }
        client.last_used.store(now, Ordering::Relaxed);
        Ok(client)
    }
}
