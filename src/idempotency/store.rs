//! The store behind idempotency keys: one small trait, two operations, so the embedded store
//! (`local`) and a shared one (Redis, for several gateways) are interchangeable. Both are atomic
//! per key: `claim` takes a free key or says who holds it; `replace` is a compare-and-swap on the
//! entry's random version, so a request only ever settles the claim it made.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::entry::Entry;

/// A key as stored: SHA-256 of the client's identity and the key it sent (or the reference), so
/// the store holds no client data it could reveal.
pub type StoreKey = [u8; 32];

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("idempotency store unavailable: {0}")]
    Unavailable(String),
    #[error("idempotency store full (gateway.idempotency.max_entries)")]
    Full,
}

/// Wall-clock milliseconds, shared by every gateway and across restarts; a test may hold it.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => system_now_ms(),
            Clock::Manual(ms) => ms.load(Ordering::Relaxed),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What a store operation comes to, later.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

pub trait Store: Send + Sync + 'static {
    /// Writes `entry` under `key` if the key is free (absent, or expired at `now_ms`); otherwise
    /// leaves it and returns the entry that holds it.
    fn claim(&self, key: StoreKey, entry: Entry, now_ms: u64) -> StoreFuture<'_, Option<Entry>>;

    /// If `key` holds the entry of version `expected`, replaces it with `next` (or removes it,
    /// with `None`) and returns true; otherwise changes nothing and returns false.
    fn replace(
        &self,
        key: StoreKey,
        expected: u64,
        next: Option<Entry>,
        now_ms: u64,
    ) -> StoreFuture<'_, bool>;

    /// For logs: what the store is and where.
    fn describe(&self) -> String;

    /// Finishes what is pending and lets go of the store (at shutdown: the next process may open
    /// it at once). Later operations fail as unavailable.
    fn close(&self) -> StoreFuture<'_, ()>;
}
