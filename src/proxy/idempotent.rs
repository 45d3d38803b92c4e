//! Retries made safe, in the request path: before forwarding, what the store says about the
//! request's keys ([`gate`]); after, keeping Blnk's answer for the retries is `keep`'s.
//!
//! When the first request's outcome is unknown (it may have reached Blnk, and no answer came),
//! what Blnk holds is asked (`lookup`), as `idempotency::route` says for the route:
//!
//! | Blnk holds | since the unknown outcome | the retry gets |
//! |---|---|---|
//! | this transfer (same amount, currency, balances) | any time | 201 with Blnk's record (its `transaction_id` is the first answer's), kept (`recovered`) |
//! | another transfer under the reference | any time | 409 `TXN_DUPLICATE_REFERENCE`, kept: the first request never took effect (`conflict`) |
//! | a split transaction's first leg, this split's | any time | 409 `GATEWAY_IDEMPOTENCY_ANSWER_NOT_KEPT`: it was processed |
//! | the refund of the transaction | any time | 201 with Blnk's record of the refund (`recovered`) |
//! | nothing | over `unknown_settle` | forwarded, then checked (below) (`first`) |
//! | nothing, or Blnk did not answer | under it | 409 `GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN` with `Retry-After` |
//!
//! A full commit or void is sent again at once (Blnk refuses a repeat itself). A bulk, a partial
//! commit, or a header key on another route cannot be asked about: an honest 409 without
//! `Retry-After` (the operator's view lists them: `blnk-gateway idempotency pending`).
//!
//! A key the store cannot vouch is new (`suspect`: seen within `remember`, a take-over, a store
//! that may have lost writes) is checked with Blnk before it is forwarded, and a queued answer
//! for it is checked after (`keep`), so no client is handed an id Blnk does not hold.

use http::header::HeaderValue;
use http::{Method, StatusCode};

use super::context::{Context, Env};
use super::exchange::Answer;
use super::lookup::{self, Found};
use super::recover::{created, judge_transfer, Guarded, Judged};
use crate::body::Buffered;
use crate::error::Reject;
use crate::gateway::Gateway;
use crate::idempotency::route::Recovery;
use crate::idempotency::service::{ms, UnknownAt};
use crate::idempotency::{self, Gate, Idempotency, RequestKeys, Stored};
use crate::limits::IDEMPOTENCY_UNAVAILABLE_LOG_INTERVAL;
use crate::metrics::IdempotencyOutcome;

/// The header a replayed answer carries (draft-ietf-httpapi-idempotency-key-header).
pub const IDEMPOTENT_REPLAYED: http::header::HeaderName =
    http::header::HeaderName::from_static("idempotent-replayed");

/// What the keys say the request does.
pub(super) enum Keyed {
    /// No key: forward as usual.
    Pass,
    /// The request holds its keys: forward, then keep the answer.
    Claimed(Guarded),
    /// Answered from the store (or from Blnk's record), without forwarding.
    Answered(Answer),
}

/// The request's facts the keys are made of.
pub(super) struct Request<'a> {
    pub method: &'a Method,
    pub target: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a Buffered,
    pub scope: &'a str,
}

type Decided = Result<(IdempotencyOutcome, Keyed), (IdempotencyOutcome, Reject)>;

/// Looks the request's keys up and decides (see the module docs of `idempotency::service`);
/// the outcome is counted and noted in the request's audit entry.
pub(super) async fn gate(cx: &mut Context, req: Request<'_>) -> Result<Keyed, Reject> {
    let env = &cx.env;
    let gw = &env.gw;
    let policy = &env.snap.settings.idempotency;
    let Some(idem) = &gw.idempotency else {
        if req.headers.contains_key(crate::headers::IDEMPOTENCY_KEY) {
            return Err(Reject::IdempotencyKeyNotSupported);
        }
        return Ok(Keyed::Pass);
    };
    let keys = idempotency::key::of(
        req.method,
        req.target,
        req.headers,
        req.body,
        req.scope,
        policy.from_reference,
    )?;
    let Some(keys) = keys else {
        return Ok(Keyed::Pass);
    };
    let gate = match idem.gate(&keys, policy.ttl).await {
        Ok(gate) => gate,
        Err(e) => {
            let refused = unavailable(gw, e);
            cx.entry
                .idempotency(IdempotencyOutcome::StoreUnavailable.label());
            return Err(refused);
        }
    };
    let decided = match gate {
        Gate::Claimed(claims) if claims.suspect => {
            verify_first(env, idem, Guarded { claims, keys }).await
        }
        Gate::Claimed(claims) => Ok((
            IdempotencyOutcome::First,
            Keyed::Claimed(Guarded { claims, keys }),
        )),
        Gate::Replay(stored) => replay(stored).map(|a| (IdempotencyOutcome::Replayed, a)),
        Gate::InProgress { .. } => Err((
            IdempotencyOutcome::InProgress,
            Reject::IdempotencyInProgress,
        )),
        Gate::Mismatch => Err((IdempotencyOutcome::Mismatch, Reject::IdempotencyKeyReused)),
        Gate::Unknown(at) => unknown(env, idem, keys, at).await,
    };
    let (outcome, result) = match decided {
        Ok((o, keyed)) => (o, Ok(keyed)),
        Err((o, reject)) => (o, Err(reject)),
    };
    gw.metrics.idempotency(outcome);
    cx.entry.idempotency(outcome.label());
    result
}

