//! The request body, read whole before anything goes upstream: refused when too large as
//! declared (before reading), when a GET or HEAD carries one, or when `body::read` finds it cut
//! off, malformed, too slow or over budget; and its exact length for Blnk.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Version};
use hyper::body::Incoming;
use tokio::time::Instant;

use super::context::Context;
use crate::body::{self as request_body, Buffered, ReadLimits};
use crate::error::Reject;

/// Reads the body whole, or refuses it: too large as declared (before reading), a body on GET or
/// HEAD, or what `body::read` finds. Its bytes are counted in the audit entry as they arrive.
pub(super) async fn read_body(
    cx: &Context,
    head: &http::request::Parts,
    incoming: &mut Incoming,
    now: Instant,
) -> Result<Buffered, Reject> {
    let limits = &cx.env.snap.settings.limits;
    let declared = declared_length(&head.headers);
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return Err(Reject::PayloadTooLarge);
    }
    let bodiless = is_bodiless(&head.method);
    if bodiless && (declared.is_some_and(|n| n > 0) || head.headers.contains_key(TRANSFER_ENCODING))
    {
        return Err(Reject::BodyNotAllowed);
    }
    let read_limits = ReadLimits {
        max_bytes: limits.max_body_bytes,
        deadline: now + limits.body_read_timeout,
        declared,
    };
    let counted = cx.entry.body_counter();
    let budget = &cx.env.gw.buffers;
    let body = request_body::read(incoming, read_limits, budget, counted.as_deref())
        .await
        .map_err(|e| e.reject())?;
    if bodiless && !body.is_empty() {
        return Err(Reject::BodyNotAllowed);
    }
    if head.version == Version::HTTP_2 && declared.is_none() && !body.is_empty() {
        // hyper ends an HTTP/2 body without an error when the client resets the stream with
        // NO_ERROR, so a body cut short looks complete when no length was declared. The reset
        // has been received by then; yielding once lets hyper see it and drop this request
        // before anything is sent.
        tokio::task::yield_now().await;
    }
    Ok(body)
}

/// GET and HEAD carry no body through the gateway, whatever the framing: RFC 9110 gives a body
/// there no meaning, Blnk reads none, and a body that two hops read differently is how requests
/// are smuggled.
fn is_bodiless(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// The body goes upstream with its exact length, whatever framing the client used; a request
/// without a body goes without a length, as it came.
pub(super) fn set_length(headers: &mut http::HeaderMap, body: &Buffered) {
    if body.is_empty() && !headers.contains_key(CONTENT_LENGTH) {
        return;
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
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
