//! One request, from the parsed head to the response: the gateway's hot path. The stages, in
//! order, each taking the request's [`Context`](context::Context):
//!
//! ```text
//! handle                       the one entry point, from `server`
//!   Context::open              snapshot, request id, audit entry (the target as sent)
//!   forward                    everything between the head and Blnk's answer:
//!     admit                      a fragment (`seen`), method, network, cool-down (`ratelimit`),
//!                                screen::request
//!                                (framing, Host, target), path::normalise, auth::authorize,
//!                                auth::identity, rate limit, the audit log's health
//!     intake::read_body          the body read whole, or refused
//!     idempotent::gate           replay, refuse, or claim the request's keys
//!     prepare                    rewrite::rewrite_request, intake::set_length, the upstream URI
//!     send::exchange             in an `exchange::InFlight`: send::send_with_key (or
//!                                `rotation::send_either_key`), then keep::keep for a claimed key
//!     Answer::respond, stamped   Blnk's headers rewritten, the client's RateLimit-* headers
//!   refuse                     a `Reject` answered locally (`local_response`), the unread body
//!                              left to early::dispose; or a stream error for malformed HTTP/2
//!   finish                     metrics, then finish::durably or the body carries the entry
//! ```
//! Every early exit is a [`Reject`], turned into a response by `error` in one place. Blnk sees a
//! request only once its body is complete (`intake`), and once Blnk may have seen it the exchange
//! runs to Blnk's answer (`exchange`). The audit entry opened at the start travels into the
//! response body, which closes it when the body ends; if the handler is dropped first (the client
//! went away), the entry closes itself, or the exchange closes it with Blnk's status.

pub mod auth;
mod context;
mod early;
pub mod exchange;
mod finish;
mod idempotent;
mod intake;
mod keep;
pub mod lookup;
pub mod path;
mod recover;
pub mod response;
pub mod rewrite;
pub mod screen;
pub mod seen;
mod send;

use std::sync::Arc;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{Method, Request, Response, Uri, Version};
use hyper::body::Incoming;
use tokio::time::Instant;

use self::context::Context;
use self::exchange::InFlight;
use self::idempotent::Keyed;
use self::response::ResponseBody;
use self::rewrite::{Forwarding, KeyHeader};
use self::seen::Seen;
use self::send::Sending;
use crate::audit::{self, Decision};
use crate::config::OnFailure;
use crate::conn::{ConnClock, ConnInfo};
use crate::error::Reject;
use crate::gateway::Gateway;
use crate::headers::IDEMPOTENCY_KEY;
use crate::quota::Allowance;
use crate::route::Resource;

/// A request refused as a stream error: HTTP/2's answer to a malformed request (RFC 9113
/// section 8.1.1), which hyper sends as `RST_STREAM(PROTOCOL_ERROR)`.
pub type StreamError = h2::Error;

/// Handles one request. Every outcome is a response, except a malformed HTTP/2 request, which is
/// a stream error.
pub async fn handle(
    gw: Arc<Gateway>,
    conn: Arc<ConnInfo>,
    seen: Arc<Seen>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, StreamError> {
    let mut unanswered = Unanswered(Some(conn.clock.clone()));
    let mut cx = Context::open(gw, conn, seen, &req);
    let (head, mut body) = req.into_parts();
    let (version, head_only) = (head.version, head.method == Method::HEAD);
    let res = match forward(&mut cx, head, &mut body).await {
        Ok(res) => {
            cx.entry.answered(Decision::Forwarded {
                status: res.status().as_u16(),
            });
            res
        }
        Err(reject) => refuse(&mut cx, reject, version, head_only, body)?,
    };
    // The response body tells the connection when the exchange is over.
    unanswered.0 = None;
    Ok(finish(&mut cx, res).await)
}

/// Tells the connection the request is over when the handler ends without a response body that
/// would (hyper dropped the handler, or the request ended in a stream error).
struct Unanswered(Option<Arc<ConnClock>>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(clock) = self.0.take() {
            clock.request_finished();
        }
    }
}

