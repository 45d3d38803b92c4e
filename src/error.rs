//! Every answer the gateway gives on its own, decided in one place.
//!
//! A [`Reject`] is why a request did not get Blnk's answer. [`Reject::respond`] is the one
//! exhaustive mapping to status, code and message, in Blnk's JSON error shape
//! (`{"error": .., "error_detail": {"code": .., "message": ..}}`), using Blnk's codes where the
//! meaning is the same and `GATEWAY_*` codes otherwise. Bodies are fixed strings: no error text
//! from a library, a file or the upstream ever reaches a client; details go to the log.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::quota::Limited;
use crate::route::{Action, Resource};

/// Why the gateway answered instead of Blnk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("no X-Blnk-Key")]
    MissingKey,
    #[error("X-Blnk-Key did not match")]
    InvalidKey,
    #[error("more than one X-Blnk-Key value")]
    AmbiguousKey,
    #[error("client key expired, disabled or revoked")]
    ExpiredKey,
    #[error("client key bound to another certificate")]
    CertificateMismatch,
    #[error("peer address not in gateway.allow_networks")]
    NetworkNotAllowed,
    #[error("path maps to no Blnk resource")]
    UnknownResource,
    #[error("client key lacks the scope for this route")]
    InsufficientScope {
        resource: Resource,
        action: Option<Action>,
    },
    #[error("request path refused (encoded slash, control byte, not a path)")]
    BadPath,
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
    #[error(
        "every connection to the upstream is in use (gateway.limits.upstream_max_connections)"
    )]
    UpstreamSaturated,
    #[error("rate limit reached ({:?})", .0.scope)]
    RateLimited(Limited),
    #[error("request target, Host or framing headers malformed")]
    BadRequest,
    #[error("request target longer than the limit")]
    UriTooLong,
    #[error("transfer coding other than chunked")]
    UnsupportedCoding,
    #[error("write refused: the audit log cannot be written")]
    AuditUnavailable,
    #[error("no room to buffer the request body")]
    Busy,
    #[error("a GET or HEAD request carried a body")]
    BodyNotAllowed,
    #[error("request malformed under HTTP/2's rules (RFC 9113 8.2.1, 8.3.1)")]
    MalformedH2,
    #[error("Idempotency-Key malformed, empty, too long, or sent twice")]
    IdempotencyKeyInvalid,
    #[error(
        "Idempotency-Key on a request the gateway cannot key (a safe method, or keys are not kept)"
    )]
    IdempotencyKeyNotSupported,
    #[error("a money-moving body Blnk could not bind (Go's encoding/json rules)")]
    MoneyBodyUnreadable,
    #[error("the first request with this idempotency key is still in flight")]
    IdempotencyInProgress,
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    #[error("the outcome of the first request with this key is unknown")]
    IdempotencyOutcomeUnknown { retry_after_secs: u64 },
    #[error("the request was already processed and its answer was too large to keep")]
    IdempotencyAnswerNotKept,
    #[error("the idempotency store cannot be used")]
    IdempotencyUnavailable,
}

