//! The body that goes upstream: a body already read whole, handed to hyper frame by frame as it
//! arrived, with an exact length, its share of the budget given back when hyper drops it after
//! writing it.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::budget::Charge;
use super::read::Buffered;

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