/// Everything between the head and Blnk's answer. `incoming` is left where reading stopped, so
/// an early answer can dispose of the rest; `cx.resource` is set once the path is normalised.
async fn forward(
    cx: &mut Context,
    mut head: http::request::Parts,
    incoming: &mut Incoming,
) -> Result<Response<ResponseBody>, Reject> {
    let now = Instant::now();
    let admitted = admit(cx, &head, now).await?;
    let body = intake::read_body(cx, &head, incoming, now).await?;
    let scope = admitted.scope.to_string();
    let keyed = idempotent::Request {
        method: &head.method,
        target: admitted.target.as_str(),
        headers: &head.headers,
        body: &body,
        scope: &scope,
    };
    // Boxed, and only for the methods that can carry keys (or a key sent anyway, refused): the
    // gate's state (store calls, Blnk lookups) would otherwise make every request's future
    // larger, and futures are moved.
    let gated = match crate::idempotency::key::keyable(&head.method)
        || head.headers.contains_key(IDEMPOTENCY_KEY)
    {
        true => Box::pin(idempotent::gate(cx, keyed)).await?,
        false => Keyed::Pass,
    };
    let claim = match gated {
        Keyed::Pass => None,
        Keyed::Claimed(guarded) => Some(guarded),
        Keyed::Answered(answer) => {
            let res = answer.respond(&cx.conn, &cx.request_id);
            return Ok(stamped(res, admitted.allowance));
        }
    };
    prepare(cx, &mut head, &body, admitted.target)?;
    let delivered = Arc::new(std::sync::Mutex::new(None));
    let to = Sending {
        upstream: admitted.upstream,
        peer: cx.conn.peer.ip(),
        claim,
        delivered: delivered.clone(),
    };
    let exchange = send::exchange(cx.env.clone(), to, head, body);
    let answer = InFlight::new(exchange, &mut cx.entry, &cx.env.gw.exchanges).await?;
    let mut res = answer.respond(&cx.conn, &cx.request_id);
    // A guard's key is given back once the client has its answer (docs/idempotency.md).
    let guard = delivered.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(claims) = guard {
        let gw = cx.env.gw.clone();
        res = res.map(|b| b.on_delivered(Box::new(move || finish::give_back(gw, claims))));
    }
    Ok(stamped(res, admitted.allowance))
}

/// A request let through: where it goes, with which key, who it counts against.
struct Admitted {
    target: PathAndQuery,
    upstream: auth::Upstream,
    scope: auth::IdempotencyScope,
    allowance: Option<Allowance>,
}

/// The checks before the body is read: method, network, cool-down, framing, path, key, scopes,
/// rate limits, the audit log's health.
async fn admit(
    cx: &mut Context,
    head: &http::request::Parts,
    now: Instant,
) -> Result<Admitted, Reject> {
    // A fragment in the target (dropped by the parser; only the bytes showed it) before anything.
    if cx.seen.take_fragment(cx.conn.clock.heads()) {
        return Err(Reject::BadPath);
    }
    let (gw, snap) = (&cx.env.gw, &cx.env.snap);
    let settings = &snap.settings;
    if matches!(head.method, Method::CONNECT | Method::TRACE) {
        return Err(Reject::MethodNotAllowed);
    }
    let peer = cx.conn.peer.ip();
    if !auth::network_allowed(&settings.allow_networks, peer) {
        return Err(Reject::NetworkNotAllowed);
    }
    gw.rate_limits.admit(peer)?;
    // Framing, Host and target form first; then decide on exactly the path that is forwarded.
    let target = screen::request(head)?;
    let target = path::normalise(Some(&target))?;
    cx.resource = Resource::of(target.path());
    cx.entry.resource(cx.resource);
    let path = (target.path(), cx.resource);
    let decided = auth::authorize(snap, &head.method, path, &head.headers, now, &cx.conn);
    let (fingerprint, client) = auth::identity(snap, &decided, &head.headers);
    cx.entry.identify(fingerprint, client);
    let admission = match decided {
        Ok(a) => a,
        Err(reject) => return Err(gw.rate_limits.auth_failed(peer, reject).await),
    };
    let identity = auth::rate_identity(snap, &cx.conn, &admission);
    let scope = auth::idempotency_scope(snap, &cx.conn, &admission);
    let allowance = gw.rate_limits.check(&identity, &head.method).await?;
    if settings.audit.on_failure == OnFailure::RefuseWrites
        && audit::is_write(&head.method)
        && !gw.audit.admit_write()
    {
        return Err(Reject::AuditUnavailable);
    }
    Ok(Admitted {
        target,
        upstream: admission.upstream,
        scope,
        allowance,
    })
}

