//! Reading a request body whole: complete, well framed, within its size limit and deadline,
//! every byte charged to the [`BufferBudget`] as it arrives. What a body that fails looks like to
//! the client is `error`'s decision ([`BodyError::reject`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::budget::{BufferBudget, Charge};
use crate::error::Reject;
use crate::limits;

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

/// A request body read to its end: the frames as they arrived, and their share of the budget.
#[derive(Debug)]
pub struct Buffered {
    chunks: Vec<Bytes>,
    len: u64,
    charge: Option<Charge>,
}

impl Buffered {
    /// A body from frames already in memory, charged to no budget (tests, replays).
    pub fn from_chunks(chunks: Vec<Bytes>) -> Self {
        let len = chunks.iter().map(|c| c.len() as u64).sum();
        Buffered {
            chunks,
            len,
            charge: None,
        }
    }

    /// No body at all.
    pub fn empty() -> Self {
        Buffered {
            chunks: Vec::new(),
            len: 0,
            charge: None,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The body in one piece (a copy, unless it arrived in one frame).
    pub fn to_vec(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    /// The frames and the charge, for the body that goes upstream.
    pub fn into_parts(self) -> (Vec<Bytes>, u64, Option<Charge>) {
        (self.chunks, self.len, self.charge)
    }
}

/// The bounds a body is read under.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub max_bytes: u64,
    /// When the whole body must have arrived (`body_read_timeout` after the head).
    pub deadline: Instant,
    /// The length the client declared (`Content-Length`), which the body must match exactly.
    pub declared: Option<u64>,
}

/// Reads `body` to its end (trailers are read and dropped: they are never forwarded) under
/// `bounds`, charging every byte to `budget`; `counted` gets the bytes read, for the audit record.
/// On an error the body is left where it stopped, so the caller can drain an HTTP/2 stream.
pub async fn read<B>(
    body: &mut B,
    bounds: ReadLimits,
    budget: &Arc<BufferBudget>,
    counted: Option<&AtomicU64>,
) -> Result<Buffered, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut buffered = Buffered::empty();
    if body.is_end_stream() {
        return check_declared(buffered, bounds.declared);
    }
    let mut charge = budget.charge();
    let deadline = tokio::time::sleep_until(bounds.deadline);
    tokio::pin!(deadline);
    loop {
        let frame = tokio::select! {
            biased;
            frame = body.frame() => frame,
            () = &mut deadline => return Err(BodyError::TimedOut),
        };
        let data = match frame {
            None => break,
            Some(Err(_)) => return Err(BodyError::Client),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // Trailers: read so the body ends cleanly, never forwarded.
                Err(_) => continue,
            },
        };
        let n = data.len() as u64;
        if n == 0 {
            continue;
        }
        if buffered.len + n > bounds.max_bytes {
            return Err(BodyError::TooLarge);
        }
        let until = bounds.deadline.min(Instant::now() + limits::BUFFER_WAIT);
        if !budget.take_for_body(buffered.len, n, until).await {
            return Err(busy(bounds.deadline));
        }
        charge.add(n);
        buffered.len += n;
        if let Some(c) = counted {
            c.fetch_add(n, Ordering::Relaxed);
        }
        buffered.chunks.push(data);
    }
    buffered.charge = Some(charge);
    check_declared(buffered, bounds.declared)
}

/// A wait for room that ended at the body's own deadline is that deadline's answer.
fn busy(deadline: Instant) -> BodyError {
    if Instant::now() >= deadline {
        BodyError::TimedOut
    } else {
        BodyError::Busy
    }
}

/// HTTP/1.1 framing already holds a body to its `Content-Length`; an HTTP/2 stream that the
/// client reset with `NO_ERROR` ends early without an error, which this catches.
fn check_declared(buffered: Buffered, declared: Option<u64>) -> Result<Buffered, BodyError> {
    match declared {
        Some(n) if n != buffered.len => Err(BodyError::Client),
        _ => Ok(buffered),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::Full;

    use super::*;

    fn bounds(max: u64) -> ReadLimits {
        ReadLimits {
            max_bytes: max,
            deadline: Instant::now() + Duration::from_secs(30),
            declared: None,
        }
    }

    /// A body that yields these frames, each at once.
    struct Frames(std::collections::VecDeque<&'static [u8]>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
            let next = self.0.pop_front();
            std::task::Poll::Ready(next.map(|p| Ok(http_body::Frame::data(Bytes::from_static(p)))))
        }
    }

    fn frames(parts: Vec<&'static [u8]>) -> Frames {
        Frames(parts.into())
    }

    #[tokio::test]
    async fn a_body_is_read_whole_and_its_bytes_held_until_dropped() {
        let budget = BufferBudget::new(1024 * 1024);
        let mut body = frames(vec![b"{\"a\":", b"1}"]);
        let got = read(&mut body, bounds(100), &budget, None).await.unwrap();
        assert_eq!(got.len(), 7);
        assert_eq!(got.chunks().concat(), b"{\"a\":1}");
        assert_eq!(budget.in_use(), 7);
        drop(got);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large_and_gives_its_bytes_back() {
        let budget = BufferBudget::new(1024 * 1024);
        let mut body = frames(vec![b"12345", b"6789"]);
        let err = read(&mut body, bounds(8), &budget, None).await.unwrap_err();
        assert_eq!(err, BodyError::TooLarge);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_body_shorter_than_declared_is_refused() {
        let budget = BufferBudget::new(1024);
        let mut body = Full::new(Bytes::from_static(b"12345"));
        let mut l = bounds(100);
        l.declared = Some(6);
        assert_eq!(
            read(&mut body, l, &budget, None).await.unwrap_err(),
            BodyError::Client
        );
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn large_bytes_cannot_take_the_reserve_and_wait_then_503() {
        // 256 KiB budget: 192 KiB for bytes past each body's first 64 KiB.
        let budget = BufferBudget::new(256 * 1024);
        static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
        // One body holds 64 KiB small + 128 KiB large; a second one's large bytes find no room.
        let mut first = frames(vec![&CHUNK, &CHUNK, &CHUNK]);
        let first = read(&mut first, bounds(1 << 20), &budget, None)
            .await
            .unwrap();
        assert_eq!(budget.in_use(), 192 * 1024);
        let started = Instant::now();
        let mut second = frames(vec![&CHUNK, &CHUNK]);
        let err = read(&mut second, bounds(1 << 20), &budget, None)
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::Busy);
        assert_eq!(started.elapsed(), crate::limits::BUFFER_WAIT);
        // The second body's small bytes came from the reserve and were given back.
        assert_eq!(budget.in_use(), 192 * 1024);
        // A small body is still served from the reserve.
        let mut small = frames(vec![b"{\"amount\":1}"]);
        assert!(read(&mut small, bounds(1 << 20), &budget, None)
            .await
            .is_ok());
        drop(first);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_body_proceeds_when_room_is_freed() {
        let budget = BufferBudget::new(8);
        let mut first = frames(vec![b"12345678"]);
        let first = read(&mut first, bounds(8), &budget, None).await.unwrap();
        let b = budget.clone();
        let waiter = tokio::spawn(async move {
            let mut second = frames(vec![b"abcd"]);
            read(&mut second, bounds(8), &b, None)
                .await
                .map(|r| r.len())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(4));
    }
}
