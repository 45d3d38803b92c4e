//! The fake's ledger: balances and transactions in memory, with Blnk's rules for what a request
//! does to them and when.
//!
//! - [`Book`]: the database (transactions by id and by unique reference, balances by id and by
//!   indicator), changed under one lock, never held across an `.await`.
//! - [`queue`]: Blnk's default queued path, which answers 201 before anything is stored, then
//!   inserts behind a 20-slot semaphore with no deadline, then applies.
//! - [`post`] (with [`legs`] and [`queued`]), [`inflight`], [`refund`], [`bulk`]: the
//!   money-moving routes; [`mod@precise`]: Blnk's amount in minor units, in exact decimals.

pub mod book;
pub mod bulk;
pub mod inflight;
pub mod legs;
pub mod post;
pub mod precise;
pub mod queue;
pub mod queued;
pub mod record;
pub mod refund;
pub mod split;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

pub use self::book::Book;
pub use self::precise::precise;
pub use self::queue::Queue;
pub use self::record::{Status, Txn};

/// How the fake's queue behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// From a queued 201 to the transaction being stored (visible by reference). Blnk's is
    /// milliseconds when idle and has no bound under load.
    pub insert_delay: Duration,
    /// From being stored to being applied by the worker (the `<reference>_q` child).
    pub apply_delay: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            insert_delay: Duration::from_millis(20),
            apply_delay: Duration::from_millis(20),
        }
    }
}

/// The ledger and its queue.
pub struct Ledger {
    book: Mutex<Book>,
    pub queue: Arc<Queue>,
}

impl Ledger {
    pub fn new(options: Options) -> Arc<Ledger> {
        Arc::new(Ledger {
            book: Mutex::new(Book::new()),
            queue: Queue::new(options),
        })
    }

    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every stored transaction, by reference.
    pub fn by_reference(&self) -> std::collections::HashMap<String, Value> {
        self.book()
            .all()
            .map(|t| (t.reference.clone(), t.stored()))
            .collect()
    }

    /// A balance by indicator and currency, if one was made.
    pub fn indicator_balance(&self, indicator: &str, currency: &str) -> Option<i128> {
        self.book()
            .indicator(indicator, currency)
            .map(|b| b.balance)
    }
}
