//! The store's own thread: it owns the redb database, applies each batch of operations in one
//! write transaction committed before any answer goes out (with fsync when the batch holds a
//! claim or a sweep; settles alone ride on the next sync), sweeps expired entries a
//! little after every batch and more on the sweeper's tick, and keeps the counters.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redb::{Database, Durability, ReadableTable};
use tokio::sync::{mpsc, oneshot};

use super::tables::{seen_key, DbError, Delta, Tables};
use crate::idempotency::entry::{Entry, State};
use crate::idempotency::seen::Seen;
use crate::idempotency::store::{Claimed, Counters, StoreError, StoreKey};
use crate::limits::{IDEMPOTENCY_QUEUE, IDEMPOTENCY_SWEEP_BATCH, IDEMPOTENCY_SWEEP_ROUNDS};

/// What the store's thread is asked to do.
pub(super) enum Op {
    Claim {
        key: StoreKey,
        entry: Entry,
        now_ms: u64,
        reply: oneshot::Sender<Result<Claimed, StoreError>>,
    },
    Replace {
        key: StoreKey,
        expected: u64,
        next: Option<Entry>,
        now_ms: u64,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    Pending {
        limit: usize,
        reply: oneshot::Sender<Result<Vec<(StoreKey, Entry)>, StoreError>>,
    },
    /// Time to remove expired entries, from the sweeper task.
    Sweep { now_ms: u64 },
    /// Shutdown: apply what came before, close the database, answer.
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// The database and what the thread knows of it.
pub(super) struct Worker {
    db: Database,
    count: u64,
    max_entries: u64,
    seen: Seen,
    counters: Arc<Counters>,
    /// The latest time an operation carried: what the batch's sweep expires against.
    now_ms: u64,
    /// How many entries the last transaction's sweep removed.
    swept: usize,
}

/// What one operation answers, held until its transaction commits.
enum Reply {
    Claim(
        oneshot::Sender<Result<Claimed, StoreError>>,
        Result<Claimed, StoreError>,
    ),
    Replace(oneshot::Sender<Result<bool, StoreError>>, bool),
    Pending(
        oneshot::Sender<Result<Vec<(StoreKey, Entry)>, StoreError>>,
        Vec<(StoreKey, Entry)>,
    ),
}

impl Worker {
    /// Opens the tables, restores the counts and the `seen` filters, and turns what a stopped
    /// process left in flight into unknown outcomes.
    pub(super) fn open(
        db: Database,
        max_entries: u64,
        mut seen: Seen,
        counters: Arc<Counters>,
        now_ms: u64,
    ) -> Result<Worker, DbError> {
        let txn = db.begin_write()?;
        let (counts, orphans) = {
            let mut t = Tables::open(&txn)?;
            let counts = match t.counts()? {
                Some([e, b, u]) => Delta {
                    entries: e as i64,
                    bytes: b as i64,
                    unknown: u as i64,
                    evicted: 0,
                },
                None => t.measure()?,
            };
            let (orphans, _) = t.orphans_to_unknown()?;
            // The filters are written once a second and at close: after a stop without a close,
            // the keys kept (every key settled since the last write among them) go back in.
            if !t.take_clean()? {
                t.each_key(|key| seen.insert(key, now_ms))?;
            }
            for r in t.seen.iter()? {
                let (k, v) = r?;
                let k = k.value();
                let generation = u64::from_be_bytes(k[..8].try_into().unwrap_or_default());
                let chunk = u32::from_be_bytes(k[8..].try_into().unwrap_or_default());
                seen.load(generation, chunk, v.value());
            }
            (counts, orphans)
        };
        txn.commit()?;
        if orphans.unknown > 0 {
            tracing::warn!(entries = orphans.unknown, "idempotency keys left in flight by a stopped gateway are now of unknown outcome: their retries ask Blnk");
        }
        let mut worker = Worker {
            db,
            count: 0,
            max_entries,
            seen,
            counters,
            now_ms,
            swept: 0,
        };
        let mut total = counts;
        total.add(orphans);
        worker.apply_delta(total);
        Ok(worker)
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        loop {
            let Some(first) = rx.blocking_recv() else {
                return;
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
            let closing = close.and_then(|i| match batch.split_off(i).into_iter().next() {
                Some(Op::Close(reply)) => Some(reply),
                _ => None,
            });
            let sweeps = batch
                .iter()
                .filter_map(|op| match op {
                    Op::Sweep { now_ms } => Some(*now_ms),
                    _ => None,
                })
                .max();
            if let Some(now) = sweeps {
                self.now_ms = self.now_ms.max(now);
            }
            batch.retain(|op| !matches!(op, Op::Sweep { .. }));
            let sweep = match sweeps {
                Some(_) => IDEMPOTENCY_SWEEP_BATCH,
                None => 2 * batch.len() + 16,
            };
            // A claim is on disk before its request is forwarded. Settles and sweeps need no
            // sync of their own (the next one carries them): a settle lost to a crash leaves
            // the key in flight, and in flight at open is unknown, which is safe. The `seen`
            // filters are written with the sweep, once a second.
            let sync = batch.iter().any(|op| matches!(op, Op::Claim { .. })) || sweeps.is_some();
            self.apply_batch(batch, sweep, sync, sweeps.is_some());
            // More expired than one sweep removes: go on while nothing else waits.
            let mut rounds = 1;
            while sweeps.is_some()
                && self.swept == IDEMPOTENCY_SWEEP_BATCH
                && rounds < IDEMPOTENCY_SWEEP_ROUNDS
                && rx.is_empty()
            {
                self.apply_batch(Vec::new(), IDEMPOTENCY_SWEEP_BATCH, true, false);
                rounds += 1;
            }
            if let Some(reply) = closing {
                let closed = self.close();
                drop(self);
                let _ = reply.send(closed);
                return;
            }
        }
    }

    /// Applies a batch and a sweep of up to `sweep` entries, and answers every operation.
    fn apply_batch(&mut self, batch: Vec<Op>, sweep: usize, sync: bool, seen: bool) {
        match self.apply(batch, sweep, sync, seen) {
            Ok((replies, delta)) => {
                self.apply_delta(delta);
                replies.into_iter().for_each(Reply::send);
            }
            Err((replies, e)) => {
                let e = StoreError::Unavailable(e.to_string());
                tracing::error!(error = %e, "idempotency store write failed");
                replies.into_iter().for_each(|r| r.fail(e.clone()));
            }
        }
    }

    fn apply_delta(&mut self, d: Delta) {
        let add = |a: &std::sync::atomic::AtomicU64, v: i64| {
            let now = a.load(Ordering::Relaxed) as i64;
            a.store((now + v).max(0) as u64, Ordering::Relaxed);
        };
        self.count = (self.count as i64 + d.entries).max(0) as u64;
        add(&self.counters.entries, d.entries);
        add(&self.counters.bytes, d.bytes);
        add(&self.counters.unknown, d.unknown);
        self.counters
            .evictions
            .fetch_add(d.evicted, Ordering::Relaxed);
    }

    /// Applies a batch in one transaction and commits it (with an fsync when `sync`) before any
    /// answer goes out; writes the `seen` filters' changed chunks when `seen`.
    #[allow(clippy::type_complexity)]
    fn apply(
        &mut self,
        batch: Vec<Op>,
        sweep: usize,
        sync: bool,
        seen: bool,
    ) -> Result<(Vec<Reply>, Delta), (Vec<Reply>, DbError)> {
        let mut replies = Vec::with_capacity(batch.len());
        let mut delta = Delta::default();
        let result = (|| -> Result<(), DbError> {
            let mut txn = self.db.begin_write()?;
            txn.set_durability(if sync {
                Durability::Immediate
            } else {
                Durability::None
            });
            {
                let mut t = Tables::open(&txn)?;
                for op in batch {
                    let (reply, d) = self.one(op, &mut t, delta)?;
                    delta.add(d);
                    replies.extend(reply);
                }
                let (swept, n) = t.sweep(self.now_ms, sweep)?;
                delta.add(swept);
                self.swept = n;
                if seen {
                    self.write_seen(&mut t)?;
                }
                let c = |v: &std::sync::atomic::AtomicU64, d: i64| {
                    (v.load(Ordering::Relaxed) as i64 + d).max(0) as u64
                };
                let counters = &self.counters;
                t.set_counts([
                    c(&counters.entries, delta.entries),
                    c(&counters.bytes, delta.bytes),
                    c(&counters.unknown, delta.unknown),
                ])?;
            }
            txn.commit()?;
            Ok(())
        })();
        match result {
            Ok(()) => Ok((replies, delta)),
            Err(e) => Err((replies, e)),
        }
    }

    /// Writes the `seen` chunks changed since the last write, and drops expired generations.
    fn write_seen(&mut self, t: &mut Tables) -> Result<(), DbError> {
        for ((generation, chunk), bytes) in self.seen.take_dirty() {
            t.seen
                .insert(&seen_key(generation, chunk), bytes.as_slice())?;
        }
        for generation in self.seen.expire(self.now_ms) {
            for chunk in 0..u32::MAX {
                if t.seen.remove(&seen_key(generation, chunk))?.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// At close: the `seen` filters written, the store marked closed, synced.
    fn close(&mut self) -> Result<(), StoreError> {
        let unavailable = |e: DbError| StoreError::Unavailable(e.to_string());
        let txn = self.db.begin_write().map_err(|e| unavailable(e.into()))?;
        {
            let mut t = Tables::open(&txn).map_err(unavailable)?;
            self.write_seen(&mut t).map_err(unavailable)?;
            t.set_clean().map_err(unavailable)?;
        }
        txn.commit().map_err(|e| unavailable(e.into()))
    }

    /// One operation inside the batch's transaction; `so_far` is the batch's change until now.
    fn one(
        &mut self,
        op: Op,
        t: &mut Tables,
        so_far: Delta,
    ) -> Result<(Option<Reply>, Delta), DbError> {
        let count = (self.count as i64 + so_far.entries).max(0) as u64;
        match op {
            Op::Claim {
                key,
                entry,
                now_ms,
                reply,
            } => {
                self.now_ms = self.now_ms.max(now_ms);
                let held = t.get(&key)?;
                if let Some(e) = held.as_ref().filter(|e| e.expires_at_ms > now_ms) {
                    return Ok((
                        Some(Reply::Claim(reply, Ok(Claimed::Held(e.clone())))),
                        Delta::default(),
                    ));
                }
                let mut delta = Delta::default();
                if let Some(old) = &held {
                    delta.add(t.remove(&key, old)?);
                }
                let (evicted, room) = t.evict(
                    (count as i64 + delta.entries).max(0) as u64,
                    self.max_entries,
                )?;
                delta.add(evicted);
                if !room {
                    return Ok((Some(Reply::Claim(reply, Err(StoreError::Full))), delta));
                }
                let suspect = held.is_some() || self.seen.contains(&key, now_ms);
                delta.add(t.put(&key, None, &entry)?);
                Ok((
                    Some(Reply::Claim(reply, Ok(Claimed::Free { suspect }))),
                    delta,
                ))
            }
            Op::Replace {
                key,
                expected,
                next,
                now_ms,
                reply,
            } => {
                let Some(old) = t.get(&key)?.filter(|e| e.version == expected) else {
                    return Ok((Some(Reply::Replace(reply, false)), Delta::default()));
                };
                // Remembered once it may have taken effect: answered, or of unknown outcome.
                if next
                    .as_ref()
                    .is_some_and(|n| !matches!(n.state, State::InFlight { .. }))
                {
                    self.seen.insert(&key, now_ms);
                }
                let delta = match next {
                    Some(next) => t.put(&key, Some(&old), &next)?,
                    None => t.remove(&key, &old)?,
                };
                Ok((Some(Reply::Replace(reply, true)), delta))
            }
            Op::Pending { limit, reply } => Ok((
                Some(Reply::Pending(reply, t.pending(limit)?)),
                Delta::default(),
            )),
            Op::Sweep { .. } | Op::Close(_) => Ok((None, Delta::default())),
        }
    }
}

impl Reply {
    fn send(self) {
        match self {
            Reply::Claim(tx, v) => {
                let _ = tx.send(v);
            }
            Reply::Replace(tx, v) => {
                let _ = tx.send(Ok(v));
            }
            Reply::Pending(tx, v) => {
                let _ = tx.send(Ok(v));
            }
        }
    }

    fn fail(self, e: StoreError) {
        match self {
            Reply::Claim(tx, _) => {
                let _ = tx.send(Err(e));
            }
            Reply::Replace(tx, _) => {
                let _ = tx.send(Err(e));
            }
            Reply::Pending(tx, _) => {
                let _ = tx.send(Err(e));
            }
        }
    }
}
