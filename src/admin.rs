//! The admin listener (`gateway.admin_listen`, loopback by default, never the client port):
//! `/healthz` (the process is up), `/readyz` (Blnk's `/health` says UP and Blnk accepts the
//! gateway's master key, both cached), `/metrics` (OpenMetrics when the scrape's `Accept` asks for
//! it, the classic Prometheus text format otherwise), `/clients` (client-key ids and last use),
//! `/idempotency/pending` (keys in flight or of unknown outcome, with what Blnk holds: `pending`).
//!
//! It serves plain HTTP/1.1 with the same header and idle deadlines as the client listener, one
//! small answer per request, and never forwards anything to Blnk except the readiness check.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::body::RequestBody;
use crate::conn::ConnClock;
use crate::error::Reject;
use crate::gateway::Gateway;
use crate::keycheck::Verdict;
use crate::limits::{self, ADMIN_MAX_CONNECTIONS, READY_CACHE};
use crate::metrics;
use crate::server::Watched;

pub struct Admin {
    gw: Arc<Gateway>,
    /// The last answer to Blnk's `/health` and when it came: UP, or why not.
    ready: Mutex<Option<(Instant, Result<(), String>)>>,
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
        let permits = Arc::new(tokio::sync::Semaphore::new(ADMIN_MAX_CONNECTIONS));
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
            "/readyz" => match self.readiness().await {
                Ok(()) => text(StatusCode::OK, "ready\n"),
                Err(why) => {
                    let mut res = text(StatusCode::SERVICE_UNAVAILABLE, "");
                    *res.body_mut() = Full::new(Bytes::from(format!("not ready: {why}\n")));
                    res
                }
            },
            "/idempotency/pending" => {
                let report = crate::pending::report(&self.gw).await;
                let mut res = text(StatusCode::OK, "");
                *res.body_mut() = Full::new(Bytes::from(report.to_string()));
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                res
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
                let accept = req.headers().get(header::ACCEPT).map(|v| v.as_bytes());
                let format = metrics::Format::from_accept(accept);
                let body = match format {
                    metrics::Format::OpenMetrics => self.metrics(),
                    metrics::Format::Classic => metrics::to_classic(&self.metrics()),
                };
                let mut res = text(StatusCode::OK, "");
                *res.body_mut() = Full::new(Bytes::from(body));
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(format.content_type()),
                );
                res
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// Ready when the idempotency store takes new keys (as the last claim found), Blnk's
    /// `/health` answers UP and Blnk accepts the master key the gateway sends (both asked at most
    /// once per cache period, see `keycheck`); else why not. A key is always loaded once serving.
    async fn readiness(&self) -> Result<(), String> {
        if let Some(why) = self.gw.idempotency.as_ref().and_then(|i| i.refusing()) {
            return Err(why.to_string());
        }
        self.ready().await?;
        let snap = self.gw.snapshot();
        match self.gw.key_check.verdict(&self.gw.upstream, &snap).await {
            Verdict::Rejected => Err(format!(
                "Blnk rejects the gateway's master key (401 to key {}): Blnk and the gateway hold different keys",
                snap.keys.current.fingerprint()
            )),
            Verdict::Accepted | Verdict::Unknown => Ok(()),
        }
    }

    /// Ok when Blnk's `/health` answered UP recently, else why not.
    async fn ready(&self) -> Result<(), String> {
        if let Some((at, up)) = &*self.ready.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < READY_CACHE {
                return up.clone();
            }
        }
        let up = self.check_upstream().await;
        *self.ready.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), up.clone()));
        up
    }

    /// Asks Blnk's `/health`; an error says which step failed, so "nothing listens there" and
    /// "Blnk answers but is not healthy" read differently.
    async fn check_upstream(&self) -> Result<(), String> {
        let snap = self.gw.snapshot();
        let upstream = &snap.settings.upstream;
        let url = format!("{}://{}/health", upstream.scheme, upstream.authority);
        let mut req = Request::builder()
            .uri(&url)
            .body(RequestBody::empty())
            .map_err(|e| format!("cannot ask {url}: {e}"))?;
        req.headers_mut()
            .insert(header::HOST, upstream.host.clone());
        let res = self
            .gw
            .upstream
            .send(req, snap.settings.limits.upstream())
            .await
            .map_err(|e| match e {
                Reject::UpstreamUnavailable => format!(
                    "cannot connect to Blnk at {}://{} (gateway.upstream): refused, or not accepted within gateway.limits.upstream_connect_timeout",
                    upstream.scheme, upstream.authority
                ),
                Reject::UpstreamTimeout => format!(
                    "Blnk did not answer {url} within gateway.limits.upstream_response_timeout"
                ),
                other => format!("Blnk's {url} failed: {other}"),
            })?;
        let status = res.status();
        let body = http_body_util::Limited::new(res.into_body(), 4096);
        let body = http_body_util::BodyExt::collect(body)
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status != StatusCode::OK {
            return Err(format!("Blnk's /health answered {status}"));
        }
        if !body.windows(4).any(|w| w == b"\"UP\"") {
            return Err("Blnk's /health answered 200 without \"status\": \"UP\"".into());
        }
        Ok(())
    }

    /// Every part's numbers, each from the part that owns them.
    fn metrics(&self) -> String {
        let gw = &self.gw;
        let mut collectors: Vec<Box<dyn prometheus_client::collector::Collector>> = vec![
            Box::new(metrics::Collect(gw.metrics.clone())),
            Box::new(gw.reloads.counts()),
            Box::new(gw.snapshot().gauges()),
            Box::new(gw.buffer_gauges()),
            Box::new(gw.key_check.gauge()),
            Box::new(gw.audit.stats()),
            Box::new(gw.rate_limits.tracked()),
        ];
        if let Some(c) = &gw.cluster {
            collectors.push(Box::new(c.metrics()));
        }
        if let Some(idem) = &gw.idempotency {
            collectors.push(Box::new(idem.stats()));
        }
        metrics::render(collectors)
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
