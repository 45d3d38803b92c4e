//! A fake Blnk Core for tests: secure mode as Blnk does it, and a record of every request.
//!
//! Reproduces what the gateway depends on (docs/blnk.md): the exempt routes, the FIRST
//! `X-Blnk-Key` value compared with the master key, Blnk's 401 bodies, and the response headers
//! that leak internal addresses. The key can be changed mid-run, and a [`Behavior`] makes it slow
//! or broken on purpose.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request as Blnk received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// False when the body ended in an error (the gateway aborted it): not a complete request.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Normal,
    /// Wait this long before answering.
    Delay(Duration),
    /// Read the request, then close the connection without answering.
    Hangup,
    /// Answer every request with a body of this many bytes.
    Large(usize),
    /// Hold each answer until this many requests have arrived (at most `GATHER_DEADLINE`), so
    /// they are at Blnk at the same time, whatever the scheduling.
    Gather(usize),
    /// Hold every answer until the test calls `release` (at most `GATHER_DEADLINE`).
    Hold,
}

/// How long a `Gather` answer waits for the others at most.
const GATHER_DEADLINE: Duration = Duration::from_secs(10);

struct State {
    key: Mutex<String>,
    requests: Mutex<Vec<Recorded>>,
    behavior: Mutex<Behavior>,
    /// Connections that ended, for tests that wait for the gateway to give one up.
    closed: std::sync::atomic::AtomicUsize,
    /// Connections accepted, for tests of the gateway's connection pool.
    accepted: std::sync::atomic::AtomicUsize,
    /// Requests received, and a wake-up for answers held by `Gather`.
    arrived: std::sync::atomic::AtomicUsize,
    arrival: tokio::sync::Notify,
    /// Answers held by `Hold` go once this is set.
    released: std::sync::atomic::AtomicBool,
    /// Transactions by reference, as Blnk's database holds them (the reference is unique).
    ledger: Mutex<std::collections::HashMap<String, serde_json::Value>>,
    /// Transaction ids handed out.
    txn_ids: std::sync::atomic::AtomicUsize,
}

#[derive(Clone)]
pub struct FakeBlnk {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl FakeBlnk {
    pub async fn start(key: &str) -> FakeBlnk {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake blnk");
        Self::serve(listener, key)
    }

