//! Keeping Blnk's answer for the retries of a request that holds an idempotency key: read whole
//! (up to `max_answer_bytes`) inside the exchange, so it happens even when the client has gone,
//! and settled into the store by its status (see `idempotency::Settle`).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use super::exchange::{Answer, Outcome};
use crate::error::Reject;
use crate::gateway::Gateway;
use crate::idempotency::{Claim, Settle, Stored};
use crate::state::Snapshot;

/// Blnk's headers kept with an answer for its replays; the gateway adds its own on each replay.
const KEPT_HEADERS: [&str; 6] = [
    "content-type",
    "content-language",
    "location",
    "cache-control",
    "etag",
    "last-modified",
];

/// After the exchange of a request that holds its key: Blnk's answer (read whole, up to
/// `max_answer_bytes`, so it can be kept) and how it settles the key. Runs inside the exchange,
/// so it happens even when the client has gone.
pub(super) async fn keep(
    gw: Arc<Gateway>,
    snap: Arc<Snapshot>,
    claim: Claim,
    outcome: Outcome,
) -> Outcome {
    let Some(idem) = &gw.idempotency else {
        return outcome;
    };
    let policy = &snap.settings.idempotency;
    let (outcome, settle) = match outcome {
        Ok(answer) => {
            let deadline = snap.settings.limits.upstream_response_timeout;
            let (answer, stored) = capture(answer, policy.max_answer_bytes, deadline).await;
            let status = stored.status;
            (answer, Settle::of_status(status, || stored))
        }
        // Nothing was sent: the key is free for a retry.
        Err(r @ (Reject::UpstreamUnavailable | Reject::UpstreamSaturated)) => {
            (Err(r), Settle::Release)
        }
        Err(r) => (Err(r), Settle::Unknown),
    };
    if let Err(e) = idem.settle(&claim, settle).await {
        // The key stays in flight, and becomes an unknown outcome when that has lasted too long.
        tracing::error!(error = %e, "idempotency key not settled");
    }
    outcome
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

pub(super) fn stored(parts: &http::response::Parts, body: Option<Bytes>) -> Stored {
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
