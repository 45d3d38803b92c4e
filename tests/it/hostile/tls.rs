//! TLS probing: only TLS 1.2 and 1.3 with AEAD, forward-secret suites; no renegotiation, no
//! 0-RTT; garbage, plaintext and oversized records end in an alert or a close, and the gateway
//! keeps serving. Hand-made ClientHellos express what a modern client library refuses to send;
//! `openssl s_client` drives renegotiation and early data (required: without it those tests fail,
//! naming the Debian package; .ci/test.sh installs it).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::tls_gateway;
use crate::support::gateway::TestGateway;
use crate::support::tlsraw::hello;

/// A ClientHello from rustls, as the bytes on the wire.
pub fn client_hello(gw: &TestGateway) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(gw.certs.ca.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

use crate::support::clock::pace;
use crate::support::tlsraw::{TLS_ECDHE_ECDSA_AES128_GCM_SHA256, TLS_ECDHE_RSA_AES128_GCM_SHA256};

/// What the server sent back before closing.
async fn probe(gw: &TestGateway, bytes: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let _ = tcp.write_all(bytes).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(super::EVENT_DEADLINE, tcp.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the gateway left the connection open");
    out
}

/// A fatal alert record, and nothing else (no ServerHello): returns its description.
#[track_caller]
fn fatal_alert(answer: &[u8]) -> u8 {
    assert!(
        answer.len() == 7 && answer[0] == 0x15 && answer[5] == 2,
        "not a lone fatal alert: {answer:02x?}"
    );
    answer[6]
}

const HANDSHAKE_FAILURE: u8 = 40;
const PROTOCOL_VERSION: u8 = 70;
const DECODE_ERROR: u8 = 50;
const RECORD_OVERFLOW: u8 = 22;

async fn still_serves_tls(gw: &TestGateway) {
    use crate::support::client::{get_ledgers, send1};
    let mut c = gw.h1().await;
    let a = send1(&mut c, get_ledgers(&gw.key)).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn sslv3_tls_1_0_and_1_1_are_refused_with_protocol_version() {
    let gw = tls_gateway(json!({})).await;
    let good = [
        TLS_ECDHE_ECDSA_AES128_GCM_SHA256,
        TLS_ECDHE_RSA_AES128_GCM_SHA256,
        0xc009,
        0xc013,
        0x002f,
    ];
    for version in [0x0300u16, 0x0301, 0x0302] {
        let answer = probe(&gw, &hello(0x0301, version, &good)).await;
        assert_eq!(
            fatal_alert(&answer),
            PROTOCOL_VERSION,
            "version {version:04x}"
        );
    }
    // An SSLv2-format ClientHello is not even TLS.
    let sslv2 = [
        0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10, 0x07, 0x00, 0xc0, 0x05,
        0x00, 0x80, 0x03, 0x00, 0x80, 0x01, 0x00, 0x80, 0x06, 0x00, 0x40, 0x04, 0x00, 0x80, 0x02,
        0x00, 0x80, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
        0xee, 0xff, 0x00,
    ];
    let answer = probe(&gw, &sslv2).await;
    assert!(answer.is_empty() || answer[0] == 0x15, "{answer:02x?}");
    assert_eq!(gw.blnk.count(), 0);
    still_serves_tls(&gw).await;
}

#[tokio::test(start_paused = true)]
async fn cbc_rc4_3des_null_export_and_static_rsa_suites_are_refused() {
    pace();
    let gw = tls_gateway(json!({})).await;
    for (name, suites) in [
        (
            "CBC with ECDHE",
            &[0xc009u16, 0xc00a, 0xc013, 0xc014, 0xc023, 0xc027][..],
        ),
        (
            "static RSA, no forward secrecy",
            &[0x002f, 0x0035, 0x009c, 0x009d, 0x003c][..],
        ),
        ("RC4", &[0x0005, 0x0004, 0xc007, 0xc011][..]),
        ("3DES", &[0x000a, 0xc008, 0xc012][..]),
        ("NULL", &[0x0001, 0x0002, 0x003b, 0xc006, 0xc010][..]),
        ("export and DES", &[0x0003, 0x0008, 0x0009, 0x0014][..]),
        ("anonymous DH", &[0x0018, 0x0034, 0x00a6, 0xc018][..]),
        ("DHE (finite field)", &[0x009e, 0x0033, 0x0067][..]),
    ] {
        let answer = probe(&gw, &hello(0x0301, 0x0303, suites)).await;
        assert_eq!(fatal_alert(&answer), HANDSHAKE_FAILURE, "{name}");
    }
    // The same hello with a good suite added is accepted: the refusals were about the suites.
    let answer = probe(
        &gw,
        &hello(0x0301, 0x0303, &[0x002f, TLS_ECDHE_ECDSA_AES128_GCM_SHA256]),
    )
    .await;
    assert_eq!(answer.first(), Some(&0x16), "{answer:02x?}");
}

#[tokio::test(start_paused = true)]
async fn plaintext_garbage_and_oversized_records_get_an_alert_or_a_close() {
    pace();
    let gw = tls_gateway(json!({})).await;
    let hello = client_hello(&gw);
    let mut garbage_first = b"\x00\x01\x02\x03garbage".to_vec();
    garbage_first.extend_from_slice(&hello);
    let mut oversized = vec![0x16, 0x03, 0x03, 0x48, 0x01];
    oversized.extend(std::iter::repeat_n(0u8, 0x4801));
    for (name, bytes) in [
        (
            "plaintext HTTP",
            b"GET /ledgers HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        ("h2c preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ("garbage before a ClientHello", garbage_first),
        ("oversized handshake record", oversized),
        ("empty handshake record", vec![0x16, 0x03, 0x03, 0x00, 0x00]),
        (
            "application data first",
            vec![0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5],
        ),
        ("truncated hello", hello[..hello.len() / 2].to_vec()),
    ] {
        let answer = probe(&gw, &bytes).await;
        assert!(
            answer.is_empty() || (answer[0] == 0x15 && !answer.starts_with(b"HTTP")),
            "{name}: {answer:02x?}"
        );
        if !answer.is_empty() {
            let d = fatal_alert(&answer);
            assert!(
                [DECODE_ERROR, RECORD_OVERFLOW, 10, 47].contains(&d),
                "{name}: alert {d}"
            );
        }
    }
    // After a good handshake, an oversized application-data record: alert or close, no answer.
    let mut tls = crate::support::client::connect_tls(gw.addr, &gw.connector(&[b"http/1.1"]))
        .await
        .unwrap();
    let tcp = tls.get_mut().0;
    let mut record = vec![0x17, 0x03, 0x03, 0xff, 0xff];
    record.extend(std::iter::repeat_n(0u8, 0xffff));
    let _ = tcp.write_all(&record).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(super::EVENT_DEADLINE, tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "left open after an oversized record");
    assert!(!rest.starts_with(b"HTTP"));
    assert_eq!(gw.blnk.count(), 0);
    still_serves_tls(&gw).await;
}

/// `openssl s_client` against the gateway, with `input` on its standard input. Fails the test
/// when openssl is not installed: a case that passed without running would prove nothing.
fn s_client(gw: &TestGateway, args: &[&str], input: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let addr = gw.addr.to_string();
    let child = Command::new("openssl")
        .args(["s_client", "-connect", &addr, "-servername", "localhost"])
        .args(["-CAfile", gw.certs.path("ca.pem").to_str().unwrap()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child.unwrap_or_else(|e| {
        panic!(
            "openssl is needed for this test ({e}): install the Debian package `openssl` \
             (sudo apt-get install openssl), or run .ci/test.sh, which installs it"
        )
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    // s_client exits at the end of its input, or when the server closes.
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_initiated_renegotiation_is_refused() {
    let gw = tls_gateway(json!({})).await;
    let gw = Arc::new(gw);
    let g = gw.clone();
    let out = tokio::task::spawn_blocking(move || {
        // "R" asks s_client to renegotiate; -ign_eof is not given, so it exits after.
        s_client(&g, &["-tls1_2", "-no_ign_eof"], b"R\n")
    })
    .await
    .unwrap();
    assert!(
        out.contains("Protocol  : TLSv1.2") || out.contains("TLSv1.2"),
        "{out}"
    );
    assert!(out.contains("RENEGOTIATING"), "{out}");
    // rustls never renegotiates: the second handshake never happens and the connection ends.
    let after = &out[out.find("RENEGOTIATING").unwrap()..];
    assert!(!after.contains("Verify return code"), "{out}");
    assert!(!after.contains("New, TLS"), "{out}");
    assert_eq!(out.matches("New, TLSv1.2").count(), 1, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_data_is_never_accepted() {
    let gw = Arc::new(tls_gateway(json!({})).await);
    let session = gw.dir.path().join("session.pem");
    let early = gw.dir.path().join("early.txt");
    let request = format!(
        "POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nContent-Length: 0\r\n\r\n",
        gw.key
    );
    std::fs::write(&early, &request).unwrap();
    let (g, s, e) = (gw.clone(), session.clone(), early.clone());
    let (first, second) = tokio::task::spawn_blocking(move || {
        let get = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let first = s_client(
            &g,
            &["-tls1_3", "-ign_eof", "-sess_out", s.to_str().unwrap()],
            get,
        );
        let second = s_client(
            &g,
            &[
                "-tls1_3",
                "-ign_eof",
                "-sess_in",
                s.to_str().unwrap(),
                "-early_data",
                e.to_str().unwrap(),
            ],
            get,
        );
        (first, second)
    })
    .await
    .unwrap();
    assert!(first.contains("HTTP/1.1 200"), "{first}");
    assert!(!second.contains("Early data was accepted"), "{second}");
    // The early request never reached Blnk: only the two /health requests did.
    let targets: Vec<String> = gw.blnk.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/health", "/health"]);
}
