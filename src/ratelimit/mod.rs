//! Rate limiting with governor's GCRA: what it owns, and how a request meets it.
//!
//! This module owns the limiter state, which lives as long as the process (in the pipeline's
//! `Gateway`), and the decisions: which bucket a request is charged to, when a
//! source is cooling down, what to prune. It does not decide how a refusal is answered (that is
//! [`crate::error`]) nor when settings change (the reload calls [`Limiter::reconfigure`]), nor what
//! a write is ([`crate::route::is_write`]).
//!
//! ```text
//! admit(peer)            before authentication: a source in its failed-auth cool-down gets 429,
//!                        even with the right key (one atomic load when no source is cooling down)
//! auth_failed(peer, ..)  a rejected key (here, or Blnk's 401 for a passed-through key) counts
//!                        against the source; past `failed_auth`, the cool-down starts
//! check(identity, ..)    after authentication: the client's bucket (its override's, or the
//!                        default; writes in their own when `writes` is set), then the global one
//! ```
//!
//! GCRA keeps one 64-bit time per bucket, so a check is a hash lookup and a compare-and-swap.
//!
//! The modules: `limiter` ([`Limiter`], what the pipeline holds), `local` ([`LocalLimits`], the
//! buckets of this process), `table` (their capped key store), `cooldown` (sources cooling
//! down), `source` (what a failed authentication counts against). In cluster mode ([`Limiter`]
//! with a [`crate::cluster::Cluster`]) the buckets are shared through Redis (`shared_buckets`:
//! GCRA in a Lua script, spent through short leases) and so are the failed-auth lockouts
//! (`shared_lockouts`: every failure counted in Redis, cool-downs published); the per-process
//! limiters stay as the fallback while Redis is away.
//!
//! # Memory
//! Each keyed table (per-client requests, per-client writes when set, failed authentications per
//! source, sources cooling down) tracks at most `max_tracked` keys (default
//! [`crate::limits::RATE_LIMIT_MAX_TRACKED`] = 100,000). A slot is 33 bytes (a 17-byte identity,
//! padding, the 8-byte GCRA state, a control byte), and hash tables run between 7/16 and 7/8 full,
//! so a tracked identity costs 38 to 76 bytes: at most about 7.5 MB per table at the default cap
//! (measured by `a_million_identities_stay_within_the_cap`: 131,072 slots, 4.3 MB, 43 bytes per
//! identity). At the cap a new key shares its table's one overflow bucket (same quota), so known
//! clients keep their own buckets through a flood; tables are pruned of full buckets (which loses
//! nothing) when they reach the cap, at most once per
//! [`crate::limits::RATE_LIMIT_PRUNE_INTERVAL`], and on every reconfiguration.

mod cooldown;
mod limiter;
mod local;
mod shared_buckets;
mod shared_lockouts;
mod source;
mod table;

pub use self::limiter::Limiter;
pub use self::local::{LocalLimits, Tracked};
pub use self::source::source;
