//! The embedded store: a redb database in the state directory, so a retry after a restart is
//! still replayed.
//!
//! One thread of its own owns the database (redb's calls block on the disk): requests send it
//! operations over a bounded channel and wait for the answer. It applies every operation waiting
//! in one write transaction and commits it with `Durability::Immediate` (fsync) before answering,
//! so a claim is on disk before its request is forwarded, and concurrent requests share one fsync
//! (group commit). Expired entries are removed in batches of `IDEMPOTENCY_SWEEP_BATCH`, by expiry
//! order through a second table, between batches of requests, so expiry never scans the store.
//! At most `max_entries` are kept: past it a new key is refused (`StoreError::Full`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::Database;
use tokio::sync::{mpsc, oneshot};

use super::entry::Entry;
use super::store::{Clock, Store, StoreError, StoreFuture, StoreKey};
use crate::limits::{IDEMPOTENCY_QUEUE, IDEMPOTENCY_SWEEP_INTERVAL};

mod worker;

use self::worker::{init, Op, Worker};

/// The handle requests use; the database lives on the store's thread.
pub struct LocalStore {
    ops: mpsc::Sender<Op>,
    path: PathBuf,
}

impl LocalStore {
    /// Opens (or creates) the database at `path` and starts its thread.
    pub fn open(path: &Path, max_entries: u64, clock: Clock) -> Result<Arc<Self>, String> {
        let db = Database::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let count = init(&db).map_err(|e| format!("{}: {e}", path.display()))?;
        let (ops, rx) = mpsc::channel(IDEMPOTENCY_QUEUE);
        let worker = Worker {
            db,
            count,
            max_entries,
            clock,
        };
        std::thread::Builder::new()
            .name("idempotency-store".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| format!("cannot start the store's thread: {e}"))?;
        spawn_sweeper(ops.downgrade());
        Ok(Arc::new(LocalStore {
            ops,
            path: path.to_path_buf(),
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

impl Store for LocalStore {
    fn claim(&self, key: StoreKey, entry: Entry, now_ms: u64) -> StoreFuture<'_, Option<Entry>> {
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
        _now_ms: u64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let (reply, rx) = oneshot::channel();
            let op = Op::Replace {
                key,
                expected,
                next,
                reply,
            };
            self.ask(op, rx).await
        })
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

/// Asks the store's thread to remove expired entries every `IDEMPOTENCY_SWEEP_INTERVAL`, for as
/// long as the store is open (the task holds no strong handle on it).
fn spawn_sweeper(ops: mpsc::WeakSender<Op>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        let mut tick = tokio::time::interval(IDEMPOTENCY_SWEEP_INTERVAL);
        loop {
            tick.tick().await;
            let Some(ops) = ops.upgrade() else { return };
            // A full queue means the thread is busy, and it sweeps after every batch anyway.
            let _ = ops.try_send(Op::Sweep);
        }
    });
}
