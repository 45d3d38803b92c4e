//! [`Seen`]: what one connection's bytes showed that the requests hyper hands over do not, shared
//! between the connection's I/O (`server`) and its requests.
//!
//! - HTTP/1.1 requests whose target held a `#`: the `http` crate drops a fragment while parsing,
//!   so only the bytes tell (`server::h1`). The pipeline refuses such a request before anything
//!   else (400 `GATEWAY_BAD_PATH`, docs/security.md). A request is named by its number on the
//!   connection (`conn::ConnClock::heads`): HTTP/1.1 hands requests over one at a time, in order.
//! - The stream errors the pipeline itself gave (malformed HTTP/2, `screen`): the pipeline
//!   records those requests itself, so the connection, which sees every `RST_STREAM` it writes,
//!   records only the others (refused by HTTP/2 before the pipeline saw a request).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// One connection's share (see the module docs).
#[derive(Debug, Default)]
pub struct Seen {
    own_resets: AtomicU32,
    /// How many entries `fragments` holds: a request reads only this when there are none.
    pending: AtomicU32,
    /// The numbers of the requests whose target held a `#`, not yet taken.
    fragments: Mutex<Vec<u64>>,
}

impl Seen {
    /// The target of request number `head` on this connection held a `#`.
    pub fn fragment_in(&self, head: u64) {
        let mut f = self.fragments.lock().unwrap_or_else(|p| p.into_inner());
        if !f.contains(&head) {
            f.push(head);
            self.pending.fetch_add(1, Ordering::Release);
        }
    }

    /// Whether the target of request number `head` held a `#`; forgets it.
    pub fn take_fragment(&self, head: u64) -> bool {
        if self.pending.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut f = self.fragments.lock().unwrap_or_else(|p| p.into_inner());
        let Some(at) = f.iter().position(|&h| h == head) else {
            return false;
        };
        f.swap_remove(at);
        self.pending.fetch_sub(1, Ordering::Release);
        true
    }

    /// Whether request number `head` is noted as holding a `#` (without taking it).
    pub fn has_fragment(&self, head: u64) -> bool {
        let f = self.fragments.lock().unwrap_or_else(|p| p.into_inner());
        f.contains(&head)
    }

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
