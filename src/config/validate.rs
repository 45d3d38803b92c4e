//! Validation: turns a [`RawConfig`] into [`Settings`], the types the hot path uses.
//!
//! Every problem is collected with its key path, so one `check` run shows them all. Defaults are
//! applied here (from `crate::limits`), so nothing downstream handles an `Option` that validation
//! could have settled. Relative paths are resolved against the directory of the config file.
//!
//! What follows a reload and what needs a restart is in the types: [`Settings`] holds what a
//! reload applies, and its [`Process`] part what is read once at start. Both serialise under their
//! configuration key names, so a reload names exactly the keys that changed (`diff`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};
use ipnet::IpNet;
use serde::Serialize;

use super::audit::{AuditPolicy, AuditWriter};
use super::problems::Problems;
use super::quota::RateLimitSettings;
use super::raw::{PortValue, RawConfig, RawGateway, RawLimits};
use crate::limits::{self, Limits};
use crate::mode::Mode;

/// Where the gateway listens when `gateway.listen` is not set.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Where the admin listener listens when `gateway.admin_listen` is not set.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// Blnk's default `server.port`.
pub const BLNK_DEFAULT_PORT: u16 = 5001;

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

pub(super) fn validate(
    raw: &RawConfig,
    config_path: &Path,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> (Option<Settings>, Option<TlsFiles>) {
    let before = problems.0.len();
    let g = &raw.gateway;
    let base = config_path.parent().unwrap_or(Path::new("."));

    let (listen, admin_listen) = listeners(g, problems);
    let port = blnk_port(raw.server.port.as_ref(), problems);
    let upstream = upstream(g.upstream.as_deref(), port, problems);
    let mode = g.mode.unwrap_or_default();
    let allow_networks = networks("gateway.allow_networks", &g.allow_networks, problems);
    let trusted_proxies = networks("gateway.trusted_proxies", &g.trusted_proxies, problems);
    let tls = tls_files(g, base, problems, warnings);
    let clients_file = g.clients_file.as_ref().map(|p| base.join(p));
    check_mode(
        mode,
        &tls,
        &allow_networks,
        clients_file.is_some(),
        problems,
    );
    let (limits, pools) = limits_from(&g.limits, raw.server.max_request_body_size_mb, problems);
    let rotation = rotation(g, problems);
    let rate_limit = super::rate_limit::rate_limit(&g.rate_limit, mode, problems, warnings);
    let (audit_writer, audit) = super::audit::validate(&g.audit, base, problems, warnings);
    let blnk_secure = raw.server.secure.unwrap_or(false);
    if !blnk_secure {
        warnings.push(
            "server.secure is false: Blnk itself accepts unauthenticated requests, so make sure it is reachable only through the gateway".into(),
        );
    }

    if problems.0.len() > before {
        return (None, tls);
    }
    let (Some(listen), Some(upstream)) = (listen, upstream) else {
        return (None, tls);
    };
    let process = Process {
        listen,
        admin_listen,
        max_connections: pools.max_connections,
        max_buffered_bytes: pools.max_buffered_bytes,
        upstream_max_connections: pools.upstream_max_connections,
        audit: audit_writer,
    };
    let settings = Settings {
        process,
        upstream,
        mode,
        tls: tls.clone(),
        allow_networks,
        trusted_proxies,
        pass_through_unknown_keys: g.pass_through_unknown_keys,
        clients_file,
        limits,
        rate_limit,
        audit,
        blnk_secure,
        rotation,
    };
    (Some(settings), tls)
}

/// `gateway.listen` and `gateway.admin_listen` (`"off"` for none).
fn listeners(g: &RawGateway, problems: &mut Problems) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let listen_text = g.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = listen_text.parse::<SocketAddr>().ok();
    if listen.is_none() {
        problems.push(
            "gateway.listen",
            format!("{listen_text:?} is not an ADDR:PORT socket address"),
        );
    }
    let admin_listen = match g.admin_listen.as_deref().unwrap_or(DEFAULT_ADMIN_LISTEN) {
        "off" => None,
        text => match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push(
                    "gateway.admin_listen",
                    format!("{text:?} is not an ADDR:PORT socket address or \"off\""),
                );
                None
            }
        },
    };
    (listen, admin_listen)
}

