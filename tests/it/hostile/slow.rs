//! Slow clients: each is closed at its deadline (configured short here), Blnk sees nothing
//! complete, and other clients are served meanwhile.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{assert_nothing_reached_blnk, dribble, plain, read_reply, still_serves, wait_for};
use crate::support::clock::pace;
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::{Setup, TestGateway};

/// Short deadlines for every test here; the pace of each dribble is well under them, so only the
/// deadline measured from the first byte can end it.
fn short() -> serde_json::Value {
    json!({"limits": {
        "header_read_timeout": "300ms",
        "handshake_timeout": "300ms",
        "body_read_timeout": "300ms",
        "idle_timeout": "300ms",
        "upstream_response_timeout": "250ms",
    }})
}

const PACE: Duration = Duration::from_millis(20);

#[tokio::test(start_paused = true)]
async fn a_head_dribbled_byte_by_byte_is_cut_at_the_header_deadline() {
    pace();
    let gw = plain(short()).await;
    let head = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nX-Pad: {}\r\n\r\n",
        gw.key,
        "p".repeat(60)
    );
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    // ~150 bytes at 20 ms each would take 3 s; each byte is "progress", yet the head must be
    // complete 300 ms after its first byte.
    let sent = dribble(&mut tcp, head.as_bytes(), PACE).await;
    let reply = read_reply(&mut tcp).await;
    assert!(reply.closed);
    assert!(sent < head.len(), "the whole head went through");
    assert!(
        reply.statuses().iter().all(|s| *s != 200),
        "{}",
        reply.text()
    );
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_client_hello_dribbled_byte_by_byte_is_cut_at_the_handshake_deadline() {
    pace();
    let gw = TestGateway::start(Setup {
        gateway: short(),
        ..Setup::default()
    })
    .await;
    let hello = super::tls::client_hello(&gw);
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let sent = dribble(&mut tcp, &hello, PACE).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(super::QUIET, tcp.read_to_end(&mut rest)).await;
    assert!(sent < hello.len(), "the whole ClientHello went through");
    // No ServerHello: the handshake never progressed.
    assert!(rest.first() != Some(&0x16), "{rest:?}");
}

#[tokio::test(start_paused = true)]
async fn silent_connections_are_closed_at_their_deadline() {
    pace();
    // Plaintext: the header deadline runs from accept.
    let gw = plain(short()).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    assert!(read_reply(&mut tcp).await.closed);

    // TLS: the handshake deadline; then, after a handshake, the header deadline.
    let gw = TestGateway::start(Setup {
        gateway: short(),
        ..Setup::default()
    })
    .await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    assert!(read_reply(&mut tcp).await.closed);
    let mut tls = crate::support::client::connect_tls(gw.addr, &gw.connector(&[b"http/1.1"]))
        .await
        .unwrap();
    assert!(read_reply(&mut tls).await.closed);
    let mut tls = crate::support::client::connect_tls(gw.addr, &gw.connector(&[b"h2"]))
        .await
        .unwrap();
    assert!(read_reply(&mut tls).await.closed);
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_body_dribbled_byte_by_byte_is_408_at_the_body_deadline() {
    pace();
    let gw = plain(short()).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nContent-Length: 100\r\n\r\n",
        gw.key
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // The gateway answers at the deadline and lingers: the client may finish dribbling (its bytes
    // are read and dropped) and still reads the answer.
    dribble(&mut tcp, &[b'x'; 100], PACE).await;
    let reply = read_reply(&mut tcp).await;
    reply.assert_refused(408);
    assert_eq!(reply.responses[0].code(), "GATEWAY_REQUEST_TIMEOUT");
    assert_nothing_reached_blnk(&gw);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_a_large_response_is_dropped_at_the_idle_deadline() {
    pace();
    let gw = plain(short()).await;
    const LARGE: usize = 32 * 1024 * 1024;
    gw.blnk.set_behavior(Behavior::Large(LARGE));
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(gw.addr).await.unwrap();
    let head = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n\r\n",
        gw.key
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    // The event: the gateway gave up the exchange, so it dropped its connection to Blnk too.
    wait_for("the gateway to drop the stalled response", || {
        gw.blnk.closed_connections() >= 1
    })
    .await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(super::EVENT_DEADLINE, tcp.read_to_end(&mut got)).await;
    assert!(got.len() < LARGE, "the whole response was delivered");
    gw.blnk.set_behavior(Behavior::Normal);
    still_serves(&gw).await;
}

#[tokio::test(start_paused = true)]
async fn hundreds_of_slow_connections_leave_normal_clients_served() {
    pace();
    let gw = plain(json!({"limits": {"header_read_timeout": "2s", "idle_timeout": "2s", "upstream_response_timeout": "1s"}})).await;
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
        tcp.write_all(b"GET /ledgers HTTP/1.1\r\nHo").await.unwrap();
        slow.push(tcp);
    }
    for _ in 0..5 {
        still_serves(&gw).await;
    }
    // And every one of them is closed at its deadline.
    for mut tcp in slow {
        assert!(read_reply(&mut tcp).await.closed);
    }
    assert_eq!(gw.blnk.count(), 5);
}
