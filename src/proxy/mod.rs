//! One request, from the parsed head to the response: the gateway's hot path.
//!
//! ```text
//! snapshot -> request id -> audit entry -> method & network -> cool-down -> authenticate
//!          -> rate limit -> audit health -> body limit -> read the body whole (intake)
//!          -> idempotency key (idempotent: replay, refuse, or claim) -> rewrite headers
//!          -> forward (deadlines; finished even if the client goes away; the answer kept for
//!             the key) -> rewrite response
//! ```
//! Every early exit is a [`Reject`], turned into a response by `error` in one place; a body left
//! unread by an early exit is disposed of by `early`. Blnk sees a request only once its body is
//! complete (`intake`), and once Blnk may have seen it the exchange runs to Blnk's answer
//! (`exchange`). The audit entry opened at the start travels into the response body, which closes
//! it when the body ends; if the handler is dropped first (the client went away), the entry
//! closes itself, or the exchange closes it with Blnk's status.

pub mod auth;
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
mod rotation;
pub mod screen;

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use tokio::time::Instant;

use self::exchange::{Answer, InFlight, Outcome};
use self::idempotent::Keyed;
use self::recover::Guarded;
use self::response::ResponseBody;
use self::rewrite::{Forwarding, KeyHeader};
use crate::audit::{self, Decision, Entry, RequestHead};
use crate::body::{Buffered, RequestBody};
use crate::config::OnFailure;
use crate::conn::{ConnClock, ConnInfo};
use crate::error::Reject;
use crate::gateway::Gateway;
use crate::headers::{IDEMPOTENCY_KEY, X_BLNK_KEY, X_REQUEST_ID};
use crate::idempotency::Claims;
use crate::quota::Allowance;
use crate::route::Resource;
use crate::state::Snapshot;
use crate::upstream::UpstreamResponse;

/// A request refused as a stream error: HTTP/2's answer to a malformed request (RFC 9113
/// section 8.1.1), which hyper sends as `RST_STREAM(PROTOCOL_ERROR)`.
pub type StreamError = h2::Error;

