//! Sending a request while Blnk may hold either master key (see `crate::keys`).
//!
//! The body has been read whole (see `buffer`), so the request can be sent a second time. Blnk
//! checks the key before any handler runs, so a 401 `AUTH_INVALID_API_KEY` means Blnk did
//! nothing: only then is the request sent once more, with the other key. This path is taken only
//! during a rotation, until Blnk is seen accepting the new key.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use tokio::time::Instant;

use super::exchange::{Answer, Outcome};
use crate::body::{Buffered, RequestBody};
use crate::error::Reject;
use crate::gateway::Gateway;
use crate::headers::X_BLNK_KEY;
use crate::keys::Which;
use crate::limits::MAX_REFUSAL_BODY_BYTES;
use crate::state::Snapshot;
use crate::upstream::UpstreamResponse;

/// Blnk's answer to a key it does not hold.
const KEY_REFUSED: &[u8] = b"AUTH_INVALID_API_KEY";

/// One attempt's outcome.
enum Attempt {
    /// Blnk refused the key, before doing anything; the body it sent.
    Refused(http::response::Parts, Bytes),
    /// Another 401, already read: Blnk's answer to the client.
    Read(http::response::Parts, Bytes),
    /// Anything else, still streaming.
    Answered(UpstreamResponse),
}

pub(super) async fn send_either_key(
    gw: &Gateway,
    snap: &Snapshot,
    parts: http::request::Parts,
    body: Buffered,
    now: Instant,
) -> Outcome {
    let (which, key) = snap.keys.upstream_key(now);
    let refused = match attempt(gw, snap, &parts, key, &body).await? {
        Attempt::Answered(res) => {
            note_accepted(snap, which);
            return Ok(Answer::Streaming(res));
        }
        Attempt::Read(res_parts, res_body) => return Ok(Answer::Read(res_parts, res_body)),
        Attempt::Refused(res_parts, res_body) => (res_parts, res_body),
    };
    let Some((other, other_key)) = snap.keys.other_upstream_key(which, now) else {
        return Ok(Answer::Read(refused.0, refused.1));
    };
    match attempt(gw, snap, &parts, other_key, &body).await? {
        Attempt::Answered(res) => {
            note_accepted(snap, other);
            Ok(Answer::Streaming(res))
        }
        Attempt::Read(res_parts, res_body) | Attempt::Refused(res_parts, res_body) => {
            Ok(Answer::Read(res_parts, res_body))
        }
    }
}

async fn attempt(
    gw: &Gateway,
    snap: &Snapshot,
    parts: &http::request::Parts,
    key: &HeaderValue,
    body: &Buffered,
) -> Result<Attempt, Reject> {
    let mut req = http::Request::new(RequestBody::copy_of(body));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req.headers_mut().insert(X_BLNK_KEY, key.clone());
    let limits = &snap.settings.limits;
    let res = gw.upstream.send(req, limits.upstream()).await?;
    if res.status() != StatusCode::UNAUTHORIZED {
        return Ok(Attempt::Answered(res));
    }
    let (res_parts, res_body) = res.into_parts();
    let read = Limited::new(res_body, MAX_REFUSAL_BODY_BYTES).collect();
    let bytes = match tokio::time::timeout(limits.upstream_response_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return Err(Reject::UpstreamBroken),
        Err(_) => return Err(Reject::UpstreamTimeout),
    };
    if bytes.windows(KEY_REFUSED.len()).any(|w| w == KEY_REFUSED) {
        Ok(Attempt::Refused(res_parts, bytes))
    } else {
        Ok(Attempt::Read(res_parts, bytes))
    }
}

fn note_accepted(snap: &Snapshot, which: Which) {
    if snap.keys.upstream_accepted(which) {
        let key = match which {
            Which::Current => &snap.keys.current,
            Which::Previous => match &snap.keys.previous {
                Some(p) => &p.key,
                None => &snap.keys.current,
            },
        };
        tracing::info!(key_fingerprint = %key.fingerprint(), ?which, "Blnk accepts this master key");
    }
}
