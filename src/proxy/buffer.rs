//! Request bodies read whole before Blnk sees them, from one memory budget for the process.
//!
//! Blnk's handlers act on the first complete JSON object of a body without reading to its end.
//! A body streamed to Blnk could therefore move money and then be cut off, turn out malformed or
//! time out, and the client would be told that its request failed. So the gateway reads every
//! body completely (well framed, within `max_body_bytes` and `body_read_timeout`) before it opens
//! an upstream exchange; a body that fails gets the gateway's own answer (400, 408, 413, 503) and
//! Blnk sees nothing of the request. nginx does the same by default (`proxy_request_buffering`).
//!
//! Memory comes from one [`BufferBudget`] of `max_buffered_bytes`, charged as bytes arrive rather
//! than as declared, so a client that promises 5 MiB holds only what it has sent. Bytes past the
//! first `BUFFER_SMALL_BODY_BYTES` of a body may use only the budget less a reserved quarter, so
//! large uploads cannot take the room that ordinary ledger requests (a few hundred bytes) need. A
//! body that finds no room waits up to `BUFFER_WAIT`, then gets 503 with `Retry-After`.
//!
//! This module does not decide what a failed body's answer looks like (`error` does).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::body::BodyError;
use crate::limits::{self, BUFFER_SMALL_BODY_BYTES, BUFFER_SMALL_RESERVE_DIVISOR};

/// The bytes of request bodies held in memory across the process, and the ceiling on them.
#[derive(Debug)]
pub struct BufferBudget {
    used: AtomicU64,
    total: u64,
    /// What bytes past a body's first `BUFFER_SMALL_BODY_BYTES` may fill the budget to.
    large_ceiling: u64,
    waiters: AtomicUsize,
    freed: Notify,
}

impl BufferBudget {
    pub fn new(total: u64) -> Arc<Self> {
        Arc::new(BufferBudget {
            used: AtomicU64::new(0),
            total,
            large_ceiling: total - total / BUFFER_SMALL_RESERVE_DIVISOR,
            waiters: AtomicUsize::new(0),
            freed: Notify::new(),
        })
    }

    /// Bytes held now.
    pub fn in_use(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    fn try_take(&self, n: u64, ceiling: u64) -> bool {
        let mut current = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = current.checked_add(n).filter(|next| *next <= ceiling) else {
                return false;
            };
            match self.used.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Takes `n` bytes under `ceiling`, waiting for room until `until`.
    async fn take(&self, n: u64, ceiling: u64, until: Instant) -> bool {
        if self.try_take(n, ceiling) {
            return true;
        }
        self.waiters.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiters);
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release between the two is not missed.
            notified.as_mut().enable();
            if self.try_take(n, ceiling) {
                return true;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return false;
            }
        }
    }

    fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
        if self.waiters.load(Ordering::Acquire) > 0 {
            self.freed.notify_waiters();
        }
    }
}

struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes taken from the budget, given back when dropped.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<BufferBudget>,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.release(self.bytes);
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

    /// The frames and the charge, for the body that goes upstream.
    pub(super) fn into_parts(self) -> (Vec<Bytes>, u64, Option<Charge>) {
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
/// `limits`, charging every byte to `budget`; `counted` gets the bytes read, for the audit record.
/// On an error the body is left where it stopped, so the caller can drain an HTTP/2 stream.
pub async fn read<B>(
    body: &mut B,
    limits: ReadLimits,
    budget: &Arc<BufferBudget>,
    counted: Option<&AtomicU64>,
) -> Result<Buffered, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut buffered = Buffered::empty();
    if body.is_end_stream() {
        return check_declared(buffered, limits.declared);
    }
    let mut charge = Charge {
        budget: budget.clone(),
        bytes: 0,
    };
    let deadline = tokio::time::sleep_until(limits.deadline);
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
        if buffered.len + n > limits.max_bytes {
            return Err(BodyError::TooLarge);
        }
        take(budget, buffered.len, n, limits.deadline).await?;
        charge.bytes += n;
        buffered.len += n;
        if let Some(c) = counted {
            c.fetch_add(n, Ordering::Relaxed);
        }
        buffered.chunks.push(data);
    }
    buffered.charge = Some(charge);
    check_declared(buffered, limits.declared)
}

/// Takes room for `n` bytes that start at `offset` in their body: the part within the first
/// `BUFFER_SMALL_BODY_BYTES` against the whole budget, the rest against the large ceiling.
async fn take(
    budget: &BufferBudget,
    offset: u64,
    n: u64,
    deadline: Instant,
) -> Result<(), BodyError> {
    let until = deadline.min(Instant::now() + limits::BUFFER_WAIT);
    let small = n.min(BUFFER_SMALL_BODY_BYTES.saturating_sub(offset));
    if small > 0 && !budget.take(small, budget.total, until).await {
        return Err(busy(deadline));
    }
    let large = n - small;
    if large > 0 && !budget.take(large, budget.large_ceiling, until).await {
        budget.release(small);
        return Err(busy(deadline));
    }
    Ok(())
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

    fn limits(max: u64) -> ReadLimits {
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
        let got = read(&mut body, limits(100), &budget, None).await.unwrap();
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
        let err = read(&mut body, limits(8), &budget, None).await.unwrap_err();
        assert_eq!(err, BodyError::TooLarge);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_body_shorter_than_declared_is_refused() {
        let budget = BufferBudget::new(1024);
        let mut body = Full::new(Bytes::from_static(b"12345"));
        let mut l = limits(100);
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
        let first = read(&mut first, limits(1 << 20), &budget, None)
            .await
            .unwrap();
        assert_eq!(budget.in_use(), 192 * 1024);
        let started = Instant::now();
        let mut second = frames(vec![&CHUNK, &CHUNK]);
        let err = read(&mut second, limits(1 << 20), &budget, None)
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::Busy);
        assert_eq!(started.elapsed(), limits::BUFFER_WAIT);
        // The second body's small bytes came from the reserve and were given back.
        assert_eq!(budget.in_use(), 192 * 1024);
        // A small body is still served from the reserve.
        let mut small = frames(vec![b"{\"amount\":1}"]);
        assert!(read(&mut small, limits(1 << 20), &budget, None)
            .await
            .is_ok());
        drop(first);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_body_proceeds_when_room_is_freed() {
        let budget = BufferBudget::new(8);
        let mut first = frames(vec![b"12345678"]);
        let first = read(&mut first, limits(8), &budget, None).await.unwrap();
        let b = budget.clone();
        let waiter = tokio::spawn(async move {
            let mut second = frames(vec![b"abcd"]);
            read(&mut second, limits(8), &b, None)
                .await
                .map(|r| r.len())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(first);
        assert_eq!(waiter.await.unwrap(), Ok(4));
    }
}
