//! What the gateway knows about one client connection, and the connection's deadlines.
//!
//! [`Watched`] wraps the connection's I/O and enforces two deadlines without a task or a timer
//! per request: a request head must arrive within `header_read_timeout` of its first byte, and a
//! connection that makes no progress (reads nothing, can write nothing) for `idle_timeout` is
//! closed. hyper's own HTTP/1 header timer cannot do this, because it also runs while a keep-alive
//! connection is idle, so it would cut idle connections at the header deadline. The deadlines are
//! checked only when the I/O would otherwise wait, so a busy connection pays one clock read per
//! read or write.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Facts about the TLS session, when there is one.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    pub version: &'static str,
    pub alpn_h2: bool,
    /// SHA-256 of the client certificate (DER), hex, when one was presented.
    pub client_cert_sha256: Option<String>,
}

/// One client connection, shared by its requests.
#[derive(Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: Option<TlsInfo>,
    pub clock: Arc<ConnClock>,
}

impl ConnInfo {
    pub fn peer_trusted(&self, trusted: &[IpNet]) -> bool {
        let ip = crate::proxy::auth::canonical(self.peer.ip());
        trusted.iter().any(|n| n.contains(&ip))
    }
}

/// Counts requests in flight on a connection; read by [`Watched`] to pick its deadline.
#[derive(Debug, Default)]
pub struct ConnClock {
    in_flight: AtomicU32,
    /// Bumped each time a request head has been fully received.
    heads: AtomicU64,
}

impl ConnClock {
    /// Called when hyper hands a complete request head to the service.
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.heads.fetch_add(1, Ordering::Relaxed);
    }

    /// Called when the response body ended or was dropped.
    pub fn request_finished(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }
}

pin_project_lite::pin_project! {
    /// Connection I/O with the header and idle deadlines.
    #[project = WatchedProj]
    pub struct Watched<IO> {
        #[pin]
        io: IO,
        clock: Arc<ConnClock>,
        header_timeout: Duration,
        idle_timeout: Duration,
        track_head: bool,
        last_active: Instant,
        // When the current head's first byte arrived, and the head count at that time.
        head_started: Option<(Instant, u64)>,
        sleep: Pin<Box<Sleep>>,
        armed_for: Instant,
    }
}

impl<IO> Watched<IO> {
    /// `track_head` is false for HTTP/2, whose frames are not request heads.
    pub fn new(
        io: IO,
        clock: Arc<ConnClock>,
        header_timeout: Duration,
        idle_timeout: Duration,
        track_head: bool,
    ) -> Self {
        let now = Instant::now();
        let first = now + header_timeout.min(idle_timeout);
        Watched {
            io,
            clock,
            header_timeout,
            idle_timeout,
            track_head,
            last_active: now,
            // Nothing has arrived yet: a new connection gets the header deadline from accept.
            head_started: Some((now, 0)),
            sleep: Box::pin(tokio::time::sleep_until(first)),
            armed_for: first,
        }
    }
}

impl<IO> WatchedProj<'_, IO> {
    fn deadline(&self) -> Instant {
        let idle = *self.last_active + *self.idle_timeout;
        match *self.head_started {
            Some((started, heads))
                if heads == self.clock.heads.load(Ordering::Relaxed) && self.clock.idle() =>
            {
                idle.min(started + *self.header_timeout)
            }
            _ => idle,
        }
    }

    /// Called when the I/O would wait: arms the timer for the current deadline and polls it.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let deadline = self.deadline();
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
        let before = buf.filled().len();
        match this.io.as_mut().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let now = Instant::now();
                    *this.last_active = now;
                    let heads = this.clock.heads.load(Ordering::Relaxed);
                    let in_head = matches!(this.head_started, Some((_, h)) if *h == heads);
                    if !*this.track_head {
                        // HTTP/2: once the client speaks, only idleness counts.
                        *this.head_started = None;
                    } else if this.clock.idle() && !in_head {
                        *this.head_started = Some((now, heads));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx),
        }
    }
}

impl<IO: AsyncWrite> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut this = self.project();
        match this.io.as_mut().poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                *this.last_active = Instant::now();
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
                *this.last_active = Instant::now();
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
        self.project().io.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    fn pair(
        track_head: bool,
    ) -> (
        Watched<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        Arc<ConnClock>,
    ) {
        let (server, client) = tokio::io::duplex(1024);
        let clock = Arc::new(ConnClock::default());
        (
            Watched::new(server, clock.clone(), HEADER, IDLE, track_head),
            client,
            clock,
        )
    }

    async fn read_err_after(w: &mut Watched<tokio::io::DuplexStream>) -> (Duration, io::ErrorKind) {
        let start = Instant::now();
        let mut buf = [0u8; 64];
        loop {
            match w.read(&mut buf).await {
                Ok(_) => continue,
                Err(e) => return (start.elapsed(), e.kind()),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_partial_head_is_cut_at_the_header_deadline() {
        let (mut w, mut client, _clock) = pair(true);
        client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        let (elapsed, kind) = read_err_after(&mut w).await;
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert_eq!(elapsed, HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_lasts_until_the_idle_deadline() {
        let (mut w, mut client, clock) = pair(true);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        assert!(w.read(&mut buf).await.unwrap() > 0);
        // The head is complete; the request runs and finishes.
        clock.request_started();
        w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        clock.request_finished();
        // Now idle: the header deadline does not apply, the idle one does.
        let (elapsed, kind) = read_err_after(&mut w).await;
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert_eq!(elapsed, IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_not_cut_by_the_header_deadline() {
        let (mut w, mut client, clock) = pair(true);
        client
            .write_all(b"POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        assert!(w.read(&mut buf).await.unwrap() > 0);
        clock.request_started();
        // The body trickles in well past the header deadline: only idleness counts now.
        for _ in 0..5 {
            tokio::time::advance(Duration::from_secs(20)).await;
            client.write_all(b"x").await.unwrap();
            assert_eq!(w.read(&mut buf).await.unwrap(), 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_that_sends_nothing_is_closed_at_the_header_deadline() {
        let (mut w, _client, _clock) = pair(true);
        let (elapsed, kind) = read_err_after(&mut w).await;
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert_eq!(elapsed, HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn http2_connections_only_have_the_idle_deadline() {
        let (mut w, mut client, _clock) = pair(false);
        client.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        let (elapsed, kind) = read_err_after(&mut w).await;
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert_eq!(elapsed, IDLE);
    }
}
