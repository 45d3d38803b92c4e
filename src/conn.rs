//! What the gateway knows about one client connection, shared by its requests: the peer, the TLS
//! session's facts, and the clock that counts requests in flight (which the connection's
//! deadlines read, see `server::watched`). Built once per connection, so nothing here is computed
//! per request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use http::HeaderValue;
use ipnet::IpNet;

/// The application protocol agreed in the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    H2,
    Http11,
    /// The client offered none the gateway speaks.
    None,
}

/// SHA-256 of a client certificate (DER): the bytes compared, and the hex shown, made once.
#[derive(Clone, PartialEq, Eq)]
pub struct CertHash {
    bytes: [u8; 32],
    hex: Box<str>,
}

impl CertHash {
    pub fn new(bytes: [u8; 32]) -> Self {
        CertHash {
            hex: hex::encode(bytes).into_boxed_str(),
            bytes,
        }
    }

    /// From 64 hex digits (as a clients file or a config names it).
    pub fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(CertHash::new(bytes))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl std::fmt::Debug for CertHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertHash({})", self.hex)
    }
}

/// Facts about the TLS session, when there is one.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    pub version: &'static str,
    pub alpn: Alpn,
    /// The client certificate's hash, when one was presented.
    pub client_cert: Option<CertHash>,
}

/// One client connection, shared by its requests.
#[derive(Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: Option<TlsInfo>,
    pub clock: Arc<ConnClock>,
    /// The peer's address as `X-Forwarded-For` carries it (IPv4-mapped IPv6 as IPv4), rendered
    /// once per connection rather than once per request.
    pub forwarded_for: HeaderValue,
    /// The peer as the audit log records it: canonical address and port.
    pub peer_text: Box<str>,
}

impl ConnInfo {
    pub fn new(peer: SocketAddr, tls: Option<TlsInfo>, clock: Arc<ConnClock>) -> Self {
        let canonical = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let forwarded_for = HeaderValue::from_str(&canonical.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        ConnInfo {
            peer,
            tls,
            clock,
            forwarded_for,
            peer_text: canonical.to_string().into_boxed_str(),
        }
    }

    /// Whether the peer is one of `trusted` (proxies whose `X-Forwarded-For` is kept).
    pub fn peer_trusted(&self, trusted: &[IpNet]) -> bool {
        let ip = self.peer.ip().to_canonical();
        trusted.iter().any(|n| n.contains(&ip))
    }

    pub fn client_cert(&self) -> Option<&CertHash> {
        self.tls.as_ref().and_then(|t| t.client_cert.as_ref())
    }
}

/// Counts requests in flight on a connection; read by the connection's deadlines.
#[derive(Debug, Default)]
pub struct ConnClock {
    in_flight: AtomicU32,
    /// Bumped each time a request head has been fully received.
    heads: AtomicU64,
}

impl ConnClock {
    /// Called when hyper hands a complete request head to the service.
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.heads.fetch_add(1, Ordering::Relaxed);
    }

    /// Called when the response body ended or was dropped.
    pub fn request_finished(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// No request in flight.
    pub fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }

    /// Request heads received so far.
    pub fn heads(&self) -> u64 {
        self.heads.load(Ordering::Relaxed)
    }
}
