//! [`Cluster`]: the connection to the Redis the gateways share, and whether it can be used.
//!
//! Every operation has the deadline `gateway.cluster.timeout`. The first one that fails or misses
//! it marks Redis down (one WARN line, `blnk_gateway_cluster_redis_up` 0); while it is down no
//! request waits for it: [`Cluster::run`] answers `Unavailable` at once and each caller falls
//! back (its own per-process state, or a refusal it documents). A probe tries Redis every
//! `CLUSTER_PROBE_INTERVAL` and marks it up again (one INFO line), so the gateway recovers by
//! itself, including from a Redis that restarted empty: every script is loaded again on first use
//! (`EVALSHA`, then `EVAL` on `NOSCRIPT`). The gateway starts even when Redis is down.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo, RedisResult};
use tokio::sync::Notify;

use super::stats::{Fallback, Stats};
use crate::config::ClusterSettings;
use crate::limits;

/// Redis could not be used for this operation (down, slow, or refusing it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// The shared Redis, as one gateway process sees it.
pub struct Cluster {
    settings: ClusterSettings,
    client: redis::Client,
    conn: ArcSwapOption<ConnectionManager>,
    up: AtomicBool,
    /// Wakes the probe when an operation has just found Redis down.
    down: Notify,
    /// This process's name among the gateways (random, for the heartbeat).
    pub id: String,
    pub stats: Stats,
    /// Redis's clock and the gateways alive, from the heartbeat.
    pub peers: super::peers::Peers,
}

impl Cluster {
    /// Starts connecting (in the background: the gateway does not wait for Redis) and probing.
    pub fn start(settings: &ClusterSettings) -> Result<Arc<Cluster>, String> {
        if settings.redis.tls {
            // `rediss://`: the redis crate's TLS uses the process's default provider.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = redis::Client::open(connection_info(settings))
            .map_err(|e| format!("gateway.cluster.redis: {e}"))?;
        let mut id = [0u8; 8];
        crate::crypto::fill_random(&mut id).map_err(|_| "no random source".to_string())?;
        let cluster = Arc::new(Cluster {
            settings: settings.clone(),
            client,
            conn: ArcSwapOption::empty(),
            up: AtomicBool::new(false),
            down: Notify::new(),
            id: hex::encode(id),
            stats: Stats::default(),
            peers: super::peers::Peers::default(),
        });
        tokio::spawn(probe(Arc::downgrade(&cluster)));
        Ok(cluster)
    }

    /// Its numbers now, for `/metrics`.
    pub fn metrics(&self) -> super::stats::ClusterMetrics {
        self.stats.snapshot(self.is_up())
    }

    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// A Redis key under the configured prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.settings.key_prefix)
    }

    /// Whether Redis answered the last operation in time.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs one operation on the shared connection, within the deadline. While Redis is down it
    /// fails at once; `what` names the caller's fallback in the metrics.
    pub async fn run<T, F, Fut>(&self, what: Fallback, op: F) -> Result<T, Unavailable>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let conn = match self.conn.load_full() {
            Some(c) if self.is_up() => (*c).clone(),
            _ => {
                self.stats.fell_back(what);
                return Err(Unavailable);
            }
        };
        match tokio::time::timeout(self.settings.timeout, op(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if is_refusal(&e) => {
                // Redis answered: it is up, and refused this one operation (a script error).
                tracing::error!(error = %e, "Redis refused an operation");
                self.stats.fell_back(what);
                Err(Unavailable)
            }
            Ok(Err(e)) => {
                self.mark_down(&e.to_string());
                self.stats.fell_back(what);
                Err(Unavailable)
            }
            Err(_) => {
                self.mark_down("no answer within gateway.cluster.timeout");
                self.stats.fell_back(what);
                Err(Unavailable)
            }
        }
    }

    /// A connection for a dedicated use (the subscription), opened within the connect deadline.
    pub async fn dedicated_pubsub(&self) -> Result<redis::aio::PubSub, Unavailable> {
        let open = self.client.get_async_pubsub();
        match tokio::time::timeout(limits::CLUSTER_CONNECT_TIMEOUT, open).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(Unavailable),
        }
    }

    fn mark_down(&self, why: &str) {
        if self.up.swap(false, Ordering::Relaxed) {
            self.stats.went_down();
            tracing::warn!(redis = %self.settings.redis, error = why, "Redis unavailable: limits, lockouts and idempotency fall back (see docs/cluster.md)");
        }
        self.down.notify_one();
    }

    fn mark_up(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!(redis = %self.settings.redis, "Redis available: quotas, lockouts and idempotency keys are shared with the other gateways");
        }
    }
}

/// A Redis error that is an answer (a script or type error), not a failed connection.
fn is_refusal(e: &redis::RedisError) -> bool {
    !(e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error())
}

/// Connects, then checks Redis every probe interval while it is down (at once when an operation
/// has just found it down); ends within a heartbeat interval of the cluster being dropped.
async fn probe(cluster: Weak<Cluster>) {
    let mut told = false;
    loop {
        let Some(c) = cluster.upgrade() else { return };
        if !c.is_up() {
            match ping(&c).await {
                Ok(()) => c.mark_up(),
                // Said once (and again after each recovery), not at every probe.
                Err(e) if !told => {
                    tracing::warn!(redis = %c.settings.redis, error = %e, "Redis not reachable: limits, lockouts and idempotency fall back until it is (see docs/cluster.md)");
                    told = true;
                }
                Err(e) => tracing::debug!(error = %e, "Redis still not reachable"),
            }
        }
        if c.is_up() {
            told = true;
        }
        let wait = if c.is_up() {
            limits::CLUSTER_HEARTBEAT_INTERVAL
        } else {
            limits::CLUSTER_PROBE_INTERVAL
        };
        let _ = tokio::time::timeout(wait, c.down.notified()).await;
    }
}

/// One PING within the deadline, connecting first if there is no connection yet.
async fn ping(c: &Cluster) -> Result<(), String> {
    let conn = match c.conn.load_full() {
        Some(conn) => (*conn).clone(),
        None => {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(limits::CLUSTER_CONNECT_TIMEOUT)
                .set_response_timeout(c.settings.timeout)
                .set_number_of_retries(0);
            let open = ConnectionManager::new_with_config(c.client.clone(), config);
            let conn = tokio::time::timeout(limits::CLUSTER_CONNECT_TIMEOUT, open)
                .await
                .map_err(|_| "connect timed out".to_string())?
                .map_err(|e| e.to_string())?;
            c.conn.store(Some(Arc::new(conn.clone())));
            conn
        }
    };
    let mut conn = conn;
    let ping = redis::cmd("PING");
    let pinged = ping.query_async::<String>(&mut conn);
    match tokio::time::timeout(c.settings.timeout, pinged).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("PING timed out".into()),
    }
}

/// The redis crate's form of the endpoint (a TLS one checks the server's certificate against the
/// system's roots).
fn connection_info(s: &ClusterSettings) -> ConnectionInfo {
    let r = &s.redis;
    let addr = if r.tls {
        ConnectionAddr::TcpTls {
            host: r.host.clone(),
            port: r.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(r.host.clone(), r.port)
    };
    let info = RedisConnectionInfo {
        db: r.db,
        username: r.username.clone(),
        password: r.password.as_ref().map(|p| p.0.to_string()),
        ..RedisConnectionInfo::default()
    };
    ConnectionInfo { addr, redis: info }
}
