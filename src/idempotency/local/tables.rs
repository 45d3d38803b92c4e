//! The embedded store's tables and what one operation does to them inside a write transaction:
//! entries by key, the same keys in expiry order (so expiry and eviction read only the front),
//! the keys in flight or of unknown outcome (for the operator's view and the restart rule), and
//! the chunks of the `seen` filters.

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use crate::idempotency::entry::{Entry, State};
use crate::idempotency::store::StoreKey;

/// Entries by store key.
pub(super) const ENTRIES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("entries");
/// `expires_at_ms` (big-endian) followed by the store key: entries in expiry order.
pub(super) const EXPIRY: TableDefinition<&[u8; 40], ()> = TableDefinition::new("expiry");
/// Keys in flight or of unknown outcome, with the time they became so.
pub(super) const PENDING: TableDefinition<&[u8; 32], u64> = TableDefinition::new("pending");
/// `seen` filter chunks: generation (big-endian) and chunk index.
pub(super) const SEEN: TableDefinition<&[u8; 12], &[u8]> = TableDefinition::new("seen");
/// The store's counts (entries, bytes, unknown), kept with every batch so opening reads them.
pub(super) const META: TableDefinition<&str, [u64; 3]> = TableDefinition::new("meta");

/// How many entries from the front of the expiry order eviction looks at for settled ones.
const EVICT_SCAN: usize = 256;

pub(super) fn expiry_key(expires_at_ms: u64, key: &StoreKey) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&expires_at_ms.to_be_bytes());
    k[8..].copy_from_slice(key);
    k
}

pub(super) fn seen_key(generation: u64, chunk: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&generation.to_be_bytes());
    k[8..].copy_from_slice(&chunk.to_be_bytes());
    k
}

/// A change to the store's size, for the counters.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Delta {
    pub entries: i64,
    pub bytes: i64,
    pub unknown: i64,
    pub evicted: u64,
}

impl Delta {
    pub fn add(&mut self, other: Delta) {
        self.entries += other.entries;
        self.bytes += other.bytes;
        self.unknown += other.unknown;
        self.evicted += other.evicted;
    }
}

/// The tables open in one write transaction.
pub(super) struct Tables<'t> {
    entries: Table<'t, &'static [u8; 32], &'static [u8]>,
    expiry: Table<'t, &'static [u8; 40], ()>,
    pending: Table<'t, &'static [u8; 32], u64>,
    pub seen: Table<'t, &'static [u8; 12], &'static [u8]>,
    meta: Table<'t, &'static str, [u64; 3]>,
}

/// A failure of the embedded database, boxed: `redb::Error` is large, and it is the rare path.
#[derive(Debug)]
pub(super) struct DbError(Box<redb::Error>);

