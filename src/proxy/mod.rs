//! One request, from the parsed head to the response: the gateway's hot path.
//!
//! ```text
//! snapshot -> request id -> method & network -> authenticate -> body limit
//!          -> rewrite headers -> forward (deadlines) -> rewrite response
//! ```
//! Every early exit is a [`Reject`], turned into a response by `error` in one place.

pub mod auth;
pub mod body;
pub mod headers;
pub mod request_id;

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Request, Response, Uri, Version};
use hyper::body::Incoming;
use tokio::time::Instant;

use self::body::{RequestBody, ResponseBody};
use self::headers::{Forwarding, KeyHeader, X_REQUEST_ID};
use crate::error::Reject;
use crate::server::conn::ConnInfo;
use crate::state::{Gateway, Snapshot};

/// Handles one request. Never fails: every outcome is a response.
pub async fn handle(
    gw: Arc<Gateway>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Response<ResponseBody> {
    let snap = gw.snapshot();
    let request_id = gw.request_ids.pick(req.headers().get(X_REQUEST_ID));
    match forward(&gw, &snap, &conn, req, &request_id).await {
        Ok(res) => res,
        Err(reject) => {
            tracing::debug!(request_id = ?request_id, reason = reject.reason(), "rejected");
            local_response(reject, &conn, &request_id)
        }
    }
}

async fn forward(
    gw: &Gateway,
    snap: &Snapshot,
    conn: &Arc<ConnInfo>,
    req: Request<Incoming>,
    request_id: &HeaderValue,
) -> Result<Response<ResponseBody>, Reject> {
    let settings = &snap.settings;
    let limits = &settings.limits;
    if matches!(*req.method(), Method::CONNECT | Method::TRACE) {
        return Err(Reject::MethodNotAllowed);
    }
    if !auth::network_allowed(&settings.allow_networks, conn.peer.ip()) {
        return Err(Reject::NetworkNotAllowed);
    }
    let path_and_query = origin_form(req.uri());
    let upstream_key =
        match auth::authorize(snap, req.method(), path_and_query.path(), req.headers())? {
            auth::Upstream::NoKey => None,
            auth::Upstream::Master => Some(snap.keys.current.header_value().clone()),
            auth::Upstream::ClientKey(v) => Some(v.clone()),
        };
    if declared_length(req.headers()).is_some_and(|n| n > limits.max_body_bytes) {
        return Err(Reject::PayloadTooLarge);
    }

    let (mut parts, incoming) = req.into_parts();
    let key = match &upstream_key {
        Some(v) => KeyHeader::Set(v),
        None => KeyHeader::None,
    };
    let fwd = Forwarding {
        peer: auth::canonical(conn.peer.ip()),
        peer_trusted: conn.peer_trusted(&settings.trusted_proxies),
        tls: conn.tls.is_some(),
        host: &settings.upstream.host,
        request_id,
    };
    headers::rewrite_request(&mut parts.headers, key, &fwd);
    parts.uri = Uri::from_parts({
        let mut p = http::uri::Parts::default();
        p.scheme = Some(settings.upstream.scheme.clone());
        p.authority = Some(settings.upstream.authority.clone());
        p.path_and_query = Some(path_and_query);
        p
    })
    .map_err(|_| Reject::UpstreamBroken)?;
    parts.version = Version::HTTP_11;
    let body = RequestBody::new(
        incoming,
        limits.max_body_bytes,
        Instant::now() + limits.body_read_timeout,
    );

    let res = gw
        .upstream
        .send(
            Request::from_parts(parts, body),
            limits.upstream_response_timeout,
        )
        .await?;
    let (mut parts, body) = res.into_parts();
    headers::rewrite_response(&mut parts.headers, conn.tls.is_some(), request_id);
    Ok(Response::from_parts(
        parts,
        ResponseBody::upstream(body, conn.clock.clone()),
    ))
}

/// The request target as origin-form: only path and query ever reach the upstream, whatever
/// authority an absolute-form target named.
fn origin_form(uri: &Uri) -> PathAndQuery {
    match uri.path_and_query() {
        Some(pq) if pq.as_str().starts_with('/') => pq.clone(),
        _ => PathAndQuery::from_static("/"),
    }
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
