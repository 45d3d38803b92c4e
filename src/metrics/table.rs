//! [`Metrics`]: the request path's counters, in tables indexed by label enums, and which
//! counter each refusal moves.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use super::histogram::Histogram;
use crate::error::Reject;
use crate::mode::Mode;
use crate::quota::Scope;
use crate::route::Resource;

pub(super) const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
pub(super) const MODES: [Mode; 2] = [Mode::Verify, Mode::Inject];

/// Why a request was refused at authentication, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthReason {
    MissingKey,
    InvalidKey,
    ExpiredKey,
    NetworkNotAllowed,
    CertificateMismatch,
    InsufficientScope,
}

impl AuthReason {
    pub(super) const ALL: [AuthReason; 6] = [
        AuthReason::MissingKey,
        AuthReason::InvalidKey,
        AuthReason::ExpiredKey,
        AuthReason::NetworkNotAllowed,
        AuthReason::CertificateMismatch,
        AuthReason::InsufficientScope,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            AuthReason::MissingKey => "missing_key",
            AuthReason::InvalidKey => "invalid_key",
            AuthReason::ExpiredKey => "expired_key",
            AuthReason::NetworkNotAllowed => "network_not_allowed",
            AuthReason::CertificateMismatch => "certificate_mismatch",
            AuthReason::InsufficientScope => "insufficient_scope",
        }
    }
}

/// How the exchange with Blnk failed, as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UpstreamError {
    Unavailable,
    Timeout,
    Broken,
}

impl UpstreamError {
    pub(super) const ALL: [UpstreamError; 3] = [
        UpstreamError::Unavailable,
        UpstreamError::Timeout,
        UpstreamError::Broken,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            UpstreamError::Unavailable => "unavailable",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Broken => "broken",
        }
    }
}

/// What the idempotency store said about a keyed request, as a label (and as the audit record
/// says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdempotencyOutcome {
    /// The request took its key and went to Blnk.
    First,
    /// The kept answer was sent again; Blnk saw nothing.
    Replayed,
    /// The first outcome was unknown, and Blnk's record of the reference answered the retry.
    Recovered,
    /// The key was new but could have been used before (seen within `remember`, or the store
    /// may have lost writes): Blnk was asked, did not hold it, and the request went through.
    Verified,
    /// Blnk holds another transfer under the reference: the request never took effect.
    Conflict,
    InProgress,
    Mismatch,
    /// The first outcome is unknown; the retry was refused.
    Unknown,
    /// The store could not be used; the request was refused.
    StoreUnavailable,
}

impl IdempotencyOutcome {
    pub const ALL: [IdempotencyOutcome; 9] = [
        IdempotencyOutcome::First,
        IdempotencyOutcome::Replayed,
        IdempotencyOutcome::Recovered,
        IdempotencyOutcome::Verified,
        IdempotencyOutcome::Conflict,
        IdempotencyOutcome::InProgress,
        IdempotencyOutcome::Mismatch,
        IdempotencyOutcome::Unknown,
        IdempotencyOutcome::StoreUnavailable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            IdempotencyOutcome::First => "first",
            IdempotencyOutcome::Replayed => "replayed",
            IdempotencyOutcome::Recovered => "recovered",
            IdempotencyOutcome::Verified => "verified",
            IdempotencyOutcome::Conflict => "conflict",
            IdempotencyOutcome::InProgress => "in_progress",
            IdempotencyOutcome::Mismatch => "mismatch",
            IdempotencyOutcome::Unknown => "unknown_outcome",
            IdempotencyOutcome::StoreUnavailable => "store_unavailable",
        }
    }
}

/// A request refused by the HTTP layer itself, before the pipeline saw it (hyper's HTTP/1.1
/// parser answered it, or HTTP/2 refused its stream or the connection), as a label and as the
/// audit record's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolRefusal {
    /// HTTP/1.1: a head hyper could not parse (400).
    Malformed,
    /// HTTP/1.1: a target over hyper's own limit (414).
    UriTooLong,
    /// HTTP/1.1: a head over `max_header_bytes` or with too many fields (431).
    HeadTooLarge,
    /// HTTP/2: a stream reset with `PROTOCOL_ERROR` (a malformed request).
    StreamError,
    /// HTTP/2: a stream reset with `REFUSED_STREAM` (over `h2_max_concurrent_streams`).
    StreamRefused,
    /// HTTP/2: the connection ended with an error code (GOAWAY).
    ConnectionError,
}

