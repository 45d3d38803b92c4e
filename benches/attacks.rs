//! Sustained, bounded attack runs against a real gateway process (issue 9): for each group of
//! hostile clients, what the gateway answers, its memory (RSS), CPU and open descriptors from
//! /proc, and the latency a normal client sees meanwhile. Prints the table kept in the README.
//!
//!     cargo bench --bench attacks                     # 30 s per attack, about 7 minutes
//!     ATTACK_SECS=60 cargo bench --bench attacks
//!     ATTACKS=rapid-reset,slowloris cargo bench --bench attacks
//!
//! Everything stays on 127.0.0.1; every loop stops at its deadline. The gateway runs as a child
//! process (the release binary), the fake Blnk and the clients in this process. On a 2-core
//! machine the attackers, the fake Blnk and the gateway share the cores: the numbers are an upper
//! bound on the harm, not a capacity benchmark.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/certs.rs"]
mod certs;
#[path = "../tests/support/h2raw.rs"]
mod h2raw;
#[path = "../tests/support/tlsraw.rs"]
mod tlsraw;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use h2raw::*;

/// Limits the gateway runs with here: the defaults, with shorter idle and body deadlines so
/// that a run ends in minutes.
const LIMITS: &str =
    r#"{"header_read_timeout": "10s", "idle_timeout": "20s", "body_read_timeout": "15s"}"#;
/// How long the settle phase may wait for descriptors to return to their baseline.
const SETTLE: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    key: String,
    h1: TlsConnector,
    h2: TlsConnector,
}

/// The normal client's own source address: attackers use 127.0.0.1, and the failed-auth
/// limiter rightly cools that address down, which must not count as harm to other clients.
const NORMAL_SOURCE: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

impl Target {
    async fn tls(&self, h2: bool) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        self.handshake(tcp, h2).await
    }

    /// A TLS connection from [`NORMAL_SOURCE`].
    async fn normal_tls(&self) -> std::io::Result<TlsStream<TcpStream>> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((NORMAL_SOURCE, 0)))?;
        let tcp = socket.connect(self.addr).await?;
        self.handshake(tcp, false).await
    }

    async fn handshake(&self, tcp: TcpStream, h2: bool) -> std::io::Result<TlsStream<TcpStream>> {
        let c = if h2 { &self.h2 } else { &self.h1 };
        let name = ServerName::try_from("localhost").unwrap();
        tokio::time::timeout(Duration::from_secs(10), c.connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::other("handshake timeout"))?
    }
}

/// Outcome counts, by label.
#[derive(Default, Clone)]
struct Tally(Arc<Mutex<BTreeMap<String, u64>>>);

impl Tally {
    fn add(&self, label: impl Into<String>) {
        *self.0.lock().unwrap().entry(label.into()).or_default() += 1;
    }

