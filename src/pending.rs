//! The operator's view of idempotency keys after an incident: every key in flight or of unknown
//! outcome (`blnk-gateway idempotency pending`, through the admin listener's
//! `/idempotency/pending`), with what the request was and what Blnk holds for it now, so an
//! operator can tell each client whether its money moved.
//!
//! What Blnk holds is asked with the gateway's key, as a retry would ask (`proxy::lookup`): a
//! transfer's record by reference, a refund's record, an inflight transaction's status and the
//! commits and voids recorded against it. At most `PENDING_MAX` keys are listed, oldest first.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::gateway::Gateway;
use crate::idempotency::{Entry, State};
use crate::proxy::lookup::{self, Found};
use crate::state::Snapshot;

/// The most keys one listing shows (and asks Blnk about).
pub const PENDING_MAX: usize = 50;

/// The listing as JSON: `{"store": .., "pending": [..]}`.
pub async fn report(gw: &Arc<Gateway>) -> Value {
    let Some(idem) = &gw.idempotency else {
        return json!({"store": "off", "pending": []});
    };
    let entries = match idem.pending(PENDING_MAX).await {
        Ok(e) => e,
        Err(e) => return json!({"store": idem.describe(), "error": e.to_string()}),
    };
    let snap = gw.snapshot();
    let mut out = Vec::with_capacity(entries.len());
    for (key, entry) in entries {
        let blnk = blnk_holds(gw, &snap, &entry).await;
        out.push(describe(&key, &entry, blnk));
    }
    json!({"store": idem.describe(), "pending": out})
}

fn describe(key: &[u8; 32], entry: &Entry, blnk: Value) -> Value {
    let (state, since) = match entry.state {
        State::InFlight { since_ms, .. } => ("in_flight", since_ms),
        State::Unknown { since_ms } => ("unknown", since_ms),
        State::Done(_) => ("answered", 0),
    };
    let since = std::time::UNIX_EPOCH + std::time::Duration::from_millis(since);
    json!({
        "key": hex::encode(&key[..8]),
        "state": state,
        "since": humantime::format_rfc3339_seconds(since).to_string(),
        "method": entry.subject.method,
        "path": entry.subject.path,
        "reference": entry.subject.reference,
        "blnk": blnk,
    })
}

/// What Blnk holds for the request an entry names.
async fn blnk_holds(gw: &Gateway, snap: &Snapshot, entry: &Entry) -> Value {
    let s = &entry.subject;
    let segments: Vec<&str> = s.path.trim_start_matches('/').split('/').collect();
    match (s.method.as_str(), segments.as_slice()) {
        ("POST", ["transactions"]) if !s.reference.is_empty() => {
            let parent = lookup::by_reference(gw, snap, &s.reference).await;
            let child = lookup::by_reference(gw, snap, &format!("{}_q", s.reference)).await;
            json!({"record": record(parent), "applied_as": record(child)})
        }
        ("POST", ["refund-transaction", id]) => {
            json!({"refund": record(lookup::refund(gw, snap, id).await)})
        }
        ("PUT", ["transactions", "inflight", id]) => {
            let hold =
                lookup::get(gw, snap, &format!("/transactions/{}", lookup::segment(id))).await;
            let path = format!(
                "/transactions?parent_transaction_eq={}&limit=100",
                lookup::segment(id)
            );
            let children = match lookup::get(gw, snap, &path).await {
                Found::Yes(Value::Array(items), _) => {
                    Value::Array(items.iter().map(summary).collect())
                }
                Found::Yes(..) | Found::No => json!([]),
                Found::Unknown => json!("cannot tell"),
            };
            json!({"hold": record(hold), "settled_by": children})
        }
        _ => json!("not looked up: the gateway cannot ask Blnk about this request"),
    }
}

fn record(found: Found) -> Value {
    match found {
        Found::Yes(v, _) => summary(&v),
        Found::No => json!("not found"),
        Found::Unknown => json!("cannot tell"),
    }
}

/// The fields of a transaction that say whether money moved.
fn summary(v: &Value) -> Value {
    json!({
        "transaction_id": v["transaction_id"],
        "reference": v["reference"],
        "status": v["status"],
        "precise_amount": v["precise_amount"],
        "currency": v["currency"],
    })
}
