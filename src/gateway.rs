//! [`Gateway`]: what every connection and request of one process shares. The live snapshot
//! (`state`), swapped whole on reload, and the parts that outlive snapshots: the pool of
//! connections to Blnk, the rate limiters' buckets, the audit writer, the request-body budget,
//! and the exchanges finishing after their client left. Each part's size is read once, at start
//! (`config::Process`); everything a request decides on comes from the snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
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
use crate::state::{Loaded, Snapshot};
use crate::upstream::UpstreamClient;

/// Reload counters, for the metrics.
#[derive(Debug, Default)]
pub struct ReloadStats {
    pub reloads: AtomicU64,
    pub failures: AtomicU64,
}

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

/// The gateway's own gauges at one moment, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    reloads: u64,
    reload_failures: u64,
    key_age_secs: i64,
    rotation_in_progress: bool,
    buffered_bytes: u64,
    buffered_limit: u64,
    cert_not_after: Option<i64>,
    key_accepted: i64,
}

impl Gateway {
    pub fn gauges(&self) -> Gauges {
        let snap = self.snapshot();
        Gauges {
            reloads: self.reloads.reloads.load(Ordering::Relaxed),
            reload_failures: self.reloads.failures.load(Ordering::Relaxed),
            key_age_secs: i64::try_from(snap.keys.age().as_secs()).unwrap_or(i64::MAX),
            rotation_in_progress: snap.keys.previous.is_some(),
            buffered_bytes: self.buffers.in_use(),
            buffered_limit: self.buffers.total(),
            cert_not_after: snap.cert.as_ref().and_then(|c| c.not_after),
            key_accepted: self.key_check.accepted_gauge(),
        }
    }
}

impl prometheus_client::collector::Collector for Gauges {
    fn encode(
        &self,
        mut e: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        metrics::counter(
            &mut e,
            "reloads",
            "Configuration reloads applied.",
            self.reloads,
        )?;
        metrics::counter(
            &mut e,
            "reload_failures",
            "Reloads refused; the previous configuration kept serving.",
            self.reload_failures,
        )?;
        metrics::gauge(
            &mut e,
            "key_age_seconds",
            "Age of the current master key: since its file was last written, or since it was loaded when it is not from a file.",
            self.key_age_secs,
        )?;
        metrics::gauge(
            &mut e,
            "key_rotation_in_progress",
            "1 while a previous master key is still valid.",
            i64::from(self.rotation_in_progress),
        )?;
        metrics::gauge(
            &mut e,
            "buffered_bytes",
            "Request-body bytes held in memory now (read whole before Blnk sees them).",
            n(self.buffered_bytes),
        )?;
        metrics::gauge(
            &mut e,
            "buffered_bytes_limit",
            "gateway.limits.max_buffered_bytes in force.",
            n(self.buffered_limit),
        )?;
        metrics::gauge(
            &mut e,
            "upstream_key_accepted",
            "0 while Blnk answers 401 to the gateway's master key (a probe or a run of forwarded requests), else 1.",
            self.key_accepted,
        )?;
        if let Some(t) = self.cert_not_after {
            metrics::gauge(
                &mut e,
                "tls_cert_not_after_seconds",
                "notAfter of the certificate served, as a Unix time.",
                t,
            )?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("snapshot", &**self.live.load())
            .finish()
    }
}
