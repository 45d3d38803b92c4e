//! Who may pass, and with which key upstream.
//!
//! - verify: the request must carry exactly one non-empty `X-Blnk-Key`, checked in constant time
//!   against the master key's digest. Blnk's exempt routes pass without a key and go upstream
//!   without one, so a disagreement about what is exempt can never grant master access.
//! - inject: the client is authenticated by its own client key and scope (with
//!   `gateway.clients_file`), its certificate (at the handshake) or its network (checked here, in
//!   both modes); a client's key is never forwarded, and the master key is injected.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue, Method};
use ipnet::IpNet;
use tokio::time::Instant;

use crate::clients::{scope, Client, Presented};
use crate::config::Identity;
use crate::conn::ConnInfo;
use crate::error::Reject;
use crate::headers::X_BLNK_KEY;
use crate::keys::Which;
use crate::mode::Mode;
use crate::route::Resource;
use crate::secret::Fingerprint;
use crate::state::Snapshot;

/// Which key goes upstream, once a request is admitted.
pub enum Upstream {
    /// An exempt route (verify mode, or inject mode with client keys): no key at all.
    NoKey,
    /// The master key (verified in verify mode, injected in inject mode).
    Master,
    /// Verify mode with `pass_through_unknown_keys`: the client's own key, for Blnk to judge.
    ClientKey(HeaderValue),
}

/// An admitted request: what goes upstream, and which client key it came with, if any.
pub struct Admission<'a> {
    pub upstream: Upstream,
    pub client: Option<&'a Client>,
    /// Verify mode: which master key the client presented, so its precomputed fingerprint can
    /// name it without hashing the key again.
    pub matched: Option<Which>,
}

impl From<Upstream> for Admission<'_> {
    fn from(upstream: Upstream) -> Self {
        Admission {
            upstream,
            client: None,
            matched: None,
        }
    }
}

/// Blnk's routes that need no key (`api/middleware/auth.go`). Matched exactly, on the normalised
/// path that is forwarded (`//health` arrives here as `/health`; `/health/` needs a key).
pub fn is_exempt(method: &Method, path: &str) -> bool {
    (method == Method::GET || method == Method::HEAD)
        && matches!(path, "/" | "/health" | "/metrics")
}

/// IPv4-mapped IPv6 peers (dual-stack listeners) are matched as IPv4.
pub fn network_allowed(networks: &[IpNet], peer: IpAddr) -> bool {
    networks.is_empty() || networks.iter().any(|n| n.contains(&peer.to_canonical()))
}

/// Decides whether the request may go upstream and with which key. `path` is the normalised
/// path that will be forwarded, `resource` its scope resource.
pub fn authorize<'a>(
    snap: &'a Snapshot,
    method: &Method,
    (path, resource): (&str, Resource),
    headers: &HeaderMap,
    now: Instant,
    conn: &ConnInfo,
) -> Result<Admission<'a>, Reject> {
    match (snap.settings.mode, &snap.clients) {
        (Mode::Inject, None) => Ok(Upstream::Master.into()),
        (_, _) if is_exempt(method, path) => Ok(Upstream::NoKey.into()),
        (Mode::Inject, Some(table)) => {
            let presented = Presented {
                key: single_key(headers)?.as_bytes(),
                peer: conn.peer.ip(),
                client_cert: conn.client_cert(),
            };
            let client = table.authenticate(&presented, crate::clients::now_unix())?;
            scope::decide(method, resource, &client.scopes)?;
            Ok(Admission {
                upstream: Upstream::Master,
                client: Some(client),
                matched: None,
            })
        }
        (Mode::Verify, _) => {
            let presented = single_key(headers)?;
            if let Some(which) = snap.keys.verify(presented.as_bytes(), now) {
                Ok(Admission {
                    upstream: Upstream::Master,
                    client: None,
                    matched: Some(which),
                })
            } else if snap.settings.pass_through_unknown_keys {
                Ok(Upstream::ClientKey(presented.clone()).into())
            } else {
                Err(Reject::InvalidKey)
            }
        }
    }
}

/// Who the client is, for the audit record: the fingerprint of the `X-Blnk-Key` it presented
/// whenever the gateway examined one (verify mode; inject mode with client keys), and the id of
/// the client key once one matched. Nothing for keys discarded unread (inject mode without client
/// keys), exempt routes, or when no single key was presented.
pub fn identity<'a>(
    snap: &Snapshot,
    decided: &Result<Admission<'a>, Reject>,
    headers: &HeaderMap,
) -> (Option<Fingerprint>, Option<&'a str>) {
    let examined = snap.settings.mode == Mode::Verify || snap.clients.is_some();
    let presented = match decided {
        _ if !examined => None,
        Ok(Admission {
            upstream: Upstream::NoKey,
            ..
        }) => None,
        Ok(_) | Err(_) => single_key(headers).ok(),
    };
    let client = decided
        .as_ref()
        .ok()
        .and_then(|a| a.client)
        .map(|c| c.id.as_str());
    // A matched master key already has its fingerprint; only other keys are hashed here.
    let known = match decided.as_ref().ok().and_then(|a| a.matched) {
        Some(Which::Current) => Some(*snap.keys.current.fingerprint()),
        Some(Which::Previous) => snap.keys.previous.as_ref().map(|p| *p.key.fingerprint()),
        None => None,
    };
    let fingerprint = known.or_else(|| presented.map(|k| Fingerprint::of(k.as_bytes())));
    (fingerprint, client)
}

