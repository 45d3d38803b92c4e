//! The admin listener (`gateway.admin_listen`, loopback by default, never the client port):
//! `/healthz` (the process is up), `/readyz` (a key is loaded and Blnk's `/health` says UP,
//! cached briefly), `/metrics` (Prometheus text), `/clients` (client-key ids and last use).
//!
//! It serves plain HTTP/1.1 with the same header and idle deadlines as the client listener, one
//! small answer per request, and never forwards anything to Blnk except the readiness check.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::limits;
use crate::proxy::body::RequestBody;
use crate::server::conn::{ConnClock, Watched};
use crate::state::Gateway;

/// How long a readiness answer is reused, so scrapers cannot turn into load on Blnk.
const READY_CACHE: Duration = Duration::from_secs(1);
/// Connections the admin listener serves at once.
const MAX_ADMIN_CONNECTIONS: usize = 64;

pub struct Admin {
    gw: Arc<Gateway>,
    ready: Mutex<Option<(Instant, bool)>>,
}

impl Admin {
    pub fn new(gw: Arc<Gateway>) -> Arc<Self> {
        Arc::new(Admin {
            gw,
            ready: Mutex::new(None),
        })
    }

    /// Serves until the process ends; accept errors back off and continue.
    pub async fn run(self: Arc<Self>, listener: TcpListener) {
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_ADMIN_CONNECTIONS));
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (stream, _) = match listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(limits::ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            };
            let me = self.clone();
            tokio::spawn(async move {
                let io = Watched::new(
                    stream,
                    Arc::new(ConnClock::default()),
                    limits::HEADER_READ_TIMEOUT,
                    limits::IDLE_TIMEOUT,
                );
                let svc = service_fn(move |req| {
                    let me = me.clone();
                    async move { Ok::<_, Infallible>(me.answer(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .max_buf_size(limits::MAX_HEADER_BYTES.max(8192))
                    .serve_connection(TokioIo::new(io), svc)
                    .await;
                drop(permit);
            });
        }
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        }
        match req.uri().path() {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" => {
                if self.ready().await {
                    text(StatusCode::OK, "ready\n")
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: Blnk's /health is not UP\n",
                    )
                }
            }
            "/clients" => {
                // Last-use times of client keys, for `blnk-gateway keys list`. Ids only.
                let snap = self.gw.snapshot();
                let map: serde_json::Map<String, serde_json::Value> = snap
                    .clients
                    .iter()
                    .flat_map(|t| t.iter())
                    .map(|c| {
                        (
                            c.id.clone(),
                            c.last_used
                                .load(std::sync::atomic::Ordering::Relaxed)
                                .into(),
                        )
                    })
                    .collect();
                let mut res = text(StatusCode::OK, "");
                *res.body_mut() =
                    Full::new(Bytes::from(serde_json::Value::Object(map).to_string()));
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                res
            }
            "/metrics" => {
                let mut res = text(StatusCode::OK, "");
                *res.body_mut() = Full::new(Bytes::from(self.metrics()));
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                res
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// True when Blnk's `/health` answered UP recently. A key is always loaded once serving.
    async fn ready(&self) -> bool {
        if let Some((at, up)) = *self.ready.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < READY_CACHE {
                return up;
            }
        }
        let up = self.check_upstream().await;
        *self.ready.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), up));
        up
    }

    async fn check_upstream(&self) -> bool {
        let snap = self.gw.snapshot();
        let upstream = &snap.settings.upstream;
        let uri = format!("{}://{}/health", upstream.scheme, upstream.authority);
        let Ok(mut req) = Request::builder().uri(uri).body(RequestBody::empty()) else {
            return false;
        };
        req.headers_mut()
            .insert(header::HOST, upstream.host.clone());
        let Ok(res) = self
            .gw
            .upstream
            .send(req, snap.settings.limits.upstream_response_timeout)
            .await
        else {
            return false;
        };
        if res.status() != StatusCode::OK {
            return false;
        }
        let body = http_body_util::Limited::new(res.into_body(), 4096);
        match http_body_util::BodyExt::collect(body).await {
            Ok(b) => {
                let b = b.to_bytes();
                b.windows(4).any(|w| w == b"\"UP\"")
            }
            Err(_) => false,
        }
    }

    fn metrics(&self) -> String {
        let gw = &self.gw;
        let reloads = gw
            .reloads
            .reloads
            .load(std::sync::atomic::Ordering::Relaxed) as f64;
        let failures = gw
            .reloads
            .failures
            .load(std::sync::atomic::Ordering::Relaxed) as f64;
        let key_age = gw.key_loaded_at.load().elapsed().as_secs_f64();
        let snap = gw.snapshot();
        let previous = f64::from(u8::from(snap.keys.previous.is_some()));
        let tracked = gw.rate_limits.tracked();
        let audit = gw.audit.stats();
        gw.metrics.render(&[
            (
                "blnk_gateway_buffered_bytes",
                "Request-body bytes held in memory now (read whole before Blnk sees them).",
                "gauge",
                gw.buffers.in_use() as f64,
            ),
            (
                "blnk_gateway_buffered_bytes_limit",
                "gateway.limits.max_buffered_bytes in force.",
                "gauge",
                gw.buffers.total() as f64,
            ),
            (
                "blnk_gateway_audit_healthy",
                "1 while the audit log can be written (or is disabled), 0 while it cannot.",
                "gauge",
                f64::from(u8::from(audit.healthy || !audit.enabled)),
            ),
            (
                "blnk_gateway_audit_records_written_total",
                "Audit records written to the log.",
                "counter",
                audit.written as f64,
            ),
            (
                "blnk_gateway_audit_records_lost_total",
                "Audit records that will never be written; each loss is also a gap record in the log.",
                "counter",
                audit.lost as f64,
            ),
            (
                "blnk_gateway_audit_write_errors_total",
                "Failed opens, writes and syncs of the audit log.",
                "counter",
                audit.write_errors as f64,
            ),
            (
                "blnk_gateway_audit_refused_writes_total",
                "Write requests answered 503 because the audit log could not be written.",
                "counter",
                audit.refused_writes as f64,
            ),
            (
                "blnk_gateway_reloads_total",
                "Configuration reloads applied.",
                "counter",
                reloads,
            ),
            (
                "blnk_gateway_reload_failures_total",
                "Reloads refused; the previous configuration kept serving.",
                "counter",
                failures,
            ),
            (
                "blnk_gateway_key_age_seconds",
                "Seconds since the current master key was loaded.",
                "gauge",
                key_age,
            ),
            (
                "blnk_gateway_key_rotation_in_progress",
                "1 while a previous master key is still valid.",
                "gauge",
                previous,
            ),
            (
                "blnk_gateway_rate_limit_tracked_clients",
                "Client identities with a bucket of their own (capped at max_tracked).",
                "gauge",
                tracked.clients as f64,
            ),
            (
                "blnk_gateway_rate_limit_tracked_sources",
                "Source addresses with failed authentications being counted.",
                "gauge",
                tracked.sources as f64,
            ),
            (
                "blnk_gateway_rate_limit_cooling_down",
                "Source addresses refused until their failed-auth cool-down ends.",
                "gauge",
                tracked.cooling_down as f64,
            ),
        ])
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}
