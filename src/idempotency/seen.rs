//! [`Seen`]: the keys a store has held within `gateway.idempotency.remember`, long after their
//! entries expired or were evicted, in fixed memory: Bloom filters, one per generation of
//! `remember / 7`, eight kept. A key is added when it may have taken effect (settled answered,
//! or of unknown outcome); a claim that finds no entry asks whether the key was seen, and a
//! "maybe" makes the caller ask Blnk before it trusts that the request is new (a reference
//! reused after its entry expired would otherwise get a 201 from Blnk's queue for a transaction
//! Blnk then drops). A false "maybe" costs one lookup; the filters
//! are sized for `max_entries` keys per generation at about 1% false positives.
//!
//! The positions of a key's bits are computed here; the embedded store keeps the bits in its
//! database (chunk by chunk, as they change), the shared store in Redis bitmaps.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::store::StoreKey;

/// Bits set per key (about 1% false positives at 10 bits per key).
pub const HASHES: usize = 7;
/// Bits per key a generation is sized for.
const BITS_PER_KEY: u64 = 10;
/// Generations kept: the current one and seven before it.
pub const GENERATIONS: u64 = 8;
/// Bits per persisted chunk (4 KiB).
pub const CHUNK_BITS: u64 = 4096 * 8;

/// How the filters are cut: the length of a generation and the bits in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub generation_ms: u64,
    pub bits: u64,
}

impl Shape {
    /// Generations covering `remember`, each sized for `keys` keys.
    pub fn new(remember: Duration, keys: u64) -> Shape {
        let remember_ms = u64::try_from(remember.as_millis()).unwrap_or(u64::MAX);
        let bits = keys.saturating_mul(BITS_PER_KEY).max(CHUNK_BITS);
        Shape {
            generation_ms: (remember_ms / (GENERATIONS - 1)).max(1),
            bits: bits.div_ceil(CHUNK_BITS) * CHUNK_BITS,
        }
    }

    /// The generation `now_ms` falls in.
    pub fn generation(&self, now_ms: u64) -> u64 {
        now_ms / self.generation_ms
    }

    /// The oldest generation still kept at `now_ms`.
    pub fn oldest(&self, now_ms: u64) -> u64 {
        self.generation(now_ms).saturating_sub(GENERATIONS - 1)
    }

