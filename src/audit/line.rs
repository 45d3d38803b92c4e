//! One audit record as data ([`RequestRecord`]) and the JSON line it becomes, and the other kinds
//! of line (genesis, continue, gap). What fills a record in is `entry`; the fields and their
//! meaning are documented in docs/audit.md.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Version};
use serde::{Serialize, Serializer};

use super::chain::{Chain, FrameError};
use super::json::Fields;
use crate::conn::ConnInfo;
use crate::error::Reject;
use crate::limits::AUDIT_MAX_PATH_BYTES;
use crate::mode::Mode;
use crate::route::Resource;
use crate::secret::Fingerprint;

/// What the gateway did with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No answer was given: the client went away first.
    Abandoned,
    /// Blnk's answer, with its status, was passed on.
    Forwarded { status: u16 },
    /// The gateway answered on its own.
    Rejected(Reject),
    /// The HTTP layer refused it before the gateway's checks saw a request (hyper's parser, an
    /// HTTP/2 stream or connection error): the reason (`metrics::ProtocolRefusal::reason`).
    Refused(&'static str),
}

/// How the response body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Complete,
    /// A money-moving request's record, written and synced before its answer left: what happened
    /// to the answer on the wire after that is not recorded.
    Answered,
    /// The exchange was dropped before the response was complete.
    ClientGone,
    /// Blnk's response body broke off.
    UpstreamError,
}

/// The request line facts an entry starts from.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a Method,
    pub version: Version,
    /// The origin-form target, as forwarded.
    pub target: &'a PathAndQuery,
    pub request_id: &'a HeaderValue,
}

/// A finished (or finishing) record of one request.
#[derive(Debug)]
pub struct RequestRecord {
    pub(super) time: SystemTime,
    pub(super) latency: Duration,
    pub(super) conn: Arc<ConnInfo>,
    pub(super) key_fingerprint: Option<Fingerprint>,
    pub(super) client_id: Option<String>,
    pub(super) mode: Mode,
    pub(super) version: Version,
    pub(super) text: Texts,
    pub(super) path_truncated: bool,
    /// Blnk's scope resource of the normalised path; `unknown` when refused before it.
    pub(super) resource: Resource,
    /// What the idempotency store said, when the request had a key or a reference.
    pub(super) idempotency: Option<&'static str>,
    pub(super) decision: Decision,
    pub(super) sent_upstream: bool,
    pub(super) end: End,
    pub(super) bytes_in: u64,
    pub(super) bytes_out: u64,
}

/// The request id, method, path and (if kept) query in one allocation.
#[derive(Debug)]
pub(super) struct Texts {
    buf: String,
    id_end: usize,
    method_end: usize,
    path_end: usize,
    has_query: bool,
}

impl Texts {
    pub(super) fn new(head: &RequestHead<'_>, include_query: bool) -> (Texts, bool) {
        let id = head.request_id.to_str().unwrap_or("");
        let method = head.method.as_str();
        let (path, cut_path) = capped(head.target.path());
        let query = head.target.query().filter(|_| include_query).map(capped);
        let query_len = query.map_or(0, |(q, _)| q.len());
        let mut buf = String::with_capacity(id.len() + method.len() + path.len() + query_len);
        buf.push_str(id);
        let id_end = buf.len();
        buf.push_str(method);
        let method_end = buf.len();
        buf.push_str(path);
        let path_end = buf.len();
        if let Some((q, _)) = query {
            buf.push_str(q);
        }
        let cut = cut_path || query.is_some_and(|(_, cut)| cut);
        let texts = Texts {
            buf,
            id_end,
            method_end,
            path_end,
            has_query: query.is_some(),
        };
        (texts, cut)
    }

    /// Only the request id: the request could not be read, so it has no method or path.
    pub(super) fn id_only(&self) -> Texts {
        let id = self.request_id();
        Texts {
            buf: id.to_owned(),
            id_end: id.len(),
            method_end: id.len(),
            path_end: id.len(),
            has_query: false,
        }
    }

    fn request_id(&self) -> &str {
        self.buf.get(..self.id_end).unwrap_or("")
    }

    fn method(&self) -> &str {
        self.buf.get(self.id_end..self.method_end).unwrap_or("")
    }

    fn path(&self) -> &str {
        self.buf.get(self.method_end..self.path_end).unwrap_or("")
    }

    fn query(&self) -> Option<&str> {
        self.has_query
            .then(|| self.buf.get(self.path_end..).unwrap_or(""))
    }
}

