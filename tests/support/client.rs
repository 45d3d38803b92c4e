//! Real clients for tests: rustls over TCP, hyper HTTP/1.1 and HTTP/2, and raw bytes.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long any test client waits for anything before failing the test instead of hanging.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(20);

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// Asserts Blnk's error shape with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {:?}", self.body);
        let v = self.json();
        assert_eq!(v["error_detail"]["code"], code, "{v}");
        assert_eq!(v["error"], v["error_detail"]["message"], "{v}");
    }
}

/// A TLS client configuration trusting `ca_pem`, optionally presenting a client certificate.
pub fn tls(ca_pem: &str, client: Option<(&str, &str)>, alpn: &[&[u8]]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .map(|c| c.unwrap())
                .collect();
            builder
                .with_client_auth_cert(
                    certs,
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

pub async fn connect_tls(
    addr: SocketAddr,
    connector: &TlsConnector,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(CLIENT_DEADLINE, connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))?
}

pub type H1 = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
pub type H2 = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

pub async fn h1<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: IO) -> H1 {
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

pub async fn h2<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: IO) -> H2 {
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

async fn collect(res: http::Response<hyper::body::Incoming>) -> Answer {
    let (parts, body) = res.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// The answer to a request already handed to the connection, within the client deadline.
async fn answer(
    sent: impl std::future::Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>>,
) -> Answer {
    let res = tokio::time::timeout(CLIENT_DEADLINE, sent)
        .await
        .unwrap()
        .unwrap();
    collect(res).await
}

pub async fn send1(sender: &mut H1, req: Request<Full<Bytes>>) -> Answer {
    sender.ready().await.unwrap();
    answer(sender.send_request(req)).await
}

pub async fn send2(sender: &mut H2, req: Request<Full<Bytes>>) -> Answer {
    sender.ready().await.unwrap();
    answer(sender.send_request(req)).await
}

/// A request builder with the Host header the SDKs send.
pub fn req(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
}

pub fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// A request with neither key nor body: exempt routes, the admin listener, refusals.
pub fn bare(method: &str, path: &str) -> Request<Full<Bytes>> {
    req(method, path).body(empty()).unwrap()
}

/// A request builder presenting `key` in `X-Blnk-Key`, as the SDKs send it.
pub fn keyed(method: &str, path: &str, key: &str) -> http::request::Builder {
    req(method, path).header("x-blnk-key", key)
}

/// A request presenting `key`, with no body: the request most tests send.
pub fn keyed_empty(method: &str, path: &str, key: &str) -> Request<Full<Bytes>> {
    keyed(method, path, key).body(empty()).unwrap()
}

/// `GET /ledgers` presenting `key`: the request that shows the gateway forwards (or refuses).
pub fn get_ledgers(key: &str) -> Request<Full<Bytes>> {
    keyed_empty("GET", "/ledgers", key)
}

/// A request builder carrying `X-Request-Id: id`, by which a test finds the request's audit
/// record.
pub fn with_id(method: &str, path: &str, id: &str) -> http::request::Builder {
    req(method, path).header("x-request-id", id)
}

/// A request with `X-Request-Id: id` presenting `key`, with no body.
pub fn keyed_with_id(method: &str, path: &str, key: &str, id: &str) -> Request<Full<Bytes>> {
    with_id(method, path, id)
        .header("x-blnk-key", key)
        .body(empty())
        .unwrap()
}

/// `POST /transactions` with `X-Request-Id: id` presenting `key`, carrying a transfer Blnk
/// accepts under a fresh reference: the write most tests send.
pub fn keyed_transfer(key: &str, id: &str) -> Request<Full<Bytes>> {
    let body = super::fake_blnk::transfer(&super::fake_blnk::reference("t"), 1);
    with_id("POST", "/transactions", id)
        .header("x-blnk-key", key)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// `POST /ledgers` with `X-Request-Id: id` presenting `key`, making a ledger (Blnk answers 201).
pub fn keyed_ledger(key: &str, id: &str) -> Request<Full<Bytes>> {
    let name = if id.is_empty() { "ledger" } else { id };
    with_id("POST", "/ledgers", id)
        .header("x-blnk-key", key)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(format!(r#"{{"name":"{name}"}}"#))))
        .unwrap()
}

/// Writes raw bytes and reads until the peer closes (or the deadline), returning what came back.
pub async fn raw<IO: AsyncRead + AsyncWrite + Unpin>(io: &mut IO, bytes: &[u8]) -> String {
    io.write_all(bytes).await.unwrap();
    read_to_close(io).await
}

pub async fn read_to_close<IO: AsyncRead + Unpin>(io: &mut IO) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(CLIENT_DEADLINE, io.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}
