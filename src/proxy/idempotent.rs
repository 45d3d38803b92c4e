//! Retries made safe, in the request path: before forwarding, what the idempotency store says
//! about the request's key ([`gate`]); after, keeping Blnk's answer for the retries is `keep`'s.
//!
//! When the first request's outcome is unknown (it may have reached Blnk, and no answer came) and
//! the request is a transaction with a reference, Blnk is asked (`GET /transactions/reference/..`):
//!
//! | Blnk knows the reference | since the unknown outcome | the retry gets |
//! |---|---|---|
//! | yes, a single transaction | any time | 201 with Blnk's record of it (its `transaction_id` is the first answer's), kept for later retries (`recovered`) |
//! | yes, a split one (only its legs are stored) | any time | 409 `GATEWAY_IDEMPOTENCY_ANSWER_NOT_KEPT`: it was processed |
//! | no | over `gateway.idempotency.unknown_settle` (60 s) | forwarded: it never took effect (`first`) |
//! | no, or Blnk did not answer | under it | 409 `GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN` with `Retry-After` |
//!
//! Without a reference the retry gets 409 `GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN`: the client checks
//! the resource, and retries with a new key if it must.

use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::exchange::Answer;
use super::keep::stored;
use crate::audit::Entry;
use crate::body::{Buffered, RequestBody};
use crate::config::{IdempotencyPolicy, Identity};
use crate::error::Reject;
use crate::gateway::Gateway;
use crate::headers::X_BLNK_KEY;
use crate::idempotency::{self, Claim, Gate, Idempotency, RequestKey, Stored};
use crate::limits::{IDEMPOTENCY_LOOKUP_TIMEOUT, IDEMPOTENCY_UNAVAILABLE_LOG_INTERVAL};
use crate::metrics::IdempotencyOutcome;
use crate::state::Snapshot;

/// The header a replayed answer carries (draft-ietf-httpapi-idempotency-key-header).
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// What the key says the request does.
pub(super) enum Keyed {
    /// No key: forward as usual.
    Pass,
    /// The request holds its key: forward, then keep the answer.
    Claimed(Claim),
    /// Answered from the store (or from Blnk's record), without forwarding.
    Answered(Answer),
}

/// The request's facts the key is made of.
pub(super) struct Request<'a> {
    pub method: &'a Method,
    pub target: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a Buffered,
    pub identity: &'a Identity,
}

/// Only POST and PATCH carry keys (see `idempotency::key`).
pub(super) fn keyable(method: &Method) -> bool {
    *method == Method::POST || *method == Method::PATCH
}

/// Looks the request's key up and decides (see the module docs of `idempotency::service`).
pub(super) async fn gate(
    gw: &Gateway,
    snap: &Snapshot,
    req: Request<'_>,
    entry: &mut Entry,
) -> Result<Keyed, Reject> {
    let Some(idem) = &gw.idempotency else {
        return Ok(Keyed::Pass);
    };
    if !keyable(req.method) {
        return Ok(Keyed::Pass);
    }
    let policy = &snap.settings.idempotency;
    let key = idempotency::key::of(
        req.method,
        req.target,
        req.headers,
        req.body,
        req.identity,
        policy.from_reference,
    )?;
    let Some(key) = key else {
        return Ok(Keyed::Pass);
    };
    let outcome = |o: IdempotencyOutcome, entry: &mut Entry| {
        gw.metrics.idempotency(o);
        entry.idempotency(o.label());
    };
    let gate = idem
        .gate(&key, policy.ttl)
        .await
        .map_err(|e| unavailable(gw, e))?;
    let keyed = match gate {
        Gate::Claimed(claim) => Ok((IdempotencyOutcome::First, Keyed::Claimed(claim))),
        Gate::Replay(stored) => replay(stored).map(|a| (IdempotencyOutcome::Replayed, a)),
        Gate::InProgress => Err((
            IdempotencyOutcome::InProgress,
            Reject::IdempotencyInProgress,
        )),
        Gate::Mismatch => Err((IdempotencyOutcome::Mismatch, Reject::IdempotencyKeyReused)),
        Gate::Unknown { version, since_ms } => {
            unknown(gw, snap, idem, &key, (version, since_ms), policy).await
        }
    };
    match keyed {
        Ok((o, keyed)) => {
            outcome(o, entry);
            Ok(keyed)
        }
        Err((o, reject)) => {
            outcome(o, entry);
            Err(reject)
        }
    }
}

type Decided = Result<(IdempotencyOutcome, Keyed), (IdempotencyOutcome, Reject)>;

/// The stored answer, as sent again, or the refusal for one too large to have been kept.
fn replay(stored: Stored) -> Result<Keyed, (IdempotencyOutcome, Reject)> {
    let Some(body) = stored.body else {
        return Err((
            IdempotencyOutcome::Replayed,
            Reject::IdempotencyAnswerNotKept,
        ));
    };
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    for (name, value) in stored.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_maybe_shared(value),
        ) {
            parts.headers.append(n, v);
        }
    }
    parts
        .headers
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    Ok(Keyed::Answered(Answer::Read(parts, body)))
}

