//! Every bound the gateway enforces, with its name and its default, in one place.
//!
//! The values here are the defaults of `gateway.limits.*`; the validated, possibly overridden
//! values live in [`Limits`] (those that follow a reload, read from the current snapshot) and in
//! `config::Process` (those read once at start). Nothing else in the crate writes a timeout or a
//! size as a literal.

use std::time::Duration;

/// Deadline for a TLS handshake, from accept to the first decrypted byte.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for a request head, from its first byte to its last.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a keep-alive connection may sit with no request in progress.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline for receiving a whole request body from the client. Blnk sees nothing of a request
/// before its body is complete, so this is the only deadline a slow upload meets (408).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Deadline for a TCP connection to the upstream.
pub const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline for the upstream's response head, from the moment the request is sent (after the
/// body has been read whole).
pub const UPSTREAM_RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);
/// TCP keep-alive probes on upstream connections start after this long without traffic.
pub const UPSTREAM_TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// How long idle pooled upstream connections are kept.
pub const UPSTREAM_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How many idle upstream connections are kept per upstream.
pub const UPSTREAM_POOL_MAX_IDLE: usize = 256;
/// Most connections open to Blnk at once, idle or busy (`gateway.limits.upstream_max_connections`).
/// A request that finds none free waits up to `upstream_connect_timeout`, then gets 503. Blnk has
/// no connection limit of its own; 256 is well above what one Blnk with Postgres serves at once.
pub const UPSTREAM_MAX_CONNECTIONS: usize = 256;
pub const UPSTREAM_MAX_CONNECTIONS_BOUNDS: (usize, usize) = (1, 100_000);
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
/// Largest request head (request line plus headers) accepted, in bytes, and the values
/// `gateway.limits.max_header_bytes` may take.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
pub const MAX_HEADER_BYTES_BOUNDS: (usize, usize) = (1024, 1024 * 1024);
/// Largest number of request header fields accepted, and the values it may be set to.
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADERS_BOUNDS: (usize, usize) = (8, 1000);
/// Largest number of client connections served at once; further accepts wait.
pub const MAX_CONNECTIONS: usize = 10_000;
pub const MAX_CONNECTIONS_BOUNDS: (usize, usize) = (1, 1_000_000);
/// Largest number of concurrent HTTP/2 streams per connection.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 100;
pub const H2_MAX_CONCURRENT_STREAMS_BOUNDS: (usize, usize) = (1, 1000);
/// Largest HTTP/2 header list (HPACK-decoded), in bytes.
pub const H2_MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;
/// HTTP/2 streams a client may reset before the gateway sends GOAWAY (rapid reset).
pub const H2_MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// How long a readiness answer of the admin listener is reused, so scrapers cannot turn into
/// load on Blnk.
pub const READY_CACHE: Duration = Duration::from_secs(1);
/// How long `/readyz` trusts what Blnk last said about the master key before it asks again
/// (`keycheck`): readiness polling costs Blnk at most one request per interval.
pub const KEY_CHECK_INTERVAL: Duration = Duration::from_secs(10);
/// 401s in a row from Blnk to the gateway's master key that mean Blnk holds another key.
pub const KEY_MISMATCH_RUN: u32 = 5;
/// The "likely key mismatch" log line repeats at most this often while the 401s go on.
pub const KEY_MISMATCH_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Connections the admin listener serves at once.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;
/// How long to back off after a failed `accept` (EMFILE and friends).
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// Longest path normalised, in bytes (hyper bounds the whole head; this bounds the work of
/// normalising it).
pub const MAX_PATH_BYTES: usize = 8 * 1024;
/// Largest configuration file read; a blnk.json is a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Most rounds of reading a configuration around its broken keys, so one `check` lists every
/// problem without looping on a file of nothing but errors.
pub const MAX_CONFIG_PROBLEMS: usize = 100;
/// A key file larger than this is not a key file.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;
/// Largest clients file read, and most clients in it.
pub const MAX_CLIENTS_FILE_BYTES: u64 = 16 * 1024 * 1024;
pub const MAX_CLIENTS: usize = 100_000;
/// How long `keys list` waits for the admin listener's last-use times, and the most it reads.
pub const KEYS_ADMIN_TIMEOUT: Duration = Duration::from_secs(1);
pub const KEYS_ADMIN_MAX_BYTES: u64 = 1024 * 1024;
/// Reads of 4 KiB a lingering connection makes before it yields to the other connections.
pub const LINGER_READS_PER_POLL: usize = 64;
/// Commands to the audit writer (flush, reopen, close) that can wait in line: few callers, rare.
pub const AUDIT_CONTROL_CAPACITY: usize = 16;
/// Idempotency (`gateway.idempotency`). How long a key is remembered, by default.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest `gateway.idempotency.ttl` accepted.
pub const IDEMPOTENCY_MAX_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Keys kept at most (`gateway.idempotency.max_entries`); past it the oldest settled ones are
/// evicted, and new keys are refused (503) only while every entry is in flight or unknown.
/// A key with its answer is well under 2 KiB: a million is under 2 GiB of disk.
pub const IDEMPOTENCY_MAX_ENTRIES: u64 = 1_000_000;
/// Largest answer body kept for replay (`gateway.idempotency.max_answer_bytes`). Blnk's answers to
/// the routes that move money are a few KiB.
pub const IDEMPOTENCY_MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Largest `gateway.idempotency.max_answer_bytes` accepted: every kept answer is on disk (or in
/// Redis) for the key's lifetime.
pub const IDEMPOTENCY_MAX_ANSWER_BYTES_LIMIT: usize = 4 * 1024 * 1024;
/// Longest `Idempotency-Key` value accepted.
pub const IDEMPOTENCY_MAX_KEY_LEN: usize = 255;
/// Operations waiting for the embedded store's thread, and the most it applies in one
/// transaction (one fsync).
pub const IDEMPOTENCY_QUEUE: usize = 1024;
/// How long a request waits for the store before the gateway answers 503.
pub const IDEMPOTENCY_STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the embedded store removes expired keys on its own, the most one transaction
/// removes then, and how many such transactions follow each other while nothing else waits
/// (20,000 keys a second when idle). Every batch of writes also removes up to twice as many as
/// it wrote, so expiry keeps pace under load. Small transactions keep the file from growing:
/// the pages a transaction frees are reused only after the next synced one.
pub const IDEMPOTENCY_SWEEP_INTERVAL: Duration = Duration::from_secs(1);
pub const IDEMPOTENCY_SWEEP_BATCH: usize = 2_000;
pub const IDEMPOTENCY_SWEEP_ROUNDS: usize = 10;
/// The embedded store's page cache (redb's default is 1 GiB).
pub const IDEMPOTENCY_STORE_CACHE: usize = 32 * 1024 * 1024;
/// How long a claimed key is remembered after its entry is gone (`gateway.idempotency.remember`):
/// a claim of a key seen within it asks Blnk first.
pub const IDEMPOTENCY_REMEMBER: Duration = Duration::from_secs(7 * 24 * 60 * 60);
pub const IDEMPOTENCY_MAX_REMEMBER: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// `Retry-After` on a 409 for a key whose first request is still in flight, in seconds.
pub const IDEMPOTENCY_RETRY_AFTER_SECS: u64 = 1;
/// A request still "in flight" after this long has outlived any exchange the gateway allows
/// (its gateway stopped or failed): its outcome is unknown.
pub const IDEMPOTENCY_IN_FLIGHT_MAX: Duration = Duration::from_secs(120);
/// How long after an unknown outcome a reference that Blnk does not know is taken to mean the
/// request never took effect, so a retry may go through (default of
/// `gateway.idempotency.unknown_settle`). Blnk stores a `skip_queue` transaction before it
/// answers, and a queued one moments after.
pub const IDEMPOTENCY_UNKNOWN_SETTLE: Duration = Duration::from_secs(60);
/// While the idempotency store cannot be used, the ERROR line saying so is repeated at most this
/// often.
pub const IDEMPOTENCY_UNAVAILABLE_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// How long a claim the store refused (full, or unavailable) keeps `/readyz` not ready.
pub const IDEMPOTENCY_REFUSAL_SHOWN: Duration = Duration::from_secs(10);
/// Longest time the gateway waits for Blnk's answer to a reference lookup.
pub const IDEMPOTENCY_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest record read from Blnk when it is asked about a key.
pub const IDEMPOTENCY_LOOKUP_MAX_BYTES: usize = 256 * 1024;
/// How long a queued 201 for a suspect key waits to see its record at Blnk before its outcome
/// is declared unknown, and the first pause between looks (doubling).
pub const IDEMPOTENCY_VERIFY_TIMEOUT: Duration = Duration::from_secs(5);
pub const IDEMPOTENCY_VERIFY_POLL: Duration = Duration::from_millis(25);
/// How many times a settle that failed is tried again in the background (100 ms, doubling to
/// 5 s between tries: about 16 s in all, well under `IDEMPOTENCY_IN_FLIGHT_MAX`).
pub const IDEMPOTENCY_SETTLE_RETRIES: usize = 8;
/// The first pause before a failed settle is tried again; it doubles up to the next.
pub const IDEMPOTENCY_SETTLE_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between two tries of a failed settle.
pub const IDEMPOTENCY_SETTLE_PAUSE_MAX: Duration = Duration::from_secs(5);
/// Deepest nesting of arrays and objects read in a body that must be read as Blnk reads it
/// (`gojson`). Go's decoder allows 10,000 levels; Blnk's own fields nest at most 4 deep (a bulk
/// item's split share), the rest is whatever a client puts in `meta_data`. A deeper body is
/// refused as unreadable rather than read: the decoder recurses once per level, and 128 levels
/// keep its stack small on any thread.
pub const GOJSON_MAX_DEPTH: usize = 128;
/// Cluster mode (`gateway.cluster`): the longest one Redis operation may take before the gateway
/// carries on without Redis (default of `timeout`), and the bounds accepted.
pub const CLUSTER_TIMEOUT: Duration = Duration::from_millis(100);
pub const CLUSTER_TIMEOUT_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_secs(5));
/// How long tokens leased from a shared bucket last (default of `gateway.cluster.lease`), and the
/// longest accepted: an unused lease holds tokens other gateways could use for that long.
pub const CLUSTER_LEASE: Duration = Duration::from_millis(50);
pub const CLUSTER_LEASE_MAX: Duration = Duration::from_secs(1);
/// Prefix of every Redis key the gateway writes (default of `gateway.cluster.key_prefix`).
pub const CLUSTER_KEY_PREFIX: &str = "blnk-gateway:";
/// Redis's port when an address names none, and the largest database number accepted.
pub const REDIS_DEFAULT_PORT: u16 = 6379;
pub const REDIS_MAX_DB: i64 = 65_535;
/// While Redis is away, how often the gateway tries it again; how often each gateway says it is
/// alive, and how long one that stopped saying so still counts.
pub const CLUSTER_PROBE_INTERVAL: Duration = Duration::from_millis(500);
pub const CLUSTER_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
pub const CLUSTER_HEARTBEAT_TTL: Duration = Duration::from_secs(10);
/// The next beat after one that failed (Redis not reached yet, or away).
pub const CLUSTER_HEARTBEAT_RETRY: Duration = Duration::from_millis(100);
/// Shared buckets whose leases a process keeps at once (beyond it, the least recent are dropped
/// and their tokens given back).
pub const CLUSTER_MAX_LEASES: usize = 100_000;
/// Longest time a connection to Redis may take to open.
pub const CLUSTER_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest request target (path and query, or absolute form) accepted; longer ones get 414.
/// A head longer than `max_header_bytes` gets 431 whichever part of it is long.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Longest `X-Request-Id` taken from a client; longer ones are replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Request bodies held in memory at once, across every connection, while they are read whole
/// before Blnk sees them (`gateway.limits.max_buffered_bytes`). 128 MiB holds 25 bodies of
/// Blnk's 5 MiB maximum, or over 100,000 of the 1 KiB a transaction takes, while 10,000
/// connections each promising 5 MiB would otherwise ask for 50 GiB.
pub const MAX_BUFFERED_BYTES: u64 = 128 * 1024 * 1024;
/// The first bytes of every body count as small: a request's bytes beyond this offset may use
/// the budget only up to `max_buffered_bytes` minus [`BUFFER_SMALL_RESERVE_DIVISOR`]'s share, so
/// large uploads can never take the room that ordinary ledger requests need.
pub const BUFFER_SMALL_BODY_BYTES: u64 = 64 * 1024;
/// The share of the budget (one part in this many) kept for the small first bytes of bodies.
pub const BUFFER_SMALL_RESERVE_DIVISOR: u64 = 4;
/// How long a body waits for room in the buffer budget before the gateway answers 503.
pub const BUFFER_WAIT: Duration = Duration::from_secs(1);
/// `Retry-After` on a 503 for a full buffer budget, in seconds.
pub const BUFFER_RETRY_AFTER_SECS: u64 = 1;
/// After an early answer on HTTP/1.1 (413, 401 to an upload, ...), how long the gateway keeps
/// reading and discarding what the client still sends before it closes, so a client that writes
/// its whole body before reading sees the answer instead of a reset (nginx's `lingering_time`).
pub const LINGER_TIME: Duration = Duration::from_secs(10);
/// Lingering ends early when the client sends nothing for this long (nginx's `lingering_timeout`).
pub const LINGER_QUIET: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while lingering on one connection or HTTP/2 stream.
pub const LINGER_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// HTTP/2 streams drained at once after early answers; past it, a stream is reset at once
/// (`RST_STREAM(NO_ERROR)`, which some clients report as an error).
pub const LINGER_MAX_STREAMS: usize = 1024;

