//! HTTP/2: a body whose length disagrees with its DATA, or that the client resets midway, never
//! reaches Blnk; malformed fields are stream errors; the protocol ALPN agreed is the only one a
//! connection speaks.

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::{tls_gateway, TXN};
use crate::hostile::{assert_nothing_reached_blnk, open_h2, read_reply, QUIET};
use crate::support::gateway::TestGateway;
use crate::support::h2raw::*;

fn post(gw: &TestGateway) -> Vec<u8> {
    let mut b = request("POST", "/transactions");
    b.extend(literal(b"x-blnk-key", gw.key.as_bytes()));
    b
}

/// The stream's fate: its RST_STREAM code, or `None` if it got a response head.
async fn outcome(s: &mut TlsStream<TcpStream>, stream: u32) -> (Option<u32>, Vec<Frame>) {
    let (frames, _) = read_until(s, QUIET, |f| {
        f.iter()
            .any(|f| f.stream == stream && (f.ty == RST_STREAM || f.ty == HEADERS))
    })
    .await;
    (reset(&frames, stream), frames)
}

#[tokio::test]
async fn a_zero_content_length_with_data_is_a_stream_error_and_never_forwarded() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    for (id, declared, data) in [(1u32, "0", TXN), (3, "3", TXN)] {
        let mut b = post(&gw);
        b.extend(literal(b"content-length", declared.as_bytes()));
        s.write_all(&headers(id, false, &b)).await.unwrap();
        s.write_all(&frame(DATA, END_STREAM, id, data.as_bytes()))
            .await
            .unwrap();
        let (code, frames) = outcome(&mut s, id).await;
        assert_eq!(code, Some(PROTOCOL_ERROR), "{declared}: {frames:?}");
    }
    assert_nothing_reached_blnk(&gw);
}

/// A complete transaction in the first DATA frame, then the client resets the stream (with
/// NO_ERROR, which hyper reports as an end of body, or with CANCEL): Blnk must not act on it.
#[tokio::test]
async fn a_body_reset_midway_never_reaches_blnk() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    let declared = (TXN.len() + 10).to_string();
    let cases = [
        (1u32, Some(declared.as_str()), 0u32),
        (3, None, 0),
        (5, Some(declared.as_str()), CANCEL),
        (7, None, CANCEL),
    ];
    for (id, length, code) in cases {
        let mut b = post(&gw);
        if let Some(n) = length {
            b.extend(literal(b"content-length", n.as_bytes()));
        }
        s.write_all(&headers(id, false, &b)).await.unwrap();
        s.write_all(&frame(DATA, 0, id, TXN.as_bytes()))
            .await
            .unwrap();
        s.write_all(&rst(id, code)).await.unwrap();
    }
    // A request after them on the same connection is served: the resets were only streams.
    let mut b = request("GET", "/ledgers");
    b.extend(literal(b"x-blnk-key", gw.key.as_bytes()));
    s.write_all(&headers(9, true, &b)).await.unwrap();
    let (frames, _) = read_until(&mut s, QUIET, |f| {
        f.iter().any(|f| f.stream == 9 && f.ty == HEADERS)
    })
    .await;
    assert!(
        frames.iter().any(|f| f.stream == 9 && f.is_ok_status()),
        "{frames:?}"
    );
    let seen = gw.blnk.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
}

#[tokio::test]
async fn values_with_surrounding_whitespace_and_userinfo_are_stream_errors() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    let mut padded = request("GET", "/ledgers");
    padded.extend(literal(b"x-blnk-key", gw.key.as_bytes()));
    padded.extend(literal(b"x-note", b" padded"));
    let mut trailing = request("GET", "/ledgers");
    trailing.extend(literal(b"x-blnk-key", format!("{}\t", gw.key).as_bytes()));
    let mut userinfo = vec![0x82, 0x87];
    userinfo.extend(literal(b":authority", b"user:pw@localhost"));
    userinfo.extend(literal(b":path", b"/ledgers"));
    userinfo.extend(literal(b"x-blnk-key", gw.key.as_bytes()));
    for (id, block) in [(1u32, padded), (3, trailing), (5, userinfo)] {
        s.write_all(&headers(id, true, &block)).await.unwrap();
        let (code, frames) = outcome(&mut s, id).await;
        assert_eq!(code, Some(PROTOCOL_ERROR), "stream {id}: {frames:?}");
    }
    assert_nothing_reached_blnk(&gw);
    // The client leaves before the gateway stops: a connection left open would hold the drain
    // until its deadline (30 s).
    drop(s);
    let log = gw.stop_and_read_audit().await;
    assert_eq!(log.requests().len(), 3);
    for r in log.requests() {
        assert_eq!(r["reason"], "GATEWAY_BAD_REQUEST", "{r}");
    }
}

#[tokio::test]
async fn a_get_with_data_is_refused() {
    let gw = tls_gateway(json!({})).await;
    let mut s = open_h2(&gw, &[]).await;
    let mut b = request("GET", "/ledgers");
    b.extend(literal(b"x-blnk-key", gw.key.as_bytes()));
    s.write_all(&headers(1, false, &b)).await.unwrap();
    s.write_all(&frame(DATA, END_STREAM, 1, b"{}"))
        .await
        .unwrap();
    let (code, frames) = outcome(&mut s, 1).await;
    assert_eq!(code, None, "{frames:?}");
    assert!(
        frames
            .iter()
            .any(|f| f.stream == 1 && f.ty == HEADERS && !f.is_ok_status()),
        "{frames:?}"
    );
    assert_nothing_reached_blnk(&gw);
}

#[tokio::test]
async fn a_connection_speaks_only_the_protocol_alpn_agreed() {
    let gw = tls_gateway(json!({})).await;
    // h2 agreed, HTTP/1.1 sent: a connection error, no response.
    let mut s = crate::support::client::connect_tls(gw.addr, &gw.connector(&[b"h2"]))
        .await
        .unwrap();
    let get = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n\r\n",
        gw.key
    );
    let _ = s.write_all(get.as_bytes()).await;
    let reply = read_reply(&mut s).await;
    assert!(reply.closed);
    assert!(reply.responses.is_empty(), "{}", reply.text());

    // http/1.1 agreed, the HTTP/2 preface sent: a connection error, no HTTP/2 frames.
    let mut s = crate::support::client::connect_tls(gw.addr, &gw.connector(&[b"http/1.1"]))
        .await
        .unwrap();
    let _ = s.write_all(&opening(&[])).await;
    let mut b = request("GET", "/ledgers");
    b.extend(literal(b"x-blnk-key", gw.key.as_bytes()));
    let _ = s.write_all(&headers(1, true, &b)).await;
    let (frames, closed) = read_until(&mut s, QUIET, |_| false).await;
    assert!(closed);
    assert!(
        !frames.iter().any(|f| f.ty == HEADERS),
        "answered over HTTP/2: {frames:?}"
    );
    assert_nothing_reached_blnk(&gw);
}
