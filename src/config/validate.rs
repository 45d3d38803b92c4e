//! Validation: turns a [`RawConfig`] into [`Settings`], the types the hot path uses.
//!
//! Every problem is collected with its key path, so one `check` run shows them all. Defaults are
//! applied here (from `crate::limits`), so nothing downstream handles an `Option` that validation
//! could have settled. Relative paths are resolved against the directory of the config file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};
use ipnet::IpNet;

use super::raw::{Mode, PortValue, RawConfig, RawLimits};
use super::Problems;
use crate::limits::{self, Limits};
use crate::ratelimit::RateLimitSettings;

/// Where the gateway listens when `gateway.listen` is not set.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Where the admin listener listens when `gateway.admin_listen` is not set.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// Blnk's default `server.port`.
pub const BLNK_DEFAULT_PORT: u16 = 5001;

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// The admin listener (`/healthz`, `/readyz`, `/metrics`), or none when "off".
    pub admin_listen: Option<SocketAddr>,
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
    pub audit: super::AuditSettings,
    /// `server.secure` as Blnk would read it.
    pub blnk_secure: bool,
    pub rotation: Rotation,
}

/// How key rotations are carried out (see `crate::keys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// How long the previous key stays valid after a change; zero means not at all.
    pub grace: Duration,
    /// How often Blnk is asked whether it accepts the new key yet.
    pub probe_interval: Duration,
}

/// The upstream Blnk: scheme and authority of every forwarded request, and its `Host`.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub scheme: Scheme,
    pub authority: Authority,
    pub host: HeaderValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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

    let listen_text = g.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = listen_text.parse::<SocketAddr>().map_err(|_| {
        problems.push(
            "gateway.listen",
            format!("{listen_text:?} is not an ADDR:PORT socket address"),
        )
    });

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
    let port = blnk_port(raw.server.port.as_ref(), problems);
    let upstream = upstream(g.upstream.as_deref(), port, problems);
    let mode = g.mode.unwrap_or_default();
    let allow_networks = networks("gateway.allow_networks", &g.allow_networks, problems);
    let trusted_proxies = networks("gateway.trusted_proxies", &g.trusted_proxies, problems);

    let tls = match &g.tls {
        Some(t) => {
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
                warnings
                    .push("gateway.allow_plaintext is ignored because gateway.tls is set".into());
            }
            cert.zip(key).map(|(cert, key)| TlsFiles {
                cert,
                key,
                client_ca: t.client_ca.as_ref().map(|p| base.join(p)),
                dev_self_signed: t.dev_self_signed,
            })
        }
        None if g.allow_plaintext => {
            warnings.push(format!(
                "plaintext listener on {listen_text}: keys and ledger data cross the network unencrypted; use only on loopback or a trusted link"
            ));
            None
        }
        None => {
            problems.push(
                "gateway.tls",
                "required: set gateway.tls.cert and gateway.tls.key (or gateway.allow_plaintext: true for a listener without TLS)",
            );
            None
        }
    };

    let clients_file = g.clients_file.as_ref().map(|p| base.join(p));
    if mode == Mode::Inject {
        let has_ca = tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        if !has_ca && allow_networks.is_empty() && clients_file.is_none() {
            problems.push(
                "gateway.mode",
                "\"inject\" grants master access, so clients must be authenticated: set gateway.clients_file (scoped client keys), gateway.tls.client_ca (client certificates) or gateway.allow_networks",
            );
        }
    } else if clients_file.is_some() {
        problems.push(
            "gateway.clients_file",
            "client keys are used in inject mode only (set gateway.mode to \"inject\")",
        );
    }

    let limits = limits_from(&g.limits, raw.server.max_request_body_size_mb, problems);
    let rotation = Rotation {
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
    };
    let rate_limit = super::rate_limit::rate_limit(&g.rate_limit, mode, problems, warnings);
    let audit = super::audit::validate(&g.audit, base, problems, warnings);
    let blnk_secure = raw.server.secure.unwrap_or(false);
    if !blnk_secure {
        warnings.push(
            "server.secure is false: Blnk itself accepts unauthenticated requests, so make sure it is reachable only through the gateway".into(),
        );
    }

    if problems.0.len() > before {
        return (None, tls);
    }
    let (Ok(listen), Some(upstream)) = (listen, upstream) else {
        return (None, tls);
    };
    let settings = Settings {
        listen,
        admin_listen,
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

fn limits_from(raw: &RawLimits, blnk_body_mb: Option<u64>, problems: &mut Problems) -> Limits {
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
    let handshake_timeout = duration(
        "handshake_timeout",
        raw.handshake_timeout,
        d.handshake_timeout,
    );
    let header_read_timeout = duration(
        "header_read_timeout",
        raw.header_read_timeout,
        d.header_read_timeout,
    );
    let idle_timeout = duration("idle_timeout", raw.idle_timeout, d.idle_timeout);
    let body_read_timeout = duration(
        "body_read_timeout",
        raw.body_read_timeout,
        d.body_read_timeout,
    );
    let upstream_connect_timeout = duration(
        "upstream_connect_timeout",
        raw.upstream_connect_timeout,
        d.upstream_connect_timeout,
    );
    let upstream_response_timeout = duration(
        "upstream_response_timeout",
        raw.upstream_response_timeout,
        d.upstream_response_timeout,
    );
    let drain_timeout = duration("drain_timeout", raw.drain_timeout, d.drain_timeout);

    let blnk_body = blnk_body_mb.map(|mb| mb.saturating_mul(1024 * 1024));
    let max_body_bytes = raw.max_body_bytes.or(blnk_body).unwrap_or(d.max_body_bytes);
    let mut bounded = |name: &str, v: Option<usize>, default: usize, min: usize, max: usize| match v
    {
        Some(v) if !(min..=max).contains(&v) => {
            problems.push(
                format!("gateway.limits.{name}"),
                format!("must be between {min} and {max}"),
            );
            default
        }
        Some(v) => v,
        None => default,
    };
    let max_header_bytes = bounded(
        "max_header_bytes",
        raw.max_header_bytes,
        d.max_header_bytes,
        1024,
        1024 * 1024,
    );
    let max_headers = bounded("max_headers", raw.max_headers, d.max_headers, 8, 1000);
    let max_connections = bounded(
        "max_connections",
        raw.max_connections,
        d.max_connections,
        1,
        1_000_000,
    );
    let streams = bounded(
        "h2_max_concurrent_streams",
        raw.h2_max_concurrent_streams.map(|v| v as usize),
        d.h2_max_concurrent_streams as usize,
        1,
        1000,
    );
    if max_body_bytes == 0 {
        problems.push("gateway.limits.max_body_bytes", "must be greater than zero");
    }
    let max_buffered_bytes = raw.max_buffered_bytes.unwrap_or(d.max_buffered_bytes);
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
    Limits {
        handshake_timeout,
        header_read_timeout,
        idle_timeout,
        body_read_timeout,
        upstream_connect_timeout,
        upstream_response_timeout,
        drain_timeout,
        max_body_bytes,
        max_buffered_bytes,
        max_header_bytes,
        max_headers,
        max_connections,
        h2_max_concurrent_streams: u32::try_from(streams)
            .unwrap_or(limits::H2_MAX_CONCURRENT_STREAMS),
    }
}
