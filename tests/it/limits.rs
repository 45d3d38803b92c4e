//! Size limits and connection deadlines, with the raw bytes a hostile client would send.

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::client;
use crate::support::clock::pace;
use crate::support::gateway::{Setup, TestGateway};

fn plaintext(gateway: serde_json::Value) -> Setup {
    Setup {
        tls: false,
        gateway,
        ..Setup::default()
    }
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_413_before_reading_it() {
    let gw = TestGateway::start(plaintext(json!({"limits": {"max_body_bytes": 1024}}))).await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    // Declares 10 MB, sends none of it: the answer must not wait for the body.
    let head = format!("POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nContent-Length: 10000000\r\n\r\n", gw.key);
    let answer = client::raw(&mut tcp, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("GEN_PAYLOAD_TOO_LARGE"), "{answer}");
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_cut_off() {
    let gw = TestGateway::start(plaintext(json!({"limits": {"max_body_bytes": 1024}}))).await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!("POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nTransfer-Encoding: chunked\r\n\r\n", gw.key);
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("400\r\n{}\r\n", "a".repeat(0x400));
    for _ in 0..3 {
        if tcp.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let answer = client::read_to_close(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    // Blnk never received a complete body beyond the limit.
    assert!(gw.blnk.requests().iter().all(|r| r.body.len() <= 1024));
}

#[tokio::test]
async fn too_many_headers_are_refused() {
    let gw = TestGateway::start(plaintext(json!({"limits": {"max_headers": 20}}))).await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut head = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n",
        gw.key
    );
    for i in 0..40 {
        head.push_str(&format!("X-H{i}: v\r\n"));
    }
    head.push_str("\r\n");
    let answer = client::raw(&mut tcp, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn an_oversized_header_block_is_refused() {
    let gw = TestGateway::start(plaintext(json!({}))).await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = tcp.write_all(head.as_bytes()).await;
    let answer = client::read_to_close(&mut tcp).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_head_dribbled_past_the_header_deadline_is_closed() {
    pace();
    let gw = TestGateway::start(plaintext(
        json!({"limits": {"header_read_timeout": "200ms"}}),
    ))
    .await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /ledgers HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The rest never comes; the gateway closes at its deadline, well before the test client's.
    let answer = client::read_to_close(&mut tcp).await;
    assert!(!answer.contains("200"), "{answer}");
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_tls_handshake_that_never_comes_is_closed() {
    pace();
    let gw = TestGateway::start(Setup {
        tls: true,
        gateway: json!({"limits": {"handshake_timeout": "200ms"}}),
        ..Setup::default()
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    assert_eq!(client::read_to_close(&mut tcp).await, "");
}

#[tokio::test]
async fn plaintext_http_on_the_tls_port_is_dropped() {
    let gw = TestGateway::start(Setup::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let answer = client::raw(
        &mut tcp,
        format!(
            "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n\r\n",
            gw.key
        )
        .as_bytes(),
    )
    .await;
    assert!(!answer.contains("HTTP/1.1 200"), "{answer}");
    assert_eq!(gw.blnk.count(), 0);
}
