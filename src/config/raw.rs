//! The configuration as it is written: serde structs that mirror a blnk.json-style file.
//!
//! Only Blnk's `server` section, `redis.dns` (the default Redis of cluster mode) and the gateway's
//! own `gateway` section are read; every other top-level section of a real blnk.json
//! (`data_source`, `typesense`, ...) is ignored. Inside
//! `gateway` an unknown key is an error. Nothing here is checked beyond its JSON type: that is
//! `validate`'s job, which turns these into the types the hot path uses.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::mode::Mode;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub redis: RawBlnkRedis,
    #[serde(default)]
    pub gateway: RawGateway,
    /// Keys that could not be read (wrong type, unparsable, unknown) and were left out, so the
    /// rest could be validated; their problems are already recorded (see `load`).
    #[serde(skip)]
    pub unreadable: Vec<String>,
}

/// Blnk's own `redis` section: only `dns`, which may hold a password.
#[derive(Debug, Default, Deserialize)]
pub struct RawBlnkRedis {
    pub dns: Option<RawSecret>,
}

/// Blnk's own `server` section; keys the gateway does not use are ignored, as Blnk has many.
#[derive(Debug, Default, Deserialize)]
pub struct RawServer {
    pub secure: Option<bool>,
    pub secret_key: Option<RawSecret>,
    pub port: Option<PortValue>,
    pub max_request_body_size_mb: Option<u64>,
}

/// Blnk writes `server.port` as a string ("5001"); environment variables arrive as numbers.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PortValue {
    Number(u64),
    Text(String),
}

/// A secret as read from the file. Its `Debug` is redacted and its memory zeroed on drop.
pub struct RawSecret(pub Zeroizing<String>);

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| RawSecret(Zeroizing::new(s)))
    }
}

impl fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawSecret(<redacted>)")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub upstream: Option<String>,
    pub mode: Option<Mode>,
    pub secret_key_file: Option<PathBuf>,
    /// Development only: `serve` writes a random key to `secret_key_file` when it is missing.
    #[serde(default)]
    pub dev_generate_key: bool,
    pub tls: Option<RawTls>,
    #[serde(default)]
    pub allow_plaintext: bool,
    #[serde(default)]
    pub allow_networks: Vec<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    #[serde(default)]
    pub pass_through_unknown_keys: bool,
    pub clients_file: Option<PathBuf>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub rotation: RawRotation,
    #[serde(default)]
    pub rate_limit: RawRateLimit,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub idempotency: RawIdempotency,
    #[serde(default)]
    pub cluster: RawCluster,
}

/// `gateway.idempotency`: retries made safe (see `crate::idempotency`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdempotency {
    pub enabled: Option<bool>,
    pub path: Option<PathBuf>,
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
    pub from_reference: Option<bool>,
    pub max_entries: Option<u64>,
    pub max_answer_bytes: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    pub unknown_settle: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub remember: Option<Duration>,
}

/// `gateway.cluster`: state shared by several gateways through Redis (see `crate::cluster`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub enabled: Option<bool>,
    /// A URL, which may hold a password: read as a secret.
    pub redis: Option<RawSecret>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub key_prefix: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub lease: Option<Duration>,
    pub gateways: Option<u32>,
}

/// Key rotation: how long a replaced key stays valid, how often Blnk is probed for the new one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRotation {
    #[serde(default, with = "humantime_serde")]
    pub grace: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub probe_interval: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    /// Development only: when the cert and key files are missing, create a self-signed pair.
    #[serde(default)]
    pub dev_self_signed: bool,
}

/// Overrides of the defaults in `crate::limits`; durations are written like "10s" or "500ms".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    #[serde(default, with = "humantime_serde")]
    pub handshake_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub header_read_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub body_read_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub upstream_connect_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub upstream_response_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub drain_timeout: Option<Duration>,
    pub max_body_bytes: Option<u64>,
    pub max_buffered_bytes: Option<u64>,
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub max_connections: Option<usize>,
    pub upstream_max_connections: Option<usize>,
    pub h2_max_concurrent_streams: Option<u32>,
}

/// `gateway.rate_limit`. Every field is optional; an omitted one keeps its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub enabled: Option<bool>,
    #[serde(default)]
    pub per_client: RawQuota,
    /// A separate quota for writes (every method but GET, HEAD, OPTIONS); absent: writes share
    /// `per_client`.
    pub writes: Option<RawQuota>,
    /// Absent: the default ceiling; `null`: no ceiling.
    #[serde(default, deserialize_with = "present")]
    pub global: Option<Option<RawQuota>>,
    #[serde(default)]
    pub failed_auth: RawFailedAuth,
    #[serde(default)]
    pub clients: Vec<RawClient>,
    pub max_tracked: Option<usize>,
}

/// A GCRA quota: `per_second` sustained, `burst` at once.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    pub per_second: Option<f64>,
    pub burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFailedAuth {
    pub per_second: Option<f64>,
    pub burst: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub cool_down: Option<Duration>,
}

/// A per-client override: `id` is `key:<fingerprint>`, `cert:<sha256>` or `ip:<address>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub id: String,
    pub per_second: Option<f64>,
    pub burst: Option<u32>,
    pub writes: Option<RawQuota>,
}

/// The id is left out: someone may have pasted a key where its fingerprint belongs.
impl fmt::Debug for RawClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawClient")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .field("writes", &self.writes)
            .finish_non_exhaustive()
    }
}

/// Tells a key set to `null` (`Some(None)`) from an absent one (`None`, by `serde(default)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
/// `gateway.audit`: where the audit log goes and how hard the gateway tries to keep it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub enabled: Option<bool>,
    /// A file, or `-` for standard output.
    pub path: Option<String>,
    #[serde(default)]
    pub include_query: bool,
    #[serde(default, with = "humantime_serde")]
    pub flush_interval: Option<Duration>,
    pub flush_records: Option<usize>,
    pub fsync: Option<Fsync>,
    #[serde(default, with = "humantime_serde")]
    pub fsync_interval: Option<Duration>,
    pub on_failure: Option<OnFailure>,
    pub max_pending_records: Option<usize>,
    /// The Ed25519 key that signs checkpoints (PEM); none: no checkpoints.
    pub signing_key_file: Option<PathBuf>,
    #[serde(default, with = "humantime_serde")]
    pub checkpoint_interval: Option<Duration>,
    pub checkpoint_records: Option<u64>,
    /// Forward-secure epochs: how long one signing key is used before the next replaces it.
    #[serde(default, with = "humantime_serde")]
    pub key_epoch: Option<Duration>,
}

/// When the audit writer calls fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// After every batch it writes.
    #[default]
    Batch,
    /// At most every `fsync_interval`, and when the log is reopened or closed.
    Interval,
    /// Never: the kernel writes the data back in its own time.
    Never,
}

/// What the gateway does while the audit log cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Answer writes (every method but GET, HEAD, OPTIONS) with 503; serve reads.
    #[default]
    RefuseWrites,
    /// Serve everything; records that cannot be written are counted as lost.
    FailOpen,
}

impl fmt::Display for OnFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnFailure::RefuseWrites => "refuse_writes",
            OnFailure::FailOpen => "fail_open",
        })
    }
}
