//! The pooled HTTP/1.1 connection set to Blnk, and how its failures are classified.
//!
//! The pool keeps keep-alive connections open between requests. The client never retries a
//! request that may have been written: hyper-util only re-sends a request when the pooled
//! connection it was given turned out closed before a single byte of the request was written,
//! which Blnk cannot have seen. Everything else fails to the caller, which answers 502 or 504
//! (see `error`); a POST that may have reached Blnk is never sent twice (BLNK.md section 6).

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::error::Reject;
use crate::limits::{self, Limits};
use crate::metrics::Metrics;
use crate::proxy::body::{BodyError, RequestBody};

pub type UpstreamRequest = http::Request<RequestBody>;

/// The upstream client; cheap to clone, one pool per process.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    client: Client<HttpConnector, RequestBody>,
    metrics: Arc<Metrics>,
}

impl UpstreamClient {
    pub fn new(limits: &Limits, metrics: Arc<Metrics>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(limits.upstream_connect_timeout));
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(limits::UPSTREAM_POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(limits::UPSTREAM_POOL_MAX_IDLE)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .retry_canceled_requests(true)
            .set_host(false)
            .build(connector);
        UpstreamClient { client, metrics }
    }

    /// Sends one request and waits for the response head, under `deadline`.
    pub async fn send(
        &self,
        req: UpstreamRequest,
        deadline: Duration,
    ) -> Result<http::Response<Incoming>, Reject> {
        let started = tokio::time::Instant::now();
        let result = tokio::time::timeout(deadline, self.client.request(req)).await;
        self.metrics.upstream_duration.observe(started.elapsed());
        match result {
            Ok(Ok(res)) => Ok(res),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(Reject::UpstreamTimeout),
        }
    }
}

/// Maps a client error to the answer: our own body errors first (the client's fault), then
/// connect failures (502 at once), then anything else on an established connection.
fn classify(e: &hyper_util::client::legacy::Error) -> Reject {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(body) = err.downcast_ref::<BodyError>() {
            return body.reject();
        }
        source = err.source();
    }
    if e.is_connect() {
        tracing::warn!(error = %e, "upstream connection failed");
        Reject::UpstreamUnavailable
    } else {
        tracing::warn!(error = %e, "upstream exchange failed");
        Reject::UpstreamBroken
    }
}