impl<E: Into<redb::Error>> From<E> for DbError {
    fn from(e: E) -> Self {
        DbError(Box::new(e.into()))
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

pub(super) type Db<T> = Result<T, DbError>;

fn is_unknown(e: &Entry) -> bool {
    matches!(e.state, State::Unknown { .. })
}

impl<'t> Tables<'t> {
    pub fn open(txn: &'t WriteTransaction) -> Db<Tables<'t>> {
        Ok(Tables {
            entries: txn.open_table(ENTRIES)?,
            expiry: txn.open_table(EXPIRY)?,
            pending: txn.open_table(PENDING)?,
            seen: txn.open_table(SEEN)?,
            meta: txn.open_table(META)?,
        })
    }

    /// The counts kept with the last batch, if any (a store from before them has none).
    pub fn counts(&self) -> Db<Option<[u64; 3]>> {
        Ok(self.meta.get("counts")?.map(|v| v.value()))
    }

    pub fn set_counts(&mut self, counts: [u64; 3]) -> Db<()> {
        self.meta.insert("counts", counts)?;
        Ok(())
    }

    /// Whether the last process closed the store (its `seen` filters are all written), and
    /// forgets it: a process that stops without closing leaves the mark unset.
    pub fn take_clean(&mut self) -> Db<bool> {
        Ok(self.meta.remove("clean")?.is_some())
    }

    pub fn set_clean(&mut self) -> Db<()> {
        self.meta.insert("clean", [1, 0, 0])?;
        Ok(())
    }

    /// Calls `f` with every key kept.
    pub fn each_key(&self, mut f: impl FnMut(&StoreKey)) -> Db<()> {
        for r in self.entries.iter()? {
            f(r?.0.value());
        }
        Ok(())
    }

    pub fn get(&self, key: &StoreKey) -> Db<Option<Entry>> {
        Ok(self
            .entries
            .get(key)?
            .and_then(|v| Entry::decode(v.value())))
    }

    /// Writes `entry` under `key`, replacing `old` (which must be what the key holds).
    pub fn put(&mut self, key: &StoreKey, old: Option<&Entry>, entry: &Entry) -> Db<Delta> {
        let mut delta = self.remove_indexes(key, old)?;
        let bytes = entry.encode();
        delta.bytes += bytes.len() as i64;
        delta.entries += 1;
        self.entries.insert(key, bytes.as_slice())?;
        self.expiry
            .insert(&expiry_key(entry.expires_at_ms, key), ())?;
        match entry.state {
            State::InFlight { since_ms, .. } | State::Unknown { since_ms } => {
                self.pending.insert(key, since_ms)?;
            }
            State::Done(_) => {}
        }
        delta.unknown += i64::from(is_unknown(entry));
        Ok(delta)
    }

    /// Removes the key's entry `old`.
    pub fn remove(&mut self, key: &StoreKey, old: &Entry) -> Db<Delta> {
        let delta = self.remove_indexes(key, Some(old))?;
        self.entries.remove(key)?;
        Ok(delta)
    }

    fn remove_indexes(&mut self, key: &StoreKey, old: Option<&Entry>) -> Db<Delta> {
        let Some(old) = old else {
            return Ok(Delta::default());
        };
        self.expiry.remove(&expiry_key(old.expires_at_ms, key))?;
        self.pending.remove(key)?;
        Ok(Delta {
            entries: -1,
            bytes: -(old.encode().len() as i64),
            unknown: -i64::from(is_unknown(old)),
            evicted: 0,
        })
    }

    /// Removes up to `max` entries expired at `now_ms`, oldest first; reading only the front of
    /// the expiry order, it costs the entries it removes, never the size of the store.
    pub fn sweep(&mut self, now_ms: u64, max: usize) -> Db<(Delta, usize)> {
        let due: Vec<[u8; 40]> = self
            .expiry
            .range::<&[u8; 40]>(..&expiry_key(now_ms, &[0; 32]))?
            .take(max)
            .filter_map(|r| r.ok().map(|(k, _)| *k.value()))
            .collect();
        let mut delta = Delta::default();
        for k in &due {
            let key: StoreKey = k[8..].try_into().unwrap_or([0; 32]);
            match self.get(&key)? {
                Some(old) => delta.add(self.remove(&key, &old)?),
                None => {
                    self.expiry.remove(k)?;
                }
            }
        }
        Ok((delta, due.len()))
    }

    /// Evicts the oldest settled entries until `room` more fit under `max_entries`; false when
    /// the front of the expiry order holds none (everything there is in flight or unknown).
    pub fn evict(&mut self, count: u64, max_entries: u64) -> Db<(Delta, bool)> {
        let mut delta = Delta::default();
        if count < max_entries {
            return Ok((delta, true));
        }
        let need = (count + 1 - max_entries) as usize;
        let front: Vec<StoreKey> = self
            .expiry
            .iter()?
            .take(EVICT_SCAN)
            .filter_map(|r| {
                r.ok()
                    .map(|(k, _)| k.value()[8..].try_into().unwrap_or([0; 32]))
            })
            .collect();
        for key in front {
            if delta.evicted as usize >= need {
                break;
            }
            if let Some(old) = self
                .get(&key)?
                .filter(|e| matches!(e.state, State::Done(_)))
            {
                delta.add(self.remove(&key, &old)?);
                delta.evicted += 1;
            }
        }
        Ok((delta, delta.evicted as usize >= need))
    }

    /// Every key in flight or of unknown outcome, oldest first, at most `limit`.
    pub fn pending(&self, limit: usize) -> Db<Vec<(StoreKey, Entry)>> {
        let mut keys: Vec<(u64, StoreKey)> = self
            .pending
            .iter()?
            .filter_map(|r| r.ok().map(|(k, v)| (v.value(), *k.value())))
            .collect();
        keys.sort_unstable();
        let mut out = Vec::new();
        for (_, key) in keys.into_iter().take(limit) {
            if let Some(e) = self.get(&key)? {
                out.push((key, e));
            }
        }
        Ok(out)
    }

    /// At open: what a stopped process left in flight becomes of unknown outcome; the keys.
    pub fn orphans_to_unknown(&mut self) -> Db<(Delta, Vec<StoreKey>)> {
        let keys: Vec<StoreKey> = self
            .pending
            .iter()?
            .filter_map(|r| r.ok().map(|(k, _)| *k.value()))
            .collect();
        let mut delta = Delta::default();
        let mut orphans = Vec::new();
        for key in keys {
            let Some(old) = self.get(&key)? else { continue };
            if let State::InFlight { since_ms, .. } = old.state {
                let next = Entry {
                    state: State::Unknown { since_ms },
                    ..old.clone()
                };
                delta.add(self.put(&key, Some(&old), &next)?);
                orphans.push(key);
            }
        }
        Ok((delta, orphans))
    }

    /// Counts the entries, their bytes and the unknown ones (at open, once, for a store from
    /// before the counts were kept).
    pub fn measure(&self) -> Db<Delta> {
        let mut delta = Delta::default();
        for r in self.entries.iter()? {
            let (_, v) = r?;
            delta.entries += 1;
            delta.bytes += v.value().len() as i64;
            if Entry::decode(v.value()).as_ref().is_some_and(is_unknown) {
                delta.unknown += 1;
            }
        }
        Ok(delta)
    }
}
