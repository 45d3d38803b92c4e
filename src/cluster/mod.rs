//! Cluster mode: state several gateways share through Redis (the one Blnk already requires).
//!
//! This module owns the connection to Redis and whether it can be used now (`conn`), the count
//! of gateways alive and Redis's clock (`heartbeat`, `peers`), kept subscriptions (`pubsub`) and
//! the numbers about it (`stats`). It does not decide what is shared or how a caller carries on without Redis: the
//! shared buckets and lockouts are `ratelimit`'s, the shared idempotency store `idempotency`'s.

mod conn;
mod heartbeat;
mod peers;
mod pubsub;
mod stats;

pub use self::conn::{Cluster, Unavailable};
pub use self::heartbeat::{share, spawn as spawn_heartbeat};
pub use self::peers::owner_of;
pub use self::pubsub::subscribe;
pub use self::stats::Fallback;
