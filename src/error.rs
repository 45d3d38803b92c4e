//! Every answer the gateway gives on its own, decided in one place.
//!
//! A [`Reject`] is why a request did not get Blnk's answer. [`Reject::respond`] is the one
//! exhaustive mapping to status, code and message, in Blnk's JSON error shape
//! (`{"error": .., "error_detail": {"code": .., "message": ..}}`), using Blnk's codes where the
//! meaning is the same and `GATEWAY_*` codes otherwise. Bodies are fixed strings: no error text
//! from a library, a file or the upstream ever reaches a client; details go to the log.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use http::{Response, StatusCode};

/// Why the gateway answered instead of Blnk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("no X-Blnk-Key")]
    MissingKey,
    #[error("X-Blnk-Key did not match")]
    InvalidKey,
    #[error("more than one X-Blnk-Key value")]
    AmbiguousKey,
    #[error("peer address not in gateway.allow_networks")]
    NetworkNotAllowed,
    #[error("method not allowed through the gateway")]
    MethodNotAllowed,
    #[error("request body larger than the limit")]
    PayloadTooLarge,
    #[error("request body not received before the deadline")]
    BodyTimeout,
    #[error("request body broken off or malformed")]
    BadBody,
    #[error("upstream refused or unreachable")]
    UpstreamUnavailable,
    #[error("upstream response deadline passed")]
    UpstreamTimeout,
    #[error("upstream broke the exchange")]
    UpstreamBroken,
}

impl Reject {
    /// Status, code and message for the client.
    pub fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use Reject::*;
        match self {
            MissingKey => (
                StatusCode::UNAUTHORIZED,
                "AUTH_MISSING_API_KEY",
                "Authentication required. Use X-Blnk-Key header",
            ),
            InvalidKey | AmbiguousKey => (
                StatusCode::UNAUTHORIZED,
                "AUTH_INVALID_API_KEY",
                "Invalid API key",
            ),
            NetworkNotAllowed => (
                StatusCode::FORBIDDEN,
                "GATEWAY_NETWORK_NOT_ALLOWED",
                "Requests from this network are not allowed",
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "GATEWAY_METHOD_NOT_ALLOWED",
                "Method not allowed",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "GEN_PAYLOAD_TOO_LARGE",
                "Request body too large",
            ),
            BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "GATEWAY_REQUEST_TIMEOUT",
                "Request body was not received in time",
            ),
            BadBody => (
                StatusCode::BAD_REQUEST,
                "GATEWAY_BAD_REQUEST",
                "Malformed or incomplete request body",
            ),
            UpstreamUnavailable => (
                StatusCode::BAD_GATEWAY,
                "GATEWAY_UPSTREAM_UNAVAILABLE",
                "Ledger service unavailable",
            ),
            UpstreamTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "GATEWAY_UPSTREAM_TIMEOUT",
                "Ledger service did not answer in time",
            ),
            UpstreamBroken => (
                StatusCode::BAD_GATEWAY,
                "GATEWAY_BAD_UPSTREAM_RESPONSE",
                "Ledger service gave an invalid response",
            ),
        }
    }

    /// Whether the connection must close after this answer (the request body was not consumed
    /// in a way that leaves the HTTP/1.1 framing trustworthy).
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            Reject::PayloadTooLarge | Reject::BodyTimeout | Reject::BadBody
        )
    }

    /// The reason as a stable token for logs and audit records.
    pub fn reason(self) -> &'static str {
        self.parts().1
    }

    /// The response for this rejection.
    pub fn respond(self) -> Response<Bytes> {
        let (status, code, message) = self.parts();
        let mut res = Response::new(error_body(code, message));
        *res.status_mut() = status;
        let h = res.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.closes_connection() {
            h.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        res
    }
}

/// Blnk's error shape. `code` and `message` are constants of this module, so no escaping is
/// needed; the test below keeps them JSON-safe.
fn error_body(code: &str, message: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"error":"{message}","error_detail":{{"code":"{code}","message":"{message}"}}}}"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Reject] = &[
        Reject::MissingKey,
        Reject::InvalidKey,
        Reject::AmbiguousKey,
        Reject::NetworkNotAllowed,
        Reject::MethodNotAllowed,
        Reject::PayloadTooLarge,
        Reject::BodyTimeout,
        Reject::BadBody,
        Reject::UpstreamUnavailable,
        Reject::UpstreamTimeout,
        Reject::UpstreamBroken,
    ];

    #[test]
    fn every_body_is_blnk_shaped_json() {
        for r in ALL {
            let res = r.respond();
            let v: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
            let (status, code, message) = r.parts();
            assert_eq!(res.status(), status);
            assert_eq!(v["error"], message);
            assert_eq!(v["error_detail"]["code"], code);
            assert_eq!(v["error_detail"]["message"], message);
        }
    }
}