/// Rate limiting (`gateway.rate_limit`), defaults and bounds. GCRA quotas: `per_second` is the
/// sustained rate, `burst` how many may come at once after a quiet spell.
///
/// Per-client default. Generous on purpose: in verify mode every caller that presents the master
/// key is one client, so this is also the whole deployment's rate there.
pub const RATE_LIMIT_PER_CLIENT_PER_SECOND: f64 = 1_000.0;
pub const RATE_LIMIT_PER_CLIENT_BURST: u32 = 2_000;
/// Ceiling on everything forwarded to Blnk, whoever sends it.
pub const RATE_LIMIT_GLOBAL_PER_SECOND: f64 = 5_000.0;
pub const RATE_LIMIT_GLOBAL_BURST: u32 = 10_000;
/// Failed authentications per source address: 10 at once, then one every 10 s.
pub const FAILED_AUTH_PER_SECOND: f64 = 0.1;
pub const FAILED_AUTH_BURST: u32 = 10;
/// How long a source that went past the failed-authentication limit gets 429, whatever it sends.
pub const FAILED_AUTH_COOL_DOWN: Duration = Duration::from_secs(5 * 60);
/// IPv6 sources are counted per network of this prefix length: one host holds a whole /64.
pub const FAILED_AUTH_IPV6_PREFIX: u8 = 64;
/// Identities (or source addresses) tracked per limiter table; past it, new ones share one
/// overflow bucket until pruning frees room.
pub const RATE_LIMIT_MAX_TRACKED: usize = 100_000;
/// Largest `gateway.rate_limit.max_tracked` accepted.
pub const RATE_LIMIT_MAX_TRACKED_LIMIT: usize = 10_000_000;
/// Least time between two prunes of a full table (a prune walks the whole table).
pub const RATE_LIMIT_PRUNE_INTERVAL: Duration = Duration::from_secs(1);
/// Largest number of per-client overrides (`gateway.rate_limit.clients`).
pub const RATE_LIMIT_MAX_CLIENTS: usize = 10_000;
/// Bounds of any `per_second` (one request per ~2.8 hours to a million per second).
pub const RATE_LIMIT_MIN_PER_SECOND: f64 = 0.0001;
pub const RATE_LIMIT_MAX_PER_SECOND: f64 = 1_000_000.0;
/// Largest `burst`. With the smallest rate, a full burst refills in under 32 years, which keeps
/// every GCRA time within governor's 64-bit nanoseconds.
pub const RATE_LIMIT_MAX_BURST: u32 = 100_000;
/// Longest `gateway.rate_limit.failed_auth.cool_down`.
pub const FAILED_AUTH_MAX_COOL_DOWN: Duration = Duration::from_secs(24 * 60 * 60);
/// Records that may wait between the request path and the audit writer. A request never waits
/// for room: when the channel is full its record is counted as lost (see `audit`).
pub const AUDIT_CHANNEL_CAPACITY: usize = 16_384;
/// Records the audit writer keeps in memory while the log cannot be written, oldest dropped first
/// (and counted in a `gap` record) beyond it. Default of `gateway.audit.max_pending_records`.
pub const AUDIT_MAX_PENDING_RECORDS: usize = 16_384;
/// Longest time a record waits in memory before it is written. Default of
/// `gateway.audit.flush_interval`.
pub const AUDIT_FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Records that trigger a write before the interval. Default of `gateway.audit.flush_records`.
pub const AUDIT_FLUSH_RECORDS: usize = 256;
/// Longest time between two fsyncs with `fsync: "interval"`. Default of
/// `gateway.audit.fsync_interval`.
pub const AUDIT_FSYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How often a writer that cannot write tries again (and reopens a path it could not open).
pub const AUDIT_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How long a caller of `Audit::flush` or `Audit::reopen` waits for the writer's answer (it may
/// be stuck in a write to a hung disk); the command itself is still carried out later.
pub const AUDIT_CONTROL_TIMEOUT: Duration = Duration::from_secs(10);
/// `blnk-gateway idempotency pending`: how long it waits for the admin listener (which asks Blnk
/// about every key), and the largest report it reads.
pub const PENDING_ADMIN_TIMEOUT: Duration = Duration::from_secs(120);
pub const PENDING_ADMIN_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// The longest a money-moving request's answer waits for its record to be on disk; past it the
/// answer goes (the money moved) and the record follows when the log can be written.
pub const AUDIT_DURABLE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `serve` waits at exit for the audit writer to write and sync what it holds.
pub const AUDIT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest path, and separately longest query, kept in an audit record; longer ones are cut and
/// marked `path_truncated`.
pub const AUDIT_MAX_PATH_BYTES: usize = 2048;
/// Longest `gateway.audit.flush_interval` or `fsync_interval` accepted: a record must not wait
/// for minutes in memory.
pub const AUDIT_MAX_INTERVAL: Duration = Duration::from_secs(60);
/// Largest `gateway.audit.max_pending_records` accepted.
pub const AUDIT_MAX_PENDING_LIMIT: usize = 1_000_000;
/// Longest line `audit verify` reads, and the most read back from an existing log at start; no
/// record the gateway writes comes near it.
pub const AUDIT_MAX_LINE_BYTES: usize = 64 * 1024;
/// Longest time an audit line stays unsealed: default of `gateway.audit.checkpoint_interval`.
pub const AUDIT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);
/// Lines sealed by one checkpoint at most: default of `gateway.audit.checkpoint_records`.
pub const AUDIT_CHECKPOINT_RECORDS: u64 = 10_000;
/// Longest `gateway.audit.checkpoint_interval` accepted.
pub const AUDIT_MAX_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// Largest `gateway.audit.checkpoint_records` accepted.
pub const AUDIT_MAX_CHECKPOINT_RECORDS: u64 = 1_000_000;
/// Shortest and longest `gateway.audit.key_epoch` accepted.
pub const AUDIT_MIN_KEY_EPOCH: Duration = Duration::from_secs(1);
pub const AUDIT_MAX_KEY_EPOCH: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Signing keys the audit writer remembers having retired (so a reload cannot bring one back).
pub const AUDIT_MAX_RETIRED_KEYS: usize = 64;
/// Checkpoint anchors `audit verify --anchors` reads at most, across its files.
pub const AUDIT_MAX_ANCHORS: usize = 1_000_000;
/// Public keys `audit verify` trusts at most: those given, plus those checkpoints certify.
pub const AUDIT_MAX_PUBLIC_KEYS: usize = 100_000;

/// The validated limits that follow a reload, read from the snapshot per connection or request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub upstream_connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub upstream_response_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    pub max_body_bytes: u64,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub h2_max_concurrent_streams: u32,
}

/// The deadlines of one exchange with Blnk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamDeadlines {
    /// For a connection: a new one's TCP connect, or waiting for one to be free.
    pub connect: Duration,
    /// For the response head, from when the request is handed to a connection.
    pub response: Duration,
}

impl Limits {
    pub fn upstream(&self) -> UpstreamDeadlines {
        UpstreamDeadlines {
            connect: self.upstream_connect_timeout,
            response: self.upstream_response_timeout,
        }
    }
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
            h2_max_concurrent_streams: H2_MAX_CONCURRENT_STREAMS,
        }
    }
}
