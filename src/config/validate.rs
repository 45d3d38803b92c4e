//! Validation: turns a [`RawConfig`] into [`Settings`], the types the hot path uses.
//!
//! Every problem is collected with its key path, so one `check` run shows them all. Defaults are
//! applied here (from `crate::limits`), so nothing downstream handles an `Option` that validation
//! could have settled. Relative paths are resolved against the directory of the config file.

use std::net::SocketAddr;
use std::path::Path;

use http::uri::Scheme;
use http::{HeaderValue, Uri};
use ipnet::IpNet;

use super::env::Env;
use super::limits::limits_from;
use super::problems::Problems;
use super::raw::{PortValue, RawConfig, RawGateway};
use super::settings::{Process, Rotation, Settings, TlsFiles, Upstream};
use crate::limits;
use crate::mode::Mode;

/// Where the gateway listens when `gateway.listen` is not set.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Where the admin listener listens when `gateway.admin_listen` is not set.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";
/// Blnk's default `server.port`.
pub const BLNK_DEFAULT_PORT: u16 = 5001;

pub(super) fn validate(
    raw: &RawConfig,
    config_path: &Path,
    env: &Env,
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
    // A mode that could not be read is reported already; its default proves nothing here.
    let mode_known = !raw.unreadable.iter().any(|k| k == "gateway.mode");
    check_mode(
        mode_known,
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
    let (idempotency_store, idempotency) =
        super::idempotency::validate(&g.idempotency, (base, cluster_on(g)), env, problems);
    super::idempotency::check_deadlines(&idempotency_store, &limits, problems);
    let cluster = super::cluster::validate(raw, base, env, problems);
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
        idempotency: idempotency_store,
        cluster,
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
        idempotency,
        blnk_secure,
        rotation,
    };
    (Some(settings), tls)
}

fn cluster_on(g: &RawGateway) -> bool {
    g.cluster.enabled.unwrap_or(false)
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
    mode_known: bool,
    mode: Mode,
    tls: &Option<TlsFiles>,
    allow_networks: &[IpNet],
    clients_file: bool,
    problems: &mut Problems,
) {
    if !mode_known {
        return;
    }
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