/// `gateway.tls`, or a plaintext listener when explicitly allowed.
fn tls_files(
    g: &RawGateway,
    base: &Path,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<TlsFiles> {
    let Some(t) = &g.tls else {
        if g.allow_plaintext {
            let listen = g.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
            warnings.push(format!(
                "plaintext listener on {listen}: keys and ledger data cross the network unencrypted; use only on loopback or a trusted link"
            ));
        } else {
            problems.push(
                "gateway.tls",
                "required: set gateway.tls.cert and gateway.tls.key (or gateway.allow_plaintext: true for a listener without TLS)",
            );
        }
        return None;
    };
    let cert = t.cert.as_ref().map(|p| base.join(p));
    let key = t.key.as_ref().map(|p| base.join(p));
    if cert.is_none() {
        problems.push(
            "gateway.tls.cert",
            "required when gateway.tls is set (a PEM certificate chain)",
        );
    }
    if key.is_none() {
        problems.push(
            "gateway.tls.key",
            "required when gateway.tls is set (a PEM private key)",
        );
    }
    if g.allow_plaintext {
        warnings.push("gateway.allow_plaintext is ignored because gateway.tls is set".into());
    }
    cert.zip(key).map(|(cert, key)| TlsFiles {
        cert,
        key,
        client_ca: t.client_ca.as_ref().map(|p| base.join(p)),
        dev_self_signed: t.dev_self_signed,
    })
}

/// Inject mode grants master access, so it needs some way to authenticate clients; client keys
/// exist only in inject mode.
fn check_mode(
    mode: Mode,
    tls: &Option<TlsFiles>,
    allow_networks: &[IpNet],
    clients_file: bool,
    problems: &mut Problems,
) {
    if mode == Mode::Inject {
        let has_ca = tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        if !has_ca && allow_networks.is_empty() && !clients_file {
            problems.push(
                "gateway.mode",
                "\"inject\" grants master access, so clients must be authenticated: set gateway.clients_file (scoped client keys), gateway.tls.client_ca (client certificates) or gateway.allow_networks",
            );
        }
    } else if clients_file {
        problems.push(
            "gateway.clients_file",
            "client keys are used in inject mode only (set gateway.mode to \"inject\")",
        );
    }
}

fn rotation(g: &RawGateway, problems: &mut Problems) -> Rotation {
    Rotation {
        grace: g.rotation.grace.unwrap_or(limits::ROTATION_GRACE),
        probe_interval: match g.rotation.probe_interval {
            Some(d) if d < limits::MIN_PROBE_INTERVAL => {
                problems.push(
                    "gateway.rotation.probe_interval",
                    format!("must be at least {:?}", limits::MIN_PROBE_INTERVAL),
                );
                d
            }
            Some(d) => d,
            None => limits::ROTATION_PROBE_INTERVAL,
        },
    }
}

fn blnk_port(port: Option<&PortValue>, problems: &mut Problems) -> u16 {
    let parsed = match port {
        None => return BLNK_DEFAULT_PORT,
        Some(PortValue::Number(n)) => u16::try_from(*n).ok(),
        Some(PortValue::Text(s)) => s.trim().parse::<u16>().ok(),
    };
    match parsed {
        Some(p) if p != 0 => p,
        _ => {
            problems.push(
                "server.port",
                "must be a TCP port number between 1 and 65535",
            );
            BLNK_DEFAULT_PORT
        }
    }
}

fn upstream(text: Option<&str>, port: u16, problems: &mut Problems) -> Option<Upstream> {
    let text = text
        .map(str::to_string)
        .unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
    let key = "gateway.upstream";
    let Ok(uri) = text.parse::<Uri>() else {
        problems.push(key, format!("{text:?} is not a URL"));
        return None;
    };
    if uri.scheme() != Some(&Scheme::HTTP) {
        problems.push(
            key,
            "must be an http:// URL (Blnk serves plain HTTP; the gateway adds TLS in front)",
        );
        return None;
    }
    let Some(authority) = uri.authority().cloned() else {
        problems.push(key, "must name a host, as in http://127.0.0.1:5001");
        return None;
    };
    if authority.as_str().contains('@') {
        problems.push(key, "must not carry credentials");
        return None;
    }
    if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
        problems.push(
            key,
            "must not have a path or query: Blnk's routes start at /",
        );
        return None;
    }
    let host = HeaderValue::from_str(authority.as_str()).ok()?;
    Some(Upstream {
        scheme: Scheme::HTTP,
        authority,
        host,
    })
}

fn networks(key: &str, items: &[String], problems: &mut Problems) -> Vec<IpNet> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let parsed = item
            .parse::<IpNet>()
            .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from));
        match parsed {
            Ok(net) => out.push(net.trunc()),
            Err(_) => problems.push(
                format!("{key}[{i}]"),
                format!("{item:?} is not an address or CIDR network"),
            ),
        }
    }
    out
}

/// The sizes of process-wide pools and budgets (`gateway.limits`, read once at start).
struct Pools {
    max_connections: usize,
    max_buffered_bytes: u64,
    upstream_max_connections: usize,
}

