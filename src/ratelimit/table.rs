//! [`Table`]: governor's keyed state store, with a cap on the number of keys.
//!
//! Each key holds one GCRA state: an `AtomicU64`, the theoretical arrival time. A check is one
//! hash lookup under a shard read lock and one compare-and-swap. A new key is inserted only while
//! the table holds fewer than `cap` keys; past that, every new key shares the one overflow bucket
//! (same quota), so a flood of fresh identities costs no memory and is limited as one client,
//! while the keys already tracked keep their own buckets. Pruning (governor's `retain_recent`)
//! drops keys whose bucket is full again, which loses nothing: a full bucket and an absent key
//! behave the same.

use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};

/// A capped keyed state store; clones share the same table.
pub struct Table<K>(Arc<Inner<K>>);

struct Inner<K> {
    map: DashMap<K, InMemoryState>,
    /// Keys in `map`, kept here so the insert path does not lock every shard to count.
    len: AtomicUsize,
    cap: AtomicUsize,
    /// Shared by every key that found the table full.
    overflow: InMemoryState,
    /// A key was sent to the overflow bucket since the last prune.
    full: AtomicBool,
}

impl<K: Hash + Eq + Clone> Table<K> {
    pub fn new(cap: usize) -> Self {
        Table(Arc::new(Inner {
            map: DashMap::new(),
            len: AtomicUsize::new(0),
            cap: AtomicUsize::new(cap),
            overflow: InMemoryState::default(),
            full: AtomicBool::new(false),
        }))
    }

    pub fn set_cap(&self, cap: usize) {
        self.0.cap.store(cap, Ordering::Relaxed);
    }

    /// Whether the cap was reached since the last prune.
    pub fn wants_prune(&self) -> bool {
        self.0.full.load(Ordering::Relaxed)
    }

    /// Allocated slots and the bytes of one slot: the table's memory is about their product.
    #[cfg(test)]
    pub fn footprint(&self) -> (usize, usize) {
        // hashbrown reports 7/8 of its slots as capacity, and keeps a control byte per slot.
        let slot = std::mem::size_of::<(K, InMemoryState)>() + 1;
        (self.0.map.capacity() / 7 * 8, slot)
    }
}

impl<K> Clone for Table<K> {
    fn clone(&self) -> Self {
        Table(self.0.clone())
    }
}

impl<K: Hash + Eq + Clone> StateStore for Table<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let inner = &*self.0;
        if let Some(state) = inner.map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        // Reserve room first, so concurrent inserts can never pass the cap together.
        if inner.len.fetch_add(1, Ordering::Relaxed) >= inner.cap.load(Ordering::Relaxed) {
            inner.len.fetch_sub(1, Ordering::Relaxed);
            inner.full.store(true, Ordering::Relaxed);
            return inner.overflow.measure_and_replace(&NotKeyed::NonKey, f);
        }
        match inner.map.entry(key.clone()) {
            Entry::Occupied(e) => {
                inner.len.fetch_sub(1, Ordering::Relaxed);
                e.get().measure_and_replace(&NotKeyed::NonKey, f)
            }
            Entry::Vacant(e) => e
                .insert(InMemoryState::default())
                .measure_and_replace(&NotKeyed::NonKey, f),
        }
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for Table<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        let inner = &*self.0;
        let mut removed = 0;
        inner.map.retain(|_, state| {
            let keep = tat(state).is_some_and(|tat| tat > drop_below);
            removed += usize::from(!keep);
            keep
        });
        inner.len.fetch_sub(removed, Ordering::Relaxed);
        inner.full.store(false, Ordering::Relaxed);
        // Give memory back once a flood has passed, not while a table is merely busy.
        if inner.len.load(Ordering::Relaxed) < inner.map.capacity() / 4 {
            inner.map.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.0.len.load(Ordering::Relaxed)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A state's theoretical arrival time, read without changing it.
fn tat(state: &InMemoryState) -> Option<Nanos> {
    state
        .measure_and_replace(&NotKeyed::NonKey, Err::<((), Nanos), _>)
        .err()
        .flatten()
}
