//! Keeping Blnk's answer for the retries of a request that holds its keys: read whole (up to
//! `max_answer_bytes`) inside the exchange, so it happens even when the client has gone, checked
//! with Blnk when the key was suspect, and settled into the store by what it says.
//!
//! | Blnk's answer | the keys |
//! |---|---|
//! | 2xx, 3xx | kept and replayed (a guard's is given back once the client has it) |
//! | a 4xx naming a `batch_id` (a bulk that failed after recording items) | kept: a refusal after an effect |
//! | another 4xx, or 503 | given back: Blnk did nothing, a corrected retry goes through |
//! | another 5xx, no answer, a broken one | unknown: it may have taken effect |
//! | none: Blnk unreachable or the pool full (nothing was sent) | given back |
//!
//! A suspect key's queued 201 (Blnk answers it before it stores anything) is checked: Blnk's
//! record under the reference must carry the answer's id. If it carries another, that is the
//! transfer the client gets (or 409 when it is another one); if none appears within
//! `IDEMPOTENCY_VERIFY_TIMEOUT`, the outcome is unknown and the client is told so: no client is
//! handed an id Blnk does not hold. A settle that fails is tried again in the background.

use std::sync::Arc;

use bytes::BytesMut;
use http_body_util::BodyExt;
use serde_json::Value;

use super::context::Env;
use super::exchange::{Answer, Outcome};
use super::lookup::{self, Found};
use super::recover::{created, judge_transfer, stored, Guarded, Judged};
use crate::error::Reject;
use crate::gateway::Gateway;
use crate::idempotency::route::Recovery;
use crate::idempotency::{Claims, Idempotency, Settle, Stored};
use crate::limits::{
    IDEMPOTENCY_SETTLE_PAUSE, IDEMPOTENCY_SETTLE_PAUSE_MAX, IDEMPOTENCY_SETTLE_RETRIES,
    IDEMPOTENCY_VERIFY_POLL, IDEMPOTENCY_VERIFY_TIMEOUT,
};

/// After the exchange of a request that holds its keys: Blnk's answer (read whole, up to
/// `max_answer_bytes`, so it can be kept), checked when the keys were suspect, and how it
/// settles them. Runs inside the exchange, so it happens even when the client has gone. A
/// guard's claims are left in `delivered` to give back once the client has the answer.
pub(super) async fn keep(
    env: Env,
    mut guarded: Guarded,
    outcome: Outcome,
    delivered: Arc<std::sync::Mutex<Option<Claims>>>,
) -> Outcome {
    let Env { gw, snap } = &env;
    let Some(idem) = &gw.idempotency else {
        return outcome;
    };
    let policy = &snap.settings.idempotency;
    let (outcome, settle) = match outcome {
        Ok(answer) => {
            let deadline = snap.settings.limits.upstream_response_timeout;
            let (answer, stored) = capture(answer, policy.max_answer_bytes, deadline).await;
            let settle = rule(&stored);
            match (&settle, guarded.claims.suspect) {
                (Settle::Keep(s), true) if s.status == 201 => {
                    verify(&env, &guarded, answer, s).await
                }
                _ => (answer, settle),
            }
        }
        // Nothing was sent: the keys are free for a retry.
        Err(r @ (Reject::UpstreamUnavailable | Reject::UpstreamSaturated)) => {
            (Err(r), Settle::Release)
        }
        Err(r) => (Err(r), Settle::Unknown),
    };
    let guard = guarded.keys.guard_only() && matches!(settle, Settle::Keep(_));
    settle_claims(gw, idem, &mut guarded.claims, settle).await;
    if guard {
        *delivered.lock().unwrap_or_else(|e| e.into_inner()) = Some(guarded.claims);
    }
    outcome
}

/// How an answer settles the keys (see the module docs).
fn rule(stored: &Stored) -> Settle {
    match stored.status {
        200..=399 => Settle::Keep(stored.clone()),
        400..=499 if names_a_batch(stored) => Settle::Keep(stored.clone()),
        400..=499 | 503 => Settle::Release,
        _ => Settle::Unknown,
    }
}

/// Whether a refusal names the batch it stopped in (Blnk's bulk: items before were recorded).
fn names_a_batch(stored: &Stored) -> bool {
    stored.body.as_ref().is_some_and(|b| {
        serde_json::from_slice::<Value>(b)
            .is_ok_and(|v| v.get("batch_id").is_some_and(Value::is_string))
    })
}

