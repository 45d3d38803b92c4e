//! [`ResponseBody`], what the client receives: Blnk's streamed body or a local answer. When it
//! ends or is dropped, the connection learns the request is finished (see `conn::ConnClock`) and
//! the request's audit entry is closed with the bytes sent and how the body ended. Request
//! bodies are `body`'s.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::audit::{End, Entry};
use crate::conn::ConnClock;
use crate::upstream::UpstreamBody;

pin_project_lite::pin_project! {
    /// What the client receives. Tells the connection when the exchange is over.
    pub struct ResponseBody {
        #[pin]
        kind: Kind,
        done: Option<Arc<ConnClock>>,
        audit: Entry,
        delivered: Option<Delivered>,
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
            if let (End::Complete, Some(f)) = (end, this.delivered.take()) {
                f();
            }
        }
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind {
        // `prefix`: bytes already read off `body` (to keep the answer for replays), sent first.
        Upstream { prefix: Option<Bytes>, #[pin] body: UpstreamBody },
        Local { data: Option<Bytes> },
    }
}

impl Kind {
    fn ended(&self) -> bool {
        match self {
            Kind::Upstream { prefix, body } => prefix.is_none() && body.is_end_stream(),
            Kind::Local { data } => data.is_none(),
        }
    }
}

/// What to do once the whole body has been handed to the connection (the client has its answer).
pub type Delivered = Box<dyn FnOnce() + Send + Sync>;

impl ResponseBody {
    pub fn upstream(body: UpstreamBody, clock: Arc<ConnClock>) -> Self {
        ResponseBody {
            kind: Kind::Upstream { prefix: None, body },
            done: Some(clock),
            audit: Entry::disabled(),
            delivered: None,
        }
    }

    /// Blnk's body, of which `prefix` was already read.
    pub fn prefixed(prefix: Bytes, body: UpstreamBody, clock: Arc<ConnClock>) -> Self {
        ResponseBody {
            kind: Kind::Upstream {
                prefix: Some(prefix).filter(|p| !p.is_empty()),
                body,
            },
            done: Some(clock),
            audit: Entry::disabled(),
            delivered: None,
        }
    }

    pub fn local(data: Bytes, clock: Arc<ConnClock>) -> Self {
        ResponseBody {
            kind: Kind::Local {
                data: Some(data).filter(|d| !d.is_empty()),
            },
            done: Some(clock),
            audit: Entry::disabled(),
            delivered: None,
        }
    }

    /// The body carrying the request's audit entry, which it closes when it ends or is dropped.
    pub fn audited(mut self, entry: Entry) -> Self {
        self.audit = entry;
        self
    }

    /// Runs `f` once the body has ended whole, not when the client goes away first.
    pub fn on_delivered(mut self, f: Delivered) -> Self {
        self.delivered = Some(f);
        self
    }

    fn finish(self: Pin<&mut Self>, end: End) {
        let this = self.project();
        this.audit.finish(end);
        if let Some(clock) = this.done.take() {
            clock.request_finished();
        }
        if let (End::Complete, Some(f)) = (end, this.delivered.take()) {
            f();
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
            KindProj::Upstream { prefix, body } => match prefix.take() {
                Some(p) => Some(Ok(Frame::data(p))),
                None => ready!(body.poll_frame(cx)),
            },
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
            Kind::Upstream { prefix, body } => {
                let rest = body.size_hint();
                let n = prefix.as_ref().map_or(0, |p| p.len() as u64);
                // Upper first: SizeHint refuses a lower bound above its upper one.
                let mut hint = SizeHint::new();
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(n));
                }
                hint.set_lower(rest.lower().saturating_add(n));
                hint
            }
            Kind::Local { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::uri::PathAndQuery;
    use http::{HeaderValue, Method, Version};
    use serde_json::Value;

    use super::*;
    use crate::audit::chain::Chain;
    use crate::audit::{Audit, Decision, RequestHead, RequestRecord};
    use crate::conn::{ConnClock, ConnInfo};
    use crate::mode::Mode;

    fn entry(audit: &Audit, id: &'static str) -> Entry {
        let target = PathAndQuery::from_static("/transactions");
        let id = HeaderValue::from_static(id);
        let head = RequestHead {
            method: &Method::POST,
            version: Version::HTTP_11,
            target: &target,
            request_id: &id,
        };
        let conn = Arc::new(ConnInfo::new(
            "10.1.2.3:4567".parse().unwrap(),
            None,
            Arc::default(),
        ));
        audit.begin(&conn, Mode::Verify, false, head)
    }

    fn json(record: &RequestRecord) -> Value {
        let mut buf = Vec::new();
        record.frame(&mut Chain::genesis(), &mut buf).unwrap();
        serde_json::from_slice(&buf).unwrap()
    }

    #[tokio::test]
    async fn the_response_body_closes_the_entry_with_how_it_ended() {
        use http_body_util::BodyExt;

        let (audit, mut records) = Audit::detached(8);
        let clock = Arc::new(ConnClock::default());
        let body = |id| {
            let mut e = entry(&audit, id);
            e.answered(Decision::Forwarded { status: 200 });
            ResponseBody::local(bytes::Bytes::from_static(b"hello"), clock.clone()).audited(e)
        };
        // Dropped before it was sent: the client went away mid-response.
        drop(body("dropped"));
        let r = json(&records.recv().await.unwrap());
        assert_eq!(
            (&r["end"], &r["bytes_out"]),
            (&Value::from("client_gone"), &Value::from(0))
        );
        // Sent to the end.
        let sent = body("sent").collect().await.unwrap().to_bytes();
        assert_eq!(&sent[..], b"hello");
        let r = json(&records.recv().await.unwrap());
        assert_eq!(
            (&r["end"], &r["bytes_out"], &r["upstream_status"]),
            (&Value::from("complete"), &Value::from(5), &Value::from(200))
        );
        assert!(records.try_recv().is_err());
    }
}
