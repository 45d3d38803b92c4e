//! The memory budget for request bodies held whole before they go to Blnk: one per process,
//! `gateway.limits.max_buffered_bytes`, charged as bytes arrive. Bytes past the first
//! `BUFFER_SMALL_BODY_BYTES` of a body may fill it only up to a ceiling that keeps a quarter for
//! the small bodies ordinary ledger requests are, so large uploads cannot starve them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::limits::{BUFFER_SMALL_BODY_BYTES, BUFFER_SMALL_RESERVE_DIVISOR};

/// The bytes of request bodies held in memory across the process, and the ceiling on them.
#[derive(Debug)]
pub struct BufferBudget {
    used: AtomicU64,
    total: u64,
    /// What bytes past a body's first `BUFFER_SMALL_BODY_BYTES` may fill the budget to.
    large_ceiling: u64,
    waiters: AtomicUsize,
    freed: Notify,
}

impl BufferBudget {
    pub fn new(total: u64) -> Arc<Self> {
        Arc::new(BufferBudget {
            used: AtomicU64::new(0),
            total,
            large_ceiling: total - total / BUFFER_SMALL_RESERVE_DIVISOR,
            waiters: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    /// Bytes held now.
    pub fn in_use(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    fn try_take(&self, n: u64, ceiling: u64) -> bool {
        let mut current = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = current.checked_add(n).filter(|next| *next <= ceiling) else {
                return false;
            };
            match self.used.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Takes `n` bytes under `ceiling`, waiting for room until `until`.
    async fn take(&self, n: u64, ceiling: u64, until: Instant) -> bool {
        if self.try_take(n, ceiling) {
            return true;
        }
        self.waiters.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiters);
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release between the two is not missed.
            notified.as_mut().enable();
            if self.try_take(n, ceiling) {
                return true;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return false;
            }
        }
    }

    fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
        if self.waiters.load(Ordering::Acquire) > 0 {
            self.freed.notify_waiters();
        }
    }
}

struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes taken from the budget, given back when dropped.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<BufferBudget>,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.release(self.bytes);
        }
    }
}

impl BufferBudget {
    /// Takes room for `n` bytes that start at `offset` in their body: the part within the first
    /// `BUFFER_SMALL_BODY_BYTES` against the whole budget, the rest against the large ceiling.
    /// Waits for room until `until`; false if there was none by then (nothing is kept).
    pub async fn take_for_body(&self, offset: u64, n: u64, until: Instant) -> bool {
        let small = n.min(BUFFER_SMALL_BODY_BYTES.saturating_sub(offset));
        if small > 0 && !self.take(small, self.total, until).await {
            return false;
        }
        let large = n - small;
        if large > 0 && !self.take(large, self.large_ceiling, until).await {
            self.release(small);
            return false;
        }
        true
    }

    /// A charge of nothing yet, that `add` grows and dropping gives back.
    pub fn charge(self: &Arc<Self>) -> Charge {
        Charge {
            budget: self.clone(),
            bytes: 0,
        }
    }
}

impl Charge {
    /// Counts `n` more bytes, already taken with `take_for_body`.
    pub fn add(&mut self, n: u64) {
        self.bytes += n;
    }
}