    fn summary(&self) -> String {
        let m = self.0.lock().unwrap();
        m.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One sample of the gateway process.
#[derive(Clone, Copy, Default)]
struct Sample {
    rss_kib: u64,
    cpu_ticks: u64,
    fds: usize,
}

fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the command.
    let cpu_ticks = fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    Sample {
        rss_kib,
        cpu_ticks,
        fds,
    }
}

struct Row {
    name: &'static str,
    answers: String,
    rss_mib: (f64, f64, f64),
    cpu_pct: f64,
    fds: (usize, usize, usize),
    latency_ms: (f64, f64, f64),
    normal_ok: u64,
    normal_failed: u64,
}

/// A normal client: one keep-alive HTTP/1.1 connection, a request every 50 ms.
async fn normal_client(t: Target, until: Instant) -> (Vec<f64>, u64) {
    let mut latencies = Vec::new();
    let mut failed = 0;
    let mut sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while Instant::now() < until {
        tick.tick().await;
        let start = Instant::now();
        let result = async {
            if sender.as_ref().is_none_or(|s| s.is_closed()) {
                let tls = t.normal_tls().await.ok()?;
                let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .ok()?;
                tokio::spawn(conn);
                sender = Some(s);
            }
            let s = sender.as_mut()?;
            let req = http::Request::get("/ledgers")
                .header("host", "localhost")
                .header("x-blnk-key", &t.key)
                .body(Full::new(Bytes::new()))
                .ok()?;
            let res = tokio::time::timeout(Duration::from_secs(5), s.send_request(req))
                .await
                .ok()?
                .ok()?;
            let ok = res.status() == 200;
            res.into_body().collect().await.ok()?;
            ok.then_some(())
        }
        .await;
        match result {
            Some(()) => latencies.push(start.elapsed().as_secs_f64() * 1000.0),
            None => {
                failed += 1;
                sender = None;
            }
        }
    }
    (latencies, failed)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `attack` for `secs` with a normal client alongside, sampling the gateway every 200 ms,
/// then waits for its descriptors to settle.
async fn run<F, Fut>(name: &'static str, secs: u64, t: &Target, pid: u32, attack: F) -> Row
where
    F: FnOnce(Target, Instant, Tally) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    eprintln!("== {name} ({secs} s)");
    let before = sample(pid);
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let tally = Tally::default();
    let attack = tokio::spawn(attack(t.clone(), until, tally.clone()));
    let normal = tokio::spawn(normal_client(t.clone(), until));
    let mut peak = before;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = sample(pid);
        peak.rss_kib = peak.rss_kib.max(s.rss_kib);
        peak.fds = peak.fds.max(s.fds);
    }
    let end = sample(pid);
    let wall = started.elapsed().as_secs_f64();
    let _ = tokio::time::timeout(Duration::from_secs(15), attack).await;
    let (mut lat, failed) = normal.await.unwrap();
    // Settle: the attackers are gone; their connections end at the gateway's deadlines.
    let settle_until = Instant::now() + SETTLE;
    let mut after = sample(pid);
    while after.fds > before.fds + 2 && Instant::now() < settle_until {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = sample(pid);
    }
    let ticks = 100.0; // USER_HZ on Linux
    lat.sort_by(f64::total_cmp);
    Row {
        name,
        answers: tally.summary(),
        rss_mib: (
            before.rss_kib as f64 / 1024.0,
            peak.rss_kib as f64 / 1024.0,
            after.rss_kib as f64 / 1024.0,
        ),
        cpu_pct: (end.cpu_ticks - before.cpu_ticks) as f64 / ticks / wall * 100.0,
        fds: (before.fds, peak.fds, after.fds),
        latency_ms: (
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(f64::NAN),
        ),
        normal_ok: lat.len() as u64,
        normal_failed: failed,
    }
}

/// Spawns `n` copies of `one` looping until `until`, and waits for them.
async fn swarm<F, Fut>(n: usize, until: Instant, tally: Tally, t: Target, one: F)
where
    F: Fn(Target, Tally, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let one = Arc::new(one);
    let mut tasks = Vec::new();
    for i in 0..n {
        let (one, t, tally) = (one.clone(), t.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = 0;
            while Instant::now() < until {
                one(t.clone(), tally.clone(), i + round).await;
                round += n;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// First status code of what came back, or how the connection ended.
fn classify(raw: &[u8], closed: bool) -> String {
    match raw.get(9..12) {
        Some(code) if raw.starts_with(b"HTTP/1.1 ") => {
            let code = String::from_utf8_lossy(code).into_owned();
            if closed {
                format!("{code}+close")
            } else {
                code
            }
        }
        _ if raw.first() == Some(&0x15) => format!("TLS alert {}", raw.get(6).unwrap_or(&0)),
        _ if closed => "closed".into(),
        _ => "no answer".into(),
    }
}

async fn send_read(mut io: TlsStream<TcpStream>, bytes: &[u8], wait: Duration) -> String {
    let _ = io.write_all(bytes).await;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let closed = loop {
        match tokio::time::timeout(wait, io.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    classify(&raw, closed)
}

fn framing_payloads(key: &str) -> Vec<Vec<u8>> {
    let p = |framing: &str, body: &str| {
        format!("POST /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\n{framing}\r\n{body}GET /api-keys HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\n\r\n").into_bytes()
    };
    vec![
        p(
            "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
            "5\r\nhello\r\n0\r\n\r\n",
        ),
        p("Content-Length: 5\r\nContent-Length: 6\r\n", "hello"),
        p(
            "Transfer-Encoding: gzip, chunked\r\n",
            "5\r\nhello\r\n0\r\n\r\n",
        ),
        p("Transfer-Encoding : chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
        p("X-A: a\r\n b\r\n", ""),
        p("Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n"),
        p(
            "Content-Length: 5\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n",
            "hello",
        ),
    ]
}

async fn framing(t: Target, until: Instant, tally: Tally) {
    let payloads = Arc::new(framing_payloads(&t.key));
    swarm(8, until, tally, t, move |t, tally, i| {
        let payloads = payloads.clone();
        async move {
            let Ok(io) = t.tls(false).await else {
                return tally.add("connect failed");
            };
            let out = send_read(io, &payloads[i % payloads.len()], Duration::from_secs(2)).await;
            tally.add(out);
        }
    })
    .await;
}

async fn sizes(t: Target, until: Instant, tally: Tally) {
    swarm(8, until, tally, t, |t, tally, i| async move {
        let k = &t.key;
        let bytes = match i % 3 {
            0 => format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(17 * 1024)),
            1 => format!("GET /ledgers?{} HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\n\r\n", "q".repeat(9 * 1024)),
            _ => format!("POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nContent-Length: 100000000\r\n\r\n"),
        };
        let Ok(io) = t.tls(false).await else { return tally.add("connect failed") };
        tally.add(send_read(io, bytes.as_bytes(), Duration::from_secs(2)).await);
    })
    .await;
}

async fn slowloris(t: Target, until: Instant, tally: Tally) {
    // 500 heads dribbled one byte a second, and 50 bodies likewise; each reconnects when cut.
    swarm(550, until, tally, t, |t, tally, i| async move {
        let Ok(mut io) = t.tls(false).await else { return tally.add("connect failed") };
        let (head, body) = if i % 11 == 0 {
            (
                format!("POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nContent-Length: 1000\r\n\r\n", t.key),
                vec![b'x'; 1000],
            )
        } else {
            (String::new(), b"GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n".to_vec())
        };
        let _ = io.write_all(head.as_bytes()).await;
        let started = Instant::now();
        for b in body {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if io.write_all(&[b]).await.is_err() || io.flush().await.is_err() {
                break;
            }
        }
        let out = send_read(io, b"", Duration::from_secs(1)).await;
        let kind = if head.is_empty() { "slow head" } else { "slow body" };
        tally.add(format!("{kind}: {out} after {}s", started.elapsed().as_secs().div_ceil(5) * 5));
    })
    .await;
}

async fn slow_read(t: Target, until: Instant, tally: Tally) {
    // 100 clients ask for 4 MiB each and never read a byte.
    swarm(100, until, tally, t, |t, tally, _| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        let _ = socket.set_recv_buffer_size(4096);
        let Ok(tcp) = socket.connect(t.addr).await else {
            return tally.add("connect failed");
        };
        let name = ServerName::try_from("localhost").unwrap();
        let Ok(mut io) = t.h1.connect(name, tcp).await else {
            return tally.add("handshake failed");
        };
        let req = format!(
            "GET /bytes/4194304 HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n\r\n",
            t.key
        );
        let _ = io.write_all(req.as_bytes()).await;
        let started = Instant::now();
        // Wait without reading; then read what is left to see whether the gateway gave up.
        tokio::time::sleep(Duration::from_secs(25)).await;
        let mut got = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        let complete = loop {
            match tokio::time::timeout(Duration::from_secs(2), io.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break false,
                Ok(Ok(n)) => got += n,
                Err(_) => break got >= 4 << 20,
            }
        };
        let _ = started;
        tally.add(if complete {
            "delivered in full"
        } else {
            "cut at the idle deadline"
        });
    })
    .await;
}

async fn h2_open(t: &Target, settings: &[(u16, u32)]) -> Option<TlsStream<TcpStream>> {
    let mut s = t.tls(true).await.ok()?;
    s.write_all(&opening(settings)).await.ok()?;
    Some(s)
}

fn h2_outcome(frames: &[Frame], closed: bool) -> String {
    if let Some(f) = frames.iter().find(|f| f.ty == GOAWAY) {
        return format!("GOAWAY {}", code_name(f.code().unwrap_or(0)));
    }
    if let Some(f) = frames.iter().find(|f| f.ty == RST_STREAM) {
        return format!("RST_STREAM {}", code_name(f.code().unwrap_or(0)));
    }
    if closed {
        "closed".into()
    } else {
        "no error".into()
    }
}

fn code_name(c: u32) -> &'static str {
    match c {
        0 => "NO_ERROR",
        PROTOCOL_ERROR => "PROTOCOL_ERROR",
        REFUSED_STREAM => "REFUSED_STREAM",
        ENHANCE_YOUR_CALM => "ENHANCE_YOUR_CALM",
        0x6 => "FRAME_SIZE_ERROR",
        0x9 => "COMPRESSION_ERROR",
        _ => "other",
    }
}

async fn rapid_reset(t: Target, until: Instant, tally: Tally) {
    swarm(4, until, tally, t, |t, tally, _| async move {
        let Some(mut s) = h2_open(&t, &[]).await else {
            return tally.add("connect failed");
        };
        let mut batch = Vec::new();
        for i in 0..1000u32 {
            batch.extend(headers(1 + 2 * i, true, &request("GET", "/health")));
            batch.extend(rst(1 + 2 * i, CANCEL));
        }
        let _ = s.write_all(&batch).await;
        let (frames, closed) = read_until(&mut s, Duration::from_secs(2), |f| {
            f.iter().any(|f| f.ty == GOAWAY)
        })
        .await;
        tally.add(h2_outcome(&frames, closed));
    })
    .await;
}

async fn h2_floods(t: Target, until: Instant, tally: Tally) {
    swarm(8, until, tally, t, |t, tally, i| async move {
        let Some(mut s) = h2_open(&t, &[]).await else {
            return tally.add("connect failed");
        };
        let mut key_block = request("GET", "/ledgers");
        key_block.extend(literal(b"x-blnk-key", t.key.as_bytes()));
        let (label, bytes): (&str, Vec<u8>) = match i % 4 {
            0 => {
                let mut b = frame(HEADERS, END_STREAM, 1, &key_block);
                let field = literal(b"x-flood", &[b'a'; 100]);
                for _ in 0..5000 {
                    b.extend(frame(CONTINUATION, 0, 1, &field));
                }
                ("CONTINUATION flood", b)
            }
            1 => {
                let mut first = request("GET", "/health");
                first.extend(literal_indexed(b"x-bomb", &[b'a'; 4000]));
                let mut b = headers(1, true, &first);
                let mut bomb = request("GET", "/health");
                bomb.extend(std::iter::repeat_n(0xbe, 4000));
                b.extend(headers(3, true, &bomb));
                ("HPACK bomb", b)
            }
            2 => ("PING flood", ping(1).repeat(20_000)),
            _ => ("SETTINGS flood", settings(&[]).repeat(20_000)),
        };
        let _ = s.write_all(&bytes).await;
        let (frames, closed) = read_until(&mut s, Duration::from_secs(1), |f| {
            f.iter().any(|f| f.ty == GOAWAY)
        })
        .await;
        tally.add(format!("{label}: {}", h2_outcome(&frames, closed)));
    })
    .await;
}

async fn zero_window(t: Target, until: Instant, tally: Tally) {
    // 50 connections, each with 100 streams of 1 MiB it never lets the gateway send, pinging.
    swarm(50, until, tally, t, |t, tally, _| async move {
        let Some(mut s) = h2_open(&t, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]).await else {
            return tally.add("connect failed");
        };
        let mut batch = Vec::new();
        for i in 0..100u32 {
            let mut b = request("GET", "/_fake/bytes/1048576");
            b.extend(literal(b"x-blnk-key", t.key.as_bytes()));
            batch.extend(headers(1 + 2 * i, true, &b));
        }
        let _ = s.write_all(&batch).await;
        let started = Instant::now();
        let mut closed = false;
        while started.elapsed() < Duration::from_secs(40) {
            if s.write_all(&ping(3)).await.is_err() {
                closed = true;
                break;
            }
            let (_, eof) = read_until(&mut s, Duration::from_secs(1), |_| false).await;
            if eof {
                closed = true;
                break;
            }
        }
        tally.add(if closed {
            format!(
                "closed after {}s",
                started.elapsed().as_secs().div_ceil(5) * 5
            )
        } else {
            "still open at 40s".into()
        });
    })
    .await;
}

async fn tls_probing(t: Target, until: Instant, tally: Tally) {
    use tlsraw::hello;
    swarm(8, until, tally, t, |t, tally, i| async move {
        let probe: (&str, Vec<u8>) = match i % 6 {
            0 => ("TLS 1.0 hello", hello(0x0301, 0x0301, &[0xc02b, 0xc013])),
            1 => (
                "CBC/RC4/3DES suites",
                hello(0x0301, 0x0303, &[0xc009, 0x0005, 0x000a, 0x002f]),
            ),
            2 => (
                "plaintext HTTP",
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ),
            3 => (
                "oversized record",
                [&[0x16, 0x03, 0x03, 0x48, 0x01][..], &[0u8; 0x4801][..]].concat(),
            ),
            4 => ("garbage", vec![0x42; 512]),
            _ => ("full handshake, then leave", Vec::new()),
        };
        if probe.1.is_empty() {
            let ok = t.tls(false).await.is_ok();
            return tally.add(format!(
                "{}: {}",
                probe.0,
                if ok { "completed" } else { "failed" }
            ));
        }
        let Ok(mut tcp) = TcpStream::connect(t.addr).await else {
            return tally.add("connect failed");
        };
        let _ = tcp.write_all(&probe.1).await;
        let mut raw = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut raw)).await;
        tally.add(format!("{}: {}", probe.0, classify(&raw, true)));
    })
    .await;
}

async fn paths_and_keys(t: Target, until: Instant, tally: Tally) {
    swarm(8, until, tally, t, |t, tally, i| async move {
        let k = &t.key;
        let req = match i % 5 {
            0 => "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: wrong-key-guess-0123456789abcdef\r\nConnection: close\r\n\r\n".to_string(),
            1 => format!("GET /ledgers/%2e%2e/api-keys HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\n\r\n"),
            2 => format!("GET http://169.254.169.254/latest HTTP/1.1\r\nHost: 169.254.169.254\r\nX-Blnk-Key: {k}\r\nX-Forwarded-For: 1.2.3.4\r\nConnection: X-Blnk-Key, close\r\n\r\n"),
            3 => format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nHost: y\r\nX-Blnk-Key: {k}\r\n\r\n"),
            _ => format!("OPTIONS * HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\n\r\n"),
        };
        let Ok(io) = t.tls(false).await else { return tally.add("connect failed") };
        tally.add(send_read(io, req.as_bytes(), Duration::from_secs(2)).await);
    })
    .await;
}

async fn idle(_t: Target, until: Instant, _tally: Tally) {
    tokio::time::sleep_until(until.into()).await;
}

fn client_tls(ca: &str, alpn: &[u8]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("ATTACK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let only = std::env::var("ATTACKS").ok();
    let dir = tempfile::tempdir().unwrap();
    let certs = certs::make(dir.path());
    let key = format!(
        "bench-{:x}-0123456789abcdef0123456789abcdef",
        std::process::id()
    );
    std::fs::write(dir.path().join("master.key"), &key).unwrap();
    let blnk = fake_blnk::FakeBlnk::start(&key).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        r#"{{"server": {{"secure": true}}, "gateway": {{"listen": "127.0.0.1:{port}", "upstream": "{}",
            "secret_key_file": "master.key", "tls": {{"cert": "server.pem", "key": "server.key"}},
            "audit": {{"path": "audit.log"}}, "admin_listen": "off",
            "limits": {LIMITS}}}}}"#,
        blnk.url()
    );
    std::fs::write(dir.path().join("blnk.json"), config).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_blnk-gateway"))
        .args(["serve", "--config"])
        .arg(dir.path().join("blnk.json"))
        // Not BLNK_GATEWAY_LOG: the config loader reads it as gateway.log and refuses to start.
        .env_remove("BLNK_GATEWAY_LOG")
        .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap())
        .spawn()
        .expect("start the gateway");
    let child = Child(child);
    let pid = child.0.id();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = Target {
        addr,
        key,
        h1: client_tls(&certs.ca, b"http/1.1"),
        h2: client_tls(&certs.ca, b"h2"),
    };
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|w| w == name))
    };
    let mut rows = Vec::new();
    macro_rules! attack {
        ($id:literal, $name:literal, $secs:expr, $f:expr) => {
            if wanted($id) {
                rows.push(run($name, $secs, &t, pid, $f).await);
            }
        };
    }
    attack!(
        "baseline",
        "baseline (normal client only)",
        10.min(secs),
        idle
    );
    attack!(
        "framing",
        "HTTP/1.1 smuggling and malformed framing, 8 loops",
        secs,
        framing
    );
    attack!(
        "sizes",
        "oversized target, head and declared body, 8 loops",
        secs,
        sizes
    );
    attack!(
        "slowloris",
        "slowloris: 500 dribbled heads + 50 dribbled bodies",
        secs.max(30),
        slowloris
    );
    attack!(
        "slow-read",
        "100 clients never reading a 4 MiB response",
        30,
        slow_read
    );
    attack!(
        "paths",
        "hostile paths, hosts, spoofed headers, wrong keys, 8 loops",
        secs,
        paths_and_keys
    );
    attack!(
        "rapid-reset",
        "HTTP/2 rapid reset, 4 connections x 1000 streams",
        secs.max(60),
        rapid_reset
    );
    attack!(
        "h2-floods",
        "HTTP/2 CONTINUATION, HPACK bomb, PING, SETTINGS floods",
        secs,
        h2_floods
    );
    attack!(
        "zero-window",
        "HTTP/2 zero window: 50 conns x 100 streams, pinging",
        30,
        zero_window
    );
    attack!(
        "tls",
        "TLS probing: old versions, weak suites, garbage, handshakes",
        secs,
        tls_probing
    );

    let alive = std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok();
    let log = std::fs::read_to_string(dir.path().join("gateway.log")).unwrap_or_default();
    println!("\n| attack | gateway answers (count) | RSS MiB before / peak / after | CPU % of one core | fds before / peak / after | normal client p50 / p99 / max ms | normal ok / failed |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} / {:.1} / {:.1} | {:.0} | {} / {} / {} | {:.1} / {:.1} / {:.1} | {} / {} |",
            r.name, r.answers, r.rss_mib.0, r.rss_mib.1, r.rss_mib.2, r.cpu_pct,
            r.fds.0, r.fds.1, r.fds.2, r.latency_ms.0, r.latency_ms.1, r.latency_ms.2,
            r.normal_ok, r.normal_failed
        );
    }
    println!(
        "\ngateway alive at the end: {alive}; panics in its log: {}; Blnk received {} requests",
        log.matches("panicked").count(),
        blnk.count()
    );
}
