//! The upstream exchange of one request, which runs to Blnk's answer once it has begun.
//!
//! hyper drops a request's future when the client resets its HTTP/2 stream or its connection
//! fails. Before the request is sent upstream that is harmless: Blnk has seen nothing. After, Blnk
//! may be moving money, and the audit record must still learn Blnk's answer (the client and the
//! ledger must never disagree about whether money moved, and the record is how an operator tells).
//! So [`InFlight`] polls the exchange inline, the common case, at the cost of one allocation; if
//! it is dropped before Blnk has answered, it moves the exchange into a task of its own, tracked
//! by `Gateway::exchanges` so shutdown waits for it, which records Blnk's status (or the failure)
//! and closes the audit entry as `client_gone`.
//!
//! This module does not send anything itself (`send` does, through `upstream`) nor decide which
//! key to send.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use tokio_util::task::TaskTracker;

use super::response::ResponseBody;
use super::rewrite;
use crate::audit::{Decision, End, Entry};
use crate::conn::ConnInfo;
use crate::error::Reject;
use crate::upstream::{UpstreamBody, UpstreamResponse};

/// Blnk's answer, as the exchange left it.
#[derive(Debug)]
pub enum Answer {
    /// The response head, its body still to stream.
    Streaming(UpstreamResponse),
    /// A response read whole (a refusal read to decide on a second attempt during a rotation, an
    /// answer kept for idempotent replays, a replay).
    Read(http::response::Parts, Bytes),
    /// A response whose first bytes were read (to keep it, until it proved too large), the rest
    /// still to stream.
    Partial(http::response::Parts, Bytes, UpstreamBody),
}

impl Answer {
    pub fn status(&self) -> StatusCode {
        match self {
            Answer::Streaming(res) => res.status(),
            Answer::Read(parts, _) | Answer::Partial(parts, _, _) => parts.status,
        }
    }

    /// The answer for the client, Blnk's headers rewritten.
    pub fn respond(self, conn: &Arc<ConnInfo>, request_id: &HeaderValue) -> Response<ResponseBody> {
        let tls = conn.tls.is_some();
        match self {
            Answer::Streaming(res) => {
                let (mut parts, body) = res.into_parts();
                rewrite::rewrite_response(&mut parts.headers, tls, request_id);
                Response::from_parts(parts, ResponseBody::upstream(body, conn.clock.clone()))
            }
            Answer::Read(mut parts, body) => {
                rewrite::rewrite_response(&mut parts.headers, tls, request_id);
                Response::from_parts(parts, ResponseBody::local(body, conn.clock.clone()))
            }
            Answer::Partial(mut parts, prefix, rest) => {
                rewrite::rewrite_response(&mut parts.headers, tls, request_id);
                let body = ResponseBody::prefixed(prefix, rest, conn.clock.clone());
                Response::from_parts(parts, body)
            }
        }
    }
}

/// What an exchange comes to: Blnk's answer, or why there is none.
pub type Outcome = Result<Answer, Reject>;

type Exchange = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// An exchange in progress, finished in the background if dropped (see the module docs).
pub struct InFlight<'a> {
    exchange: Option<Exchange>,
    entry: &'a mut Entry,
    tracker: &'a TaskTracker,
}

impl<'a> InFlight<'a> {
    /// Starts tracking `exchange`; marks the entry as sent upstream.
    pub fn new(
        exchange: impl Future<Output = Outcome> + Send + 'static,
        entry: &'a mut Entry,
        tracker: &'a TaskTracker,
    ) -> Self {
        entry.sent_upstream();
        InFlight {
            exchange: Some(Box::pin(exchange)),
            entry,
            tracker,
        }
    }
}

impl Future for InFlight<'_> {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let Some(exchange) = self.exchange.as_mut() else {
            // Polled again after it finished: a bug, answered rather than panicking.
            return Poll::Ready(Err(Reject::UpstreamBroken));
        };
        let outcome = ready!(exchange.as_mut().poll(cx));
        self.exchange = None;
        Poll::Ready(outcome)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let Some(exchange) = self.exchange.take() else {
            return;
        };
        let mut entry = std::mem::replace(self.entry, Entry::disabled());
        // Outside a runtime (it is shutting down) there is nothing left to finish on.
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.tracker.spawn(async move {
            let decision = match exchange.await {
                Ok(answer) => Decision::Forwarded {
                    status: answer.status().as_u16(),
                },
                Err(reject) => Decision::Rejected(reject),
            };
            entry.answered(decision);
            entry.finish(End::ClientGone);
        });
    }
}
