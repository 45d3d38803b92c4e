//! The store's own thread: it owns the redb database, applies each batch of operations in one
//! write transaction committed with fsync before any answer goes out, and sweeps expired entries
//! in expiry order between batches.

use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use crate::idempotency::entry::Entry;
use crate::idempotency::store::{Clock, StoreError, StoreKey};
use crate::limits::{IDEMPOTENCY_QUEUE, IDEMPOTENCY_SWEEP_BATCH};

/// What the store's thread is asked to do.
pub(super) enum Op {
    Claim {
        key: StoreKey,
        entry: Entry,
        now_ms: u64,
        reply: oneshot::Sender<Result<Option<Entry>, StoreError>>,
    },
    Replace {
        key: StoreKey,
        expected: u64,
        next: Option<Entry>,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Time to remove expired entries, from the sweeper task.
    Sweep,
    /// Shutdown: apply what came before, close the database, answer.
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// A database error, as text: redb's own errors are large, and only their message is used.
#[derive(Debug)]
pub(super) struct DbError(String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! db_errors {
    ($($e:ty),*) => {$(
        impl From<$e> for DbError {
            fn from(e: $e) -> Self {
                DbError(e.to_string())
            }
        }
    )*};
}
db_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Entries by store key.
const ENTRIES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("entries");
/// `expires_at_ms` (big-endian) followed by the store key: entries in expiry order.
const EXPIRY: TableDefinition<&[u8; 40], ()> = TableDefinition::new("expiry");

/// Creates the tables if they are missing; returns the number of entries.
pub(super) fn init(db: &Database) -> Result<u64, DbError> {
    let txn = db.begin_write()?;
    let count = {
        let entries = txn.open_table(ENTRIES)?;
        txn.open_table(EXPIRY)?;
        entries.len()?
    };
    txn.commit()?;
    Ok(count)
}

fn expiry_key(expires_at_ms: u64, key: &StoreKey) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&expires_at_ms.to_be_bytes());
    k[8..].copy_from_slice(key);
    k
}

/// The database and what the thread knows of it.
pub(super) struct Worker {
    pub(super) db: Database,
    pub(super) count: u64,
    pub(super) max_entries: u64,
    pub(super) clock: Clock,
}

/// What one operation answers, held until its transaction commits.
enum Reply {
    Claim(
        oneshot::Sender<Result<Option<Entry>, StoreError>>,
        Option<Entry>,
    ),
    Replace(oneshot::Sender<Result<bool, StoreError>>, bool),
    Refused(
        oneshot::Sender<Result<Option<Entry>, StoreError>>,
        StoreError,
    ),
}

impl Worker {
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        loop {
            let first = match rx.blocking_recv() {
                Some(op) => op,
                None => return,
            };
            let mut batch = vec![first];
            while batch.len() < IDEMPOTENCY_QUEUE {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            // Everything after a Close is refused, as if it had come once the thread had gone.
            let close = batch.iter().position(|op| matches!(op, Op::Close(_)));
            let closing = close.map(|i| {
                let mut rest = batch.split_off(i).into_iter();
                let Some(Op::Close(reply)) = rest.next() else {
                    unreachable!("position found a Close")
                };
                reply
            });
            batch.retain(|op| !matches!(op, Op::Sweep));
            if let Some(reply) = closing {
                self.apply_batch(batch);
                drop(self);
                let _ = reply.send(Ok(()));
                return;
            }
            if batch.is_empty() {
                if let Err(e) = self.sweep() {
                    tracing::warn!(error = %e, "idempotency store: expiry sweep failed");
                }
                continue;
            }
            self.apply_batch(batch);
        }
    }

    /// Applies a batch and answers every operation in it.
    fn apply_batch(&mut self, batch: Vec<Op>) {
        if batch.is_empty() {
            return;
        }
        let count = self.count;
        match self.apply(batch) {
            Ok(replies) => replies.into_iter().for_each(Reply::send),
            Err((replies, e)) => {
                self.count = count;
                let e = StoreError::Unavailable(e.to_string());
                tracing::error!(error = %e, "idempotency store write failed");
                replies.into_iter().for_each(|r| r.fail(e.clone()));
            }
        }
    }