    /// Serves on a listener the caller bound (for restarts on the same port).
    pub fn serve(listener: TcpListener, key: &str) -> FakeBlnk {
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            key: Mutex::new(key.to_string()),
            requests: Mutex::new(Vec::new()),
            behavior: Mutex::new(Behavior::Normal),
            closed: std::sync::atomic::AtomicUsize::new(0),
            accepted: std::sync::atomic::AtomicUsize::new(0),
            arrived: std::sync::atomic::AtomicUsize::new(0),
            arrival: tokio::sync::Notify::new(),
            released: std::sync::atomic::AtomicBool::new(false),
            ledger: Mutex::new(std::collections::HashMap::new()),
            txn_ids: std::sync::atomic::AtomicUsize::new(0),
        });
        let accept_state = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = accept_state.clone();
                state
                    .accepted
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if *state.behavior.lock().unwrap() == Behavior::Hangup {
                    tokio::spawn(hang_up(state, stream));
                    continue;
                }
                tokio::spawn(async move {
                    let svc_state = state.clone();
                    let svc = service_fn(move |req| handle(svc_state.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                    state
                        .closed
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
        });
        FakeBlnk { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    pub fn last(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the fake Blnk received no request")
    }

    pub fn set_key(&self, key: &str) {
        *self.state.key.lock().unwrap() = key.to_string();
    }

    pub fn set_behavior(&self, b: Behavior) {
        *self.state.behavior.lock().unwrap() = b;
    }

    /// The transactions Blnk has recorded, by reference.
    pub fn transactions(&self) -> std::collections::HashMap<String, serde_json::Value> {
        self.state.ledger.lock().unwrap().clone()
    }

    /// POST /transactions requests received (complete or not).
    pub fn transaction_posts(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.target == "/transactions")
            .count()
    }

    /// Lets every answer held by `Behavior::Hold` go.
    pub fn release(&self) {
        self.state
            .released
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.state.arrival.notify_waiters();
    }

    /// How many connections the gateway has opened to this fake.
    pub fn accepted_connections(&self) -> usize {
        self.state
            .accepted
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many of the gateway's connections to this fake have ended.
    pub fn closed_connections(&self) -> usize {
        self.state.closed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn blnk_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body =
        serde_json::json!({"error": message, "error_detail": {"code": code, "message": message}});
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let (body, complete, trailers) = match body.collect().await {
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
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        target: target.clone(),
        version: parts.version,
        headers: parts.headers.clone(),
        body: body.clone(),
        complete,
        trailers,
    });
    // Blnk acts on a transaction when it has read it, before it answers (or fails to).
    let effect = ledger(&state, &parts, &body);
    let behavior = *state.behavior.lock().unwrap();
    state
        .arrived
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    state.arrival.notify_waiters();
    match behavior {
        Behavior::Normal => {}
        Behavior::Delay(d) => tokio::time::sleep(d).await,
        Behavior::Gather(n) => {
            let _ = tokio::time::timeout(GATHER_DEADLINE, async {
                loop {
                    let notified = state.arrival.notified();
                    if state.arrived.load(std::sync::atomic::Ordering::SeqCst) >= n {
                        break;
                    }
                    notified.await;
                }
            })
            .await;
        }
        Behavior::Hold => {
            let _ = tokio::time::timeout(GATHER_DEADLINE, async {
                loop {
                    let notified = state.arrival.notified();
                    if state.released.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    notified.await;
                }
            })
            .await;
        }
        Behavior::Hangup | Behavior::Large(_) => {}
    }
    if let Behavior::Large(n) = behavior {
        return Ok(Response::new(Full::new(Bytes::from(vec![b'x'; n]))));
    }
    let path = parts.uri.path();
    let mut res = match (parts.method.as_str(), path) {
        ("GET", "/") => Response::new(Full::new(Bytes::from_static(b"server running..."))),
        ("GET", "/health") => Response::new(Full::new(Bytes::from_static(br#"{"status":"UP"}"#))),
        ("GET", "/metrics") => Response::new(Full::new(Bytes::from_static(b"# metrics\n"))),
        _ => {
            // Blnk reads the FIRST value (gin's GetHeader).
            let presented = parts
                .headers
                .get("x-blnk-key")
                .map(|v| v.as_bytes().to_vec())
                .unwrap_or_default();
            let key = state.key.lock().unwrap().clone();
            if presented.is_empty() {
                blnk_error(
                    StatusCode::UNAUTHORIZED,
                    "AUTH_MISSING_API_KEY",
                    "Authentication required. Use X-Blnk-Key header",
                )
            } else if presented != key.as_bytes() {
                blnk_error(
                    StatusCode::UNAUTHORIZED,
                    "AUTH_INVALID_API_KEY",
                    "Invalid API key",
                )
            } else if let Some((status, text)) = effect {
                let mut r = Response::new(Full::new(Bytes::from(text)));
                *r.status_mut() = status;
                r
            } else if let Some(reference) = path.strip_prefix("/transactions/reference/") {
                let reference = percent_decode(reference);
                match state.ledger.lock().unwrap().get(&reference) {
                    Some(txn) => Response::new(Full::new(Bytes::from(txn.to_string()))),
                    None => blnk_error(
                        StatusCode::NOT_FOUND,
                        "TXN_NOT_FOUND",
                        &format!("Transaction with reference '{reference}' not found"),
                    ),
                }
            } else if let Some(n) = path.strip_prefix("/bytes/") {
                // A large answer for clients that never read it; at most 64 MiB.
                let n = n.parse::<usize>().unwrap_or(0).min(64 << 20);
                Response::new(Full::new(Bytes::from(vec![b'x'; n])))
            } else {
                let status = if parts.method == http::Method::POST {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                let echo = serde_json::json!({"method": parts.method.as_str(), "target": target, "body_len": body.len()});
                let mut r = Response::new(Full::new(Bytes::from(echo.to_string())));
                *r.status_mut() = status;
                r
            }
        }
    };
    let h = res.headers_mut();
    h.insert("content-type", "application/json".parse().unwrap());
    // Every header Blnk's limiter (tollbooth) adds.
    h.insert("x-rate-limit-limit", "5000000".parse().unwrap());
    h.insert("x-rate-limit-duration", "1".parse().unwrap());
    h.insert("ratelimit-limit", "5000000".parse().unwrap());
    h.insert("ratelimit-remaining", "4999999".parse().unwrap());
    h.insert("ratelimit-reset", "1".parse().unwrap());
    h.insert(
        "x-rate-limit-request-remote-addr",
        "10.9.8.7".parse().unwrap(),
    );
    h.insert(
        "x-rate-limit-request-forwarded-for",
        "10.9.8.6".parse().unwrap(),
    );
    Ok(res)
}

/// `POST /transactions` with the right key, as Blnk's queued path does it: a 201 `QUEUED` with a
/// fresh `transaction_id` every time, and the reference recorded once (the database's unique
/// index drops a duplicate in the background: no money moves twice, but the client is told it
/// did). With `skip_queue`, a duplicate gets 409 `TXN_DUPLICATE_REFERENCE`. `None` for anything
/// else.
fn ledger(
    state: &State,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Option<(StatusCode, String)> {
    if parts.method != http::Method::POST || parts.uri.path() != "/transactions" {
        return None;
    }
    let key = state.key.lock().unwrap().clone();
    if parts.headers.get("x-blnk-key").map(|v| v.as_bytes()) != Some(key.as_bytes()) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let reference = v["reference"].as_str()?.to_string();
    let n = state
        .txn_ids
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let skip_queue = v["skip_queue"].as_bool() == Some(true);
    let txn = serde_json::json!({
        "transaction_id": format!("txn_{n:04}"),
        "reference": reference,
        "amount": v["amount"],
        "currency": v["currency"],
        "status": if skip_queue { "APPLIED" } else { "QUEUED" },
    });
    let mut ledger = state.ledger.lock().unwrap();
    if ledger.contains_key(&reference) && skip_queue {
        let message =
            format!("transaction validation failed: reference {reference} has already been used");
        let body = serde_json::json!({"error": message, "error_detail": {"code": "TXN_DUPLICATE_REFERENCE", "message": message}});
        return Some((StatusCode::CONFLICT, body.to_string()));
    }
    ledger.entry(reference).or_insert_with(|| txn.clone());
    Some((StatusCode::CREATED, txn.to_string()))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one request head, records it, and closes the connection without a response.
async fn hang_up(state: Arc<State>, mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    state.requests.lock().unwrap().push(Recorded {
        method: first.next().unwrap_or_default().to_string(),
        target: first.next().unwrap_or_default().to_string(),
        version: http::Version::HTTP_11,
        headers: HeaderMap::new(),
        body: Bytes::new(),
        complete: false,
        trailers: None,
    });
}