    /// The bits of `key` in a generation (the key is a SHA-256: its bytes are already uniform,
    /// so two of its words make every position by double hashing).
    pub fn positions(&self, key: &StoreKey) -> [u64; HASHES] {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&key[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        let (h1, h2) = (word(0), word(1) | 1);
        let mut out = [0u64; HASHES];
        for (i, p) in out.iter_mut().enumerate() {
            *p = h1.wrapping_add((i as u64).wrapping_mul(h2)) % self.bits;
        }
        out
    }

    /// Bytes of memory the filters take at most.
    pub fn bytes(&self) -> u64 {
        self.bits / 8 * GENERATIONS
    }
}

/// The filters in memory, for the embedded store.
#[derive(Debug)]
pub struct Seen {
    shape: Shape,
    generations: BTreeMap<u64, Vec<u64>>,
    /// Chunks changed since they were last persisted: (generation, chunk index).
    dirty: BTreeSet<(u64, u32)>,
}

impl Seen {
    pub fn new(shape: Shape) -> Seen {
        Seen {
            shape,
            generations: BTreeMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// Adds `key` to the current generation.
    pub fn insert(&mut self, key: &StoreKey, now_ms: u64) {
        let generation = self.shape.generation(now_ms);
        let words = (self.shape.bits / 64) as usize;
        let bits = self
            .generations
            .entry(generation)
            .or_insert_with(|| vec![0; words]);
        for p in self.shape.positions(key) {
            bits[(p / 64) as usize] |= 1 << (p % 64);
            self.dirty.insert((generation, (p / CHUNK_BITS) as u32));
        }
    }

    /// Whether `key` may have been added within the generations kept at `now_ms`.
    pub fn contains(&self, key: &StoreKey, now_ms: u64) -> bool {
        let positions = self.shape.positions(key);
        self.generations
            .range(self.shape.oldest(now_ms)..)
            .any(|(_, bits)| {
                positions
                    .iter()
                    .all(|p| bits[(*p / 64) as usize] & (1 << (p % 64)) != 0)
            })
    }

    /// Drops the generations older than those kept at `now_ms`; returns them (to delete).
    pub fn expire(&mut self, now_ms: u64) -> Vec<u64> {
        let keep = self.generations.split_off(&self.shape.oldest(now_ms));
        let gone: Vec<u64> = std::mem::replace(&mut self.generations, keep)
            .into_keys()
            .collect();
        self.dirty.retain(|(g, _)| !gone.contains(g));
        gone
    }

    /// The chunks changed since the last call, as bytes to persist.
    pub fn take_dirty(&mut self) -> Vec<((u64, u32), Vec<u8>)> {
        let words_per_chunk = (CHUNK_BITS / 64) as usize;
        std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|(g, chunk)| {
                let bits = self.generations.get(&g)?;
                let start = chunk as usize * words_per_chunk;
                let words = bits.get(start..start + words_per_chunk)?;
                let bytes = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                Some(((g, chunk), bytes))
            })
            .collect()
    }

    /// Restores a persisted chunk (at open); a chunk of another shape is ignored.
    pub fn load(&mut self, generation: u64, chunk: u32, bytes: &[u8]) {
        let words_per_chunk = (CHUNK_BITS / 64) as usize;
        let words = (self.shape.bits / 64) as usize;
        let start = chunk as usize * words_per_chunk;
        if bytes.len() != words_per_chunk * 8 || start + words_per_chunk > words {
            return;
        }
        let bits = self
            .generations
            .entry(generation)
            .or_insert_with(|| vec![0; words]);
        for (i, w) in bytes.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            bits[start + i] |= u64::from_le_bytes(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn key(n: u32) -> StoreKey {
        use sha2::Digest;
        sha2::Sha256::digest(n.to_be_bytes()).into()
    }

    #[test]
    fn keys_are_remembered_for_remember_then_forgotten() {
        let shape = Shape::new(7 * DAY, 1000);
        let mut seen = Seen::new(shape);
        let t0 = 1_800_000_000_000;
        seen.insert(&key(1), t0);
        assert!(seen.contains(&key(1), t0));
        let day = 24 * 3600 * 1000;
        assert!(seen.contains(&key(1), t0 + 7 * day - shape.generation_ms));
        seen.expire(t0 + 9 * day);
        assert!(!seen.contains(&key(1), t0 + 9 * day));
    }

    #[test]
    fn false_positives_stay_near_one_percent_at_capacity() {
        let mut seen = Seen::new(Shape::new(7 * DAY, 10_000));
        let now = 1_800_000_000_000;
        for n in 0..10_000 {
            seen.insert(&key(n), now);
        }
        let false_hits = (10_000..60_000)
            .filter(|n| seen.contains(&key(*n), now))
            .count();
        assert!(
            false_hits < 50_000 / 50,
            "{false_hits} false positives in 50,000"
        );
    }

    #[test]
    fn chunks_persist_and_load_back() {
        let shape = Shape::new(7 * DAY, 1000);
        let mut seen = Seen::new(shape);
        let now = 1_800_000_000_000;
        seen.insert(&key(7), now);
        let dirty = seen.take_dirty();
        assert!(!dirty.is_empty() && seen.take_dirty().is_empty());
        let mut again = Seen::new(shape);
        for ((g, chunk), bytes) in &dirty {
            again.load(*g, *chunk, bytes);
        }
        assert!(again.contains(&key(7), now));
        assert!(!again.contains(&key(8), now));
    }
}
