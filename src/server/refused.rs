//! Requests the HTTP layer refuses before the pipeline sees one: hyper's HTTP/1.1 parser answers a
//! head it cannot parse (400) or that is too large (431, 414) itself, and HTTP/2 resets a
//! malformed stream (`PROTOCOL_ERROR`), refuses one over the concurrency limit (`REFUSED_STREAM`)
//! or ends the connection with an error (GOAWAY). Each still gets its audit record, with what is
//! known (the peer, the protocol, the reason; no method or path), and its count
//! (`blnk_gateway_protocol_refusals_total`, and `requests_total` when a status was sent).
//!
//! HTTP/1.1 refusals are read from the error hyper ends the connection with; HTTP/2 ones from the
//! frames the connection writes (`wire`), less the stream errors the pipeline gave and recorded
//! itself (`proxy::seen`).

use std::sync::Arc;

use http::uri::PathAndQuery;
use http::{Method, Version};

use crate::audit::{Decision, End, RequestHead};
use crate::conn::ConnInfo;
use crate::gateway::Gateway;
use crate::metrics::ProtocolRefusal;
use crate::proxy::seen::Seen;

/// HTTP/2 refusals written on a connection, counted by `wire` as the frames leave.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resets {
    pub(super) protocol_errors: u32,
    pub(super) refused: u32,
    pub(super) goaway_errors: u32,
}

impl Resets {
    pub(super) fn is_empty(&self) -> bool {
        *self == Resets::default()
    }
}

/// Records one connection's refusals.
pub(super) struct Refusals {
    gw: Arc<Gateway>,
    conn: Arc<ConnInfo>,
    seen: Arc<Seen>,
}

impl Refusals {
    pub(super) fn new(gw: Arc<Gateway>, conn: Arc<ConnInfo>, seen: Arc<Seen>) -> Self {
        Refusals { gw, conn, seen }
    }

    /// What the connection's bytes showed, shared with its requests.
    pub(super) fn seen(&self) -> &Seen {
        &self.seen
    }

    /// One refused request: its record and its count.
    pub(super) fn record(&self, version: Version, why: ProtocolRefusal) {
        let snap = self.gw.snapshot();
        let mode = snap.settings.mode;
        let request_id = self.gw.request_ids.generate();
        let target = PathAndQuery::from_static("/");
        let head = RequestHead {
            method: &Method::GET,
            version,
            target: &target,
            request_id: &request_id,
        };
        let mut entry = self.gw.audit.begin(&self.conn, mode, false, head);
        entry.unparsed();
        entry.answered(Decision::Refused(why.reason()));
        entry.finish(End::Complete);
        self.gw.metrics.refused_by_protocol(mode, why);
        tracing::debug!(peer = %self.conn.peer, reason = why.reason(), "refused by the HTTP layer");
    }

    /// The error an HTTP/1.1 connection ended with: the head hyper refused (and answered), if
    /// that is what it was.
    pub(super) fn connection_ended(&self, error: &(dyn std::error::Error + 'static)) {
        let Some(e) = error.downcast_ref::<hyper::Error>() else {
            return;
        };
        let why = if e.is_parse_too_large() {
            // hyper tells the two apart only in its message ("URI too long").
            match e.to_string().contains("URI") {
                true => ProtocolRefusal::UriTooLong,
                false => ProtocolRefusal::HeadTooLarge,
            }
        } else if e.is_parse() && !e.is_parse_version_h2() {
            ProtocolRefusal::Malformed
        } else {
            return;
        };
        self.record(Version::HTTP_11, why);
    }

    /// Resets and GOAWAYs an HTTP/2 connection wrote, less the pipeline's own stream errors.
    pub(super) fn h2_written(&self, resets: Resets) {
        for _ in 0..resets.protocol_errors {
            if !self.seen.take_own_reset() {
                self.record(Version::HTTP_2, ProtocolRefusal::StreamError);
            }
        }
        for _ in 0..resets.refused {
            self.record(Version::HTTP_2, ProtocolRefusal::StreamRefused);
        }
        for _ in 0..resets.goaway_errors {
            self.record(Version::HTTP_2, ProtocolRefusal::ConnectionError);
        }
    }
}
