//! Which key a request has, if any, and its fingerprint.
//!
//! - With `from_reference`, the transaction's `reference` for `POST /transactions`, and the list
//!   of the items' references for `POST /transactions/bulk` (unless `dry_run`, which consumes
//!   nothing). The body is read as Blnk reads it: the first JSON object only, field names matched
//!   without regard to case, a later duplicate field winning, `null` changing nothing (Go's
//!   `encoding/json`). A reference is unique across the ledger, so its key is the ledger's, not
//!   the client's.
//! - Otherwise an `Idempotency-Key` header on POST or PATCH (draft-ietf-httpapi-idempotency-key-
//!   header: a structured-field string, `"..."`; a bare token is accepted too, as most clients
//!   send one), scoped to the client's identity: one client's key never reveals or blocks
//!   another's. A header is always checked, even where the reference is the key.
//!
//! The store key is a SHA-256 (of the scope, the kind and the key), so the store holds no key
//! and no identity. The fingerprint is a SHA-256 of the client's identity, the method, the
//! forwarded target and the body's SHA-256: a reference another client used does not match.

use std::fmt;

use http::{HeaderMap, Method};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use sha2::{Digest, Sha256};

use super::entry::Fingerprint;
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
}

impl Kind {
    fn tag(self) -> &'static [u8] {
        match self {
            Kind::Header => b"header",
            Kind::Reference => b"reference",
            Kind::BulkReferences => b"bulk",
        }
    }
}

/// A request's key, ready for the store.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub kind: Kind,
    pub store_key: StoreKey,
    pub fingerprint: Fingerprint,
    /// `POST /transactions`: the reference, to ask Blnk about when the outcome is unknown, and
    /// whether the transaction is split (Blnk then stores only its legs).
    pub reference: Option<(String, bool)>,
}

/// The key of a request, if it has one. `scope` is the client's identity, formatted only when
/// the request has a key: a POST without one costs a header lookup, never a hash of its body.
///
/// A transaction's reference is Blnk's own idempotency key, unique across the ledger: when the
/// request has one it is the key (with `from_reference`), whichever `Idempotency-Key` is sent and
/// whichever client sends it, so no two requests with one reference both reach Blnk (which would
/// answer the second with a 201 for a transaction it then drops). The client is part of the
/// fingerprint: a reference another client used gets 422, never that client's answer.
pub fn of(
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    body: &Buffered,
    scope: &(impl fmt::Display + ?Sized),
    from_reference: bool,
) -> Result<Option<RequestKey>, Reject> {
    if *method != Method::POST && *method != Method::PATCH {
        return Ok(None);
    }
    let path = target.split('?').next().unwrap_or(target);
    let header = header_key(headers)?;
    let implicit = match (from_reference, path) {
        (false, _) => None,
        _ if *method != Method::POST => None,
        (true, "/transactions") => reference_of(&body.to_vec()).map(|(r, split)| {
            let key = r.clone().into_bytes();
            (Kind::Reference, key, Some((r, split)))
        }),
        (true, "/transactions/bulk") => {
            bulk_references(&body.to_vec()).map(|refs| (Kind::BulkReferences, refs, None))
        }
        _ => None,
    };
    if implicit.is_none() && header.is_none() {
        return Ok(None);
    }
    let scope = scope.to_string();
    let fingerprint = fingerprint(&scope, method, target, body);
    if let Some((kind, key, reference)) = implicit {
        return Ok(Some(RequestKey {
            kind,
            store_key: store_key(None, kind, &key),
            fingerprint,
            reference,
        }));
    }
    Ok(header.map(|key| RequestKey {
        kind: Kind::Header,
        store_key: store_key(Some(&scope), Kind::Header, key.as_bytes()),
        fingerprint,
        reference: None,
    }))
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

/// A header key is the client's own (`scope`); a reference is the ledger's (none).
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

/// `POST /transactions`: the reference Blnk will use, and whether the transaction is split; none
/// for a dry run (it consumes nothing) or a body Blnk cannot bind.
fn reference_of(body: &[u8]) -> Option<(String, bool)> {
    let head = first_object(body)?;
    let split = head.split();
    let reference = head.reference.filter(|r| !r.is_empty())?;
    (!head.dry_run).then_some((reference, split))
}

/// `POST /transactions/bulk`: the items' references in order, joined; none for a dry run, an
/// empty list or an item without a reference.
fn bulk_references(body: &[u8]) -> Option<Vec<u8>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let bulk = de.deserialize_map(BulkVisitor).ok()?;
    let items = bulk.items.filter(|i| !i.is_empty())?;
    if bulk.dry_run {
        return None;
    }
    let mut out = Vec::new();
    for item in items {
        let r = item.0.reference.filter(|r| !r.is_empty())?;
        out.extend_from_slice(r.as_bytes());
        out.push(0);
    }
    Some(out)
}

/// What the gateway needs from a transaction, read as Go's decoder reads it: names matched
/// without regard to case, a later field overwriting an earlier one, `null` leaving it as it was.
#[derive(Debug, Default)]
struct TxnHead {
    reference: Option<String>,
    dry_run: bool,
    sources: usize,
    destinations: usize,
}

impl TxnHead {
    /// Blnk splits a transaction with sources or destinations into legs.
    fn split(&self) -> bool {
        self.sources > 0 || self.destinations > 0
    }
}

/// The first JSON object of `body`, as Blnk's decoder takes it (what follows it is ignored).
fn first_object(body: &[u8]) -> Option<TxnHead> {
    let mut de = serde_json::Deserializer::from_slice(body);
    de.deserialize_map(TxnVisitor).ok()
}

struct TxnVisitor;

impl<'de> Visitor<'de> for TxnVisitor {
    type Value = TxnHead;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a transaction object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TxnHead, A::Error> {
        let mut head = TxnHead::default();
        while let Some(key) = map.next_key::<String>()? {
            let is = |name: &str| key.eq_ignore_ascii_case(name);
            if is("reference") {
                if let Some(r) = map.next_value::<Option<String>>()? {
                    head.reference = Some(r);
                }
            } else if is("dry_run") {
                if let Some(d) = map.next_value::<Option<bool>>()? {
                    head.dry_run = d;
                }
            } else if is("sources") || is("destinations") {
                if let Some(v) = map.next_value::<Option<Vec<IgnoredAny>>>()? {
                    *(if is("sources") {
                        &mut head.sources
                    } else {
                        &mut head.destinations
                    }) = v.len();
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(head)
    }
}

/// A bulk request's fields that matter here, read the same way.
#[derive(Default)]
struct BulkHead {
    items: Option<Vec<Item>>,
    dry_run: bool,
}

/// One item of a bulk request.
struct Item(TxnHead);

impl<'de> serde::Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TxnVisitor).map(Item)
    }
}

struct BulkVisitor;

impl<'de> Visitor<'de> for BulkVisitor {
    type Value = BulkHead;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bulk transaction object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BulkHead, A::Error> {
        let mut head = BulkHead::default();
        while let Some(key) = map.next_key::<String>()? {
            if key.eq_ignore_ascii_case("transactions") {
                if let Some(items) = map.next_value::<Option<Vec<Item>>>()? {
                    head.items = Some(items);
                }
            } else if key.eq_ignore_ascii_case("dry_run") {
                if let Some(d) = map.next_value::<Option<bool>>()? {
                    head.dry_run = d;
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(head)
    }
}

#[cfg(test)]
mod tests;
