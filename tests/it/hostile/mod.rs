//! Hostile clients (issue 9): each case sends the raw bytes an attacker would and asserts both
//! what the client gets and what the fake Blnk received (nothing, or exactly one well-framed
//! request the gateway produced). Deadlines are configured short; tests assert outcomes, never
//! durations, and wait only for events, each wait bounded.
//!
//! - `framing`: HTTP/1.1 framing and smuggling, trailers, pipelining, `Expect`, `Upgrade`.
//! - `sizes`: 414, 431, 413, many requests on one connection.
//! - `slow`: dribbled heads and ClientHellos, silent connections, slow bodies, unread responses.
//! - `paths`: dot segments, encodings, target forms, `Host`, underscores.
//! - `trust`: the headers Blnk receives whatever the client sends.
//! - `h2`: raw HTTP/2 frames: floods, resets, bombs, malformed requests.
//! - `tls`: old protocols, weak suites, renegotiation, 0-RTT, garbage, oversized records.

mod framing;
mod h2;
mod paths;
mod sizes;
mod slow;
mod tls;
mod trust;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::support::gateway::{Setup, TestGateway};

/// How long a reader waits for more bytes before deciding the gateway keeps the connection open.
/// Only a failing case waits this long: a passing one ends with the gateway's close.
pub const QUIET: Duration = Duration::from_secs(3);
/// Upper bound on any wait for an event in these tests.
const EVENT_DEADLINE: Duration = Duration::from_secs(15);

/// A plaintext gateway (the HTTP/1.1 parser is the same behind TLS) with `extra` merged into the
/// `gateway` section. Deadlines are long enough not to end a passing case early.
pub async fn plain(extra: Value) -> TestGateway {
    TestGateway::start(Setup {
        tls: false,
        gateway: extra,
        ..Setup::default()
    })
    .await
}

/// A TLS gateway with `extra` merged into the `gateway` section.
pub async fn tls_gateway(extra: Value) -> TestGateway {
    TestGateway::start(Setup {
        gateway: extra,
        ..Setup::default()
    })
    .await
}

/// A TLS connection that negotiated h2 and sent the preface and SETTINGS with `settings`.
pub async fn open_h2(gw: &TestGateway, settings: &[(u16, u32)]) -> TlsStream<TcpStream> {
    let mut s = crate::support::client::connect_tls(gw.addr, &gw.connector(&[b"h2"]))
        .await
        .unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    s.write_all(&crate::support::h2raw::opening(settings))
        .await
        .unwrap();
    s
}

async fn plain_default() -> TestGateway {
    plain(json!({})).await
}

/// One response as the client read it off the wire.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn code(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .map(|v| v["error_detail"]["code"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    }
}

/// Everything that came back on one connection.
#[derive(Debug)]
pub struct Reply {
    pub responses: Vec<Resp>,
    /// The gateway closed the connection (EOF or reset) rather than leaving it open.
    pub closed: bool,
    pub raw: Vec<u8>,
}

impl Reply {
    pub fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }

    /// Exactly one response with this status, then the gateway closed the connection.
    #[track_caller]
    pub fn assert_refused(&self, status: u16) {
        assert_eq!(self.statuses(), vec![status], "{}", self.text());
        assert!(self.closed, "connection left open: {}", self.text());
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// Sends `bytes` on a new plaintext connection and reads until the gateway closes it.
pub async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Reply {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let _ = tcp.write_all(bytes).await;
    read_reply(&mut tcp).await
}

/// Reads until EOF or reset (closed) or until nothing arrives for [`QUIET`] (left open).
pub async fn read_reply<IO: AsyncRead + Unpin>(io: &mut IO) -> Reply {
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let closed = loop {
        match tokio::time::timeout(QUIET, io.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    Reply {
        responses: parse_responses(&raw),
        closed,
        raw,
    }
}

/// Splits a byte stream into HTTP/1.1 responses (Content-Length or chunked bodies).
pub fn parse_responses(mut raw: &[u8]) -> Vec<Resp> {
    let mut out = Vec::new();
    while let Some(end) = find(raw, b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        raw = &raw[end + 4..];
        let status = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        let mut resp = Resp {
            status,
            head,
            body: Vec::new(),
        };
        if (100..200).contains(&status) {
            out.push(resp);
            continue;
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked {
            while let Some(line_end) = find(raw, b"\r\n") {
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&raw[..line_end]).trim(), 16)
                        .unwrap_or(0);
                raw = &raw[line_end + 2..];
                if size == 0 {
                    raw = &raw[find(raw, b"\r\n").map_or(raw.len(), |e| e + 2)..];
                    break;
                }
                let take = size.min(raw.len());
                resp.body.extend_from_slice(&raw[..take]);
                raw = &raw[(take + 2).min(raw.len())..];
            }
        } else {
            let len: usize = resp
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let take = len.min(raw.len());
            resp.body = raw[..take].to_vec();
            raw = &raw[take..];
        }
        out.push(resp);
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes `bytes` one byte per `every`, stopping early if the gateway closes. Returns how many
/// bytes were written before a write failed.
///
/// Each byte leaves at once in a segment of its own (no Nagle): the gateway sees the pace the test
/// chose, also when the clock is paused and a held-back byte would let it run ahead.
pub async fn dribble(io: &mut TcpStream, bytes: &[u8], every: Duration) -> usize {
    io.set_nodelay(true).unwrap();
    let mut tick = tokio::time::interval(every);
    for (i, b) in bytes.iter().enumerate() {
        tick.tick().await;
        if io.write_all(std::slice::from_ref(b)).await.is_err() {
            return i;
        }
        if io.flush().await.is_err() {
            return i;
        }
    }
    bytes.len()
}

/// Waits (bounded) until `cond` holds.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(EVENT_DEADLINE, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for: {what}");
}

/// A normal authenticated request on a fresh connection still gets Blnk's answer.
pub async fn still_serves(gw: &TestGateway) {
    let reply = exchange(
        gw.addr,
        format!(
            "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nConnection: close\r\n\r\n",
            gw.key
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(reply.statuses(), vec![200], "{}", reply.text());
}

/// Every request Blnk received was complete (its body arrived whole).
pub fn assert_all_complete(gw: &TestGateway) {
    for r in gw.blnk.requests() {
        assert!(r.complete, "Blnk received an incomplete request: {r:?}");
    }
}

/// Nothing reached Blnk: not a request, not a connection (bodies are read whole first).
pub fn assert_nothing_reached_blnk(gw: &TestGateway) {
    assert_eq!(gw.blnk.count(), 0, "{:?}", gw.blnk.requests());
    assert_eq!(gw.blnk.accepted_connections(), 0);
}