/// The stored answer, as sent again, or the refusal for one too large to have been kept.
pub(super) fn replay(stored: Stored) -> Result<Keyed, (IdempotencyOutcome, Reject)> {
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
            http::header::HeaderName::from_bytes(name.as_bytes()),
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

/// A suspect key (see the module docs): what Blnk holds decides before anything is forwarded.
async fn verify_first(env: &Env, idem: &Idempotency, guarded: Guarded) -> Decided {
    let gw = &env.gw;
    let found = match &guarded.keys.recovery {
        Recovery::Transfer(facts) => judge_transfer(env, facts).await,
        Recovery::Refund { id } => match lookup::refund(gw, &env.snap, id).await {
            Found::Yes(_, body) => Judged::Same(created(body)),
            Found::No => Judged::NotFound,
            Found::Unknown => Judged::CannotTell,
        },
        Recovery::None | Recovery::Repeat => Judged::NotFound,
    };
    let keep = |stored: Stored| async {
        let mut claims = guarded.claims.clone();
        super::keep::settle(
            gw,
            idem,
            &mut claims,
            idempotency::Settle::Keep(stored.clone()),
        )
        .await;
        stored
    };
    match found {
        Judged::NotFound => Ok((IdempotencyOutcome::Verified, Keyed::Claimed(guarded))),
        Judged::Same(s) => replay(keep(s).await).map(|a| (IdempotencyOutcome::Recovered, a)),
        Judged::Other(s) => replay(keep(s).await).map(|a| (IdempotencyOutcome::Conflict, a)),
        Judged::Split => {
            let mut claims = guarded.claims.clone();
            super::keep::settle(gw, idem, &mut claims, idempotency::Settle::Release).await;
            Err((
                IdempotencyOutcome::Recovered,
                Reject::IdempotencyAnswerNotKept,
            ))
        }
        Judged::CannotTell => {
            let mut claims = guarded.claims.clone();
            super::keep::settle(gw, idem, &mut claims, idempotency::Settle::Release).await;
            Err((
                IdempotencyOutcome::Unknown,
                Reject::IdempotencyOutcomeUnknown {
                    retry_after_secs: 1,
                },
            ))
        }
    }
}

/// The first request's outcome is unknown: ask Blnk, as the route allows.
async fn unknown(env: &Env, idem: &Idempotency, keys: RequestKeys, at: UnknownAt) -> Decided {
    let (gw, snap) = (&env.gw, &env.snap);
    let policy = &snap.settings.idempotency;
    let not_yet = |secs| {
        (
            IdempotencyOutcome::Unknown,
            Reject::IdempotencyOutcomeUnknown {
                retry_after_secs: secs,
            },
        )
    };
    let elapsed = idem.now_ms().saturating_sub(at.since_ms);
    let settle_ms = ms(policy.unknown_settle);
    let fail = |e| (IdempotencyOutcome::Unknown, unavailable(gw, e));
    let judged = match &keys.recovery {
        Recovery::None => return Err(not_yet(0)),
        Recovery::Repeat => Judged::NotFound,
        Recovery::Transfer(facts) => judge_transfer(env, facts).await,
        Recovery::Refund { id } => match lookup::refund(gw, snap, id).await {
            Found::Yes(_, body) => Judged::Same(created(body)),
            Found::No => Judged::NotFound,
            Found::Unknown => Judged::CannotTell,
        },
    };
    let resolve = |stored: Stored| async {
        idem.resolve(&at, &keys, stored.clone(), policy.ttl)
            .await
            .map_err(fail)?;
        Ok::<_, (IdempotencyOutcome, Reject)>(stored)
    };
    match judged {
        Judged::Same(s) => replay(resolve(s).await?).map(|a| (IdempotencyOutcome::Recovered, a)),
        Judged::Other(s) => replay(resolve(s).await?).map(|a| (IdempotencyOutcome::Conflict, a)),
        Judged::Split => Err((
            IdempotencyOutcome::Recovered,
            Reject::IdempotencyAnswerNotKept,
        )),
        Judged::NotFound if elapsed >= settle_ms || keys.recovery == Recovery::Repeat => {
            match idem.take_over(&at, &keys, policy.ttl).await.map_err(fail)? {
                Some(claims) => Ok((
                    IdempotencyOutcome::First,
                    Keyed::Claimed(Guarded { claims, keys }),
                )),
                None => Err((
                    IdempotencyOutcome::InProgress,
                    Reject::IdempotencyInProgress,
                )),
            }
        }
        Judged::NotFound => Err(not_yet((settle_ms - elapsed).div_ceil(1000))),
        Judged::CannotTell => Err(not_yet(1)),
    }
}

/// The store cannot be used: the request is refused rather than forwarded unprotected. Logged
/// at most once per `IDEMPOTENCY_UNAVAILABLE_LOG_INTERVAL`, not once per request.
pub(super) fn unavailable(gw: &Gateway, e: idempotency::StoreError) -> Reject {
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
