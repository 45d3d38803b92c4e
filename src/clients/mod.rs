//! Scoped client keys: clients hold their own revocable keys, the gateway holds the master key.
//!
//! A client key looks like `bgw_<id>_<secret>`: `bgw_` makes a leaked key easy to spot in a
//! scanner, the 12-hex-digit `id` names it in logs, audit records and the rate limiter, and the
//! secret is 256 random bits. The clients file (`gateway.clients_file`) stores only the SHA-256 of
//! each key (a fast hash suffices for 256-bit random secrets), compared in constant time.
//!
//! - [`table`]: the validated clients, and which one presented a key.
//! - [`file`]: the JSON file, its validation, atomic edits.
//! - [`scope`]: Blnk's `resource:action` scopes and the per-request decision.
//!
//! This module answers "which client is this, and may it do that"; the proxy then injects the
//! master key as in any inject-mode request.

pub mod file;
pub mod scope;
mod table;

pub use self::table::{now_unix, Client, ClientRate, ClientTable, Presented};
