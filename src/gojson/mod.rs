//! Request bodies read exactly as Blnk reads them, for the routes that move money.
//!
//! Blnk binds a body with gin's `ShouldBindJSON`: Go's `encoding/json` `Decoder.Decode` into a
//! struct. Go reads only the first JSON value, turns invalid UTF-8 and lone surrogates into
//! U+FFFD, binds keys to fields without regard to case (and `ſ` to `s`, `K` to `k`), lets a
//! repeated key's last value win, treats `null` as "leave it" for scalars, and refuses a value of
//! the wrong type. serde_json does none of this, so a body it reads can mean something else to
//! Blnk; the gateway derives idempotency keys and compares recovered ledger records from what
//! these functions return, and refuses (fails closed on) any money-moving body they call
//! [`Unreadable`].
//!
//! - [`decode`]: the first JSON value of a body (Go's `Decoder`), with [`unquote`] for strings.
//! - [`bind`]: Go's binding rules per field type, [`fold`] for which key binds to which field,
//!   [`rfc3339`] for `time.Time`.
//! - [`transfer`](mod@transfer), [`inflight`], [`refund`](mod@refund): Blnk's request structs,
//!   field for field, and what the gateway keeps of them; [`precise`]: Blnk's amount in minor
//!   units.
//!
//! Each rule cites the Go source it follows. A differential property test (`tests.rs`) holds the
//! whole to the fake Blnk's independent reading (`fake_blnk::bind`), and says where the fake is
//! knowingly simpler than Go.

pub mod bind;
pub mod decode;
pub mod error;
pub mod fold;
pub mod inflight;
pub mod precise;
pub mod refund;
pub mod rfc3339;
pub mod transfer;
pub mod unquote;

pub use self::bind::List;
pub use self::decode::{decode_first, Doc, Entries, Items, Node, Value};
pub use self::error::Unreadable;
pub use self::inflight::{
    bulk_commit, bulk_void, inflight_update, BulkInflight, CommitItem, InflightUpdate,
};
pub use self::precise::apply_precision;
pub use self::refund::{refund, Refund};
pub use self::transfer::{bulk, transfer, Bulk, Share, Transfer};

#[cfg(test)]
mod tests;
