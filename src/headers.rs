//! Header names the gateway reads or writes, and how a per-response value is marked for HTTP/2.
//! What is done to headers on the way through is the pipeline's (`proxy::rewrite`).

use http::header::{HeaderName, HeaderValue};

pub const X_BLNK_KEY: HeaderName = HeaderName::from_static("x-blnk-key");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// A value that changes from response to response, marked so HTTP/2's header compression
/// (HPACK) sends it as a literal instead of adding it to the connection's table, where it would
/// only push out the values that repeat. No effect on HTTP/1.1.
pub fn never_indexed(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}
