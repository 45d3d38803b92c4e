//! [`Gateway`]: what every connection and request of one process shares. The live snapshot
//! (`state`), swapped whole on reload and only through [`Gateway::update`], which holds the lock
//! that serialises its writers; and the parts that outlive snapshots: the pool of connections to
//! Blnk, the rate limiters' buckets, the audit writer, the request-body budget, and the exchanges
//! finishing after their client left. Each part's size is read once, at start
//! (`config::Process`); everything a request decides on comes from the snapshot.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::audit::Audit;
use crate::body::BufferBudget;
use crate::cluster::Cluster;
use crate::config::Process;
use crate::idempotency::{Clock, Idempotency, LocalStore, RedisStore, Sizing};
use crate::keycheck::KeyCheck;
use crate::limits;
use crate::metrics::{self, Metrics};
use crate::ratelimit::Limiter;
use crate::request_id::RequestIds;
use crate::state::{Loaded, ReloadStats, Snapshot};
use crate::upstream::UpstreamClient;

/// The state shared by every connection of one gateway process.
pub struct Gateway {
    live: ArcSwap<Snapshot>,
    /// Held by whoever replaces `live` (see `update`).
    writer: Mutex<()>,
    pub upstream: UpstreamClient,
    pub request_ids: RequestIds,
    pub metrics: Arc<Metrics>,
    pub reloads: ReloadStats,
    /// Buckets outlive snapshots; their quotas follow the snapshot's settings (see `update`).
    pub rate_limits: Limiter,
    /// Cluster mode: the Redis shared with the other gateways.
    pub cluster: Option<Arc<Cluster>>,
    /// The audit log's writer; what each request does about it follows the snapshot.
    pub audit: Audit,
    /// Memory for request bodies read whole (`gateway.limits.max_buffered_bytes`).
    pub buffers: Arc<BufferBudget>,
    /// Upstream exchanges whose client went away: they run to Blnk's answer, and shutdown waits
    /// for them within the drain deadline (see `proxy::exchange`).
    pub exchanges: TaskTracker,
    /// Room for HTTP/2 request bodies drained after an early answer (see `proxy::early`).
    pub drains: Arc<Semaphore>,
    /// Idempotency keys and kept answers; none when `gateway.idempotency.enabled` is false.
    pub idempotency: Option<Idempotency>,
    /// Whether Blnk accepts the master key the gateway sends (for `/readyz` and `/metrics`).
    pub key_check: KeyCheck,
}

impl Gateway {
    /// Builds the state, opens the idempotency store and starts the audit writer; call it inside
    /// the tokio runtime.
    pub fn new(mut loaded: Loaded) -> Result<Arc<Self>, String> {
        let audit_key = loaded.audit_key.take();
        let process = &loaded.settings.process;
        let cluster = match &process.cluster {
            Some(c) => {
                let cluster = Cluster::start(c)?;
                crate::cluster::spawn_heartbeat(&cluster);
                tracing::info!(redis = %c.redis, lease = ?c.lease, "cluster mode: quotas, lockouts and idempotency keys shared through Redis");
                Some(cluster)
            }
            None => None,
        };
        let idempotency =
            open_idempotency(process, &loaded.settings.idempotency, cluster.as_ref())?;
        let metrics = Arc::new(Metrics::default());
        let upstream = UpstreamClient::new(process.upstream_max_connections, metrics.clone());
        let audit = Audit::start_signed(&process.audit, audit_key);
        let buffers = BufferBudget::new(process.max_buffered_bytes);
        let snapshot = Snapshot::from_loaded(loaded);
        let rate_limits = Limiter::new(&snapshot.rate_limit_settings(), cluster.clone());
        Ok(Arc::new(Gateway {
            live: ArcSwap::from_pointee(snapshot),
            writer: Mutex::new(()),
            upstream,
            request_ids: RequestIds::new(),
            metrics,
            reloads: ReloadStats::default(),
            rate_limits,
            cluster,
            audit,
            buffers,
            exchanges: TaskTracker::new(),
            drains: Arc::new(Semaphore::new(limits::LINGER_MAX_STREAMS)),
            idempotency,
            key_check: KeyCheck::default(),
        }))
    }

    /// The snapshot in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.live.load_full()
    }

    /// The one way to change the snapshot: `next` is given the snapshot in force and returns the
    /// one to replace it with, or `None` to keep it. Writers (reloads, the rotation's timer and
    /// probe) are serialised, so none works from a snapshot another has just replaced and none is
    /// lost. Requests in flight keep the one they loaded. The rate limiters take the new quotas,
    /// keeping every bucket whose quota did not change. Returns whether the snapshot changed.
    pub fn update(&self, next: impl FnOnce(&Arc<Snapshot>) -> Option<Snapshot>) -> bool {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let Some(next) = next(&self.live.load_full()) else {
            return false;
        };
        self.rate_limits.reconfigure(&next.rate_limit_settings());
        self.live.store(Arc::new(next));
        true
    }
}

/// The idempotency store: the cluster's in Redis, else the embedded one; none when off.
fn open_idempotency(
    process: &Process,
    policy: &crate::config::IdempotencyPolicy,
    cluster: Option<&Arc<Cluster>>,
) -> Result<Option<Idempotency>, String> {
    let cfg = &process.idempotency;
    if !cfg.enabled {
        return Ok(None);
    }
    let sizing = Sizing {
        max_entries: cfg.max_entries,
        remember: cfg.remember,
        ttl: policy.ttl,
    };
    let idem = match cluster {
        Some(c) => RedisStore::idempotency(c.clone(), &sizing),
        None => {
            let clock = Clock::system();
            let store = LocalStore::open(&cfg.path, &sizing, clock.clone()).map_err(|e| {
                let user = crate::config::User::current();
                format!("gateway.idempotency.path: {e} (opened as {user})")
            })?;
            Idempotency::new(store, clock)
        }
    };
    tracing::info!(store = %idem.describe(), "idempotency keys kept");
    Ok(Some(idem))
}

/// The request-body budget's gauges at one moment, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct BufferGauges {
    in_use: u64,
    limit: u64,
}

impl Gateway {
    /// The budget is `body`'s (`BufferBudget`); the gateway sized it from the configuration.
    pub fn buffer_gauges(&self) -> BufferGauges {
        BufferGauges {
            in_use: self.buffers.in_use(),
            limit: self.buffers.total(),
        }
    }
}

impl prometheus_client::collector::Collector for BufferGauges {
    fn encode(
        &self,
        mut e: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        metrics::gauge(
            &mut e,
            "buffered_bytes",
            "Request-body bytes held in memory now (read whole before Blnk sees them).",
            n(self.in_use),
        )?;
        metrics::gauge(
            &mut e,
            "buffered_bytes_limit",
            "gateway.limits.max_buffered_bytes in force.",
            n(self.limit),
        )
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("snapshot", &**self.live.load())
            .finish()
    }
}
