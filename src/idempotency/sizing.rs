//! How big a store is: what it needs to know at open (`Sizing`), and what it holds at capacity,
//! for `check` and the `bytes` gauges.

use std::time::Duration;

use super::seen::Shape;
use crate::limits::IDEMPOTENCY_STORE_CACHE;

/// What a store needs to know at open.
#[derive(Debug, Clone)]
pub struct Sizing {
    pub max_entries: u64,
    pub remember: Duration,
    /// The keys' time to live at start: how long claims stay suspect after a shared store lost
    /// writes (what it lost lived at most that long).
    pub ttl: Duration,
}

/// Redis memory per key kept (the entry, its key, its members in the sorted sets), measured by
/// `benches/store_growth.sh --cluster` (`used_memory` over entries, Blnk answers of about 760
/// bytes). For the `bytes` gauge, which Redis cannot give per prefix, and `check`.
pub const REDIS_BYTES_PER_KEY: u64 = 1_500;

/// Disk the embedded store's file takes per key kept, at the plateau of a sustained load (pages,
/// the expiry and pending indexes, free pages awaiting reuse), measured by
/// `benches/store_growth.sh` with Blnk answers of about 760 bytes (docs/idempotency.md).
pub const EMBEDDED_DISK_BYTES_PER_KEY: u64 = 2_500;

impl Sizing {
    /// New keys a second the store holds for `ttl` at `max_entries`.
    pub fn sustained_per_second(&self) -> f64 {
        self.max_entries as f64 / self.ttl.as_secs_f64().max(1.0)
    }

    /// What the configured store holds, for `check`: keys, the sustained rate of new keys over
    /// the ttl, and the disk or Redis memory it takes at capacity.
    pub fn describe(&self, shared: bool) -> String {
        let filters = Shape::new(self.remember, self.max_entries).bytes();
        let room = if shared {
            let bytes = self.max_entries.saturating_mul(REDIS_BYTES_PER_KEY);
            format!(
                "{} of Redis memory ({} bytes a key, and {} of seen bitmaps)",
                size(bytes + filters),
                REDIS_BYTES_PER_KEY,
                size(filters)
            )
        } else {
            let bytes = self.max_entries.saturating_mul(EMBEDDED_DISK_BYTES_PER_KEY);
            format!(
                "{} on disk ({EMBEDDED_DISK_BYTES_PER_KEY} bytes a key) and {} of memory (page cache, seen filters)",
                size(bytes),
                size(filters + IDEMPOTENCY_STORE_CACHE as u64)
            )
        };
        format!(
            "{} keys for ttl {}: {:.1} new keys a second sustained (one per transfer or refund, one per bulk item); at capacity about {room}; a key that may have moved money is remembered for {} (a retry after its ttl is checked with Blnk)",
            self.max_entries,
            span(self.ttl),
            self.sustained_per_second(),
            span(self.remember),
        )
    }
}

/// Bytes in MB or GB, rounded up.
fn size(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.1} GB", bytes as f64 / 1e9)
    } else {
        format!("{} MB", bytes.div_ceil(1_000_000))
    }
}

/// A duration in the largest whole unit (days, hours, minutes, seconds).
fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        _ if s >= 3_600 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        _ if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}
