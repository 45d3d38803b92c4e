//! A request body nobody read, after the gateway answered before reading it (413 for a declared
//! size, 401 to an upload, ...).
//!
//! - HTTP/1.1: hyper stops reading and closes the connection after the answer; the connection
//!   lingers (see `server::watched`), so a client that writes its whole body before it reads (Python
//!   `requests`) sees the answer instead of a reset.
//! - HTTP/2: dropping the body would reset the stream (`RST_STREAM`), which curl reports as a
//!   framing error although the answer arrived. Instead the rest of the body is read and
//!   discarded, as nginx does, so the stream ends cleanly when the client has sent it all; bounded
//!   by `LINGER_TIME`, `LINGER_QUIET` and `LINGER_MAX_BYTES`, and by `LINGER_MAX_STREAMS` drains at
//!   once, past which the stream is reset (`NO_ERROR`, after the complete answer).

use std::sync::Arc;

use http::Version;
use http_body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::limits::{LINGER_MAX_BYTES, LINGER_QUIET, LINGER_TIME};

/// Disposes of the unread body of a request answered early.
pub fn dispose(body: Incoming, version: Version, slots: &Arc<Semaphore>) {
    if version != Version::HTTP_2 || body.is_end_stream() {
        return;
    }
    let Ok(slot) = slots.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        discard(body).await;
        drop(slot);
    });
}

/// Reads and drops frames until the body ends or a bound is reached.
async fn discard(mut body: Incoming) {
    let until = Instant::now() + LINGER_TIME;
    let mut seen = 0u64;
    loop {
        let quiet = (Instant::now() + LINGER_QUIET).min(until);
        match tokio::time::timeout_at(quiet, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if seen > LINGER_MAX_BYTES {
                    return;
                }
            }
            _ => return,
        }
    }
}