impl ProtocolRefusal {
    pub const ALL: [ProtocolRefusal; 6] = [
        ProtocolRefusal::Malformed,
        ProtocolRefusal::UriTooLong,
        ProtocolRefusal::HeadTooLarge,
        ProtocolRefusal::StreamError,
        ProtocolRefusal::StreamRefused,
        ProtocolRefusal::ConnectionError,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ProtocolRefusal::Malformed => "malformed",
            ProtocolRefusal::UriTooLong => "uri_too_long",
            ProtocolRefusal::HeadTooLarge => "head_too_large",
            ProtocolRefusal::StreamError => "h2_stream_error",
            ProtocolRefusal::StreamRefused => "h2_refused_stream",
            ProtocolRefusal::ConnectionError => "h2_connection_error",
        }
    }

    /// The reason in the audit record.
    pub fn reason(self) -> &'static str {
        match self {
            ProtocolRefusal::Malformed => "HTTP_MALFORMED",
            ProtocolRefusal::UriTooLong => "HTTP_URI_TOO_LONG",
            ProtocolRefusal::HeadTooLarge => "HTTP_HEAD_TOO_LARGE",
            ProtocolRefusal::StreamError => "H2_STREAM_ERROR",
            ProtocolRefusal::StreamRefused => "H2_REFUSED_STREAM",
            ProtocolRefusal::ConnectionError => "H2_CONNECTION_ERROR",
        }
    }

    /// The status the client was sent, when it was sent one (HTTP/1.1).
    pub fn status(self) -> Option<u16> {
        match self {
            ProtocolRefusal::Malformed => Some(400),
            ProtocolRefusal::UriTooLong => Some(414),
            ProtocolRefusal::HeadTooLarge => Some(431),
            _ => None,
        }
    }
}

/// The counter a refusal moves, if any.
enum Counted {
    Auth(AuthReason),
    Upstream(UpstreamError),
    RateLimited(Scope),
    BufferBusy,
}

/// Which counter each refusal moves: the one exhaustive table.
fn counted(reject: Reject) -> Option<Counted> {
    use Reject::*;
    Some(match reject {
        MissingKey => Counted::Auth(AuthReason::MissingKey),
        InvalidKey | AmbiguousKey => Counted::Auth(AuthReason::InvalidKey),
        ExpiredKey => Counted::Auth(AuthReason::ExpiredKey),
        NetworkNotAllowed => Counted::Auth(AuthReason::NetworkNotAllowed),
        CertificateMismatch => Counted::Auth(AuthReason::CertificateMismatch),
        UnknownResource | InsufficientScope { .. } => Counted::Auth(AuthReason::InsufficientScope),
        UpstreamUnavailable | UpstreamSaturated => Counted::Upstream(UpstreamError::Unavailable),
        UpstreamTimeout => Counted::Upstream(UpstreamError::Timeout),
        UpstreamBroken => Counted::Upstream(UpstreamError::Broken),
        RateLimited(l) => Counted::RateLimited(l.scope),
        Busy => Counted::BufferBusy,
        BadPath | MethodNotAllowed | PayloadTooLarge | BodyTimeout | BadBody | BadRequest
        | UriTooLong | UnsupportedCoding | BodyNotAllowed | MalformedH2 | MoneyBodyUnreadable => {
            return None
        }
        // Counted by outcome in `idempotency_total`.
        IdempotencyKeyInvalid
        | IdempotencyKeyNotSupported
        | IdempotencyInProgress
        | IdempotencyKeyReused
        | IdempotencyOutcomeUnknown { .. }
        | IdempotencyAnswerNotKept
        | IdempotencyUnavailable => return None,
        // Counted by the audit log itself (`blnk_gateway_audit_refused_writes_total`).
        AuditUnavailable => return None,
    })
}

/// The request path's numbers.
#[derive(Default)]
pub struct Metrics {
    pub(super) requests: [[[AtomicU64; Resource::ALL.len()]; STATUS_CLASSES.len()]; MODES.len()],
    pub request_duration: Histogram,
    pub upstream_duration: Histogram,
    pub(super) upstream_errors: [AtomicU64; UpstreamError::ALL.len()],
    pub(super) auth_failures: [AtomicU64; AuthReason::ALL.len()],
    pub(super) rate_limited: [AtomicU64; Scope::ALL.len()],
    pub(super) buffer_busy: AtomicU64,
    pub(super) idempotency: [AtomicU64; IdempotencyOutcome::ALL.len()],
    pub(super) protocol_refusals: [AtomicU64; ProtocolRefusal::ALL.len()],
    pub open_connections: AtomicI64,
    pub tls_handshakes: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// One finished request (response head sent).
    pub fn request(&self, mode: Mode, resource: Resource, status: u16, elapsed: Duration) {
        let m = usize::from(mode == Mode::Inject);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[m][class][resource as usize].fetch_add(1, Ordering::Relaxed);
        self.request_duration.observe(elapsed);
    }

    /// What the idempotency store said about a keyed request.
    pub fn idempotency(&self, outcome: IdempotencyOutcome) {
        self.idempotency[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A request the HTTP layer refused before the pipeline saw it: counted by reason, and, when
    /// the client was sent a status, among `requests_total` (resource `unknown`).
    pub fn refused_by_protocol(&self, mode: Mode, why: ProtocolRefusal) {
        self.protocol_refusals[why as usize].fetch_add(1, Ordering::Relaxed);
        if let Some(status) = why.status() {
            let m = usize::from(mode == Mode::Inject);
            let class = usize::from(status / 100).clamp(1, 5) - 1;
            self.requests[m][class][Resource::Unknown as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request the gateway answered itself, for the reason-specific counters.
    pub fn rejected(&self, reject: Reject) {
        let counter = match counted(reject) {
            Some(Counted::Auth(r)) => &self.auth_failures[r as usize],
            Some(Counted::Upstream(e)) => &self.upstream_errors[e as usize],
            Some(Counted::RateLimited(s)) => &self.rate_limited[s as usize],
            Some(Counted::BufferBusy) => &self.buffer_busy,
            None => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