    /// Applies a batch in one transaction and commits it (fsync) before any answer goes out.
    #[allow(clippy::type_complexity)]
    fn apply(&mut self, batch: Vec<Op>) -> Result<Vec<Reply>, (Vec<Reply>, DbError)> {
        let mut replies = Vec::with_capacity(batch.len());
        let result = (|| -> Result<(), DbError> {
            let mut txn = self.db.begin_write()?;
            txn.set_durability(Durability::Immediate);
            {
                let mut entries = txn.open_table(ENTRIES)?;
                let mut expiry = txn.open_table(EXPIRY)?;
                for op in batch {
                    if let Some(reply) = self.one(op, &mut entries, &mut expiry)? {
                        replies.push(reply);
                    }
                }
            }
            txn.commit()?;
            Ok(())
        })();
        match result {
            Ok(()) => Ok(replies),
            Err(e) => Err((replies, e)),
        }
    }

    fn one(
        &mut self,
        op: Op,
        entries: &mut redb::Table<&[u8; 32], &[u8]>,
        expiry: &mut redb::Table<&[u8; 40], ()>,
    ) -> Result<Option<Reply>, DbError> {
        let reply = match op {
            Op::Claim {
                key,
                entry,
                now_ms,
                reply,
            } => {
                let held = entries.get(&key)?.and_then(|v| Entry::decode(v.value()));
                match held {
                    Some(e) if e.expires_at_ms > now_ms => {
                        return Ok(Some(Reply::Claim(reply, Some(e))))
                    }
                    Some(old) => {
                        expiry.remove(&expiry_key(old.expires_at_ms, &key))?;
                        self.count = self.count.saturating_sub(1);
                    }
                    None => {}
                }
                if self.count >= self.max_entries {
                    return Ok(Some(Reply::Refused(reply, StoreError::Full)));
                }
                entries.insert(&key, entry.encode().as_slice())?;
                expiry.insert(&expiry_key(entry.expires_at_ms, &key), ())?;
                self.count += 1;
                Reply::Claim(reply, None)
            }
            Op::Replace {
                key,
                expected,
                next,
                reply,
            } => {
                let held = entries.get(&key)?.and_then(|v| Entry::decode(v.value()));
                let Some(old) = held.filter(|e| e.version == expected) else {
                    return Ok(Some(Reply::Replace(reply, false)));
                };
                expiry.remove(&expiry_key(old.expires_at_ms, &key))?;
                match next {
                    Some(next) => {
                        entries.insert(&key, next.encode().as_slice())?;
                        expiry.insert(&expiry_key(next.expires_at_ms, &key), ())?;
                    }
                    None => {
                        entries.remove(&key)?;
                        self.count = self.count.saturating_sub(1);
                    }
                }
                Reply::Replace(reply, true)
            }
            Op::Sweep | Op::Close(_) => return Ok(None),
        };
        Ok(Some(reply))
    }

    /// Removes up to a batch of expired entries, oldest first: it looks only at the front of the
    /// expiry table, so a sweep costs the entries it removes, never the size of the store.
    fn sweep(&mut self) -> Result<(), DbError> {
        let now = self.clock.now_ms();
        let txn = self.db.begin_write()?;
        let mut removed = 0u64;
        {
            let mut entries = txn.open_table(ENTRIES)?;
            let mut expiry = txn.open_table(EXPIRY)?;
            let due: Vec<[u8; 40]> = expiry
                .range::<&[u8; 40]>(..&expiry_key(now, &[0; 32]))?
                .take(IDEMPOTENCY_SWEEP_BATCH)
                .filter_map(|r| r.ok().map(|(k, _)| *k.value()))
                .collect();
            for k in due {
                expiry.remove(&k)?;
                let key: [u8; 32] = k[8..].try_into().unwrap_or([0; 32]);
                if entries.remove(&key)?.is_some() {
                    removed += 1;
                }
            }
        }
        if removed == 0 {
            txn.abort()?;
            return Ok(());
        }
        txn.commit()?;
        self.count = self.count.saturating_sub(removed);
        Ok(())
    }
}

impl Reply {
    fn send(self) {
        match self {
            Reply::Claim(tx, v) => {
                let _ = tx.send(Ok(v));
            }
            Reply::Replace(tx, v) => {
                let _ = tx.send(Ok(v));
            }
            Reply::Refused(tx, e) => {
                let _ = tx.send(Err(e));
            }
        }
    }

    fn fail(self, e: StoreError) {
        match self {
            Reply::Claim(tx, _) | Reply::Refused(tx, _) => {
                let _ = tx.send(Err(e));
            }
            Reply::Replace(tx, _) => {
                let _ = tx.send(Err(e));
            }
        }
    }
}
