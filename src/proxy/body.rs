//! Request and response bodies as they pass through the gateway.
//!
//! [`RequestBody`] wraps the client's body on its way upstream: it enforces the size limit while
//! streaming (a chunked body that grows past it is cut off, aborting the upstream request) and the
//! body-read deadline (a body dribbled byte by byte ends at the deadline). [`ResponseBody`] is what
//! the client receives: Blnk's streamed body or a local answer; when it ends or is dropped, the
//! connection learns the request is finished (see `server::conn`) and the request's audit entry is
//! closed with the bytes sent and how the body ended.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::audit::{End, Entry};
use crate::error::Reject;
use crate::server::conn::ConnClock;
use crate::upstream::UpstreamBody;

/// Why a request body could not be forwarded; travels through hyper's error chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body exceeded the size limit")]
    TooLarge,
    #[error("request body not received before the deadline")]
    TimedOut,
    #[error("request body broken off by the client")]
    Client,
}

impl BodyError {
    pub fn reject(self) -> Reject {
        match self {
            BodyError::TooLarge => Reject::PayloadTooLarge,
            BodyError::TimedOut => Reject::BodyTimeout,
            BodyError::Client => Reject::BadBody,
        }
    }
}

pin_project_lite::pin_project! {
    /// The body sent upstream: the client's body streamed, bounded in size and time, or bytes
    /// already read (when a request may have to be sent twice during a key rotation).
    #[project = RequestBodyProj]
    pub enum RequestBody {
        Streaming {
            #[pin]
            inner: Incoming,
            remaining: u64,
            deadline: Instant,
            sleep: Option<Pin<Box<Sleep>>>,
            // The audit entry's bytes-in counter.
            counted: Option<Arc<AtomicU64>>,
        },
        Buffered { data: Option<Bytes> },
    }
}

impl RequestBody {
    pub fn new(
        inner: Incoming,
        max_bytes: u64,
        deadline: Instant,
        counted: Option<Arc<AtomicU64>>,
    ) -> Self {
        RequestBody::Streaming {
            inner,
            remaining: max_bytes,
            deadline,
            sleep: None,
            counted,
        }
    }

    pub fn buffered(data: Bytes) -> Self {
        RequestBody::Buffered {
            data: Some(data).filter(|d| !d.is_empty()),
        }
    }

    /// Reads the whole body, under the same size limit and deadline as streaming.
    pub async fn read_all(self) -> Result<Bytes, BodyError> {
        use http_body_util::BodyExt;
        Ok(self.collect().await?.to_bytes())
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let (inner, remaining, deadline, sleep, counted) = match self.project() {
            RequestBodyProj::Buffered { data } => {
                return Poll::Ready(data.take().map(|d| Ok(Frame::data(d))))
            }
            RequestBodyProj::Streaming {
                inner,
                remaining,
                deadline,
                sleep,
                counted,
            } => (inner, remaining, deadline, sleep, counted),
        };
        match inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    // Trailers are never forwarded: they could smuggle headers past the rewrite.
                    return Poll::Ready(None);
                };
                let len = data.len() as u64;
                if len > *remaining {
                    return Poll::Ready(Some(Err(BodyError::TooLarge)));
                }
                *remaining -= len;
                if let Some(c) = counted {
                    c.fetch_add(len, Ordering::Relaxed);
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(Some(Err(_))) => Poll::Ready(Some(Err(BodyError::Client))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                // The timer is created only for bodies that actually wait, so GETs pay nothing.
                let deadline = *deadline;
                let sleep =
                    sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                ready!(sleep.as_mut().poll(cx));
                Poll::Ready(Some(Err(BodyError::TimedOut)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Streaming { inner, .. } => inner.is_end_stream(),
            RequestBody::Buffered { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Streaming { inner, .. } => inner.size_hint(),
            RequestBody::Buffered { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
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
