//! A master-key rotation, from the reload that brings a new key to the moment the previous one is
//! retired. The keys themselves, and which one Blnk is believed to hold, are data in the snapshot
//! (`keys`); this module is what moves them along:
//! - **the grace timer** ([`start`]): the previous key stays valid for clients until
//!   `gateway.rotation.grace` ends, then it is dropped from the snapshot;
//! - **the probe loop**: Blnk learns a new key only when it restarts, so it is asked
//!   (`keycheck::probe`) every `gateway.rotation.probe_interval` until it accepts the new key,
//!   the rotation is superseded, or the grace ends. In inject mode the previous key is then
//!   dropped at once: no client holds it;
//! - **the request path while Blnk may hold either key** ([`send_either_key`]): the body has been
//!   read whole, so a request can be sent a second time. Blnk checks the key before any handler
//!   runs, so a 401 `AUTH_INVALID_API_KEY` means Blnk did nothing: only then is the request sent
//!   once more, with the other key.
//!
//! Every change to the snapshot goes through `Gateway::update`, which serialises it with reloads.
//! This module does not decide what a key allows (`proxy::auth`, `keys`) nor whether Blnk accepts
//! the key outside a rotation (`keycheck`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use tokio::time::Instant;

use crate::body::{Buffered, RequestBody};
use crate::error::Reject;
use crate::gateway::Gateway;
use crate::headers::X_BLNK_KEY;
use crate::keycheck::{self, Verdict};
use crate::keys::{Previous, Which};
use crate::limits::MAX_REFUSAL_BODY_BYTES;
use crate::mode::Mode;
use crate::state::Snapshot;
use crate::upstream::UpstreamResponse;

/// Starts the grace timer and the probe loop for a rotation that kept a previous key (`previous`
/// is the new snapshot's); `old` names the key that was current before it.
pub fn start(gw: &Arc<Gateway>, old: &crate::secret::Fingerprint, previous: Option<Arc<Previous>>) {
    let Some(previous) = previous else {
        tracing::info!(previous_key = %old, "master key rotated with no grace: the previous key is no longer valid");
        return;
    };
    let grace = previous
        .expires_at
        .saturating_duration_since(Instant::now());
    tracing::info!(previous_key = %old, grace_secs = grace.as_secs(), "master key rotated: the previous key stays valid for the grace");
    let (timer_gw, p) = (gw.clone(), previous.clone());
    tokio::spawn(async move {
        tokio::time::sleep_until(p.expires_at).await;
        retire(&timer_gw, &p, "rotation grace ended");
    });
    tokio::spawn(probe_until_settled(gw.clone(), previous));
}

/// Drops `previous` from the snapshot, if it is still the one in force.
fn retire(gw: &Gateway, previous: &Arc<Previous>, why: &str) {
    let retired = gw.update(|snap| {
        is_in_force(snap, previous).then(|| snap.with_keys(snap.keys.without_previous()))
    });
    if retired {
        tracing::info!(
            previous_key = %previous.key.fingerprint(),
            requests_with_previous_key = previous.uses.load(Ordering::Relaxed),
            "{why}: the previous master key is no longer valid"
        );
    }
}

fn is_in_force(snap: &Snapshot, previous: &Arc<Previous>) -> bool {
    snap.keys
        .previous
        .as_ref()
        .is_some_and(|p| Arc::ptr_eq(p, previous))
}

/// Asks Blnk which key it holds until it takes the new one, the rotation is superseded, or the
/// grace ends (see the module docs).
async fn probe_until_settled(gw: Arc<Gateway>, previous: Arc<Previous>) {
    loop {
        let snap = gw.snapshot();
        if !is_in_force(&snap, &previous) || Instant::now() >= previous.expires_at {
            return;
        }
        let current = snap.keys.current.header_value();
        if !snap.keys.upstream_on_current()
            && keycheck::probe(&gw.upstream, &snap, current).await == Verdict::Accepted
        {
            snap.keys.upstream_accepted(Which::Current);
            tracing::info!(key_fingerprint = %snap.keys.current.fingerprint(), "Blnk accepts the new master key");
        }
        if snap.keys.upstream_on_current() {
            if snap.settings.mode == Mode::Inject {
                retire(&gw, &previous, "Blnk accepts the new key");
            }
            return;
        }
        tokio::time::sleep(snap.settings.rotation.probe_interval).await;
    }
}

/// Blnk's answer to a request sent during a rotation.
#[derive(Debug)]
pub enum Sent {
    /// The response head, its body still to stream.
    Streaming(UpstreamResponse),
    /// A 401 read whole (to decide on the second attempt): Blnk's answer to the client.
    Read(http::response::Parts, Bytes),
}

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

/// Sends the request with the key Blnk is believed to hold, and once more with the other one if
/// Blnk refuses that key (see the module docs).
pub async fn send_either_key(
    gw: &Gateway,
    snap: &Snapshot,
    parts: http::request::Parts,
    body: Buffered,
    now: Instant,
) -> Result<Sent, Reject> {
    let (which, key) = snap.keys.upstream_key(now);
    let refused = match attempt(gw, snap, &parts, key, &body).await? {
        Attempt::Answered(res) => {
            note_accepted(snap, which);
            return Ok(Sent::Streaming(res));
        }
        Attempt::Read(res_parts, res_body) => return Ok(Sent::Read(res_parts, res_body)),
        Attempt::Refused(res_parts, res_body) => (res_parts, res_body),
    };
    let Some((other, other_key)) = snap.keys.other_upstream_key(which, now) else {
        return Ok(Sent::Read(refused.0, refused.1));
    };
    match attempt(gw, snap, &parts, other_key, &body).await? {
        Attempt::Answered(res) => {
            note_accepted(snap, other);
            Ok(Sent::Streaming(res))
        }
        Attempt::Read(res_parts, res_body) | Attempt::Refused(res_parts, res_body) => {
            Ok(Sent::Read(res_parts, res_body))
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