/// Handles one request. Every outcome is a response, except a malformed HTTP/2 request, which is
/// a stream error.
pub async fn handle(
    gw: Arc<Gateway>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, StreamError> {
    let started = Instant::now();
    let mut unanswered = Unanswered(Some(conn.clock.clone()));
    let snap = gw.snapshot();
    let request_id = gw.request_ids.pick(req.headers().get(X_REQUEST_ID));
    let mut entry = open_entry(&gw, &snap, &conn, &req, &request_id);
    let (head, mut body) = req.into_parts();
    let version = head.version;
    let mut resource = Resource::Unknown;
    let forwarded = forward(
        &gw,
        &snap,
        &conn,
        (head, &mut body),
        &request_id,
        (&mut entry, &mut resource),
    );
    let res = match forwarded.await {
        Ok(res) => {
            entry.answered(Decision::Forwarded {
                status: res.status().as_u16(),
            });
            res
        }
        Err(reject) => {
            tracing::debug!(request_id = ?request_id, reason = reject.reason(), "rejected");
            gw.metrics.rejected(reject);
            entry.answered(Decision::Rejected(reject));
            if reject == Reject::MalformedH2 && version == Version::HTTP_2 {
                return Err(h2::Reason::PROTOCOL_ERROR.into());
            }
            early::dispose(body, version, &gw.drains);
            local_response(reject, &conn, &request_id)
        }
    };
    // The response body tells the connection when the exchange is over.
    unanswered.0 = None;
    if entry.is_durable() {
        return Ok(finish::durably(gw, entry, res, started, resource, &snap).await);
    }
    gw.metrics.request(
        snap.settings.mode,
        resource,
        res.status().as_u16(),
        started.elapsed(),
    );
    Ok(res.map(|body| body.audited(entry)))
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

/// The request's audit entry, with the path as the client sent it (before normalisation).
fn open_entry(
    gw: &Gateway,
    snap: &Snapshot,
    conn: &Arc<ConnInfo>,
    req: &Request<Incoming>,
    request_id: &HeaderValue,
) -> Entry {
    let target = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let head = RequestHead {
        method: req.method(),
        version: req.version(),
        target: &target,
        request_id,
    };
    let settings = &snap.settings;
    gw.audit
        .begin(conn, settings.mode, settings.audit.include_query, head)
}

/// Everything between the head and Blnk's answer. `incoming` is left where reading stopped, so
/// an early answer can dispose of the rest; `resource` is set once the path is normalised.
async fn forward(
    gw: &Arc<Gateway>,
    snap: &Arc<Snapshot>,
    conn: &Arc<ConnInfo>,
    (mut head, incoming): (http::request::Parts, &mut Incoming),
    request_id: &HeaderValue,
    (entry, resource): (&mut Entry, &mut Resource),
) -> Result<Response<ResponseBody>, Reject> {
    let now = Instant::now();
    let admitted = admit(gw, snap, conn, &head, now, (entry, resource)).await?;
    let body = intake::read_body(gw, snap, &head, incoming, entry, now).await?;
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
        true => Box::pin(idempotent::gate(gw, snap, keyed, entry)).await?,
        false => Keyed::Pass,
    };
    let claim = match gated {
        Keyed::Pass => None,
        Keyed::Claimed(guarded) => Some(guarded),
        Keyed::Answered(answer) => {
            return Ok(stamped(
                answer.respond(conn, request_id),
                admitted.allowance,
            ))
        }
    };
    let settings = &snap.settings;
    let fwd = Forwarding {
        peer: &conn.forwarded_for,
        peer_trusted: conn.peer_trusted(&settings.trusted_proxies),
        tls: conn.tls.is_some(),
        host: &settings.upstream.host,
        request_id,
    };
    // The key is set by the exchange; the rewrite removes every client copy first.
    rewrite::rewrite_request(&mut head.headers, KeyHeader::None, &fwd);
    intake::set_length(&mut head.headers, &body);
    let to_method = head.method.clone();
    let admitted_path = admitted.target.clone();
    head.uri = upstream_uri(settings, admitted.target)?;
    head.version = Version::HTTP_11;

    let delivered = Arc::new(std::sync::Mutex::new(None));
    let to = Sending {
        upstream: admitted.upstream,
        peer: conn.peer.ip(),
        claim,
        delivered: delivered.clone(),
    };
    if crate::idempotency::route::moves_money(&to_method, admitted_path.path()) {
        entry.must_be_durable();
    }
    let exchange = exchange(gw.clone(), snap.clone(), to, head, body);
    let answer = InFlight::new(exchange, entry, &gw.exchanges).await?;
    let mut res = answer.respond(conn, request_id);
    // A guard's key is given back once the client has its answer (docs/idempotency.md).
    let guard = delivered.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(claims) = guard {
        let gw = gw.clone();
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
    gw: &Gateway,
    snap: &Snapshot,
    conn: &Arc<ConnInfo>,
    head: &http::request::Parts,
    now: Instant,
    (entry, resource): (&mut Entry, &mut Resource),
) -> Result<Admitted, Reject> {
    let settings = &snap.settings;
    if matches!(head.method, Method::CONNECT | Method::TRACE) {
        return Err(Reject::MethodNotAllowed);
    }
    let peer = conn.peer.ip();
    if !auth::network_allowed(&settings.allow_networks, peer) {
        return Err(Reject::NetworkNotAllowed);
    }
    gw.rate_limits.admit(peer)?;
    // Framing, Host and target form first; then decide on exactly the path that is forwarded.
    let target = screen::request(head)?;
    let target = path::normalise(Some(&target))?;
    *resource = Resource::of(target.path());
    entry.resource(*resource);
    let path = (target.path(), *resource);
    let decided = auth::authorize(snap, &head.method, path, &head.headers, now, conn);
    let (fingerprint, client) = auth::identity(snap, &decided, &head.headers);
    entry.identify(fingerprint, client);
    let admission = match decided {
        Ok(a) => a,
        Err(reject) => return Err(gw.rate_limits.auth_failed(peer, reject).await),
    };
    let identity = auth::rate_identity(snap, conn, &admission);
    let scope = auth::idempotency_scope(snap, conn, &admission);
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

/// Where a request goes and what it holds: the key to send, the peer (a client key Blnk refuses
/// counts against it), the idempotency keys to settle, and where a guard's are left to give
/// back once the client has its answer.
struct Sending {
    upstream: auth::Upstream,
    peer: IpAddr,
    claim: Option<Guarded>,
    delivered: Arc<std::sync::Mutex<Option<Claims>>>,
}

/// Sends the request with the key `upstream` calls for and waits for Blnk's answer; then, for a
/// request that holds an idempotency key, keeps the answer. Owns what it uses, so it can finish
/// on its own (see `exchange`).
async fn exchange(
    gw: Arc<Gateway>,
    snap: Arc<Snapshot>,
    to: Sending,
    head: http::request::Parts,
    body: Buffered,
) -> Outcome {
    let outcome = send_with_key(&gw, &snap, to.upstream, to.peer, head, body).await;
    match to.claim {
        Some(guarded) => Box::pin(keep::keep(gw, snap, guarded, outcome, to.delivered)).await,
        None => outcome,
    }
}

async fn send_with_key(
    gw: &Arc<Gateway>,
    snap: &Arc<Snapshot>,
    upstream: auth::Upstream,
    peer: IpAddr,
    mut head: http::request::Parts,
    body: Buffered,
) -> Outcome {
    let now = Instant::now();
    match upstream {
        auth::Upstream::NoKey => {}
        auth::Upstream::ClientKey(key) => {
            head.headers.insert(X_BLNK_KEY, key);
            let res = send(gw, snap, head, RequestBody::from_buffered(body)).await?;
            if res.status() == StatusCode::UNAUTHORIZED {
                gw.rate_limits.record_failure(peer).await;
            }
            return Ok(Answer::Streaming(res));
        }
        // Boxed: this path runs only during a rotation, and its state (two attempts) would
        // otherwise make every exchange larger.
        auth::Upstream::Master if snap.keys.upstream_uncertain(now) => {
            return Box::pin(rotation::send_either_key(gw, snap, head, body, now)).await;
        }
        auth::Upstream::Master => {
            let key = snap.keys.upstream_key(now).1.clone();
            head.headers.insert(X_BLNK_KEY, key);
            let res = send(gw, snap, head, RequestBody::from_buffered(body)).await?;
            // A run of 401s to the master key means Blnk holds another one (`keycheck`).
            gw.key_check.observe(res.status(), snap);
            return Ok(Answer::Streaming(res));
        }
    }
    let res = send(gw, snap, head, RequestBody::from_buffered(body)).await?;
    Ok(Answer::Streaming(res))
}

async fn send(
    gw: &Gateway,
    snap: &Snapshot,
    parts: http::request::Parts,
    body: RequestBody,
) -> Result<UpstreamResponse, Reject> {
    gw.upstream
        .send(
            Request::from_parts(parts, body),
            snap.settings.limits.upstream(),
        )
        .await
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

fn local_response(
    reject: Reject,
    conn: &Arc<ConnInfo>,
    request_id: &HeaderValue,
) -> Response<ResponseBody> {
    let (mut parts, body): (_, Bytes) = reject.respond().into_parts();
    rewrite::stamp_response(&mut parts.headers, conn.tls.is_some(), request_id);
    Response::from_parts(parts, ResponseBody::local(body, conn.clock.clone()))
}
