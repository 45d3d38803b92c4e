//! The embedded store: a redb database in the state directory, so a retry after a restart is
//! still replayed.
//!
//! One thread of its own owns the database (redb's calls block on the disk): requests send it
//! operations over a bounded channel and wait for the answer. It applies every operation waiting
//! in one write transaction and commits it before answering, with `Durability::Immediate` (fsync)
//! when the batch holds a claim or a sweep, so a claim is on disk before its request is forwarded
//! and concurrent requests share one fsync (group commit); a batch of settles alone is committed
//! without one and rides on the next sync.
//!
//! Sized for a ledger's traffic (docs/idempotency.md, "Where keys live, and what they cost"):
//! expired entries are removed by expiry order through a second table, a little after every
//! batch and in larger batches every second, so expiry keeps pace with any rate the gateway
//! serves and the store plateaus at about rate x TTL. At `max_entries` the oldest settled
//! entries are evicted to make room (counted); an entry in flight or of unknown outcome never is. The database's cache is
//! bounded (`IDEMPOTENCY_STORE_CACHE`), and its file is created readable by its owner only.
//!
//! One gateway per file: every entry still in flight when the store opens was left by a process
//! that stopped without settling it (a crash, `kill -9`), so it becomes of unknown outcome at
//! once and its retry asks Blnk, instead of waiting out `IDEMPOTENCY_IN_FLIGHT_MAX`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::entry::Entry;
use super::seen::{Seen, Shape};
use super::sizing::Sizing;
use super::store::{
    Claimed, Clock, Counters, Store, StoreError, StoreFuture, StoreKey, StoreStats,
};
use crate::limits::{IDEMPOTENCY_QUEUE, IDEMPOTENCY_STORE_CACHE, IDEMPOTENCY_SWEEP_INTERVAL};

mod tables;
mod worker;

use self::worker::{Op, Worker};

/// The handle requests use; the database lives on the store's thread.
pub struct LocalStore {
    ops: mpsc::Sender<Op>,
    path: PathBuf,
    counters: Arc<Counters>,
}

impl LocalStore {
    /// Opens (or creates, mode 0600) the database at `path` and starts its thread.
    pub fn open(path: &Path, sizing: &Sizing, clock: Clock) -> Result<Arc<Self>, String> {
        let file = open_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let db = redb::Builder::new()
            .set_cache_size(IDEMPOTENCY_STORE_CACHE)
            .create_file(file)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let counters = Arc::new(Counters::default());
        counters
            .capacity
            .store(sizing.max_entries, std::sync::atomic::Ordering::Relaxed);
        let seen = Seen::new(Shape::new(sizing.remember, sizing.max_entries));
        let worker = Worker::open(
            db,
            sizing.max_entries,
            seen,
            counters.clone(),
            clock.now_ms(),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        let (ops, rx) = mpsc::channel(IDEMPOTENCY_QUEUE);
        std::thread::Builder::new()
            .name("idempotency-store".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| format!("cannot start the store's thread: {e}"))?;
        spawn_sweeper(ops.downgrade(), clock);
        Ok(Arc::new(LocalStore {
            ops,
            path: path.to_path_buf(),
            counters,
        }))
    }

    async fn ask<T>(
        &self,
        op: Op,
        rx: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let stopped = || StoreError::Unavailable("the store's thread has stopped".into());
        self.ops.send(op).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// The database file: created readable and writable by its owner only; an existing one is used
/// as it is, with a warning when others may read it (it holds references and Blnk's answers).
fn open_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    if let Ok(meta) = file.metadata() {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "the idempotency store can be read by other users; chmod 600 it");
        }
    }
    Ok(file)
}

impl Store for LocalStore {
    fn claim(&self, key: StoreKey, entry: Entry, now_ms: u64) -> StoreFuture<'_, Claimed> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            let op = Op::Claim {
                key,
                entry,
                now_ms,
                reply,
            };
            self.ask(op, rx).await
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
            let (reply, rx) = oneshot::channel();
            let op = Op::Replace {
                key,
                expected,
                next,
                now_ms,
                reply,
            };
            self.ask(op, rx).await
        })
    }

    fn pending(&self, limit: usize) -> StoreFuture<'_, Vec<(StoreKey, Entry)>> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.ask(Op::Pending { limit, reply }, rx).await
        })
    }

    fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }

    fn describe(&self) -> String {
        format!("embedded (redb) at {}", self.path.display())
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            self.ask(Op::Close(reply), rx).await
        })
    }
}

/// Asks the store's thread to remove expired entries every `IDEMPOTENCY_SWEEP_INTERVAL`, by the
/// store's clock, for as long as the store is open (the task holds no strong handle on it).
fn spawn_sweeper(ops: mpsc::WeakSender<Op>, clock: Clock) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        // The first a full interval after opening (opening did its own pass).
        let first = tokio::time::Instant::now() + IDEMPOTENCY_SWEEP_INTERVAL;
        let mut tick = tokio::time::interval_at(first, IDEMPOTENCY_SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(ops) = ops.upgrade() else { return };
            // A full queue means the thread is busy, and it sweeps after every batch anyway.
            let _ = ops.try_send(Op::Sweep {
                now_ms: clock.now_ms(),
            });
        }
    });
}
