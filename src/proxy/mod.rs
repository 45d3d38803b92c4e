//! One request, from the parsed head to the response: the gateway's hot path.
//!
//! ```text
//! snapshot -> request id -> audit entry -> method & network -> cool-down -> authenticate
//!          -> rate limit -> audit health -> body limit -> rewrite headers -> forward (deadlines)
//!          -> rewrite response
//! ```
//! Every early exit is a [`Reject`], turned into a response by `error` in one place. The audit
//! entry opened at the start travels into the response body, which closes it when the body ends;
//! if the handler is dropped first (the client went away), the entry closes itself.

pub mod auth;
pub mod body;
pub mod headers;
pub mod path;
pub mod request_id;
mod rotation;
pub mod route;
pub mod screen;

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use tokio::time::Instant;

use self::body::{RequestBody, ResponseBody};
use self::headers::{Forwarding, KeyHeader, X_BLNK_KEY, X_REQUEST_ID};
use crate::audit::{self, Decision, Entry, RequestHead};
use crate::config::OnFailure;
use crate::error::Reject;
use crate::ratelimit::Identity;
use crate::server::conn::ConnInfo;
use crate::state::{Gateway, Snapshot};
use crate::upstream::UpstreamResponse;

/// Handles one request. Never fails: every outcome is a response.
pub async fn handle(
    gw: Arc<Gateway>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let snap = gw.snapshot();
    let request_id = gw.request_ids.pick(req.headers().get(X_REQUEST_ID));
    let resource = route::resource(req.uri().path());
    let mut entry = open_entry(&gw, &snap, &conn, &req, &request_id);
    let res = match forward(&gw, &snap, &conn, req, &request_id, &mut entry).await {
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
            local_response(reject, &conn, &request_id)
        }
    };
    gw.metrics.request(
        snap.settings.mode,
        resource,
        res.status().as_u16(),
        started.elapsed(),
    );
    res.map(|body| body.audited(entry))
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

async fn forward(
    gw: &Gateway,
    snap: &Snapshot,
    conn: &Arc<ConnInfo>,
    req: Request<Incoming>,
    request_id: &HeaderValue,
    entry: &mut Entry,
) -> Result<Response<ResponseBody>, Reject> {
    let settings = &snap.settings;
    let limits = &settings.limits;
    let now = Instant::now();
    if matches!(*req.method(), Method::CONNECT | Method::TRACE) {
        return Err(Reject::MethodNotAllowed);
    }
    let peer = conn.peer.ip();
    if !auth::network_allowed(&settings.allow_networks, peer) {
        return Err(Reject::NetworkNotAllowed);
    }
    gw.rate_limits.admit(peer)?;
    // Framing, Host and target form first; then decide on exactly the path that is forwarded.
    let target = screen::request(&req)?;
    let path_and_query = path::normalise(Some(&target))?;
    let decided = auth::authorize(
        snap,
        req.method(),
        path_and_query.path(),
        req.headers(),
        now,
        conn,
    );
    let (fingerprint, client) = auth::identity(snap, &decided, req.headers());
    entry.identify(fingerprint, client);
    let admitted = decided.map_err(|reject| gw.rate_limits.auth_failed(peer, reject))?;
    let allowance = gw
        .rate_limits
        .check(&Identity::of(snap, conn, &admitted), req.method())?;
    if settings.audit.on_failure == OnFailure::RefuseWrites
        && audit::is_write(req.method())
        && !gw.audit.admit_write()
    {
        return Err(Reject::AuditUnavailable);
    }
    if declared_length(req.headers()).is_some_and(|n| n > limits.max_body_bytes) {
        return Err(Reject::PayloadTooLarge);
    }

    let (mut parts, incoming) = req.into_parts();
    let fwd = Forwarding {
        peer: &conn.forwarded_for,
        peer_trusted: conn.peer_trusted(&settings.trusted_proxies),
        tls: conn.tls.is_some(),
        host: &settings.upstream.host,
        request_id,
    };
    // The key is set below, per attempt; the rewrite removes every client copy first.
    headers::rewrite_request(&mut parts.headers, KeyHeader::None, &fwd);
    parts.uri = upstream_uri(settings, path_and_query)?;
    parts.version = Version::HTTP_11;
    let body = RequestBody::new(
        incoming,
        limits.max_body_bytes,
        now + limits.body_read_timeout,
        entry.body_counter(),
    );

    entry.sent_upstream();
    let mut res = match admitted.upstream {
        auth::Upstream::NoKey => respond(send(gw, snap, parts, body).await?, conn, request_id),
        auth::Upstream::ClientKey(key) => {
            parts.headers.insert(X_BLNK_KEY, key);
            let res = send(gw, snap, parts, body).await?;
            if res.status() == StatusCode::UNAUTHORIZED {
                gw.rate_limits.record_failure(peer);
            }
            respond(res, conn, request_id)
        }
        // Boxed: this path runs only during a rotation, and its state (two attempts and a
        // buffered body) would otherwise make every request's future larger.
        auth::Upstream::Master if snap.keys.upstream_uncertain(now) => {
            Box::pin(rotation::send_either_key(
                gw, snap, conn, parts, body, request_id, now,
            ))
            .await?
        }
        auth::Upstream::Master => {
            parts
                .headers
                .insert(X_BLNK_KEY, snap.keys.upstream_key(now).1.clone());
            respond(send(gw, snap, parts, body).await?, conn, request_id)
        }
    };
    if let Some(allowance) = allowance {
        allowance.stamp(res.headers_mut());
    }
    Ok(res)
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
            snap.settings.limits.upstream_response_timeout,
        )
        .await
}

/// Blnk's response, with its headers rewritten for the client.
fn respond(
    res: UpstreamResponse,
    conn: &Arc<ConnInfo>,
    request_id: &HeaderValue,
) -> Response<ResponseBody> {
    let (mut parts, body) = res.into_parts();
    headers::rewrite_response(&mut parts.headers, conn.tls.is_some(), request_id);
    Response::from_parts(parts, ResponseBody::upstream(body, conn.clock.clone()))
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

/// The declared body length, if the client declared one.
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn local_response(
    reject: Reject,
    conn: &Arc<ConnInfo>,
    request_id: &HeaderValue,
) -> Response<ResponseBody> {
    let (mut parts, body): (_, Bytes) = reject.respond().into_parts();
    headers::stamp_response(&mut parts.headers, conn.tls.is_some(), request_id);
    Response::from_parts(parts, ResponseBody::local(body, conn.clock.clone()))
}
