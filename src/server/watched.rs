//! A client connection's deadlines, and its lingering close.
//!
//! [`Watched`] wraps the connection's I/O and enforces two deadlines without a task or a timer
//! per request: a request head must arrive within `header_read_timeout` of its first byte, and a
//! connection that makes no progress (reads nothing, can write nothing) for `idle_timeout` is
//! closed. hyper's own HTTP/1 header timer cannot do this, because it also runs while a keep-alive
//! connection is idle, so it would cut idle connections at the header deadline. The deadlines are
//! checked only when the I/O would otherwise wait, so a busy connection pays one clock read per
//! read or write.
//!
//! When the gateway closes an HTTP/1.1 connection while the client may still be sending (an early
//! answer to an upload, a refused request), closing at once would reset the connection and the
//! client could lose the answer before reading it. So `poll_shutdown` first ends the write side,
//! then lingers: it reads and discards what the client still sends until the client closes, goes
//! quiet for `LINGER_QUIET`, or `LINGER_TIME` or `LINGER_MAX_BYTES` is reached (nginx's
//! `lingering_close`). A TLS peer that closes without `close_notify` reads as a plain end of
//! stream: HTTP's own framing already tells a complete request from a cut one.
//!
//! On HTTP/2 (recognised by its preface, whatever ALPN said) only requests and responses are
//! progress: HEADERS, CONTINUATION and DATA frames, followed in both directions by their 9-byte
//! frame headers. PING, SETTINGS and WINDOW_UPDATE are not, so a client that keeps a connection
//! "busy" with them while it never opens its flow-control window, or never sends a request, is
//! still closed at the idle deadline; and a request head (a HEADERS frame and its CONTINUATIONs)
//! started on an idle connection must arrive within the header deadline, as on HTTP/1.1.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::refused::Refusals;
use super::wire::Wire;
use crate::conn::ConnClock;
use crate::limits;

pin_project_lite::pin_project! {
    /// Connection I/O with the header and idle deadlines.
    #[project = WatchedProj]
    pub struct Watched<IO> {
        #[pin]
        io: IO,
        clock: Arc<ConnClock>,
        header_timeout: Duration,
        idle_timeout: Duration,
        wire: Wire,
        last_active: Instant,
        // When the current head's first byte arrived, and the head count at that time.
        head_started: Option<(Instant, u64)>,
        sleep: Pin<Box<Sleep>>,
        armed_for: Instant,
        // The client closed its sending side.
        read_eof: bool,
        // The gateway's sending side is closed, and when lingering began, with the bytes read.
        write_shut: bool,
        linger: Option<Linger>,
        // Where the requests HTTP/2 refuses on the way out are recorded (client connections).
        refusals: Option<Arc<Refusals>>,
        // The stream was cut (see `h1`): every read from now on fails.
        cut: bool,
    }
}

/// Lingering after the gateway closed its side: since when, the last byte, the bytes read.
#[derive(Debug, Clone, Copy)]
struct Linger {
    started: Instant,
    last: Instant,
    read: u64,
}

impl<IO> Watched<IO> {
    pub fn new(
        io: IO,
        clock: Arc<ConnClock>,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        let now = Instant::now();
        let first = now + header_timeout.min(idle_timeout);
        Watched {
            io,
            clock,
            header_timeout,
            idle_timeout,
            wire: Wire::Sniff(0),
            last_active: now,
            // Nothing has arrived yet: a new connection gets the header deadline from accept.
            head_started: Some((now, 0)),
            sleep: Box::pin(tokio::time::sleep_until(first)),
            armed_for: first,
            read_eof: false,
            write_shut: false,
            linger: None,
            refusals: None,
            cut: false,
        }
    }

    /// Records the requests this connection refuses as its frames leave (see `refused`).
    pub(super) fn with_refusals(mut self, refusals: Arc<Refusals>) -> Self {
        self.refusals = Some(refusals);
        self
    }
}

