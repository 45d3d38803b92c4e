//! Request and response bodies as they pass through the gateway.
//!
//! [`RequestBody`] is what goes upstream: a body already read whole by `buffer` (Blnk never sees
//! a body before it is complete), whose frames are handed to hyper as they arrived and whose
//! share of the buffer budget is given back when hyper has written them. [`ResponseBody`] is what
//! the client receives: Blnk's streamed body or a local answer; when it ends or is dropped, the
//! connection learns the request is finished (see `server::conn`) and the request's audit entry is
//! closed with the bytes sent and how the body ended.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::buffer::{Buffered, Charge};
use crate::audit::{End, Entry};
use crate::error::Reject;
use crate::server::conn::ConnClock;
use crate::upstream::UpstreamBody;

/// Why a request body could not be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body exceeded the size limit")]
    TooLarge,
    #[error("request body not received before the deadline")]
    TimedOut,
    #[error("request body broken off, malformed, or not the declared length")]
    Client,
    #[error("no room in the buffer budget")]
    Busy,
}

impl BodyError {
    pub fn reject(self) -> Reject {
        match self {
            BodyError::TooLarge => Reject::PayloadTooLarge,
            BodyError::TimedOut => Reject::BodyTimeout,
            BodyError::Client => Reject::BadBody,
            BodyError::Busy => Reject::Busy,
        }
    }
}

/// The body sent upstream: the frames of a body read whole, with an exact length.
#[derive(Debug)]
pub struct RequestBody {
    chunks: std::vec::IntoIter<Bytes>,
    remaining: u64,
    // Given back to the budget when hyper drops the body, after writing it.
    _charge: Option<Charge>,
}

impl RequestBody {
    pub fn empty() -> Self {
        RequestBody {
            chunks: Vec::new().into_iter(),
            remaining: 0,
            _charge: None,
        }
    }

    /// The body, taking its share of the budget along.
    pub fn from_buffered(body: Buffered) -> Self {
        let (chunks, len, charge) = body.into_parts();
        RequestBody {
            chunks: chunks.into_iter(),
            remaining: len,
            _charge: charge,
        }
    }

    /// Another copy of the same bytes (a request sent twice during a key rotation); the
    /// original keeps the charge.
    pub fn copy_of(body: &Buffered) -> Self {
        RequestBody {
            chunks: body.chunks().to_vec().into_iter(),
            remaining: body.len(),
            _charge: None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.chunks.next();
        if let Some(chunk) = &next {
            self.remaining -= chunk.len() as u64;
        }
        Poll::Ready(next.map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

pin_project_lite::pin_project! {
    /// What the client receives. Tells the connection when the exchange is over.
    pub struct ResponseBody {
        #[pin]
        kind: Kind,
        done: Option<Arc<ConnClock>>,
        audit: Entry,
    }

    impl PinnedDrop for ResponseBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // hyper drops a body it knows has ended without polling it again.
            let end = if this.kind.ended() { End::Complete } else { End::ClientGone };
            this.audit.finish(end);
            if let Some(clock) = this.done.take() {
                clock.request_finished();
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind {
        Upstream { #[pin] body: UpstreamBody },
        Local { data: Option<Bytes> },
    }
}

impl Kind {
    fn ended(&self) -> bool {
        match self {
            Kind::Upstream { body } => body.is_end_stream(),
            Kind::Local { data } => data.is_none(),
        }
    }
}

impl ResponseBody {
    pub fn upstream(body: UpstreamBody, clock: Arc<ConnClock>) -> Self {
        ResponseBody {
            kind: Kind::Upstream { body },
            done: Some(clock),
            audit: Entry::disabled(),
        }
    }

    pub fn local(data: Bytes, clock: Arc<ConnClock>) -> Self {
        ResponseBody {
            kind: Kind::Local {
                data: Some(data).filter(|d| !d.is_empty()),
            },
            done: Some(clock),
            audit: Entry::disabled(),
        }
    }

    /// The body carrying the request's audit entry, which it closes when it ends or is dropped.
    pub fn audited(mut self, entry: Entry) -> Self {
        self.audit = entry;
        self
    }

    fn finish(self: Pin<&mut Self>, end: End) {
        let this = self.project();
        this.audit.finish(end);
        if let Some(clock) = this.done.take() {
            clock.request_finished();
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = match self.as_mut().project().kind.project() {
            KindProj::Upstream { body } => ready!(body.poll_frame(cx)),
            KindProj::Local { data } => data.take().map(|d| Ok(Frame::data(d))),
        };
        match &polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    self.as_mut().project().audit.count_out(data.len());
                }
            }
            Some(Err(_)) => self.finish(End::UpstreamError),
            None => self.finish(End::Complete),
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.kind.ended()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Upstream { body } => body.size_hint(),
            Kind::Local { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
