//! Which keys a request has, its fingerprint, what it is (for the operator's view) and what to
//! ask Blnk after an unknown outcome. The money-moving routes, and what their bodies say, are
//! `route`'s.
//!
//! - An `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header: a structured-field
//!   string, `"..."`; a bare token is accepted too, as most clients send one) is honoured on
//!   every method that can change something (`crate::route::is_write`: all but GET, HEAD and
//!   OPTIONS), scoped to the client: one client's key never reveals or blocks another's. On GET,
//!   HEAD and OPTIONS, or when the gateway keeps no keys, it is refused (400), never ignored.
//! - A key the gateway derives on the money-moving routes (`route`): a transaction's reference
//!   (the ledger's, whoever sends it), a bulk's item references, the transaction a refund is of,
//!   and for an unkeyed partial commit a guard (the client's).
//!
//! A request with both takes both (`service`). The store key is a SHA-256 (of the scope, the
//! kind and the key), so the store holds no key and no identity. The fingerprint is a SHA-256 of
//! the client's identity, the method, the forwarded target and the body's SHA-256: a reference
//! another client used does not match.

use std::fmt;

use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use super::entry::{Fingerprint, Subject};
use super::route::{self, Derived, Recovery};
use super::store::StoreKey;
use crate::body::Buffered;
use crate::error::Reject;
use crate::headers::IDEMPOTENCY_KEY;
use crate::limits::IDEMPOTENCY_MAX_KEY_LEN;

/// Where a request's key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Header,
    Reference,
    BulkReferences,
    Refund,
    /// An unkeyed request Blnk would act on twice (a partial commit): taken while it is in
    /// flight and while its outcome is unknown, given back once the client has its answer.
    Guard,
}

impl Kind {
    fn tag(self) -> &'static [u8] {
        match self {
            Kind::Header => b"header",
            Kind::Reference => b"reference",
            Kind::BulkReferences => b"bulk",
            Kind::Refund => b"refund",
            Kind::Guard => b"guard",
        }
    }

    /// Whether the key is the ledger's (one per reference, whoever sends it) or the client's.
    fn ledger_scoped(self) -> bool {
        matches!(self, Kind::Reference | Kind::BulkReferences | Kind::Refund)
    }

    pub fn label(self) -> &'static str {
        std::str::from_utf8(self.tag()).unwrap_or("key")
    }
}

/// One key of a request, ready for the store.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub kind: Kind,
    pub store_key: StoreKey,
}

/// Everything the store and the retry rules need about a keyed request.
#[derive(Debug, Clone)]
pub struct RequestKeys {
    /// The header's key first, then the derived one.
    pub keys: Vec<KeySpec>,
    pub fingerprint: Fingerprint,
    pub subject: Subject,
    pub recovery: Recovery,
}

impl RequestKeys {
    pub fn has(&self, kind: Kind) -> bool {
        self.keys.iter().any(|k| k.kind == kind)
    }

    /// Only a guard: the answer is given back once the client has it.
    pub fn guard_only(&self) -> bool {
        self.keys.iter().all(|k| k.kind == Kind::Guard)
    }
}

/// Whether a method can change something (a key on it is honoured).
pub fn keyable(method: &Method) -> bool {
    crate::route::is_write(method)
}

/// The keys of a request, if it has any. `scope` is the client's idempotency scope, formatted
/// only when the request has a key; `enabled` is whether the gateway keeps keys at all.
pub fn of(
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    body: &Buffered,
    scope: &(impl fmt::Display + ?Sized),
    from_reference: bool,
) -> Result<Option<RequestKeys>, Reject> {
    let header = header_key(headers)?;
    if header.is_some() && !keyable(method) {
        return Err(Reject::IdempotencyKeyNotSupported);
    }
    let path = target.split('?').next().unwrap_or(target);
    let money = route::of(method, path, body, header.is_some(), from_reference)?;
    if header.is_none() && money.key.is_none() {
        return Ok(None);
    }
    let scope = scope.to_string();
    let fingerprint = fingerprint(&scope, method, target, body);
    let mut keys = Vec::with_capacity(2);
    if let Some(h) = &header {
        keys.push(spec(&scope, Kind::Header, h.as_bytes()));
    }
    if let Some((derived, key)) = &money.key {
        let (kind, key) = match derived {
            Derived::Reference => (Kind::Reference, key.clone()),
            Derived::BulkReferences => (Kind::BulkReferences, key.clone()),
            Derived::Refund => (Kind::Refund, key.clone()),
            Derived::Guard => (Kind::Guard, fingerprint.to_vec()),
        };
        keys.push(spec(&scope, kind, &key));
    }
    let reference = money.reference.unwrap_or_default();
    Ok(Some(RequestKeys {
        keys,
        fingerprint,
        subject: Subject::new(method.as_str(), path, &reference),
        recovery: money.recovery,
    }))
}

fn spec(scope: &str, kind: Kind, key: &[u8]) -> KeySpec {
    let scope = (!kind.ledger_scoped()).then_some(scope);
    KeySpec {
        kind,
        store_key: store_key(scope, kind, key),
    }
}

/// The `Idempotency-Key`, if sent: exactly one, 1 to 255 visible characters, as a
/// structured-field string or a bare token.
fn header_key(headers: &HeaderMap) -> Result<Option<String>, Reject> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Reject::IdempotencyKeyInvalid);
    }
    let raw = value
        .to_str()
        .map_err(|_| Reject::IdempotencyKeyInvalid)?
        .trim();
    let key = match raw.strip_prefix('"') {
        Some(rest) => unquote(rest).ok_or(Reject::IdempotencyKeyInvalid)?,
        None => raw.to_string(),
    };
    let visible = key.bytes().all(|b| (0x20..0x7f).contains(&b));
    if key.is_empty() || key.len() > IDEMPOTENCY_MAX_KEY_LEN || !visible {
        return Err(Reject::IdempotencyKeyInvalid);
    }
    Ok(Some(key))
}

/// The rest of an sf-string after its opening quote (RFC 8941 3.3.3): `\"` and `\\` escapes,
/// nothing after the closing quote.
fn unquote(rest: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                c @ ('"' | '\\') => out.push(c),
                _ => return None,
            },
            '"' => return chars.next().is_none().then_some(out),
            c => out.push(c),
        }
    }
    None
}

fn fingerprint(scope: &str, method: &Method, target: &str, body: &Buffered) -> Fingerprint {
    let mut body_hash = Sha256::new();
    for chunk in body.chunks() {
        body_hash.update(chunk);
    }
    let mut h = Sha256::new();
    h.update(scope);
    h.update([0]);
    h.update(method.as_str());
    h.update([0]);
    h.update(target);
    h.update([0]);
    h.update(body_hash.finalize());
    h.finalize().into()
}

/// A client's key is its own (`scope`); a ledger's key (a reference) is everyone's (none).
fn store_key(scope: Option<&str>, kind: Kind, key: &[u8]) -> StoreKey {
    let mut h = Sha256::new();
    h.update(b"blnk-gateway idempotency v1\0");
    match scope {
        Some(s) => {
            h.update(b"client\0");
            h.update(s);
        }
        None => h.update(b"ledger\0"),
    }
    h.update([0]);
    h.update(kind.tag());
    h.update([0]);
    h.update(key);
    h.finalize().into()
}

#[cfg(test)]
mod tests;