impl<IO> WatchedProj<'_, IO> {
    /// After a write: the refusals it carried, recorded.
    fn note_refusals(&mut self) {
        let resets = self.wire.take_resets();
        if let (false, Some(refusals)) = (resets.is_empty(), &self.refusals) {
            refusals.h2_written(resets);
        }
    }

    fn deadline(&self) -> Instant {
        let idle = *self.last_active + *self.idle_timeout;
        match *self.head_started {
            Some((started, heads)) if heads == self.clock.heads() && self.clock.idle() => {
                idle.min(started + *self.header_timeout)
            }
            _ => idle,
        }
    }

    /// Called when the I/O would wait: arms the timer for the current deadline and polls it.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let deadline = self.deadline();
        self.poll_until(cx, deadline)
    }

    /// Reads and discards what the client still sends, until it closes or a bound is reached
    /// (see the module docs). Never an error: the connection is over either way.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        IO: AsyncRead,
    {
        let now = Instant::now();
        let mut linger = self.linger.unwrap_or(Linger {
            started: now,
            last: now,
            read: 0,
        });
        let mut scratch = [0u8; 4096];
        let mut reads = 0;
        let waiting = loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match self.io.as_mut().poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    linger.read += buf.filled().len() as u64;
                    linger.last = Instant::now();
                    if linger.read >= limits::LINGER_MAX_BYTES {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => break true,
            }
            reads += 1;
            if reads == limits::LINGER_READS_PER_POLL {
                // A fast sender: let other connections run, then come back.
                cx.waker().wake_by_ref();
                break false;
            }
        };
        *self.linger = Some(linger);
        if !waiting {
            return Poll::Pending;
        }
        let deadline =
            (linger.last + limits::LINGER_QUIET).min(linger.started + limits::LINGER_TIME);
        match self.poll_until(cx, deadline) {
            Poll::Ready(_) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_until(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<io::Result<()>> {
        if deadline != *self.armed_for {
            self.sleep.as_mut().reset(deadline);
            *self.armed_for = deadline;
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection deadline",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncRead> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        if *this.cut {
            return Poll::Ready(Err(cut_error()));
        }
        let before = buf.filled().len();
        match this.io.as_mut().poll_read(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                *this.read_eof = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if new.is_empty() && buf.remaining() > 0 {
                    *this.read_eof = true;
                }
                let mut cut = None;
                if !new.is_empty() {
                    let seen = this.wire.read(new);
                    let facts = this.refusals.as_deref().map(Refusals::seen);
                    cut = this.wire.follow(new, facts);
                    let now = Instant::now();
                    if seen.progress {
                        *this.last_active = now;
                    }
                    let heads = this.clock.heads();
                    let in_head = matches!(this.head_started, Some((_, h)) if *h == heads);
                    if seen.head_begun && this.clock.idle() && !in_head {
                        *this.head_started = Some((now, heads));
                    }
                }
                if let Some(at) = cut {
                    // What came before the cut is delivered; the next read fails.
                    *this.cut = true;
                    buf.set_filled(before + at);
                    if at == 0 {
                        return Poll::Ready(Err(cut_error()));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut this = self.project();
        match this.io.as_mut().poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if this.wire.write(&data[..n.min(data.len())]) {
                    *this.last_active = Instant::now();
                }
                this.note_refusals();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx).map_ok(|()| 0),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut this = self.project();
        match this.io.as_mut().poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                let mut left = n;
                let mut progress = false;
                for b in bufs {
                    let take = left.min(b.len());
                    progress |= this.wire.write(&b[..take]);
                    left -= take;
                    if left == 0 {
                        break;
                    }
                }
                if progress {
                    *this.last_active = Instant::now();
                }
                this.note_refusals();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx).map_ok(|()| 0),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        match this.io.as_mut().poll_flush(cx) {
            Poll::Pending => this.poll_deadline(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        if !*this.write_shut {
            ready!(this.io.as_mut().poll_shutdown(cx))?;
            *this.write_shut = true;
        }
        if *this.read_eof || !matches!(this.wire, Wire::Http1(_)) {
            return Poll::Ready(Ok(()));
        }
        this.poll_linger(cx)
    }
}

/// A read after the stream was cut: hyper reports the request body broken off.
fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "chunk size larger than any body (over 2^63 - 1)",
    )
}

#[cfg(test)]
mod tests;