impl Reject {
    /// Status and code for the client: the one exhaustive table.
    #[rustfmt::skip]
    pub fn status_and_code(self) -> (StatusCode, &'static str) {
        use Reject::*;
        match self {
            MissingKey                => (StatusCode::UNAUTHORIZED, "AUTH_MISSING_API_KEY"),
            InvalidKey | AmbiguousKey => (StatusCode::UNAUTHORIZED, "AUTH_INVALID_API_KEY"),
            ExpiredKey                => (StatusCode::UNAUTHORIZED, "AUTH_EXPIRED_API_KEY"),
            CertificateMismatch       => (StatusCode::FORBIDDEN, "GATEWAY_CERTIFICATE_MISMATCH"),
            NetworkNotAllowed         => (StatusCode::FORBIDDEN, "GATEWAY_NETWORK_NOT_ALLOWED"),
            UnknownResource           => (StatusCode::FORBIDDEN, "AUTH_UNKNOWN_RESOURCE"),
            InsufficientScope { .. }  => (StatusCode::FORBIDDEN, "AUTH_INSUFFICIENT_PERMISSIONS"),
            BadPath                   => (StatusCode::BAD_REQUEST, "GATEWAY_BAD_PATH"),
            MethodNotAllowed          => (StatusCode::METHOD_NOT_ALLOWED, "GATEWAY_METHOD_NOT_ALLOWED"),
            PayloadTooLarge           => (StatusCode::PAYLOAD_TOO_LARGE, "GEN_PAYLOAD_TOO_LARGE"),
            BodyTimeout               => (StatusCode::REQUEST_TIMEOUT, "GATEWAY_REQUEST_TIMEOUT"),
            BadBody                   => (StatusCode::BAD_REQUEST, "GATEWAY_BAD_REQUEST"),
            UpstreamUnavailable       => (StatusCode::BAD_GATEWAY, "GATEWAY_UPSTREAM_UNAVAILABLE"),
            UpstreamTimeout           => (StatusCode::GATEWAY_TIMEOUT, "GATEWAY_UPSTREAM_TIMEOUT"),
            UpstreamBroken            => (StatusCode::BAD_GATEWAY, "GATEWAY_BAD_UPSTREAM_RESPONSE"),
            UpstreamSaturated         => (StatusCode::SERVICE_UNAVAILABLE, "GATEWAY_UPSTREAM_BUSY"),
            RateLimited(_)            => (StatusCode::TOO_MANY_REQUESTS, "GEN_RATE_LIMITED"),
            BadRequest                => (StatusCode::BAD_REQUEST, "GATEWAY_BAD_REQUEST"),
            UriTooLong                => (StatusCode::URI_TOO_LONG, "GATEWAY_URI_TOO_LONG"),
            UnsupportedCoding         => (StatusCode::NOT_IMPLEMENTED, "GATEWAY_NOT_IMPLEMENTED"),
            AuditUnavailable          => (StatusCode::SERVICE_UNAVAILABLE, "GATEWAY_AUDIT_UNAVAILABLE"),
            Busy                      => (StatusCode::SERVICE_UNAVAILABLE, "GATEWAY_BUSY"),
            BodyNotAllowed            => (StatusCode::BAD_REQUEST, "GATEWAY_BAD_REQUEST"),
            MalformedH2               => (StatusCode::BAD_REQUEST, "GATEWAY_BAD_REQUEST"),
            IdempotencyKeyInvalid     => (StatusCode::BAD_REQUEST, "GATEWAY_IDEMPOTENCY_KEY_INVALID"),
            IdempotencyKeyNotSupported => (StatusCode::BAD_REQUEST, "GATEWAY_IDEMPOTENCY_KEY_NOT_SUPPORTED"),
            MoneyBodyUnreadable       => (StatusCode::BAD_REQUEST, "GEN_MALFORMED_REQUEST"),
            IdempotencyInProgress     => (StatusCode::CONFLICT, "GATEWAY_IDEMPOTENCY_IN_PROGRESS"),
            IdempotencyKeyReused      => (StatusCode::UNPROCESSABLE_ENTITY, "GATEWAY_IDEMPOTENCY_KEY_REUSED"),
            IdempotencyOutcomeUnknown { .. } => (StatusCode::CONFLICT, "GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN"),
            IdempotencyAnswerNotKept  => (StatusCode::CONFLICT, "GATEWAY_IDEMPOTENCY_ANSWER_NOT_KEPT"),
            IdempotencyUnavailable    => (StatusCode::SERVICE_UNAVAILABLE, "GATEWAY_IDEMPOTENCY_UNAVAILABLE"),
        }
    }