/// Who an admitted request counts against for rate limiting. A scoped client key: its id.
/// Verify mode: the presented key's fingerprint (the current master key's, precomputed, for either
/// master key during a rotation). Inject mode: the client certificate when there is one.
/// Otherwise (exempt routes, network-authenticated clients) the peer address.
pub fn rate_identity(snap: &Snapshot, conn: &ConnInfo, admitted: &Admission<'_>) -> Identity {
    if let Some(id) = admitted.client.and_then(|c| Identity::client(&c.id)) {
        return id;
    }
    let peer = || Identity::ip(conn.peer.ip());
    match (snap.settings.mode, &admitted.upstream) {
        (Mode::Verify, Upstream::Master) => Identity::key(snap.keys.current.fingerprint()),
        (Mode::Verify, Upstream::ClientKey(v)) => {
            Identity::Key(Fingerprint::bytes_of(v.as_bytes()))
        }
        (Mode::Verify, Upstream::NoKey) => peer(),
        (Mode::Inject, _) => conn
            .client_cert()
            .map(|c| Identity::cert(c.bytes()))
            .unwrap_or_else(peer),
    }
}

/// Whose idempotency keys a request's `Idempotency-Key` is among (docs/idempotency.md): every
/// holder of the master key is one client, whichever master key it holds (a rotation keeps its
/// keys); a client key is its client's id; Blnk's own scoped keys passed through, a client
/// certificate, an address are themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotencyScope {
    Master,
    Of(Identity),
}

impl std::fmt::Display for IdempotencyScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdempotencyScope::Master => f.write_str("master"),
            IdempotencyScope::Of(id) => id.fmt(f),
        }
    }
}

/// The request's idempotency scope (see [`IdempotencyScope`]).
pub fn idempotency_scope(
    snap: &Snapshot,
    conn: &ConnInfo,
    admitted: &Admission<'_>,
) -> IdempotencyScope {
    match (snap.settings.mode, &admitted.upstream, admitted.client) {
        (_, _, Some(_)) => IdempotencyScope::Of(rate_identity(snap, conn, admitted)),
        (Mode::Verify, Upstream::Master, None) => IdempotencyScope::Master,
        _ => IdempotencyScope::Of(rate_identity(snap, conn, admitted)),
    }
}

/// Exactly one non-empty key value with no list separator.
fn single_key(headers: &HeaderMap) -> Result<&HeaderValue, Reject> {
    let mut values = headers.get_all(X_BLNK_KEY).iter();
    let first = values.next().ok_or(Reject::MissingKey)?;
    if values.next().is_some() {
        return Err(Reject::AmbiguousKey);
    }
    let bytes = first.as_bytes();
    if bytes.trim_ascii().is_empty() {
        return Err(Reject::MissingKey);
    }
    if bytes.contains(&b',') {
        return Err(Reject::AmbiguousKey);
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exempt_routes_are_exact() {
        assert!(is_exempt(&Method::GET, "/health"));
        assert!(is_exempt(&Method::GET, "/"));
        assert!(!is_exempt(&Method::POST, "/health"));
        assert!(!is_exempt(&Method::GET, "//health"));
        assert!(!is_exempt(&Method::GET, "/health/"));
        assert!(!is_exempt(&Method::GET, "/health/../ledgers"));
    }

    #[test]
    fn networks_match_mapped_addresses() {
        let nets: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        assert!(network_allowed(&nets, "127.0.0.1".parse().unwrap()));
        assert!(network_allowed(&nets, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!network_allowed(&nets, "10.0.0.1".parse().unwrap()));
        assert!(network_allowed(&[], "10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn duplicated_empty_and_joined_keys_are_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(single_key(&h).unwrap_err(), Reject::MissingKey);
        h.insert(X_BLNK_KEY, HeaderValue::from_static("  "));
        assert_eq!(single_key(&h).unwrap_err(), Reject::MissingKey);
        h.insert(X_BLNK_KEY, HeaderValue::from_static("a, b"));
        assert_eq!(single_key(&h).unwrap_err(), Reject::AmbiguousKey);
        h.insert(X_BLNK_KEY, HeaderValue::from_static("a"));
        h.append(X_BLNK_KEY, HeaderValue::from_static("a"));
        assert_eq!(single_key(&h).unwrap_err(), Reject::AmbiguousKey);
    }
}
