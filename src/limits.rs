//! Every bound the gateway enforces, with its name and its default, in one place.
//!
//! The values here are the defaults of `gateway.limits.*`; the validated, possibly overridden
//! values live in [`Limits`], which the hot path reads from the current snapshot. Nothing else in
//! the crate writes a timeout or a size as a literal.

use std::time::Duration;

/// Deadline for a TLS handshake, from accept to the first decrypted byte.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for a request head, from its first byte to its last.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a keep-alive connection may sit with no request in progress.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline for receiving a whole request body from the client.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline for a TCP connection to the upstream.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline for the upstream's response head, from the moment the request is sent.
pub const UPSTREAM_RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long idle pooled upstream connections are kept.
pub const UPSTREAM_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How many idle upstream connections are kept per upstream.
pub const UPSTREAM_POOL_MAX_IDLE: usize = 256;
/// How long in-flight requests may take to finish after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a replaced master key stays valid (`gateway.rotation.grace`).
pub const ROTATION_GRACE: Duration = Duration::from_secs(15 * 60);
/// How often Blnk is probed during a rotation (`gateway.rotation.probe_interval`).
pub const ROTATION_PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// The shortest probe interval accepted, so a typo cannot hammer Blnk.
pub const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(100);
/// Quiet time after the last file event before a reload reads the files.
pub const RELOAD_DEBOUNCE: Duration = Duration::from_millis(250);
/// Longest a stream of file events can delay a reload.
pub const RELOAD_MAX_DEBOUNCE: Duration = Duration::from_secs(2);
/// Largest Blnk error body read to tell a key refusal from other 401s.
pub const MAX_REFUSAL_BODY_BYTES: usize = 64 * 1024;

/// Blnk's own default request body cap (`server.max_request_body_size_mb`), in MiB.
pub const BLNK_MAX_BODY_MIB: u64 = 5;
/// Largest request head (request line plus headers) accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest number of request header fields accepted.
pub const MAX_HEADERS: usize = 100;
/// Largest number of client connections served at once; further accepts wait.
pub const MAX_CONNECTIONS: usize = 10_000;
/// Largest number of concurrent HTTP/2 streams per connection.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Largest HTTP/2 header list (HPACK-decoded), in bytes.
pub const H2_MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;
/// HTTP/2 streams a client may reset before the gateway sends GOAWAY (rapid reset).
pub const H2_MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// How long to back off after a failed `accept` (EMFILE and friends).
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// Longest `X-Request-Id` taken from a client; longer ones are replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The validated limits in force. Built by config validation, read from the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_read_timeout: Duration,
    pub upstream_connect_timeout: Duration,
    pub upstream_response_timeout: Duration,
    pub drain_timeout: Duration,
    pub max_body_bytes: u64,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_connections: usize,
    pub h2_max_concurrent_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: HANDSHAKE_TIMEOUT,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            upstream_connect_timeout: UPSTREAM_CONNECT_TIMEOUT,
            upstream_response_timeout: UPSTREAM_RESPONSE_TIMEOUT,
            drain_timeout: DRAIN_TIMEOUT,
            max_body_bytes: BLNK_MAX_BODY_MIB * 1024 * 1024,
            max_header_bytes: MAX_HEADER_BYTES,
            max_headers: MAX_HEADERS,
            max_connections: MAX_CONNECTIONS,
            h2_max_concurrent_streams: H2_MAX_CONCURRENT_STREAMS,
        }
    }
}
