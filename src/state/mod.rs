//! The live configuration: the immutable [`Snapshot`] a request reads, swapped whole on reload,
//! how one is built ([`load`]), and how many reloads were applied or refused ([`ReloadStats`]).
//!
//! A request loads one snapshot at its start and uses it to the end, so a reload never mixes an
//! old key with new settings. A reload builds and validates a complete snapshot first and swaps it
//! in only on success; the last good one keeps serving otherwise. The process-wide parts that
//! outlive snapshots (pools, limiters, the audit writer) are the pipeline's `Gateway`.

mod load;
mod reloads;
mod snapshot;

pub use self::load::{load, Loaded};
pub use self::reloads::{ReloadCounts, ReloadStats};
pub use self::snapshot::{Snapshot, SnapshotGauges};
