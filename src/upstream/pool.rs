//! The pool itself: idle connections, checkout and checkin, the cap on open connections, and
//! the response body that gives its connection back when read to the end.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::dial::dial;
use crate::body::RequestBody;
use crate::error::Reject;
use crate::limits::{self, UpstreamDeadlines as Deadlines};

pub type UpstreamRequest = http::Request<RequestBody>;
pub type UpstreamResponse = http::Response<UpstreamBody>;

#[derive(Debug)]
pub(super) struct Pool {
    /// Newest last.
    idle: Mutex<Vec<Idle>>,
    max_idle: usize,
    idle_timeout: Duration,
    /// One per open connection, held by the connection's task.
    permits: Arc<Semaphore>,
    /// Woken when a connection comes back to the pool.
    returned: Notify,
    /// Whether the task that closes expired idle connections has been started.
    reaper: AtomicBool,
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<RequestBody>,
    authority: Authority,
    since: Instant,
}

impl Pool {
    pub(super) fn new(max_connections: usize) -> Arc<Pool> {
        Arc::new(Pool {
            idle: Mutex::new(Vec::new()),
            max_idle: limits::UPSTREAM_POOL_MAX_IDLE,
            idle_timeout: limits::UPSTREAM_POOL_IDLE_TIMEOUT,
            permits: Arc::new(Semaphore::new(max_connections)),
            returned: Notify::new(),
            reaper: AtomicBool::new(false),
        })
    }

