//! Retries made safe: a money movement retried happens once, and the retry gets the first answer.
//!
//! Blnk has no `Idempotency-Key`, and on its default queued path a transaction with a used
//! `reference` still gets a fresh 201 (docs/blnk.md section 6), so a client that retries after a
//! timeout is told a second transfer is under way. The gateway sees every request and answer, so
//! it keeps, per client and key, the request's fingerprint and Blnk's answer, and replays that
//! answer to a retry instead of forwarding it.
//!
//! - [`key`]: which keys a request has (an `Idempotency-Key`, one derived by [`route`] on the
//!   money-moving routes), its fingerprint, its scope.
//! - [`seen`]: the keys held within `remember`, in fixed memory, so an expired one is not new.
//! - [`service`]: what the store's entry means for a request, and how an answer settles a key.
//! - [`store`]: the store's one small trait; [`local`]: the embedded store (redb) that survives a
//!   restart; [`redis`]: the store several gateways share (cluster mode).
//! - [`entry`]: what is kept per key, and its binary form.
//!
//! This module does not forward anything nor ask Blnk about a reference: the pipeline does
//! (`proxy::idempotent`).

pub mod entry;
pub mod key;
pub mod local;
pub mod redis;
pub mod route;
pub mod seen;
pub mod service;
pub mod sizing;
pub mod store;

pub use self::entry::{Entry, State, Stored};
pub use self::key::RequestKeys;
pub use self::local::LocalStore;
pub use self::redis::RedisStore;
pub use self::service::{Claims, Gate, Idempotency, Settle};
pub use self::sizing::Sizing;
pub use self::store::{system_now_ms, Clock, StoreError};