/// The first request's outcome is unknown: ask Blnk about the reference, if there is one.
async fn unknown(
    gw: &Gateway,
    snap: &Snapshot,
    idem: &Idempotency,
    key: &RequestKey,
    (version, since_ms): (u64, u64),
    policy: &IdempotencyPolicy,
) -> Decided {
    let not_yet = |secs| {
        (
            IdempotencyOutcome::Unknown,
            Reject::IdempotencyOutcomeUnknown {
                retry_after_secs: secs,
            },
        )
    };
    let Some((reference, split)) = &key.reference else {
        return Err(not_yet(0));
    };
    let elapsed = idem.now_ms().saturating_sub(since_ms);
    let settle_ms = u64::try_from(policy.unknown_settle.as_millis()).unwrap_or(u64::MAX);
    let fail = |e| (IdempotencyOutcome::Unknown, unavailable(gw, e));
    match lookup(gw, snap, reference, *split, policy.max_answer_bytes).await {
        Lookup::Found(stored) => {
            idem.resolve(key, version, stored.clone(), policy.ttl)
                .await
                .map_err(fail)?;
            let answered = replay(stored).map_err(|(_, r)| (IdempotencyOutcome::Recovered, r))?;
            Ok((IdempotencyOutcome::Recovered, answered))
        }
        Lookup::NotFound if elapsed >= settle_ms => {
            match idem
                .take_over(key, version, policy.ttl)
                .await
                .map_err(fail)?
            {
                Some(claim) => Ok((IdempotencyOutcome::First, Keyed::Claimed(claim))),
                None => Err((
                    IdempotencyOutcome::InProgress,
                    Reject::IdempotencyInProgress,
                )),
            }
        }
        Lookup::NotFound => Err(not_yet((settle_ms - elapsed).div_ceil(1000))),
        Lookup::Failed => Err(not_yet(1)),
    }
}

enum Lookup {
    Found(Stored),
    NotFound,
    Failed,
}

/// `GET /transactions/reference/<reference>` (a split transaction's first leg: `<ref>_1` when
/// queued, `<ref>-1` with `skip_queue`), with the gateway's key.
async fn lookup(gw: &Gateway, snap: &Snapshot, reference: &str, split: bool, max: usize) -> Lookup {
    // gin cannot route an encoded slash: such a reference cannot be looked up.
    if reference.contains('/') {
        return Lookup::Failed;
    }
    let names = if split {
        vec![format!("{reference}_1"), format!("{reference}-1")]
    } else {
        vec![reference.to_string()]
    };
    for name in names {
        match ask(gw, snap, &name, max).await {
            Lookup::NotFound => continue,
            // A split transaction took effect, but its first answer cannot be rebuilt.
            Lookup::Found(mut stored) if split => {
                stored.body = None;
                return Lookup::Found(stored);
            }
            other => return other,
        }
    }
    Lookup::NotFound
}

async fn ask(gw: &Gateway, snap: &Snapshot, reference: &str, max: usize) -> Lookup {
    let upstream = &snap.settings.upstream;
    let uri = format!(
        "{}://{}/transactions/reference/{}",
        upstream.scheme,
        upstream.authority,
        encode_segment(reference)
    );
    let Ok(mut req) = http::Request::get(uri).body(RequestBody::empty()) else {
        return Lookup::Failed;
    };
    let key = snap.keys.upstream_key(Instant::now()).1.clone();
    req.headers_mut()
        .insert(http::header::HOST, upstream.host.clone());
    req.headers_mut().insert(X_BLNK_KEY, key);
    let asked = async {
        let res = gw
            .upstream
            .send(req, snap.settings.limits.upstream())
            .await
            .ok()?;
        let status = res.status();
        let (parts, body) = res.into_parts();
        let bytes = http_body_util::Limited::new(body, max)
            .collect()
            .await
            .ok()?
            .to_bytes();
        Some((status, parts, bytes))
    };
    match tokio::time::timeout(IDEMPOTENCY_LOOKUP_TIMEOUT, asked).await {
        Ok(Some((StatusCode::OK, parts, body))) => {
            // The first answer was a 201 with this record (for a queued transaction, the same
            // `transaction_id`): what the retry gets.
            let mut stored = stored(&parts, Some(body));
            stored.status = StatusCode::CREATED.as_u16();
            Lookup::Found(stored)
        }
        Ok(Some((StatusCode::NOT_FOUND, _, _))) => Lookup::NotFound,
        _ => Lookup::Failed,
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The store cannot be used: the request is refused rather than forwarded unprotected. Logged
/// at most once per `IDEMPOTENCY_UNAVAILABLE_LOG_INTERVAL`, not once per request.
fn unavailable(gw: &Gateway, e: idempotency::StoreError) -> Reject {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_LOGGED_MS: AtomicU64 = AtomicU64::new(0);
    gw.metrics.idempotency(IdempotencyOutcome::StoreUnavailable);
    let now = idempotency::system_now_ms();
    let last = LAST_LOGGED_MS.load(Ordering::Relaxed);
    let every = u64::try_from(IDEMPOTENCY_UNAVAILABLE_LOG_INTERVAL.as_millis()).unwrap_or(0);
    if now.saturating_sub(last) >= every
        && LAST_LOGGED_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::error!(error = %e, "idempotency store cannot be used; keyed requests get 503 (blnk_gateway_idempotency_total{{outcome=\"store_unavailable\"}} counts them)");
    }
    Reject::IdempotencyUnavailable
}