/// The head as it goes upstream: the client's hop-by-hop and key headers replaced by the
/// gateway's, the body's exact length, the normalised target on Blnk's address, HTTP/1.1. Marks
/// a money-moving request's record durable.
fn prepare(
    cx: &mut Context,
    head: &mut http::request::Parts,
    body: &crate::body::Buffered,
    target: PathAndQuery,
) -> Result<(), Reject> {
    let settings = &cx.env.snap.settings;
    let conn = &cx.conn;
    let fwd = Forwarding {
        peer: &conn.forwarded_for,
        peer_trusted: conn.peer_trusted(&settings.trusted_proxies),
        tls: conn.tls.is_some(),
        host: &settings.upstream.host,
        request_id: &cx.request_id,
    };
    // The key is set by the exchange; the rewrite removes every client copy first.
    rewrite::rewrite_request(&mut head.headers, KeyHeader::None, &fwd);
    intake::set_length(&mut head.headers, body);
    if crate::idempotency::route::moves_money(&head.method, target.path()) {
        cx.entry.must_be_durable();
    }
    head.uri = upstream_uri(settings, target)?;
    head.version = Version::HTTP_11;
    Ok(())
}

/// The client's `RateLimit-*` headers on an answer that went through.
fn stamped(
    mut res: Response<ResponseBody>,
    allowance: Option<Allowance>,
) -> Response<ResponseBody> {
    if let Some(allowance) = allowance {
        allowance.stamp(res.headers_mut());
    }
    res
}

fn upstream_uri(
    settings: &crate::config::Settings,
    path_and_query: PathAndQuery,
) -> Result<Uri, Reject> {
    let mut p = http::uri::Parts::default();
    p.scheme = Some(settings.upstream.scheme.clone());
    p.authority = Some(settings.upstream.authority.clone());
    p.path_and_query = Some(path_and_query);
    Uri::from_parts(p).map_err(|_| Reject::UpstreamBroken)
}

/// A refused request: counted, noted in its record, answered locally (the unread body disposed
/// of), or a stream error for a malformed HTTP/2 request.
fn refuse(
    cx: &mut Context,
    reject: Reject,
    version: Version,
    head_only: bool,
    body: Incoming,
) -> Result<Response<ResponseBody>, StreamError> {
    let gw = &cx.env.gw;
    tracing::debug!(request_id = ?cx.request_id, reason = reject.reason(), "rejected");
    gw.metrics.rejected(reject);
    cx.entry.answered(Decision::Rejected(reject));
    if reject == Reject::MalformedH2 && version == Version::HTTP_2 {
        // Recorded here, so the connection does not record the reset again (`seen`).
        cx.seen.own_reset();
        return Err(h2::Reason::PROTOCOL_ERROR.into());
    }
    early::dispose(body, version, &gw.drains);
    Ok(local_response(reject, head_only, &cx.conn, &cx.request_id))
}

/// The answer: a money-moving request's once its record is on disk, any other's with the entry
/// travelling in its body; counted either way.
async fn finish(cx: &mut Context, res: Response<ResponseBody>) -> Response<ResponseBody> {
    if cx.entry.is_durable() {
        return finish::durably(cx, res).await;
    }
    let status = res.status().as_u16();
    let mode = cx.env.snap.settings.mode;
    let elapsed = cx.started.elapsed();
    cx.env
        .gw
        .metrics
        .request(mode, cx.resource, status, elapsed);
    let entry = std::mem::replace(&mut cx.entry, crate::audit::Entry::disabled());
    res.map(|body| body.audited(entry))
}

/// The gateway's own answer. To `HEAD` it has the headers `GET` would have and no body (RFC 9110
/// section 9.3.2): HTTP/2 makes a body there a protocol error.
fn local_response(
    reject: Reject,
    head_only: bool,
    conn: &Arc<ConnInfo>,
    request_id: &http::HeaderValue,
) -> Response<ResponseBody> {
    let (mut parts, mut body): (_, Bytes) = reject.respond().into_parts();
    rewrite::stamp_response(&mut parts.headers, conn.tls.is_some(), request_id);
    if head_only {
        let len = http::HeaderValue::from(body.len());
        parts.headers.insert(http::header::CONTENT_LENGTH, len);
        body = Bytes::new();
    }
    Response::from_parts(parts, ResponseBody::local(body, conn.clock.clone()))
}
