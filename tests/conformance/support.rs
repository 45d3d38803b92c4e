//! The Blnk under test, and a plain HTTP/1.1 client for it.
//!
//! `BLNK_CONFORMANCE_URL` (`http://host:port`) and `BLNK_CONFORMANCE_KEY` name a running Blnk in
//! secure mode; without them each check starts its own fake Blnk on 127.0.0.1:0. Names
//! (references, `@indicators`) carry a per-process run id, so checks can run in parallel and
//! again against the same database.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fake_blnk::FakeBlnk;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

/// How long any request, or any wait for the queue, may take before the check fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

pub struct Blnk {
    pub addr: SocketAddr,
    pub key: String,
    /// The fake, when the check runs against it: its extra controls are usable.
    pub fake: Option<FakeBlnk>,
    run: String,
}

/// The Blnk to check: the one the environment names, or a new fake.
pub async fn blnk() -> Blnk {
    let run = run_id();
    match (
        std::env::var("BLNK_CONFORMANCE_URL"),
        std::env::var("BLNK_CONFORMANCE_KEY"),
    ) {
        (Ok(url), Ok(key)) => {
            let uri: http::Uri = url.parse().expect("BLNK_CONFORMANCE_URL: http://host:port");
            let host = uri.host().expect("BLNK_CONFORMANCE_URL has a host");
            let port = uri.port_u16().unwrap_or(80);
            let addr = tokio::net::lookup_host((host, port))
                .await
                .expect("BLNK_CONFORMANCE_URL resolves")
                .next()
                .expect("an address");
            Blnk {
                addr,
                key,
                fake: None,
                run,
            }
        }
        _ => {
            let key = format!("conformance-key-{run}-padpadpadpadpad");
            let fake = FakeBlnk::start(&key).await;
            Blnk {
                addr: fake.addr,
                key,
                fake: Some(fake),
                run,
            }
        }
    }
}

fn run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static RUN: OnceLock<String> = OnceLock::new();
    static N: AtomicU64 = AtomicU64::new(0);
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("{:x}", nanos & 0xffff_ffff_ffff)
    });
    format!("{run}{}", N.fetch_add(1, Ordering::Relaxed))
}

/// One answer.
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn code(&self) -> String {
        self.json()["error_detail"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn message(&self) -> String {
        self.json()["error_detail"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// Asserts the status and Blnk's error code.
    #[track_caller]
    pub fn refused(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.code(), code, "{}", String::from_utf8_lossy(&self.body));
        self
    }
}

impl Blnk {
    /// A name unique to this check and run: `<tag>-<run>`.
    pub fn name(&self, tag: &str) -> String {
        format!("{tag}-{}", self.run)
    }

    /// An `@indicator` unique to this check and run.
    pub fn indicator(&self, tag: &str) -> String {
        format!("@{tag}{}", self.run)
    }

    pub async fn get(&self, path: &str) -> Res {
        self.send(Method::GET, path, &[("x-blnk-key", &self.key)], None)
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Res {
        self.raw(Method::POST, path, body.to_string().as_bytes())
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Res {
        self.raw(Method::PUT, path, body.to_string().as_bytes())
            .await
    }

    /// A request with the master key and these exact body bytes.
    pub async fn raw(&self, method: Method, path: &str, body: &[u8]) -> Res {
        let headers = [
            ("x-blnk-key", self.key.as_str()),
            ("content-type", "application/json"),
        ];
        self.send(method, path, &headers, Some(body)).await
    }

    /// A request on a new connection, with exactly these headers (no key unless given).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Res {
        let exchange = async {
            let tcp = TcpStream::connect(self.addr)
                .await
                .expect("connect to Blnk");
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .expect("HTTP/1.1 handshake");
            tokio::spawn(conn);
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header("host", "blnk");
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            let body = Full::new(Bytes::copy_from_slice(body.unwrap_or_default()));
            let res = sender
                .send_request(req.body(body).unwrap())
                .await
                .expect("an answer");
            let (parts, body) = res.into_parts();
            let body = body.collect().await.expect("the whole body").to_bytes();
            Res {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        };
        tokio::time::timeout(DEADLINE, exchange)
            .await
            .expect("Blnk answered in time")
    }

    /// Polls `GET /transactions/reference/{reference}` until found; how long it took.
    pub async fn until_found(&self, reference: &str) -> (Value, Duration) {
        let started = Instant::now();
        loop {
            let res = self
                .get(&format!("/transactions/reference/{}", encode(reference)))
                .await;
            if res.status == 200 {
                return (res.json(), started.elapsed());
            }
            assert_eq!(res.status, 404, "{}", String::from_utf8_lossy(&res.body));
            assert!(
                started.elapsed() < DEADLINE,
                "{reference} never became visible"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the queue to catch up: on the fake until it has, on Blnk a fixed pause.
    pub async fn settle(&self) {
        match &self.fake {
            Some(f) => tokio::time::timeout(DEADLINE, f.settled())
                .await
                .expect("the queue settled"),
            None => tokio::time::sleep(Duration::from_millis(1500)).await,
        }
    }

    /// A balance by indicator, in minor units (0 if it was never used).
    pub async fn balance(&self, indicator: &str) -> i128 {
        let res = self
            .get(&format!(
                "/balances/indicator/{}/currency/USD",
                encode(indicator)
            ))
            .await;
        if res.status != 200 {
            return 0;
        }
        let v = res.json();
        v["balance"]
            .as_i64()
            .map(i128::from)
            .or_else(|| v["balance"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    }
}

/// A transfer of `amount` (in units, precision 100) from `src` to `dst`, which may overdraw.
pub fn txn(reference: &str, amount: u64, src: &str, dst: &str) -> Value {
    json!({
        "amount": amount, "precision": 100, "reference": reference, "currency": "USD",
        "source": src, "destination": dst, "allow_overdraft": true, "description": "conformance",
    })
}

/// A path segment with everything but unreserved characters percent-encoded.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
