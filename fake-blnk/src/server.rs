//! The fake's HTTP/1.1 server (Blnk serves plain HTTP/1.1 only): accepts connections, records
//! every request as it arrived, applies the test's [`Behavior`], and answers through `routes`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::ledger::Ledger;
use crate::reply::Body;
use crate::routes::{self, Answer, Req};

/// One request as Blnk received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// False when the body ended in an error (the sender aborted it): not a complete request.
    pub complete: bool,
    /// Trailer fields that arrived after a chunked body, if any.
    pub trailers: Option<HeaderMap>,
}

impl Recorded {
    /// Every value of a header, as strings.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The one value of a header, if any; panics (a test's failure) when it arrived twice.
    pub fn one(&self, name: &str) -> Option<String> {
        let all = self.all(name);
        assert!(
            all.len() <= 1,
            "{name} arrived {} times: {all:?}",
            all.len()
        );
        all.into_iter().next()
    }
}

/// How the fake misbehaves, for tests of the gateway's deadlines and failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Normal,
    /// Wait this long before answering (after acting on the request).
    Delay(Duration),
    /// Read the request head, then close the connection without answering (nothing is done).
    Hangup,
    /// Answer every request with a body of this many bytes.
    Large(usize),
    /// Hold each answer until this many requests have arrived (at most `GATHER_DEADLINE`).
    Gather(usize),
    /// Hold every answer until `release` (at most `GATHER_DEADLINE`); the request is acted on
    /// first, as Blnk acts before it answers.
    Hold,
}

/// How long a held answer waits at most.
const GATHER_DEADLINE: Duration = Duration::from_secs(10);

/// Largest body the fake reads (beyond Blnk's own limit, so an oversized body gets Blnk's answer).
const READ_CAP: usize = 64 << 20;

pub(crate) struct State {
    pub key: Mutex<String>,
    pub requests: Mutex<Vec<Recorded>>,
    pub behavior: Mutex<Behavior>,
    pub closed: AtomicUsize,
    pub accepted: AtomicUsize,
    arrived: AtomicUsize,
    arrival: Notify,
    pub released: AtomicBool,
    pub ledger: Arc<Ledger>,
}

impl State {
    pub fn new(key: &str, ledger: Arc<Ledger>) -> Arc<State> {
        Arc::new(State {
            key: Mutex::new(key.to_string()),
            requests: Mutex::new(Vec::new()),
            behavior: Mutex::new(Behavior::Normal),
            closed: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            arrived: AtomicUsize::new(0),
            arrival: Notify::new(),
            released: AtomicBool::new(false),
            ledger,
        })
    }

    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.arrival.notify_waiters();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Accepts connections on `listener` until the runtime ends.
pub(crate) fn spawn(listener: TcpListener, state: Arc<State>) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            state.accepted.fetch_add(1, Ordering::SeqCst);
            let state = state.clone();
            if *lock(&state.behavior) == Behavior::Hangup {
                tokio::spawn(hang_up(state, stream));
                continue;
            }
            tokio::spawn(async move {
                let svc_state = state.clone();
                let svc = service_fn(move |req| handle(svc_state.clone(), peer, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
                state.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
}

async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let (body, complete, trailers) = match Limited::new(body, READ_CAP).collect().await {
        Ok(c) => {
            let trailers = c.trailers().cloned();
            (c.to_bytes(), true, trailers)
        }
        Err(_) => (Bytes::new(), false, None),
    };
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    lock(&state.requests).push(Recorded {
        method: parts.method.to_string(),
        target: target.clone(),
        version: parts.version,
        headers: parts.headers.clone(),
        body: body.clone(),
        complete,
        trailers,
    });
    // Blnk acts on a request when it has read it, before it answers (or fails to).
    let path = percent_decode(parts.uri.path());
    let key = lock(&state.key).clone();
    let answer = routes::route(
        &state.ledger,
        &key,
        &Req {
            method: &parts.method,
            path: &path,
            query: parts.uri.query().unwrap_or(""),
            target: &target,
            headers: &parts.headers,
            body: &body,
            peer,
        },
    );
    let behavior = *lock(&state.behavior);
    state.arrived.fetch_add(1, Ordering::SeqCst);
    state.arrival.notify_waiters();
    wait(&state, behavior).await;
    if let Behavior::Large(n) = behavior {
        return Ok(Response::new(Full::new(Bytes::from(vec![b'x'; n]))));
    }
    Ok(respond(answer, &parts.headers, peer))
}

/// What a `Behavior` makes the answer wait for.
async fn wait(state: &State, behavior: Behavior) {
    match behavior {
        Behavior::Delay(d) => tokio::time::sleep(d).await,
        Behavior::Gather(n) => until(state, |s| s.arrived.load(Ordering::SeqCst) >= n).await,
        Behavior::Hold => until(state, |s| s.released.load(Ordering::SeqCst)).await,
        Behavior::Normal | Behavior::Hangup | Behavior::Large(_) => {}
    }
}

/// Waits until `done` holds, woken by each arrival and by `release`; at most `GATHER_DEADLINE`.
async fn until(state: &State, done: impl Fn(&State) -> bool) {
    let _ = tokio::time::timeout(GATHER_DEADLINE, async {
        loop {
            let notified = state.arrival.notified();
            if done(state) {
                return;
            }
            notified.await;
        }
    })
    .await;
}

fn respond(answer: Answer, req_headers: &HeaderMap, peer: SocketAddr) -> Response<Full<Bytes>> {
    let (status, body, location) = match answer {
        Answer::Reply(reply) => {
            let bytes = match &reply.body {
                Body::Json(v) => Bytes::from(v.to_string()),
                Body::Text(t) => Bytes::from_static(t.as_bytes()),
            };
            let mut res = Response::new(Full::new(bytes));
            *res.status_mut() =
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            routes::stamp(res.headers_mut(), req_headers, peer, &reply.body);
            return res;
        }
        Answer::Redirect(status, to) => {
            let body = format!("<a href=\"{to}\">Moved Permanently</a>.\n\n");
            (status, Bytes::from(body), Some(to))
        }
        Answer::Bytes(n) => (200, Bytes::from(vec![b'x'; n]), None),
    };
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(to) = location.and_then(|t| HeaderValue::from_str(&t).ok()) {
        res.headers_mut().insert("location", to);
        res.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    res
}

/// Reads one request head, records it, and closes the connection without a response.
async fn hang_up(state: Arc<State>, mut stream: TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 << 10 {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    lock(&state.requests).push(Recorded {
        method: first.next().unwrap_or_default().to_string(),
        target: first.next().unwrap_or_default().to_string(),
        version: http::Version::HTTP_11,
        headers: HeaderMap::new(),
        body: Bytes::new(),
        complete: false,
        trailers: None,
    });
}

/// Percent-decodes a path or query value, as Go's `url.PathUnescape` (bad escapes kept).
pub fn percent_decode(s: &str) -> String {
    let hex = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