    pub(super) fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }

    pub(super) fn idle_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn send(
        pool: &Arc<Pool>,
        mut req: UpstreamRequest,
        deadlines: Deadlines,
    ) -> Result<UpstreamResponse, Reject> {
        let authority = req
            .uri()
            .authority()
            .cloned()
            .ok_or(Reject::UpstreamBroken)?;
        // On the wire in origin form; Host is set by the caller.
        let target = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *req.uri_mut() = http::Uri::from(target);
        loop {
            let (mut sender, pooled) = pool.sender(&authority, deadlines.connect).await?;
            let sent = tokio::time::timeout(deadlines.response, sender.try_send_request(req));
            match sent.await.map_err(|_| Reject::UpstreamTimeout)? {
                Ok(res) => {
                    let (parts, inner) = res.into_parts();
                    let body = UpstreamBody {
                        inner,
                        checkin: Some(Checkin {
                            pool: Arc::downgrade(pool),
                            sender,
                            authority,
                        }),
                    };
                    return Ok(http::Response::from_parts(parts, body));
                }
                Err(mut e) => match e.take_message() {
                    // Not a byte was written: Blnk has not seen it. Try the next connection.
                    Some(unsent) if pooled => req = unsent,
                    _ => return Err(classify(&e.into_error())),
                },
            }
        }
    }

    /// A connection ready for a request: an idle one, else a new one if the cap allows, else
    /// the first to come back or make room, waiting at most `wait`. True when it was pooled.
    async fn sender(
        self: &Arc<Self>,
        authority: &Authority,
        wait: Duration,
    ) -> Result<(SendRequest<RequestBody>, bool), Reject> {
        let until = Instant::now() + wait;
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            if let Some(sender) = self.checkout(authority) {
                return Ok((sender, true));
            }
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                let mut fresh = self.connect(authority, permit, until).await?;
                if fresh.ready().await.is_err() {
                    return Err(Reject::UpstreamUnavailable);
                }
                return Ok((fresh, false));
            }
            let room = self.permits.clone().acquire_owned();
            tokio::select! {
                () = &mut returned => {}
                permit = room => {
                    let permit = permit.map_err(|_| Reject::UpstreamUnavailable)?;
                    let mut fresh = self.connect(authority, permit, until).await?;
                    if fresh.ready().await.is_err() {
                        return Err(Reject::UpstreamUnavailable);
                    }
                    return Ok((fresh, false));
                }
                () = tokio::time::sleep_until(until) => {
                    tracing::warn!(upstream = %authority, "every connection to Blnk is in use (gateway.limits.upstream_max_connections)");
                    return Err(Reject::UpstreamSaturated);
                }
            }
        }
    }

    /// The newest idle connection to `authority` that can take a request now. Closed and expired
    /// ones are dropped on the way. One that is open but not ready stays: a connection comes back
    /// when its response has been read, which can be before hyper has finished writing the
    /// request (Blnk answered a slow upload early), and no request waits for a stranger's upload.
    fn checkout(&self, authority: &Authority) -> Option<SendRequest<RequestBody>> {
        let now = Instant::now();
        let mut idle = self.lock();
        // Newest first; usually the last entry is taken and nothing else is looked at.
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            let c = &idle[i];
            if c.sender.is_closed() || now.duration_since(c.since) >= self.idle_timeout {
                idle.remove(i);
            } else if c.sender.is_ready() && c.authority == *authority {
                return Some(idle.remove(i).sender);
            }
        }
        None
    }

    fn checkin(&self, sender: SendRequest<RequestBody>, authority: Authority) {
        if sender.is_closed() {
            return;
        }
        {
            let mut idle = self.lock();
            if idle.len() >= self.max_idle {
                return;
            }
            idle.push(Idle {
                sender,
                authority,
                since: Instant::now(),
            });
        }
        self.returned.notify_one();
    }

    /// Opens a connection holding `permit` until its task ends, connecting before `until`.
    async fn connect(
        self: &Arc<Self>,
        authority: &Authority,
        permit: OwnedSemaphorePermit,
        until: Instant,
    ) -> Result<SendRequest<RequestBody>, Reject> {
        let budget = until.saturating_duration_since(Instant::now());
        let stream = match tokio::time::timeout(budget, dial(authority, budget)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, upstream = %authority, "upstream connection failed");
                return Err(Reject::UpstreamUnavailable);
            }
            Err(_) => {
                tracing::warn!(upstream = %authority, "upstream connection timed out");
                return Err(Reject::UpstreamUnavailable);
            }
        };
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| {
            tracing::warn!(error = %e, upstream = %authority, "upstream handshake failed");
            Reject::UpstreamUnavailable
        })?;
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
            drop(permit);
            // Room for a new connection: wake a request waiting for one.
            if let Some(pool) = pool.upgrade() {
                pool.returned.notify_one();
            }
        });
        self.start_reaper();
        Ok(sender)
    }

    /// Starts, once, the task that closes idle connections past the idle timeout even when no
    /// request comes to find them. It ends when the pool is dropped.
    fn start_reaper(self: &Arc<Self>) {
        if self.reaper.swap(true, Ordering::Relaxed) {
            return;
        }
        let pool = Arc::downgrade(self);
        let every = self.idle_timeout / 2;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(Instant::now() + every, every);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                let expired: Vec<Idle> = {
                    let mut idle = pool.lock();
                    let (keep, expired) = std::mem::take(&mut *idle).into_iter().partition(|c| {
                        !c.sender.is_closed() && c.since.elapsed() < pool.idle_timeout
                    });
                    *idle = keep;
                    expired
                };
                drop(expired);
            }
        });
    }
}

/// Maps a send error to the answer. The request body was read whole before the exchange began,
/// so every failure here is Blnk's side of the exchange.
fn classify(e: &hyper::Error) -> Reject {
    tracing::warn!(error = %e, "upstream exchange failed");
    Reject::UpstreamBroken
}

/// A connection on its way back to the pool.
#[derive(Debug)]
struct Checkin {
    pool: Weak<Pool>,
    sender: SendRequest<RequestBody>,
    authority: Authority,
}

impl Checkin {
    fn give_back(self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.checkin(self.sender, self.authority);
        }
    }
}

pin_project_lite::pin_project! {
    /// Blnk's response body. Read to its end, it returns the connection to the pool; dropped
    /// before that, the connection is closed (hyper cannot reuse it).
    #[derive(Debug)]
    pub struct UpstreamBody {
        #[pin]
        inner: Incoming,
        checkin: Option<Checkin>,
    }

    impl PinnedDrop for UpstreamBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // hyper drops a body it knows has ended without polling it again.
            if this.inner.is_end_stream() {
                if let Some(c) = this.checkin.take() {
                    c.give_back();
                }
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            if let Some(c) = this.checkin.take() {
                c.give_back();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
