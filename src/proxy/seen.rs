//! [`Seen`]: what one connection's bytes showed that the requests hyper hands over do not, shared
//! between the connection's I/O (`server`) and its requests.
//!
//! - The stream errors the pipeline itself gave (malformed HTTP/2, `screen`): the pipeline
//!   records those requests itself, so the connection, which sees every `RST_STREAM` it writes,
//!   records only the others (refused by HTTP/2 before the pipeline saw a request).

use std::sync::atomic::{AtomicU32, Ordering};

/// One connection's share (see the module docs).
#[derive(Debug, Default)]
pub struct Seen {
    own_resets: AtomicU32,
}

impl Seen {
    /// The pipeline answers a request with a stream error (`PROTOCOL_ERROR`).
    pub fn own_reset(&self) {
        self.own_resets.fetch_add(1, Ordering::Relaxed);
    }

    /// A `PROTOCOL_ERROR` reset left: true when it was the pipeline's own (and is now accounted
    /// for). Which stream it was does not matter: each reset is one refusal either way.
    pub fn take_own_reset(&self) -> bool {
        self.own_resets
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}
