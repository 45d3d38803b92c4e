//! The tamper-evident audit log: one hash-chained JSON line for every request.
//!
//! - [`line`]: a record as data and the JSON line it becomes; [`entry`]: what a request fills in.
//! - [`chain`]: the framing `{"v":1,"seq":N,"prev":..}` and the SHA-256 link between lines.
//! - `writer` (with `file`): the task that owns the file: batches, flushes, syncs, reopens,
//!   retries; `status`: what it shares with the handle and the entries.
//! - [`checkpoint`]: the signed checkpoint record; `seal`: when the writer writes one, and with
//!   which key (forward-secure epochs included).
//! - [`verify`]: `blnk-gateway audit verify`, which checks a chain across files, and with
//!   public keys the checkpoints that seal it.
//!
//! [`Audit`] (`handle`) lives in the gateway for the whole process. A request pays for
//! building its record and one non-blocking `try_send` into a bounded channel
//! (`limits::AUDIT_CHANNEL_CAPACITY`); it never waits for the writer. When the channel is full
//! the record is lost: counted, logged, and reported by a `gap` record in the log itself, and
//! under `on_failure: refuse_writes` write requests are refused until the writer has caught up.
//! This module does not decide what a refused request looks like (see `error`) nor when the log
//! is reopened (the reload module calls [`Audit::reopen`]). The schema is in docs/audit.md.

pub mod chain;
pub mod checkpoint;
mod entry;
mod file;
mod handle;
mod json;
pub mod line;
mod seal;
mod status;
pub mod verify;
mod writer;

pub use self::entry::Entry;
pub use self::handle::{is_write, Audit, AuditStats};
pub use self::line::{Decision, End, RequestHead, RequestRecord};
pub use self::status::AuditError;
