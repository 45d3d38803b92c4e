//! The gateway's shared state: an immutable [`Snapshot`] of everything a request needs, swapped
//! whole, and the parts that live as long as the process (the upstream pool, id generator, rate
//! limiter state, the audit writer).
//!
//! A request loads one snapshot at its start and uses it to the end, so a reload never mixes an
//! old key with new settings. A reload builds and validates a complete snapshot first and swaps it
//! in only on success; the last good one keeps serving otherwise.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use std::sync::atomic::AtomicU64;

use tokio::time::Instant;

use crate::audit::Audit;
use crate::clients::ClientTable;
use crate::config::{Loaded, Settings};
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::proxy::buffer::BufferBudget;
use crate::proxy::request_id::RequestIds;
use crate::ratelimit::{self, ClientQuota, Identity, RateLimitSettings, RateLimits};
use crate::upstream::UpstreamClient;

/// Everything a request reads, fixed for the request's lifetime.
pub struct Snapshot {
    pub settings: Settings,
    pub keys: KeyRing,
    pub tls: Option<TlsAcceptor>,
    pub clients: Option<Arc<ClientTable>>,
}

impl Snapshot {
    pub fn from_loaded(loaded: Loaded) -> Self {
        Snapshot {
            tls: loaded.tls.map(TlsAcceptor::from),
            keys: KeyRing::new(loaded.key, loaded.key_source),
            clients: loaded.clients.map(Arc::new),
            settings: loaded.settings,
        }
    }

    /// The snapshot that follows this one after a reload: new settings, TLS and clients, and a
    /// key ring that carries a rotation across (see `keys`).
    pub fn next(&self, loaded: Loaded, now: Instant) -> Snapshot {
        let grace = loaded.settings.rotation.grace;
        let keys = self.keys.next(loaded.key, loaded.key_source, grace, now);
        let clients = loaded.clients.map(|mut table| {
            if let Some(old) = &self.clients {
                table.carry_last_used(old);
            }
            Arc::new(table)
        });
        Snapshot {
            tls: loaded.tls.map(TlsAcceptor::from),
            keys,
            clients,
            settings: loaded.settings,
        }
    }

    /// The rate limits in force: `gateway.rate_limit`, plus the quota of every client key that
    /// has one in the clients file (unless `gateway.rate_limit.clients` names it too).
    pub fn rate_limit_settings(&self) -> RateLimitSettings {
        let mut settings = self.settings.rate_limit.clone();
        for client in self.clients.iter().flat_map(|t| t.iter()) {
            let id = Identity::client(&client.id);
            let quota = client
                .rate_limit
                .and_then(|r| ratelimit::quota(f64::from(r.per_second), r.burst));
            if let (Some(id), Some(requests)) = (id, quota) {
                settings.clients.entry(id).or_insert(ClientQuota {
                    requests,
                    writes: None,
                });
            }
        }
        settings
    }

    /// The same snapshot with other keys.
    pub fn with_keys(&self, keys: KeyRing) -> Snapshot {
        Snapshot {
            settings: self.settings.clone(),
            keys,
            tls: self.tls.clone(),
            clients: self.clients.clone(),
        }
    }
}

/// Reload counters, read by the metrics of the operations issue.
#[derive(Debug, Default)]
pub struct ReloadStats {
    pub reloads: AtomicU64,
    pub failures: AtomicU64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("settings", &self.settings)
            .field("keys", &self.keys)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The state shared by every connection of one gateway process.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    pub upstream: UpstreamClient,
    pub request_ids: RequestIds,
    pub metrics: Arc<Metrics>,
    pub reloads: ReloadStats,
    /// When the current master key was loaded.
    pub key_loaded_at: arc_swap::ArcSwap<Instant>,
    /// Buckets outlive snapshots; their quotas follow the snapshot's settings (see `swap`).
    pub rate_limits: RateLimits,
    /// The audit log. Its file, flush and fsync settings are those at start; `include_query` and
    /// `on_failure` are read from the snapshot per request.
    pub audit: Audit,
    /// Memory for request bodies read whole (`gateway.limits.max_buffered_bytes` at start).
    pub buffers: Arc<BufferBudget>,
    /// Upstream exchanges whose client went away: they run to Blnk's answer, and shutdown waits
    /// for them within the drain deadline (see `proxy::exchange`).
    pub exchanges: TaskTracker,
    /// Room for HTTP/2 request bodies drained after an early answer (see `proxy::early`).
    pub drains: Arc<tokio::sync::Semaphore>,
}

impl Gateway {
    /// Builds the state and starts the audit writer; call it inside the tokio runtime.
    pub fn new(loaded: Loaded) -> Arc<Self> {
        let metrics = Arc::new(Metrics::default());
        let upstream = UpstreamClient::new(&loaded.settings.limits, metrics.clone());
        let audit = Audit::start(&loaded.settings.audit);
        let snapshot = Snapshot::from_loaded(loaded);
        let rate_limits = RateLimits::new(&snapshot.rate_limit_settings());
        let buffers = BufferBudget::new(snapshot.settings.limits.max_buffered_bytes);
        Arc::new(Gateway {
            buffers,
            exchanges: TaskTracker::new(),
            drains: Arc::new(tokio::sync::Semaphore::new(
                crate::limits::LINGER_MAX_STREAMS,
            )),
            audit,
            snapshot: ArcSwap::from_pointee(snapshot),
            upstream,
            request_ids: RequestIds::new(),
            metrics,
            reloads: ReloadStats::default(),
            key_loaded_at: arc_swap::ArcSwap::from_pointee(Instant::now()),
            rate_limits,
        })
    }

    /// The snapshot in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replaces the snapshot whole. Requests in flight keep the one they loaded. The rate
    /// limiters take the new quotas, keeping every bucket whose quota did not change.
    pub fn swap(&self, next: Snapshot) {
        self.rate_limits.reconfigure(&next.rate_limit_settings());
        self.snapshot.store(Arc::new(next));
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("snapshot", &**self.snapshot.load())
            .finish()
    }
}
