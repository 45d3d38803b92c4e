//! Accepting connections and serving HTTP on them: the connection cap, TLS handshakes under a
//! deadline, HTTP/1.1 and HTTP/2 with their limits, and the graceful drain at shutdown.
//!
//! `run` is the one entry point, shared by `main` and the tests: it takes a bound listener, the
//! gateway state and a shutdown future, and returns when every connection has drained or the
//! drain deadline has passed.

mod h1;
mod refused;
mod watched;
mod wire;

pub use self::watched::Watched;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::conn::{Alpn, CertHash, ConnClock, ConnInfo, TlsInfo};
use crate::gateway::Gateway;
use crate::limits::{self, Limits};
use crate::metrics::Metrics;
use crate::proxy::seen::Seen;

use self::refused::Refusals;

/// How a drain ended, for the log and the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    Clean,
    TimedOut { remaining: usize },
}

/// Serves `listener` until `shutdown` resolves, then drains.
pub async fn run(
    gw: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Drain {
    let max_connections = gw.snapshot().settings.process.max_connections;
    let permits = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE, ECONNABORTED and friends: back off and keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(limits::ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
        };
        let gw = gw.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            serve_connection(gw, stream, peer, watcher).await;
            drop(permit);
        });
    }
    drop(listener);

    let pending = graceful.count();
    tracing::info!(connections = pending, "stopped accepting; draining");
    // The drain deadline in force when the signal came.
    let drain_timeout = gw.snapshot().settings.limits.drain_timeout;
    let deadline = tokio::time::Instant::now() + drain_timeout;
    let connections = tokio::time::timeout_at(deadline, graceful.shutdown()).await;
    // Exchanges whose clients went away still wait for Blnk's answer, to record it.
    gw.exchanges.close();
    let exchanges = tokio::time::timeout_at(deadline, gw.exchanges.wait()).await;
    match (connections, exchanges) {
        (Ok(()), Ok(())) => Drain::Clean,
        _ => Drain::TimedOut {
            remaining: permits_in_use(&permits, max_connections) + gw.exchanges.len(),
        },
    }
}

fn permits_in_use(permits: &Semaphore, max: usize) -> usize {
    max.saturating_sub(permits.available_permits())
}

async fn serve_connection(
    gw: Arc<Gateway>,
    stream: TcpStream,
    peer: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let _ = stream.set_nodelay(true);
    let _open = OpenConnection::new(gw.metrics.clone());
    let snap = gw.snapshot();
    let limits = snap.settings.limits.clone();
    match snap.tls.clone() {
        Some(acceptor) => {
            drop(snap);
            let tls = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(stream))
                .await
            {
                Ok(Ok(tls)) => {
                    gw.metrics.tls_handshakes.fetch_add(1, Ordering::Relaxed);
                    tls
                }
                Ok(Err(e)) => {
                    gw.metrics
                        .tls_handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    gw.metrics
                        .tls_handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "TLS handshake deadline passed");
                    return;
                }
            };
            let info = tls_info(tls.get_ref().1);
            serve_http(gw, tls, peer, Some(info), &limits, watcher).await;
        }
        None => {
            drop(snap);
            serve_http(gw, stream, peer, None, &limits, watcher).await;
        }
    }
}

/// Counts a connection as open for as long as it lives.
struct OpenConnection(Arc<Metrics>);

impl OpenConnection {
    fn new(metrics: Arc<Metrics>) -> Self {
        metrics.open_connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

fn tls_info(session: &rustls::ServerConnection) -> TlsInfo {
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    };
    let client_cert = session
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|cert| CertHash::new(Sha256::digest(cert.as_ref()).into()));
    let alpn = match session.alpn_protocol() {
        Some(b"h2") => Alpn::H2,
        Some(b"http/1.1") => Alpn::Http11,
        _ => Alpn::None,
    };
    TlsInfo {
        version,
        alpn,
        client_cert,
    }
}

async fn serve_http<IO>(
    gw: Arc<Gateway>,
    io: IO,
    peer: SocketAddr,
    tls: Option<TlsInfo>,
    limits: &Limits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let clock = Arc::new(ConnClock::default());
    let alpn = tls.as_ref().map(|t| t.alpn);
    let info = Arc::new(ConnInfo::new(peer, tls, clock.clone()));
    let seen = Arc::new(Seen::default());
    let refusals = Arc::new(Refusals::new(gw.clone(), info.clone(), seen.clone()));
    let io = Watched::new(io, clock, limits.header_read_timeout, limits.idle_timeout)
        .with_refusals(refusals.clone());
    let service = service_fn(move |req| {
        // Counted before the future first runs, so the connection's deadline switches at once.
        info.clock.request_started();
        crate::proxy::handle(gw.clone(), info.clone(), seen.clone(), req)
    });
    let builder = http_builder(limits, alpn);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn.into_owned()).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
        refusals.connection_ended(&*e);
    }
}

/// HTTP/1.1 and HTTP/2 settings from the limits. The protocol ALPN agreed on is the only one the
/// connection speaks (HTTP/1.1 bytes on an `h2` connection, or a preface on an `http/1.1` one,
/// are connection errors); without ALPN (plaintext, or a client that offered none) the preface
/// decides.
fn http_builder(limits: &Limits, alpn: Option<Alpn>) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The header and idle deadlines are enforced by `Watched`; see its module docs.
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers)
        .keep_alive(true)
        // A client may send a complete request and shut down its side (`shutdown(SHUT_WR)`) while
        // it waits for the answer: it still gets the answer, and the request its record.
        .half_close(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(limits::H2_MAX_HEADER_LIST_BYTES)
        .max_pending_accept_reset_streams(limits::H2_MAX_PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(limits::H2_MAX_PENDING_ACCEPT_RESETS * 50)
        .keep_alive_interval(None);
    match alpn {
        Some(Alpn::H2) => builder.http2_only(),
        Some(Alpn::Http11) => builder.http1_only(),
        Some(Alpn::None) | None => builder,
    }
}
