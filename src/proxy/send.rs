//! Sending an admitted request to Blnk with the key its admission calls for, and waiting for
//! Blnk's answer; then, for a request that holds an idempotency key, keeping the answer (`keep`).
//! What runs here owns what it uses ([`Env`]), so it can finish on its own after the client has
//! gone (see `exchange`). During a rotation the master key's request goes through
//! `rotation::send_either_key`.

use std::net::IpAddr;
use std::sync::Arc;

use http::{Request, StatusCode};
use tokio::time::Instant;

use super::auth::Upstream;
use super::context::Env;
use super::exchange::{Answer, Outcome};
use super::keep;
use super::recover::Guarded;
use crate::body::{Buffered, RequestBody};
use crate::error::Reject;
use crate::headers::X_BLNK_KEY;
use crate::idempotency::Claims;
use crate::rotation::{self, Sent};
use crate::upstream::UpstreamResponse;

/// Where a request goes and what it holds: the key to send, the peer (a client key Blnk refuses
/// counts against it), the idempotency keys to settle, and where a guard's are left to give
/// back once the client has its answer.
pub(super) struct Sending {
    pub upstream: Upstream,
    pub peer: IpAddr,
    pub claim: Option<Guarded>,
    pub delivered: Arc<std::sync::Mutex<Option<Claims>>>,
}

/// Sends the request with the key `to.upstream` calls for and waits for Blnk's answer; then, for
/// a request that holds an idempotency key, keeps the answer.
pub(super) async fn exchange(
    env: Env,
    to: Sending,
    head: http::request::Parts,
    body: Buffered,
) -> Outcome {
    let outcome = send_with_key(&env, to.upstream, to.peer, head, body).await;
    match to.claim {
        Some(guarded) => Box::pin(keep::keep(env, guarded, outcome, to.delivered)).await,
        None => outcome,
    }
}

async fn send_with_key(
    env: &Env,
    upstream: Upstream,
    peer: IpAddr,
    mut head: http::request::Parts,
    body: Buffered,
) -> Outcome {
    let Env { gw, snap } = env;
    let now = Instant::now();
    match upstream {
        Upstream::NoKey => {}
        Upstream::ClientKey(key) => {
            head.headers.insert(X_BLNK_KEY, key);
            let res = send(env, head, RequestBody::from_buffered(body)).await?;
            if res.status() == StatusCode::UNAUTHORIZED {
                gw.rate_limits.record_failure(peer).await;
            }
            return Ok(Answer::Streaming(res));
        }
        // Boxed: this path runs only during a rotation, and its state (two attempts) would
        // otherwise make every exchange larger.
        Upstream::Master if snap.keys.upstream_uncertain(now) => {
            let sent = Box::pin(rotation::send_either_key(gw, snap, head, body, now)).await?;
            return Ok(match sent {
                Sent::Streaming(res) => Answer::Streaming(res),
                Sent::Read(parts, body) => Answer::Read(parts, body),
            });
        }
        Upstream::Master => {
            let key = snap.keys.upstream_key(now).1.clone();
            head.headers.insert(X_BLNK_KEY, key);
            let res = send(env, head, RequestBody::from_buffered(body)).await?;
            // A run of 401s to the master key means Blnk holds another one (`keycheck`).
            gw.key_check.observe(res.status(), snap);
            return Ok(Answer::Streaming(res));
        }
    }
    let res = send(env, head, RequestBody::from_buffered(body)).await?;
    Ok(Answer::Streaming(res))
}

async fn send(
    env: &Env,
    parts: http::request::Parts,
    body: RequestBody,
) -> Result<UpstreamResponse, Reject> {
    let deadlines = env.snap.settings.limits.upstream();
    let req = Request::from_parts(parts, body);
    env.gw.upstream.send(req, deadlines).await
}
