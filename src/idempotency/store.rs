//! The store behind idempotency keys: one small trait, so the embedded store (`local`) and a
//! shared one (Redis, for several gateways) are interchangeable. Both are atomic per key:
//! `claim` takes a free key or says who holds it; `replace` is a compare-and-swap on the entry's
//! random version, so a request only ever settles the claim it made.
//!
//! A claimed key also says whether it may have been used before: every key a store has held is
//! remembered for `remember` (see `seen`), and a store that may have lost writes (a Redis that
//! came back empty or behind) says so, so the caller checks with Blnk before trusting "new".
//!
//! The [`Clock`] that stamps entries is one reading of a wall clock (the system's, or in cluster
//! mode Redis's, shared by every gateway) advanced by the monotonic clock: a wall clock that
//! jumps does not move it, and a test's paused tokio clock drives it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::entry::Entry;

/// A key as stored: SHA-256 of the client's identity and the key it sent (or the reference), so
/// the store holds no key it could reveal.
pub type StoreKey = [u8; 32];

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("idempotency store unavailable: {0}")]
    Unavailable(String),
    /// Every entry is in flight or of unknown outcome: none can make room.
    #[error("idempotency store full of requests in flight or of unknown outcome (gateway.idempotency.max_entries)")]
    Full,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The key is now this request's. `suspect`: the key may have been used before and the
    /// store no longer knows how (it expired or was evicted within `remember`, or the store
    /// may have lost writes): Blnk must be asked before a new answer is trusted.
    Free { suspect: bool },
    /// Another request holds the key: its entry.
    Held(Entry),
}

/// The store's size now, for `/metrics`, `/readyz` and `check`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub entries: u64,
    /// Bytes of the entries' encoded form (the answers kept are most of it).
    pub bytes: u64,
    pub capacity: u64,
    /// Settled entries removed before their time to make room (oldest first).
    pub evictions: u64,
    /// Entries whose outcome is unknown now.
    pub unknown: u64,
}

/// Shared counters a store keeps up to date, read without asking the store.
#[derive(Debug, Default)]
pub struct Counters {
    pub entries: AtomicU64,
    pub bytes: AtomicU64,
    pub capacity: AtomicU64,
    pub evictions: AtomicU64,
    pub unknown: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> StoreStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreStats {
            entries: r(&self.entries),
            bytes: r(&self.bytes),
            capacity: r(&self.capacity),
            evictions: r(&self.evictions),
            unknown: r(&self.unknown),
        }
    }
}

/// Milliseconds since the Unix epoch as entries are stamped (see the module docs).
#[derive(Clone)]
pub enum Clock {
    Anchored(Arc<Anchor>),
    /// Another clock's reading: the cluster's (Redis's time, advanced monotonically).
    Shared(Arc<dyn Fn() -> u64 + Send + Sync>),
    /// A test's clock, moved by hand.
    Manual(Arc<AtomicU64>),
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now_ms())
    }
}

/// A wall-clock reading and the monotonic instant it was taken at.
#[derive(Debug)]
pub struct Anchor {
    at: Mutex<(u64, tokio::time::Instant)>,
    /// The latest reading handed out: the clock never goes back.
    last: AtomicU64,
}

impl Clock {
    /// Anchored on the system's wall clock now.
    pub fn system() -> Clock {
        Clock::anchored(system_now_ms())
    }

    pub fn anchored(wall_ms: u64) -> Clock {
        Clock::Anchored(Arc::new(Anchor {
            at: Mutex::new((wall_ms, tokio::time::Instant::now())),
            last: AtomicU64::new(0),
        }))
    }

    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::Manual(ms) => ms.load(Ordering::Relaxed),
            Clock::Shared(f) => f(),
            Clock::Anchored(a) => {
                let (wall, at) = *a.at.lock().unwrap_or_else(|e| e.into_inner());
                let elapsed = u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX);
                let now = wall.saturating_add(elapsed);
                a.last.fetch_max(now, Ordering::Relaxed).max(now)
            }
        }
    }
}

/// Milliseconds since the Unix epoch, by the system's clock.
pub fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a store operation comes to, later.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

pub trait Store: Send + Sync + 'static {
    /// Writes `entry` under `key` if the key is free (absent, or expired at `now_ms`), making
    /// room by evicting the oldest settled entries when the store is full; otherwise leaves it
    /// and returns the entry that holds it.
    fn claim(&self, key: StoreKey, entry: Entry, now_ms: u64) -> StoreFuture<'_, Claimed>;

    /// If `key` holds the entry of version `expected`, replaces it with `next` (or removes it,
    /// with `None`) and returns true; otherwise changes nothing and returns false.
    fn replace(
        &self,
        key: StoreKey,
        expected: u64,
        next: Option<Entry>,
        now_ms: u64,
    ) -> StoreFuture<'_, bool>;

    /// Entries in flight or of unknown outcome, oldest first, at most `limit` (for the
    /// operator's view).
    fn pending(&self, limit: usize) -> StoreFuture<'_, Vec<(StoreKey, Entry)>>;

    /// The store's size now.
    fn stats(&self) -> StoreStats;

    /// For logs: what the store is and where.
    fn describe(&self) -> String;

    /// Finishes what is pending and lets go of the store (at shutdown: the next process may open
    /// it at once). Later operations fail as unavailable.
    fn close(&self) -> StoreFuture<'_, ()>;
}

impl prometheus_client::collector::Collector for StoreStats {
    fn encode(
        &self,
        mut e: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        crate::metrics::gauge(
            &mut e,
            "idempotency_entries",
            "Idempotency keys kept now (answers, requests in flight, unknown outcomes).",
            n(self.entries),
        )?;
        crate::metrics::gauge(
            &mut e,
            "idempotency_capacity",
            "gateway.idempotency.max_entries: past it the oldest settled keys are evicted.",
            n(self.capacity),
        )?;
        crate::metrics::gauge(
            &mut e,
            "idempotency_bytes",
            "Bytes the kept keys take (the embedded store's entries; for Redis an estimate).",
            n(self.bytes),
        )?;
        crate::metrics::gauge(
            &mut e,
            "idempotency_unknown",
            "Keys whose first request's outcome is unknown now (blnk-gateway idempotency pending lists them).",
            n(self.unknown),
        )?;
        crate::metrics::counter(
            &mut e,
            "idempotency_evictions",
            "Settled keys removed before their ttl to make room for new ones (the store was full).",
            self.evictions,
        )
    }
}