/// `gateway.limits`: deadlines, sizes and counts, each within its bounds.
fn limits_from(
    raw: &RawLimits,
    blnk_body_mb: Option<u64>,
    problems: &mut Problems,
) -> (Limits, Pools) {
    let d = Limits::default();
    let mut duration = |name: &str, v: Option<Duration>, default: Duration| match v {
        Some(v) if v.is_zero() => {
            problems.push(
                format!("gateway.limits.{name}"),
                "must be greater than zero",
            );
            default
        }
        Some(v) => v,
        None => default,
    };
    let limits = Limits {
        handshake_timeout: duration(
            "handshake_timeout",
            raw.handshake_timeout,
            d.handshake_timeout,
        ),
        header_read_timeout: duration(
            "header_read_timeout",
            raw.header_read_timeout,
            d.header_read_timeout,
        ),
        idle_timeout: duration("idle_timeout", raw.idle_timeout, d.idle_timeout),
        body_read_timeout: duration(
            "body_read_timeout",
            raw.body_read_timeout,
            d.body_read_timeout,
        ),
        upstream_connect_timeout: duration(
            "upstream_connect_timeout",
            raw.upstream_connect_timeout,
            d.upstream_connect_timeout,
        ),
        upstream_response_timeout: duration(
            "upstream_response_timeout",
            raw.upstream_response_timeout,
            d.upstream_response_timeout,
        ),
        drain_timeout: duration("drain_timeout", raw.drain_timeout, d.drain_timeout),
        max_body_bytes: raw
            .max_body_bytes
            .or(blnk_body_mb.map(|mb| mb.saturating_mul(1024 * 1024)))
            .unwrap_or(d.max_body_bytes),
        ..counts(raw, &d, problems)
    };
    if limits.max_body_bytes == 0 {
        problems.push("gateway.limits.max_body_bytes", "must be greater than zero");
    }
    let pools = pools(raw, limits.max_body_bytes, problems);
    (limits, pools)
}

/// A count within `min..=max`, or the default and a problem named `gateway.limits.<name>`.
fn bounded(
    name: &str,
    v: Option<usize>,
    default: usize,
    (min, max): (usize, usize),
    problems: &mut Problems,
) -> usize {
    match v {
        Some(v) if !(min..=max).contains(&v) => {
            problems.push(
                format!("gateway.limits.{name}"),
                format!("must be between {min} and {max}"),
            );
            default
        }
        Some(v) => v,
        None => default,
    }
}

/// The header and stream counts of `gateway.limits`; the rest of `d` is returned unchanged.
fn counts(raw: &RawLimits, d: &Limits, problems: &mut Problems) -> Limits {
    let streams = bounded(
        "h2_max_concurrent_streams",
        raw.h2_max_concurrent_streams.map(|v| v as usize),
        d.h2_max_concurrent_streams as usize,
        limits::H2_MAX_CONCURRENT_STREAMS_BOUNDS,
        problems,
    );
    Limits {
        max_header_bytes: bounded(
            "max_header_bytes",
            raw.max_header_bytes,
            d.max_header_bytes,
            limits::MAX_HEADER_BYTES_BOUNDS,
            problems,
        ),
        max_headers: bounded(
            "max_headers",
            raw.max_headers,
            d.max_headers,
            limits::MAX_HEADERS_BOUNDS,
            problems,
        ),
        h2_max_concurrent_streams: u32::try_from(streams)
            .unwrap_or(limits::H2_MAX_CONCURRENT_STREAMS),
        ..d.clone()
    }
}

fn pools(raw: &RawLimits, max_body_bytes: u64, problems: &mut Problems) -> Pools {
    let max_buffered_bytes = raw.max_buffered_bytes.unwrap_or(limits::MAX_BUFFERED_BYTES);
    let large_share =
        max_buffered_bytes - max_buffered_bytes / limits::BUFFER_SMALL_RESERVE_DIVISOR;
    if large_share < max_body_bytes {
        problems.push(
            "gateway.limits.max_buffered_bytes",
            format!(
                "must be at least 4/3 of gateway.limits.max_body_bytes ({max_body_bytes}): a quarter is kept for small bodies, and the rest must hold one body of the largest allowed size"
            ),
        );
    }
    Pools {
        max_connections: bounded(
            "max_connections",
            raw.max_connections,
            limits::MAX_CONNECTIONS,
            limits::MAX_CONNECTIONS_BOUNDS,
            problems,
        ),
        max_buffered_bytes,
        upstream_max_connections: bounded(
            "upstream_max_connections",
            raw.upstream_max_connections,
            limits::UPSTREAM_MAX_CONNECTIONS,
            limits::UPSTREAM_MAX_CONNECTIONS_BOUNDS,
            problems,
        ),
    }
}