/// `s` cut to at most `AUDIT_MAX_PATH_BYTES` on a character boundary, and whether it was cut.
fn capped(s: &str) -> (&str, bool) {
    if s.len() <= AUDIT_MAX_PATH_BYTES {
        return (s, false);
    }
    let mut end = AUDIT_MAX_PATH_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

impl RequestRecord {
    /// Appends this record's line to `buf`, linked into `chain`.
    pub fn frame(&self, chain: &mut Chain, buf: &mut Vec<u8>) -> Result<(), FrameError> {
        let view = self.view();
        chain.append_fields(buf, |out| view.write_fields(out));
        Ok(())
    }

    fn view(&self) -> RequestView<'_> {
        let tls = self.conn.tls.as_ref();
        let (decision, reason, upstream_status) = match self.decision {
            Decision::Abandoned => ("abandoned", Some("CLIENT_GONE"), None),
            Decision::Forwarded { status } => ("forwarded", None, Some(status)),
            Decision::Rejected(r) => ("rejected", Some(r.reason()), None),
            Decision::Refused(reason) => ("rejected", Some(reason), None),
        };
        RequestView {
            time: Rfc3339(self.time),
            request_id: self.text.request_id(),
            peer: &self.conn.peer_text,
            tls_version: tls.map(|t| t.version),
            client_cert_sha256: tls.and_then(|t| t.client_cert.as_ref().map(|c| c.hex())),
            key_fingerprint: self.key_fingerprint.as_ref().map(Fingerprint::as_str),
            client_id: self.client_id.as_deref(),
            mode: match self.mode {
                Mode::Verify => "verify",
                Mode::Inject => "inject",
            },
            http: version_name(self.version),
            method: self.text.method(),
            path: self.text.path(),
            path_truncated: self.path_truncated,
            query: self.text.query(),
            resource: self.resource.as_str(),
            idempotency: self.idempotency,
            decision,
            reason,
            sent_upstream: self.sent_upstream,
            upstream_status,
            end: match self.end {
                End::Complete => "complete",
                End::Answered => "answered",
                End::ClientGone => "client_gone",
                End::UpstreamError => "upstream_error",
            },
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            latency_us: u64::try_from(self.latency.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

fn version_name(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "unknown",
    }
}

/// The rare kinds of line, tagged by `kind`. Field order is the order in the file. Request lines
/// are written by [`RequestView::write_fields`].
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Body {
    /// The first record of a new chain.
    Genesis {
        time: Rfc3339,
        gateway: &'static str,
    },
    /// The first record after a start or reopen that continues an existing chain.
    Continue {
        time: Rfc3339,
        reason: &'static str,
        gateway: &'static str,
    },
    /// `lost` records could not be written and are missing before this line.
    Gap { time: Rfc3339, lost: u64 },
}

/// A request's line: written by `write_fields`; serde's derive is the reference it is tested
/// against (as `{"kind":"request",...}`).
#[cfg_attr(test, derive(Serialize))]
pub(super) struct RequestView<'a> {
    time: Rfc3339,
    request_id: &'a str,
    peer: &'a str,
    tls_version: Option<&'a str>,
    client_cert_sha256: Option<&'a str>,
    key_fingerprint: Option<&'a str>,
    client_id: Option<&'a str>,
    mode: &'static str,
    http: &'static str,
    method: &'a str,
    path: &'a str,
    path_truncated: bool,
    query: Option<&'a str>,
    resource: &'static str,
    idempotency: Option<&'static str>,
    decision: &'static str,
    reason: Option<&'static str>,
    sent_upstream: bool,
    upstream_status: Option<u16>,
    end: &'static str,
    bytes_in: u64,
    bytes_out: u64,
    latency_us: u64,
}

impl RequestView<'_> {
    /// The fields, as serde would serialize them tagged `"kind":"request"` (the test below holds the two
    /// together), written without serde: see `json`.
    fn write_fields(&self, out: &mut Vec<u8>) {
        Fields::after_brace(out)
            .str("kind", "request")
            .time("time", self.time.0)
            .str("request_id", self.request_id)
            .str("peer", self.peer)
            .opt_str("tls_version", self.tls_version)
            .opt_str("client_cert_sha256", self.client_cert_sha256)
            .opt_str("key_fingerprint", self.key_fingerprint)
            .opt_str("client_id", self.client_id)
            .str("mode", self.mode)
            .str("http", self.http)
            .str("method", self.method)
            .str("path", self.path)
            .bool("path_truncated", self.path_truncated)
            .opt_str("query", self.query)
            .str("resource", self.resource)
            .opt_str("idempotency", self.idempotency)
            .str("decision", self.decision)
            .opt_str("reason", self.reason)
            .bool("sent_upstream", self.sent_upstream)
            .opt_u64("upstream_status", self.upstream_status.map(u64::from))
            .str("end", self.end)
            .u64("bytes_in", self.bytes_in)
            .u64("bytes_out", self.bytes_out)
            .u64("latency_us", self.latency_us)
            .end();
    }
}

/// Written in genesis and continue records.
const GATEWAY: &str = concat!("blnk-gateway/", env!("CARGO_PKG_VERSION"));

/// The record owed at the top of a newly opened file.
#[derive(Debug, Clone, Copy)]
pub(super) enum Header {
    Genesis,
    Continue(&'static str),
}

impl Header {
    pub(super) fn body(self, now: SystemTime) -> Body {
        match self {
            Header::Genesis => Body::Genesis {
                time: Rfc3339(now),
                gateway: GATEWAY,
            },
            Header::Continue(reason) => Body::Continue {
                time: Rfc3339(now),
                reason,
                gateway: GATEWAY,
            },
        }
    }
}

/// A time as RFC 3339 in UTC with microseconds.
pub(super) struct Rfc3339(pub SystemTime);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_rfc3339_micros(self.0))
    }
}

#[cfg(test)]
mod tests;