/// A suspect key's 201: is the id it names the one Blnk holds?
async fn verify(env: &Env, guarded: &Guarded, answer: Outcome, s: &Stored) -> (Outcome, Settle) {
    let (gw, snap) = (&env.gw, &env.snap);
    let answered: Option<Value> = s.body.as_ref().and_then(|b| serde_json::from_slice(b).ok());
    let id = answered
        .as_ref()
        .and_then(|v| v["transaction_id"].as_str())
        .unwrap_or_default()
        .to_string();
    let queued = answered.as_ref().is_some_and(|v| v["status"] == "QUEUED");
    if !queued || id.is_empty() {
        return (answer, Settle::Keep(s.clone()));
    }
    let deadline = tokio::time::Instant::now() + IDEMPOTENCY_VERIFY_TIMEOUT;
    let mut pause = IDEMPOTENCY_VERIFY_POLL;
    while tokio::time::Instant::now() < deadline {
        let judged = match &guarded.keys.recovery {
            Recovery::Transfer(facts) => match lookup::transfer(gw, snap, facts).await {
                // The stored record (a split's first leg points at its parent) names the answer.
                Found::Yes(v, _)
                    if v["transaction_id"] == id.as_str()
                        || v["parent_transaction"] == id.as_str() =>
                {
                    return (answer, Settle::Keep(s.clone()));
                }
                Found::Yes(..) => judge_transfer(env, facts).await,
                _ => Judged::NotFound,
            },
            Recovery::Refund { id: original } => match lookup::refund(gw, snap, original).await {
                Found::Yes(v, _) if v["transaction_id"] == id.as_str() => {
                    return (answer, Settle::Keep(s.clone()))
                }
                Found::Yes(_, body) => Judged::Same(created(body)),
                _ => Judged::NotFound,
            },
            Recovery::None | Recovery::Repeat => return (answer, Settle::Keep(s.clone())),
        };
        match judged {
            Judged::Same(kept) | Judged::Other(kept) => return (read(&kept), Settle::Keep(kept)),
            Judged::Split => return (answer, Settle::Keep(s.clone())),
            Judged::NotFound | Judged::CannotTell => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(IDEMPOTENCY_VERIFY_TIMEOUT / 4);
    }
    tracing::warn!("a queued answer for a suspect idempotency key was not confirmed by Blnk in time: its outcome is unknown");
    let secs = snap.settings.idempotency.unknown_settle.as_secs().max(1);
    (
        Err(Reject::IdempotencyOutcomeUnknown {
            retry_after_secs: secs,
        }),
        Settle::Unknown,
    )
}

/// A kept answer as the client's answer.
fn read(stored: &Stored) -> Outcome {
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = http::StatusCode::from_u16(stored.status).unwrap_or(http::StatusCode::OK);
    for (name, value) in &stored.headers {
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_maybe_shared(value.clone()),
        ) {
            parts.headers.append(n, v);
        }
    }
    Ok(Answer::Read(parts, stored.body.clone().unwrap_or_default()))
}

/// Settles the claims; on failure tries again in the background (a key left in flight would
/// make every retry wait `IDEMPOTENCY_IN_FLIGHT_MAX`), `IDEMPOTENCY_SETTLE_RETRIES` times.
pub(super) async fn settle(
    gw: &Arc<Gateway>,
    idem: &Idempotency,
    claims: &mut Claims,
    how: Settle,
) {
    settle_claims(gw, idem, claims, how).await
}

async fn settle_claims(gw: &Arc<Gateway>, idem: &Idempotency, claims: &mut Claims, how: Settle) {
    let Err(e) = idem.settle(claims, how.clone()).await else {
        return;
    };
    tracing::warn!(error = %e, "idempotency key not settled; trying again");
    let gw = gw.clone();
    let mut claims = claims.clone();
    tokio::spawn(async move {
        let Some(idem) = &gw.idempotency else { return };
        let mut pause = IDEMPOTENCY_SETTLE_PAUSE;
        for _ in 0..IDEMPOTENCY_SETTLE_RETRIES {
            tokio::time::sleep(pause).await;
            if idem.settle(&mut claims, how.clone()).await.is_ok() {
                tracing::info!("idempotency key settled after a retry");
                return;
            }
            pause = (pause * 2).min(IDEMPOTENCY_SETTLE_PAUSE_MAX);
        }
        tracing::error!(
            "idempotency key could not be settled: it stays in flight, then of unknown outcome"
        );
    });
}

/// Blnk's answer read into memory when it is small enough to keep, with what is kept of it.
async fn capture(answer: Answer, max: usize, deadline: std::time::Duration) -> (Outcome, Stored) {
    match answer {
        Answer::Read(parts, body) => {
            let kept = (body.len() <= max).then(|| body.clone());
            let stored = stored(&parts, kept);
            (Ok(Answer::Read(parts, body)), stored)
        }
        Answer::Partial(parts, prefix, rest) => {
            let stored = stored(&parts, None);
            (Ok(Answer::Partial(parts, prefix, rest)), stored)
        }
        Answer::Streaming(res) => {
            let (parts, mut body) = res.into_parts();
            let mut buf = BytesMut::new();
            let read = tokio::time::timeout(deadline, async {
                while buf.len() <= max {
                    match body.frame().await {
                        None => return Ok(true),
                        Some(Ok(frame)) => {
                            if let Some(d) = frame.data_ref() {
                                buf.extend_from_slice(d);
                            }
                        }
                        Some(Err(_)) => return Err(()),
                    }
                }
                Ok(false)
            })
            .await;
            match read {
                Ok(Ok(true)) => {
                    let body = buf.freeze();
                    let stored = stored(&parts, Some(body.clone()));
                    (Ok(Answer::Read(parts, body)), stored)
                }
                Ok(Ok(false)) => {
                    let stored = stored(&parts, None);
                    (Ok(Answer::Partial(parts, buf.freeze(), body)), stored)
                }
                // Blnk answered, then its body broke off: the status is known, the answer is not.
                _ => {
                    let stored = stored(&parts, None);
                    (Err(Reject::UpstreamBroken), stored)
                }
            }
        }
    }
}
