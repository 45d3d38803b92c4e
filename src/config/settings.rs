//! The validated configuration: the types the hot path reads. What follows a reload and what
//! needs a restart is in the types: [`Settings`] holds what a reload applies, and its [`Process`]
//! part what is read once at start. Both serialise under their configuration key names, so a
//! reload names exactly the keys that changed (`diff`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::HeaderValue;
use ipnet::IpNet;
use serde::Serialize;

use super::audit::{AuditPolicy, AuditWriter};
use super::cluster::ClusterSettings;
use super::idempotency::{IdempotencyPolicy, IdempotencyStore};
use super::quota::RateLimitSettings;
use crate::limits::Limits;
use crate::mode::Mode;

/// The validated configuration. Everything here follows a reload, except [`Process`]. Field
/// names are the keys under `gateway` (a name with a dot is a full key path).
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Read once at start.
    #[serde(skip)]
    pub process: Process,
    pub upstream: Upstream,
    pub mode: Mode,
    pub tls: Option<TlsFiles>,
    pub allow_networks: Vec<IpNet>,
    pub trusted_proxies: Vec<IpNet>,
    pub pass_through_unknown_keys: bool,
    /// Inject mode: the scoped client keys (see `crate::clients`).
    pub clients_file: Option<PathBuf>,
    pub limits: Limits,
    pub rate_limit: RateLimitSettings,
    pub audit: AuditPolicy,
    pub idempotency: IdempotencyPolicy,
    /// `server.secure` as Blnk would read it.
    #[serde(rename = "server.secure")]
    pub blnk_secure: bool,
    pub rotation: Rotation,
}

/// What is read once, when the process starts: listeners, the size of process-wide pools and
/// budgets, the audit log's file. A reload that changes one logs that it needs a restart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Process {
    #[serde(rename = "gateway.listen")]
    pub listen: SocketAddr,
    /// The admin listener (`/healthz`, `/readyz`, `/metrics`), or none when "off".
    #[serde(rename = "gateway.admin_listen")]
    pub admin_listen: Option<SocketAddr>,
    #[serde(rename = "gateway.limits.max_connections")]
    pub max_connections: usize,
    #[serde(rename = "gateway.limits.max_buffered_bytes")]
    pub max_buffered_bytes: u64,
    #[serde(rename = "gateway.limits.upstream_max_connections")]
    pub upstream_max_connections: usize,
    #[serde(rename = "gateway.audit")]
    pub audit: AuditWriter,
    #[serde(rename = "gateway.idempotency")]
    pub idempotency: IdempotencyStore,
    /// Cluster mode: the Redis shared with the other gateways; `None` when off.
    #[serde(rename = "gateway.cluster")]
    pub cluster: Option<ClusterSettings>,
}

/// How key rotations are carried out (see `crate::keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rotation {
    /// How long the previous key stays valid after a change; zero means not at all.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// How often Blnk is asked whether it accepts the new key yet.
    #[serde(with = "humantime_serde")]
    pub probe_interval: Duration,
}

/// The upstream Blnk: scheme and authority of every forwarded request, and its `Host`.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub scheme: Scheme,
    pub authority: Authority,
    pub host: HeaderValue,
}

impl Serialize for Upstream {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}://{}", self.scheme, self.authority))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub dev_self_signed: bool,
}
