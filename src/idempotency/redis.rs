//! The shared store: idempotency keys in the Redis of a cluster, so a retry that lands on
//! another gateway is replayed too and exactly one copy reaches Blnk.
//!
//! Each key is one Redis string holding the entry's binary form (`entry`), with Redis's expiry
//! set to the entry's; `claim` and `replace` are Lua scripts (`redis/scripts.rs`), so each is
//! atomic across gateways. Beside the entries: a sorted set of every key by expiry (the count,
//! and eviction of the oldest settled ones at `max_entries`), one of the keys in flight or
//! unknown (the operator's view), the `seen` filters as bitmaps, and two markers that tell a
//! Redis that lost writes: an epoch (gone when Redis came back empty) and a sequence every claim
//! advances (lower than a gateway last saw when Redis came back behind, a failover to a replica
//! that lagged). After either, every claim is suspect for `ttl`: Blnk is asked before a new
//! answer is trusted. Entries are stamped with Redis's clock (`cluster::peers::Peers`), the same
//! for every gateway whatever its own says.
//!
//! While Redis cannot be used, every operation fails (`StoreError::Unavailable`): a keyed request
//! is refused (503) rather than forwarded without the guarantee, since a per-gateway store would
//! let a retry on another gateway move money again.

mod scripts;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis::Script;

use super::entry::{Entry, State};
use super::seen::{Shape, GENERATIONS};
use super::service::{ms, Idempotency};
use super::sizing::{Sizing, REDIS_BYTES_PER_KEY};
use super::store::{
    Claimed, Clock, Counters, Store, StoreError, StoreFuture, StoreKey, StoreStats,
};
use crate::cluster::{owner_of, Cluster, Fallback};

/// Idempotency keys in the cluster's Redis.
pub struct RedisStore {
    cluster: Arc<Cluster>,
    claim: Script,
    replace: Script,
    pending: Script,
    sizing: Sizing,
    shape: Shape,
    counters: Counters,
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("the cluster's Redis cannot be used".into())
}

impl RedisStore {
    /// The cluster's idempotency: this store, Redis's clock, and the heartbeat's living gateways.
    pub fn idempotency(cluster: Arc<Cluster>, sizing: &Sizing) -> Idempotency {
        let store = Arc::new(RedisStore::new(cluster.clone(), sizing));
        let clock_cluster = cluster.clone();
        let clock = Clock::Shared(Arc::new(move || clock_cluster.peers.now_ms()));
        let alive_cluster = cluster.clone();
        let alive = Box::new(move |owner| alive_cluster.peers.alive(owner));
        Idempotency::shared(store, clock, owner_of(&cluster.id), alive)
    }

    pub fn new(cluster: Arc<Cluster>, sizing: &Sizing) -> Self {
        let counters = Counters::default();
        counters
            .capacity
            .store(sizing.max_entries, Ordering::Relaxed);
        RedisStore {
            cluster,
            claim: Script::new(scripts::CLAIM),
            replace: Script::new(scripts::REPLACE),
            pending: Script::new(scripts::PENDING),
            sizing: sizing.clone(),
            shape: Shape::new(sizing.remember, sizing.max_entries),
            counters,
        }
    }

    fn key(&self, name: &str) -> String {
        self.cluster.key(&format!("idem:{name}"))
    }

    fn entry_key(&self, key: &StoreKey) -> String {
        self.key(&hex::encode(key))
    }

    /// Reads what the claim script answered about the store's health, and learns from it.
    fn observe(&self, epoch: &str, (seq, floor): (u64, u64), count: u64, evicted: u64) -> bool {
        self.counters.entries.store(count, Ordering::Relaxed);
        self.counters
            .evictions
            .fetch_add(evicted, Ordering::Relaxed);
        self.cluster.peers.observe(epoch, seq, floor, true)
    }
}

/// Redis's expiry for an entry: until its own, at least a millisecond.
fn ttl_ms(entry: &Entry, now_ms: u64) -> u64 {
    entry.expires_at_ms.saturating_sub(now_ms).max(1)
}

/// What the claim script answers.
type ClaimReply = (u8, Vec<u8>, String, u64, u64, u64, u64);