    /// The message for the client: Blnk's wording where Blnk has the same answer.
    #[rustfmt::skip]
    pub fn message(self) -> Cow<'static, str> {
        use Reject::*;
        Cow::Borrowed(match self {
            MissingKey                => "Authentication required. Use X-Blnk-Key header",
            InvalidKey | AmbiguousKey => "Invalid API key",
            ExpiredKey                => "API key is expired or revoked",
            CertificateMismatch       => "This API key is bound to another client certificate",
            NetworkNotAllowed         => "Requests from this network are not allowed",
            UnknownResource           => "Unknown resource type",
            InsufficientScope { resource, action } => {
                let action = action.map_or("unknown", Action::as_str);
                return Cow::Owned(format!(
                    "Insufficient permissions for {}:{action}",
                    resource.as_str()
                ));
            }
            BadPath                   => "Request path is not acceptable",
            MethodNotAllowed          => "Method not allowed",
            PayloadTooLarge           => "Request body too large",
            BodyTimeout               => "Request body was not received in time",
            BadBody                   => "Malformed or incomplete request body",
            UpstreamUnavailable       => "Ledger service unavailable",
            UpstreamTimeout           => "Ledger service did not answer in time",
            UpstreamBroken            => "Ledger service gave an invalid response",
            UpstreamSaturated         => "The ledger service is busy; retry shortly",
            RateLimited(_)            => "You have reached maximum request limit.",
            BadRequest                => "Malformed request",
            UriTooLong                => "Request target too long",
            UnsupportedCoding         => "Transfer coding not supported",
            AuditUnavailable          => "Write requests are suspended while they cannot be recorded",
            Busy                      => "The gateway is busy; retry shortly",
            BodyNotAllowed            => "A GET or HEAD request must not carry a body",
            MalformedH2               => "Malformed request",
            IdempotencyKeyInvalid     => "Idempotency-Key must be one string of 1 to 255 visible characters",
            IdempotencyKeyNotSupported => "Idempotency-Key cannot be honoured here: GET, HEAD and OPTIONS are safe to repeat, and this gateway may keep no keys",
            MoneyBodyUnreadable       => "Invalid input",
            IdempotencyInProgress     => "A request with this idempotency key is still being processed; retry later",
            IdempotencyKeyReused      => "This idempotency key or transaction reference was already used for a different request",
            IdempotencyOutcomeUnknown { .. } => "The outcome of the first request with this idempotency key is unknown; check the resource before retrying, or retry later",
            IdempotencyAnswerNotKept  => "This request was already processed; its answer was too large to keep",
            IdempotencyUnavailable    => "Requests that move money are suspended while retries cannot be made safe; retry shortly",
        })
    }

    /// Whether this refusal is a failed authentication, which the rate limiter counts against
    /// the source: no key, a wrong, expired or ambiguous one, or a client key presented from
    /// outside the network or certificate it is bound to. A valid key that lacks a scope is not.
    #[rustfmt::skip]
    pub fn is_failed_authentication(self) -> bool {
        use Reject::*;
        match self {
            MissingKey | InvalidKey | AmbiguousKey | ExpiredKey | CertificateMismatch
            | NetworkNotAllowed => true,
            UnknownResource | InsufficientScope { .. } | BadPath | MethodNotAllowed
            | PayloadTooLarge | BodyTimeout | BadBody | UpstreamUnavailable | UpstreamTimeout
            | UpstreamBroken | UpstreamSaturated | RateLimited(_) | BadRequest | UriTooLong | UnsupportedCoding
            | AuditUnavailable | Busy | BodyNotAllowed | MalformedH2 | IdempotencyKeyInvalid
            | IdempotencyKeyNotSupported | MoneyBodyUnreadable | IdempotencyInProgress | IdempotencyKeyReused | IdempotencyOutcomeUnknown { .. }
            | IdempotencyAnswerNotKept | IdempotencyUnavailable => false,
        }
    }

    /// Whether the connection must close after this answer (the request body was not consumed
    /// in a way that leaves the HTTP/1.1 framing trustworthy).
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            Reject::PayloadTooLarge
                | Reject::BodyTimeout
                | Reject::BadBody
                | Reject::BadRequest
                | Reject::UriTooLong
                | Reject::UnsupportedCoding
                | Reject::Busy
                | Reject::BodyNotAllowed
        )
    }

    /// The reason as a stable token for logs and audit records.
    pub fn reason(self) -> &'static str {
        self.status_and_code().1
    }

    /// The response for this rejection.
    pub fn respond(self) -> Response<Bytes> {
        let (status, code) = self.status_and_code();
        let mut res = Response::new(error_body(code, &self.message()));
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
        match self {
            Reject::RateLimited(limited) => limited.stamp(h),
            Reject::Busy | Reject::UpstreamSaturated | Reject::IdempotencyUnavailable => {
                h.insert(
                    RETRY_AFTER,
                    HeaderValue::from(crate::limits::BUFFER_RETRY_AFTER_SECS),
                );
            }
            Reject::IdempotencyInProgress => {
                h.insert(
                    RETRY_AFTER,
                    HeaderValue::from(crate::limits::IDEMPOTENCY_RETRY_AFTER_SECS),
                );
            }
            // Zero: waiting will not tell (no reference to ask Blnk about); no Retry-After.
            Reject::IdempotencyOutcomeUnknown { retry_after_secs } if retry_after_secs > 0 => {
                h.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        res
    }
}

/// Blnk's error shape, serialised by serde_json so every message is escaped.
fn error_body(code: &str, message: &str) -> Bytes {
    let body =
        serde_json::json!({"error": message, "error_detail": {"code": code, "message": message}});
    Bytes::from(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::Scope;

    /// Builds the list of one example of every variant, each with the status and code it must
    /// answer, written here by hand rather than read from `status_and_code`. The same entries
    /// also make a `match` with no wildcard, so a variant missing from the list does not compile.
    macro_rules! every_reject {
        ($($variant:ident $({ $($field:tt : $value:expr),* })? => $status:literal $code:literal,)*) => {{
            #[allow(dead_code)]
            fn listed(r: Reject) {
                match r {
                    $(Reject::$variant $({ $($field: _),* })? => {})*
                }
            }
            vec![$((Reject::$variant $({ $($field: $value),* })?, $status, $code)),*]
        }};
    }

    #[rustfmt::skip]
    fn expected() -> Vec<(Reject, u16, &'static str)> {
        every_reject! {
            MissingKey                 => 401 "AUTH_MISSING_API_KEY",
            InvalidKey                 => 401 "AUTH_INVALID_API_KEY",
            AmbiguousKey               => 401 "AUTH_INVALID_API_KEY",
            ExpiredKey                 => 401 "AUTH_EXPIRED_API_KEY",
            CertificateMismatch        => 403 "GATEWAY_CERTIFICATE_MISMATCH",
            NetworkNotAllowed          => 403 "GATEWAY_NETWORK_NOT_ALLOWED",
            UnknownResource            => 403 "AUTH_UNKNOWN_RESOURCE",
            InsufficientScope { resource: Resource::Ledgers, action: Some(Action::Write) }
                                       => 403 "AUTH_INSUFFICIENT_PERMISSIONS",
            BadPath                    => 400 "GATEWAY_BAD_PATH",
            MethodNotAllowed           => 405 "GATEWAY_METHOD_NOT_ALLOWED",
            PayloadTooLarge            => 413 "GEN_PAYLOAD_TOO_LARGE",
            BodyTimeout                => 408 "GATEWAY_REQUEST_TIMEOUT",
            BadBody                    => 400 "GATEWAY_BAD_REQUEST",
            UpstreamUnavailable        => 502 "GATEWAY_UPSTREAM_UNAVAILABLE",
            UpstreamTimeout            => 504 "GATEWAY_UPSTREAM_TIMEOUT",
            UpstreamBroken             => 502 "GATEWAY_BAD_UPSTREAM_RESPONSE",
            UpstreamSaturated          => 503 "GATEWAY_UPSTREAM_BUSY",
            RateLimited { 0: Limited { scope: Scope::Client, limit: 10, retry_after_secs: 3 } }
                                       => 429 "GEN_RATE_LIMITED",
            BadRequest                 => 400 "GATEWAY_BAD_REQUEST",
            UriTooLong                 => 414 "GATEWAY_URI_TOO_LONG",
            UnsupportedCoding          => 501 "GATEWAY_NOT_IMPLEMENTED",
            AuditUnavailable           => 503 "GATEWAY_AUDIT_UNAVAILABLE",
            Busy                       => 503 "GATEWAY_BUSY",
            BodyNotAllowed             => 400 "GATEWAY_BAD_REQUEST",
            MalformedH2                => 400 "GATEWAY_BAD_REQUEST",
            IdempotencyKeyInvalid      => 400 "GATEWAY_IDEMPOTENCY_KEY_INVALID",
            IdempotencyKeyNotSupported => 400 "GATEWAY_IDEMPOTENCY_KEY_NOT_SUPPORTED",
            MoneyBodyUnreadable        => 400 "GEN_MALFORMED_REQUEST",
            IdempotencyInProgress      => 409 "GATEWAY_IDEMPOTENCY_IN_PROGRESS",
            IdempotencyKeyReused       => 422 "GATEWAY_IDEMPOTENCY_KEY_REUSED",
            IdempotencyOutcomeUnknown { retry_after_secs: 30 }
                                       => 409 "GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN",
            IdempotencyAnswerNotKept   => 409 "GATEWAY_IDEMPOTENCY_ANSWER_NOT_KEPT",
            IdempotencyUnavailable     => 503 "GATEWAY_IDEMPOTENCY_UNAVAILABLE",
        }
    }

    /// Each answer has the status and code written above, in Blnk's error shape.
    #[test]
    fn every_answer_has_its_status_and_code_in_blnk_shaped_json() {
        for (r, status, code) in expected() {
            let res = r.respond();
            let v: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
            assert_eq!(res.status().as_u16(), status, "{r:?}");
            assert_eq!(v["error_detail"]["code"], code, "{r:?}");
            let message = v["error"].as_str().unwrap_or_else(|| panic!("{r:?}: {v}"));
            assert!(!message.is_empty(), "{r:?}");
            assert_eq!(v["error_detail"]["message"], message, "{r:?}");
            assert_eq!(v.as_object().unwrap().len(), 2, "{r:?}: {v}");
            assert_eq!(
                res.headers()["content-type"],
                "application/json; charset=utf-8"
            );
        }
    }

    /// Codes in docs/errors.md's table that the gateway passes on from Blnk rather than makes.
    const RELAYED_FROM_BLNK: &[&str] = &["TXN_DUPLICATE_REFERENCE"];

    /// docs/errors.md's table as (status, code) rows.
    fn documented() -> Vec<(u16, String)> {
        include_str!("../docs/errors.md")
            .lines()
            .filter_map(|line| {
                let mut cells = line.strip_prefix('|')?.split('|').map(str::trim);
                let status = cells.next()?.parse().ok()?;
                let code = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                Some((status, code.to_string()))
            })
            .collect()
    }

    /// Every status and code the gateway answers with is a row of docs/errors.md, and every row
    /// is one it answers with (or one of Blnk's it passes on).
    #[test]
    fn docs_errors_md_lists_every_answer_and_nothing_else() {
        let doc = documented();
        let answers: Vec<(u16, String)> = expected()
            .into_iter()
            .map(|(r, _, _)| {
                let (status, code) = r.status_and_code();
                (status.as_u16(), code.to_string())
            })
            .collect();
        for answer in &answers {
            assert!(doc.contains(answer), "docs/errors.md has no row {answer:?}");
        }
        for row in &doc {
            assert!(
                answers.contains(row) || RELAYED_FROM_BLNK.contains(&row.1.as_str()),
                "docs/errors.md documents {row:?}, which no Reject answers"
            );
        }
    }

    #[test]
    fn rate_limited_answers_say_when_to_retry() {
        let limited = Limited::new(Scope::Global, 10, std::time::Duration::from_millis(2500));
        let res = Reject::RateLimited(limited).respond();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = res.headers();
        assert_eq!(h["retry-after"], "3");
        assert_eq!(h["ratelimit-limit"], "10");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reset"], "3");
        let v: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(v["error_detail"]["code"], "GEN_RATE_LIMITED");
        assert_eq!(v["error"], "You have reached maximum request limit.");
    }
}
