//! What Blnk's record says about a keyed request when the store alone cannot: after an unknown
//! outcome, for a key the store cannot vouch is new, and to check a queued answer for such a
//! key. A transfer's record is this request's only if it is the same transfer (`lookup`); one
//! under the reference that is another transfer means the request never took effect.

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use super::context::Env;
use super::lookup::{self, Found};
use crate::idempotency::route::TransferFacts;
use crate::idempotency::{Claims, RequestKeys, Stored};

/// A request that holds its keys, and what settling them needs.
#[derive(Debug)]
pub struct Guarded {
    pub claims: Claims,
    pub keys: RequestKeys,
}

/// What Blnk holds under a transfer's reference, judged against the request.
pub enum Judged {
    /// This transfer: the answer its first request would have had.
    Same(Stored),
    /// Another transfer holds the reference: the request can never take effect.
    Other(Stored),
    /// A split's leg: it was processed, its first answer cannot be rebuilt.
    Split,
    NotFound,
    CannotTell,
}

/// Asks Blnk what it holds for a transfer and compares it with the request.
pub(super) async fn judge_transfer(env: &Env, facts: &TransferFacts) -> Judged {
    let (gw, snap) = (&env.gw, &env.snap);
    let (record, body) = match lookup::transfer(gw, snap, facts).await {
        Found::Yes(v, b) => (v, b),
        Found::No => return Judged::NotFound,
        Found::Unknown => return Judged::CannotTell,
    };
    match lookup::is_transfer(gw, snap, facts, &record).await {
        None => Judged::CannotTell,
        Some(false) => Judged::Other(reference_used(&facts.reference)),
        Some(true) if facts.legs > 0 => Judged::Split,
        Some(true) => {
            // The first answer was a 201 with this record (a queued one's `transaction_id`).
            let parts = http::Response::new(()).into_parts().0;
            let mut s = stored(&parts, Some(body));
            s.status = StatusCode::CREATED.as_u16();
            s.headers = vec![(
                "content-type".into(),
                bytes::Bytes::from_static(b"application/json; charset=utf-8"),
            )];
            Judged::Same(s)
        }
    }
}

/// Blnk's own answer to a transfer under a used reference (`TXN_DUPLICATE_REFERENCE`).
fn reference_used(reference: &str) -> Stored {
    let m = format!("transaction validation failed: reference {reference} has already been used");
    let body =
        json!({"error": m, "error_detail": {"code": "TXN_DUPLICATE_REFERENCE", "message": m}});
    Stored {
        status: StatusCode::CONFLICT.as_u16(),
        headers: vec![(
            "content-type".into(),
            bytes::Bytes::from_static(b"application/json; charset=utf-8"),
        )],
        body: Some(bytes::Bytes::from(body.to_string())),
    }
}

/// A 201 with Blnk's record, as a kept answer.
pub fn created(body: bytes::Bytes) -> Stored {
    Stored {
        status: StatusCode::CREATED.as_u16(),
        headers: vec![(
            "content-type".into(),
            bytes::Bytes::from_static(b"application/json; charset=utf-8"),
        )],
        body: Some(body),
    }
}

/// Blnk's headers kept with an answer for its replays; the gateway adds its own on each replay.
const KEPT_HEADERS: [&str; 6] = [
    "content-type",
    "content-language",
    "location",
    "cache-control",
    "etag",
    "last-modified",
];

pub fn stored(parts: &http::response::Parts, body: Option<Bytes>) -> Stored {
    let headers = KEPT_HEADERS
        .iter()
        .flat_map(|name| parts.headers.get_all(*name).iter().map(move |v| (name, v)))
        .map(|(name, v)| ((*name).to_string(), Bytes::copy_from_slice(v.as_bytes())))
        .collect();
    Stored {
        status: parts.status.as_u16(),
        headers,
        body,
    }
}