impl Store for RedisStore {
    fn claim(&self, key: StoreKey, entry: Entry, now_ms: u64) -> StoreFuture<'_, Claimed> {
        Box::pin(async move {
            let generation = self.shape.generation(now_ms);
            let mut keys = vec![
                self.entry_key(&key),
                self.key("expiry"),
                self.key("pending"),
                self.cluster.key("epoch"),
                self.cluster.key("seq"),
                self.key("suspect"),
            ];
            for g in (generation + 1 - GENERATIONS.min(generation + 1)..=generation).rev() {
                keys.push(self.key(&format!("seen:{g}")));
            }
            let mut fresh = [0u8; 8];
            let _ = crate::crypto::fill_random(&mut fresh);
            let known = self.cluster.peers.epoch();
            let floor = self.cluster.peers.seq_floor();
            let loss_seen = if self.cluster.peers.take_loss() {
                "1"
            } else {
                ""
            };
            let positions = self.shape.positions(&key);
            let script = &self.claim;
            let reply = self
                .cluster
                .run(Fallback::Idempotency, |mut conn| {
                    let mut call = script.prepare_invoke();
                    for k in keys {
                        call.key(k);
                    }
                    call.arg(entry.encode())
                        .arg(ttl_ms(&entry, now_ms))
                        .arg(hex::encode(key))
                        .arg(entry.expires_at_ms)
                        .arg(now_ms)
                        .arg(self.sizing.max_entries)
                        .arg(known)
                        .arg(hex::encode(fresh))
                        .arg(ms(self.sizing.ttl))
                        .arg(loss_seen)
                        .arg(self.key(""));
                    for p in positions {
                        call.arg(p);
                    }
                    async move { call.invoke_async::<ClaimReply>(&mut conn).await }
                })
                .await
                .map_err(|_| {
                    if !loss_seen.is_empty() {
                        self.cluster.peers.report_loss();
                    }
                    unavailable()
                })?;
            let (status, held, epoch, seq, count, evicted, redis_ms) = reply;
            // Every claim reads Redis's clock: the cluster's time holds from the first one,
            // even before the first heartbeat.
            self.cluster.peers.heard_time(redis_ms);
            let lost = self.observe(&epoch, (seq, floor), count, evicted) || !loss_seen.is_empty();
            match status {
                0 => Ok(Claimed::Free {
                    suspect: lost || held == b"suspect",
                }),
                1 => Entry::decode(&held).map(Claimed::Held).ok_or_else(|| {
                    StoreError::Unavailable("an entry in Redis is unreadable".into())
                }),
                _ => Err(StoreError::Full),
            }
        })
    }

    fn replace(
        &self,
        key: StoreKey,
        expected: u64,
        next: Option<Entry>,
        now_ms: u64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let keys = [
                self.entry_key(&key),
                self.key("expiry"),
                self.key("pending"),
                self.key("unknown"),
                self.key(&format!("seen:{}", self.shape.generation(now_ms))),
            ];
            let remember = next
                .as_ref()
                .is_some_and(|e| !matches!(e.state, State::InFlight { .. }));
            let positions = self.shape.positions(&key);
            let ttl = next.as_ref().map_or(1, |e| ttl_ms(e, now_ms));
            let (pending_since, unknown) = match next.as_ref().map(|e| &e.state) {
                Some(State::InFlight { since_ms, .. }) => (Some(*since_ms), false),
                Some(State::Unknown { since_ms }) => (Some(*since_ms), true),
                _ => (None, false),
            };
            let expires = next.as_ref().map_or(0, |e| e.expires_at_ms);
            let bytes = next.map(|e| e.encode()).unwrap_or_default();
            let script = &self.replace;
            let replaced = self
                .cluster
                .run(Fallback::Idempotency, |mut conn| {
                    let mut call = script.prepare_invoke();
                    for k in keys {
                        call.key(k);
                    }
                    call.arg(&expected.to_be_bytes()[..])
                        .arg(bytes)
                        .arg(ttl)
                        .arg(hex::encode(key))
                        .arg(expires)
                        .arg(pending_since.map_or(-1, |s| s as i64))
                        .arg(i64::from(unknown))
                        .arg(i64::from(remember))
                        .arg(self.shape.generation_ms * (GENERATIONS + 1));
                    for p in positions {
                        call.arg(p);
                    }
                    async move { call.invoke_async::<(u8, u64)>(&mut conn).await }
                })
                .await
                .map_err(|_| unavailable())?;
            self.counters.unknown.store(replaced.1, Ordering::Relaxed);
            Ok(replaced.0 == 1)
        })
    }

    fn pending(&self, limit: usize) -> StoreFuture<'_, Vec<(StoreKey, Entry)>> {
        Box::pin(async move {
            let script = &self.pending;
            let keys = [self.key("pending")];
            let prefix = self.key("");
            let found = self
                .cluster
                .run(Fallback::Idempotency, |mut conn| {
                    let mut call = script.prepare_invoke();
                    for k in keys {
                        call.key(k);
                    }
                    call.arg(limit).arg(prefix);
                    async move { call.invoke_async::<Vec<(String, Vec<u8>)>>(&mut conn).await }
                })
                .await
                .map_err(|_| unavailable())?;
            Ok(found
                .into_iter()
                .filter_map(|(k, v)| {
                    let key: StoreKey = hex::decode(k).ok()?.try_into().ok()?;
                    Some((key, Entry::decode(&v)?))
                })
                .collect())
        })
    }

    fn stats(&self) -> StoreStats {
        let mut s = self.counters.snapshot();
        // Redis's own accounting is not per prefix: bytes are estimated from the entry count.
        s.bytes = s.entries.saturating_mul(REDIS_BYTES_PER_KEY);
        s
    }

    fn describe(&self) -> String {
        format!("shared, in Redis at {}", self.cluster.settings().redis)
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}
