//! What Blnk holds, asked with the gateway's own key when a keyed request's first outcome is
//! unknown or the store cannot vouch that a key is new: a transfer by reference (a split by its
//! first leg), a refund, and whether a record found is the request's own transfer (docs/blnk.md
//! section 6: `precise_amount`, `currency`, and the balances, an `@indicator` resolved to its
//! balance id). Every question has a deadline; no answer is "cannot tell", never "not there".

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::time::Instant;

use crate::body::RequestBody;
use crate::gateway::Gateway;
use crate::headers::X_BLNK_KEY;
use crate::idempotency::route::TransferFacts;
use crate::limits::{IDEMPOTENCY_LOOKUP_MAX_BYTES, IDEMPOTENCY_LOOKUP_TIMEOUT};
use crate::state::Snapshot;

/// What Blnk said about a record.
#[derive(Debug, Clone)]
pub enum Found {
    /// The record, and its body as Blnk sent it.
    Yes(Value, Bytes),
    No,
    /// No answer in time, or one that cannot be read: cannot tell.
    Unknown,
}

/// `GET <path>` to Blnk with the gateway's key, within the lookup deadline.
pub async fn get(gw: &Gateway, snap: &Snapshot, path: &str) -> Found {
    let upstream = &snap.settings.upstream;
    let uri = format!("{}://{}{path}", upstream.scheme, upstream.authority);
    let Ok(mut req) = http::Request::get(uri).body(RequestBody::empty()) else {
        return Found::Unknown;
    };
    let key = snap.keys.upstream_key(Instant::now()).1.clone();
    req.headers_mut()
        .insert(http::header::HOST, upstream.host.clone());
    req.headers_mut().insert(X_BLNK_KEY, key);
    // A lookup has its own deadline: a short upstream_response_timeout (which lost the first
    // answer, perhaps) must not keep the gateway from learning what Blnk holds.
    let deadlines = crate::limits::UpstreamDeadlines {
        connect: snap.settings.limits.upstream_connect_timeout,
        response: IDEMPOTENCY_LOOKUP_TIMEOUT,
    };
    let asked = async {
        let res = gw.upstream.send(req, deadlines).await.ok()?;
        let status = res.status();
        let body = http_body_util::Limited::new(res.into_body(), IDEMPOTENCY_LOOKUP_MAX_BYTES)
            .collect()
            .await
            .ok()?
            .to_bytes();
        Some((status, body))
    };
    match tokio::time::timeout(IDEMPOTENCY_LOOKUP_TIMEOUT, asked).await {
        Ok(Some((StatusCode::OK, body))) => match serde_json::from_slice(&body) {
            Ok(v) => Found::Yes(v, body),
            Err(_) => Found::Unknown,
        },
        Ok(Some((StatusCode::NOT_FOUND, _))) => Found::No,
        _ => Found::Unknown,
    }
}

/// A stored transaction by reference. gin cannot route an encoded slash: a reference holding
/// one cannot be looked up (cannot tell).
pub async fn by_reference(gw: &Gateway, snap: &Snapshot, reference: &str) -> Found {
    if reference.contains('/') {
        return Found::Unknown;
    }
    get(
        gw,
        snap,
        &format!("/transactions/reference/{}", segment(reference)),
    )
    .await
}

/// A transfer's record: itself, or for a split its first leg (`<ref>_1` queued, `<ref>-1` with
/// `skip_queue`).
pub async fn transfer(gw: &Gateway, snap: &Snapshot, facts: &TransferFacts) -> Found {
    if facts.legs == 0 {
        return by_reference(gw, snap, &facts.reference).await;
    }
    let sep = if facts.queued { '_' } else { '-' };
    by_reference(gw, snap, &format!("{}{sep}1", facts.reference)).await
}

/// The refund of transaction `id`: Blnk names it after the transaction that moved the money,
/// `id` itself once applied, or a queued transaction's `_q` child.
pub async fn refund(gw: &Gateway, snap: &Snapshot, id: &str) -> Found {
    let original = match get(gw, snap, &format!("/transactions/{}", segment(id))).await {
        Found::Yes(v, _) => v,
        other => return other,
    };
    let refunded = match original["status"].as_str() {
        Some("QUEUED") => {
            let reference = original["reference"].as_str().unwrap_or_default();
            match by_reference(gw, snap, &format!("{reference}_q")).await {
                Found::Yes(child, _) => child["transaction_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                other => return other,
            }
        }
        _ => id.to_string(),
    };
    by_reference(gw, snap, &format!("{refunded}_refund")).await
}

/// Whether `record` is the transfer `facts` describes. A split's leg is compared on what every
/// leg shares (currency, the side not split).
pub async fn is_transfer(
    gw: &Gateway,
    snap: &Snapshot,
    facts: &TransferFacts,
    record: &Value,
) -> Option<bool> {
    if record["currency"].as_str() != Some(facts.currency.as_str()) {
        return Some(false);
    }
    if facts.legs == 0 && precise(record) != Some(facts.precise.clone()) {
        return Some(false);
    }
    for (named, stored) in [
        (&facts.source, &record["source"]),
        (&facts.destination, &record["destination"]),
    ] {
        let Some(named) = named else { continue };
        let Some(stored) = stored.as_str() else {
            return Some(false);
        };
        if named == stored {
            continue;
        }
        if !named.starts_with('@') {
            return Some(false);
        }
        let path = format!(
            "/balances/indicator/{}/currency/{}",
            segment(named),
            segment(&facts.currency)
        );
        match get(gw, snap, &path).await {
            Found::Yes(b, _) if b["balance_id"].as_str() == Some(stored) => {}
            Found::Yes(..) | Found::No => return Some(false),
            Found::Unknown => return None,
        }
    }
    Some(true)
}

/// A record's `precise_amount`, written as a number or a string.
fn precise(record: &Value) -> Option<String> {
    match &record["precise_amount"] {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
