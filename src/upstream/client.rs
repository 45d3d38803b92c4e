//! [`UpstreamClient`], the handle the pipeline sends requests with: one pool per process.

use std::sync::Arc;

use tokio::time::Instant;

use super::pool::{Pool, UpstreamRequest, UpstreamResponse};
use crate::error::Reject;
use crate::limits::UpstreamDeadlines as Deadlines;
use crate::metrics::Metrics;

/// The upstream client; cheap to clone, one pool per process.
#[derive(Clone, Debug)]
pub struct UpstreamClient {
    pool: Arc<Pool>,
    metrics: Arc<Metrics>,
}

impl UpstreamClient {
    /// A pool of at most `max_connections` connections.
    pub fn new(max_connections: usize, metrics: Arc<Metrics>) -> Self {
        UpstreamClient {
            pool: Pool::new(max_connections),
            metrics,
        }
    }

    /// Sends one request and waits for the response head, under `deadlines`. The request's URI
    /// names the upstream (scheme and authority) and the target.
    pub async fn send(
        &self,
        req: UpstreamRequest,
        deadlines: Deadlines,
    ) -> Result<UpstreamResponse, Reject> {
        let started = Instant::now();
        let result = Pool::send(&self.pool, req, deadlines).await;
        self.metrics.upstream_duration.observe(started.elapsed());
        result
    }

    /// Connections open to Blnk now, idle or busy.
    pub fn open_connections(&self, max: usize) -> usize {
        max.saturating_sub(self.pool.available_permits())
    }

    /// Idle connections in the pool (for tests).
    pub fn idle_connections(&self) -> usize {
        self.pool.idle_count()
    }
}
