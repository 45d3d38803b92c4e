//! HTTP/1.1 framing and smuggling. A request whose framing is ambiguous is refused (400, or 501
//! for a transfer coding the gateway cannot undo) and the connection closed, with nothing sent to
//! Blnk; where RFC 9112 gives one reading (Transfer-Encoding over Content-Length, identical
//! duplicate lengths, bare LF line ends), Blnk receives exactly one request re-framed by the
//! gateway and nothing that followed it on the connection.

use tokio::io::AsyncWriteExt;

use super::{
    assert_all_complete, assert_nothing_reached_blnk, exchange, plain_default, read_reply,
    still_serves,
};
use crate::support::clock::pace;

/// `POST /identities` (a route the fake echoes, whatever the body) with the right key, the given
/// framing headers and raw body bytes, followed by a smuggled request that must never reach Blnk.
fn post(key: &str, framing: &str, body: &str) -> Vec<u8> {
    format!(
        "POST /identities HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\n{framing}\r\n{body}\
         GET /api-keys HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_read_as_chunked_then_closed() {
    let gw = plain_default().await;
    for framing in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
        "Content-Length: 40\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let reply = exchange(gw.addr, &post(&gw.key, framing, "5\r\nhello\r\n0\r\n\r\n")).await;
        // RFC 9112 6.3: Transfer-Encoding overrides; the connection closes after the response, so
        // the bytes that follow the chunked body are never parsed as a request.
        reply.assert_refused(201);
    }
    let seen = gw.blnk.requests();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for r in &seen {
        assert_eq!(r.target, "/identities");
        assert_eq!(&r.body[..], b"hello");
        assert!(r.all("content-length").len() <= 1);
        assert_ne!(r.one("content-length").as_deref(), Some("4"));
    }
    assert_all_complete(&gw);
}

#[tokio::test]
async fn conflicting_list_valued_and_malformed_lengths_are_400() {
    let gw = plain_default().await;
    for framing in [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: 5,6\r\n",
        "Content-Length: +5\r\n",
        "Content-Length: -5\r\n",
        "Content-Length: 0x5\r\n",
        "Content-Length: 5 5\r\n",
        "Content-Length: 5.0\r\n",
        "Content-Length: 5e0\r\n",
        "Content-Length: 99999999999999999999999\r\n",
        "Content-Length: 18446744073709551616\r\n",
        "Content-Length: \r\n",
        "Content-Length: \x0b5\r\n",
    ] {
        let reply = exchange(gw.addr, &post(&gw.key, framing, "hello")).await;
        reply.assert_refused(400);
    }
    assert_eq!(gw.blnk.count(), 0);
    still_serves(&gw).await;
}

#[tokio::test]
async fn identical_duplicate_lengths_are_one_length() {
    let gw = plain_default().await;
    let framing = "Content-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n";
    let reply = exchange(gw.addr, &post(&gw.key, framing, "hello")).await;
    reply.assert_refused(201);
    let seen = gw.blnk.last();
    assert_eq!(gw.blnk.count(), 1);
    assert_eq!(seen.all("content-length"), vec!["5".to_string()]);
    assert_eq!(&seen.body[..], b"hello");
}

#[tokio::test]
async fn obfuscated_transfer_encodings_are_refused() {
    let gw = plain_default().await;
    let chunked = "5\r\nhello\r\n0\r\n\r\n";
    for (framing, status) in [
        ("Transfer-Encoding : chunked\r\n", 400),
        ("Transfer-Encoding\t: chunked\r\n", 400),
        (" Transfer-Encoding: chunked\r\n", 400),
        ("Transfer-Encoding: xchunked\r\n", 400),
        ("Transfer-Encoding: chunked, identity\r\n", 400),
        ("Transfer-Encoding: identity\r\n", 400),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
            400,
        ),
        ("Transfer-Encoding: \x0bchunked\r\n", 400),
        ("Transfer-Encoding: chunked, chunked\r\n", 400),
        ("Transfer-Encoding: gzip, chunked\r\n", 501),
        (
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            501,
        ),
        ("Transfer-Encoding: x-custom, chunked\r\n", 501),
    ] {
        let reply = exchange(gw.addr, &post(&gw.key, framing, chunked)).await;
        reply.assert_refused(status);
        if status != 400 || !reply.responses[0].body.is_empty() {
            // The gateway's own refusals are in Blnk's shape.
            assert!(
                reply.responses[0].code().starts_with("GATEWAY_"),
                "{framing:?}: {}",
                reply.text()
            );
        }
    }
    assert_eq!(gw.blnk.count(), 0);
    // HTTP/1.0 has no transfer codings at all.
    let reply = exchange(
        gw.addr,
        format!(
            "POST /identities HTTP/1.0\r\nHost: x\r\nX-Blnk-Key: {}\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}",
            gw.key
        )
        .as_bytes(),
    )
    .await;
    reply.assert_refused(400);
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn transfer_coding_names_are_case_and_whitespace_insensitive() {
    let gw = plain_default().await;
    for framing in [
        "Transfer-Encoding: Chunked\r\nConnection: close\r\n",
        "Transfer-Encoding:   CHUNKED  \r\nConnection: close\r\n",
        "Transfer-Encoding:\tchunked\r\nConnection: close\r\n",
    ] {
        let reply = exchange(gw.addr, &post(&gw.key, framing, "5\r\nhello\r\n0\r\n\r\n")).await;
        reply.assert_refused(201);
    }
    assert_eq!(gw.blnk.count(), 3);
    assert!(gw.blnk.requests().iter().all(|r| &r.body[..] == b"hello"));
}

#[tokio::test]
async fn obs_fold_bare_cr_nul_and_control_bytes_are_400() {
    let gw = plain_default().await;
    let k = &gw.key;
    for head in [
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-A: a\r\n b\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key:\r\n {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-A: a\rX-B: b\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\rX-A: a\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\rHost: x\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-A\0: b\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-A: b\0c\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\0\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-A: b\x01c\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-A: b\x7fc\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-\x01A: b\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX A: b\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\n: b\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nno colon\r\n\r\n"),
        format!("GET /led\0gers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1 x\r\nHost: x\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/9.9\r\nHost: x\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("G\x01T /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\n\r\n"),
    ] {
        let reply = exchange(gw.addr, head.as_bytes()).await;
        reply.assert_refused(400);
    }
    assert_eq!(gw.blnk.count(), 0);
    still_serves(&gw).await;
}

#[tokio::test]
async fn bare_lf_line_ends_are_one_request_reframed_with_crlf() {
    // RFC 9112 2.2 lets a recipient accept a bare LF as a line end; the gateway re-serialises the
    // request, so Blnk never sees the bare LF, and a header cannot hide inside another.
    let gw = plain_default().await;
    let head = format!(
        "GET /ledgers HTTP/1.1\nHost: x\nX-Blnk-Key: {}\nX-A: a\nConnection: close\n\n",
        gw.key
    );
    let reply = exchange(gw.addr, head.as_bytes()).await;
    reply.assert_refused(200);
    let seen = gw.blnk.last();
    assert_eq!(gw.blnk.count(), 1);
    assert_eq!(seen.one("x-a").as_deref(), Some("a"));
}

#[tokio::test]
async fn malformed_chunks_abort_the_upstream_request_with_400() {
    let gw = plain_default().await;
    for body in [
        "-5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "+5\r\nhello\r\n0\r\n\r\n",
        "5 5\r\nhello\r\n0\r\n\r\n",
        "\r\nhello\r\n0\r\n\r\n",
        "g\r\nhello\r\n0\r\n\r\n",
        "fffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n",
        "5\rhello\r\n0\r\n\r\n",
        "3\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "5;ext\nhello\r\n0\r\n\r\n",
        "5;a=\"\r\n\"\r\nhello\r\n0\r\n\r\n",
    ] {
        let reply = exchange(
            gw.addr,
            &post(&gw.key, "Transfer-Encoding: chunked\r\n", body),
        )
        .await;
        reply.assert_refused(400);
        assert_eq!(reply.responses[0].code(), "GATEWAY_BAD_REQUEST", "{body:?}");
    }
    // Blnk may have seen a request start; none ever completed, and nothing was smuggled.
    assert_nothing_reached_blnk(&gw);
    assert!(gw.blnk.requests().iter().all(|r| r.target == "/ledgers"));
}

#[tokio::test]
async fn chunk_extensions_are_ignored_within_their_limit_and_refused_beyond() {
    let gw = plain_default().await;
    let ok = post(
        &gw.key,
        "Transfer-Encoding: chunked\r\nConnection: close\r\n",
        "5;name=value;q=\"x y\"\r\nhello\r\n0;last\r\n\r\n",
    );
    exchange(gw.addr, &ok).await.assert_refused(201);
    assert_eq!(&gw.blnk.last().body[..], b"hello");
    // hyper caps extensions at 16 KiB per body: endless extensions cannot pin the connection.
    let ext = ";e=x".repeat(8 * 1024);
    let flood = format!("1{ext}\r\na\r\n1{ext}\r\nb\r\n0\r\n\r\n");
    let reply = exchange(
        gw.addr,
        &post(&gw.key, "Transfer-Encoding: chunked\r\n", &flood),
    )
    .await;
    reply.assert_refused(400);
    assert_eq!(gw.blnk.requests().iter().filter(|r| r.complete).count(), 1);
}

#[tokio::test(start_paused = true)]
async fn request_trailers_are_never_forwarded_nor_merged() {
    pace();
    let gw = plain_default().await;
    let trailers = "0\r\nX-Blnk-Key: trailer-key\r\nX-Forwarded-For: 6.6.6.6\r\nContent-Length: 99\r\nHost: evil\r\n\r\n";
    let body = format!("5\r\nhello\r\n{trailers}");
    let reply = exchange(
        gw.addr,
        &post(
            &gw.key,
            "Transfer-Encoding: chunked\r\nTrailer: X-Blnk-Key\r\nConnection: close\r\n",
            &body,
        ),
    )
    .await;
    reply.assert_refused(201);
    let seen = gw.blnk.last();
    assert_eq!(gw.blnk.count(), 1);
    assert_eq!(&seen.body[..], b"hello");
    assert!(seen.trailers.is_none(), "{:?}", seen.trailers);
    assert_eq!(seen.all("x-blnk-key"), vec![gw.key.clone()]);
    assert_eq!(seen.one("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert!(seen.all("trailer").is_empty());

    // A key in the trailers alone authenticates nothing: the decision is made on the head.
    let head = format!(
        "POST /ledgers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Blnk-Key: {}\r\n\r\n",
        gw.key
    );
    let reply = exchange(gw.addr, head.as_bytes()).await;
    assert_eq!(reply.statuses(), vec![401], "{}", reply.text());
    assert_eq!(reply.responses[0].code(), "AUTH_MISSING_API_KEY");
    assert_eq!(gw.blnk.count(), 1);
}

#[tokio::test]
async fn pipelined_requests_after_bodies_are_each_authenticated() {
    let gw = plain_default().await;
    let k = &gw.key;
    // A request hidden in a Content-Length body is body; one after a chunked body is a request of
    // its own and is authenticated on its own; the unauthenticated one's body is discarded unread.
    let smuggled = format!("GET /api-keys HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\n\r\n");
    let hidden = format!(
        "POST /ledgers HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n{smuggled}",
        len = smuggled.len()
    );
    let stream = format!(
        "POST /identities HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nContent-Length: {len}\r\n\r\n{smuggled}\
         POST /balances HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n\
         GET /accounts HTTP/1.1\r\nHost: x\r\n\r\n\
         {hidden}\
         GET /identities HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nConnection: close\r\n\r\n",
        len = smuggled.len()
    );
    let reply = exchange(gw.addr, stream.as_bytes()).await;
    let statuses = reply.statuses();
    // The unauthenticated POST with a body may end the connection (hyper does not always drain an
    // unread body); what matters is that the hidden request never runs.
    assert!(
        statuses == vec![201, 201, 401, 401, 200] || statuses == vec![201, 201, 401, 401],
        "{}",
        reply.text()
    );
    let targets: Vec<String> = gw.blnk.requests().into_iter().map(|r| r.target).collect();
    assert!(
        targets == ["/identities", "/balances", "/identities"]
            || targets == ["/identities", "/balances"],
        "{targets:?}"
    );
    assert_eq!(&gw.blnk.requests()[0].body[..], smuggled.as_bytes());
    assert_all_complete(&gw);
}

#[tokio::test]
async fn expect_100_continue_is_refused_early_without_reading_the_body() {
    let gw = super::plain(serde_json::json!({"limits": {"max_body_bytes": 1024}})).await;
    // No key: 401 at once; the key with a body over max_body_bytes: 413 at once. Neither gets a
    // 100 Continue, neither body is wanted.
    for (head, status) in [
        ("POST /transactions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n".to_string(), 401),
        (format!("POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nExpect: 100-continue\r\nContent-Length: 100000\r\n\r\n", gw.key), 413),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        tcp.write_all(head.as_bytes()).await.unwrap();
        let reply = read_reply(&mut tcp).await;
        assert_eq!(reply.statuses(), [status], "{}", reply.text());
        assert!(reply.closed, "{}", reply.text());
    }
    assert_eq!(gw.blnk.count(), 0);

    // With the key and a small body: 100 Continue, then the body, then Blnk's answer; Blnk is not
    // asked to answer the expectation a second time.
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!("POST /identities HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n", gw.key);
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 25];
    tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut first)
        .await
        .unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    tcp.write_all(b"hello").await.unwrap();
    let reply = read_reply(&mut tcp).await;
    reply.assert_refused(201);
    let seen = gw.blnk.last();
    assert_eq!(&seen.body[..], b"hello");
    assert!(seen.all("expect").is_empty());
}

#[tokio::test]
async fn upgrades_to_h2c_and_websocket_are_never_tunnelled() {
    let gw = plain_default().await;
    let k = &gw.key;
    for upgrade in [
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n",
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        "Upgrade: websocket\r\n",
        "Connection: upgrade\r\nUpgrade: TLS/1.2, HTTP/1.1\r\n",
    ] {
        let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        let head = format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\n{upgrade}\r\n");
        tcp.write_all(head.as_bytes()).await.unwrap();
        // Then what a client that believed the upgrade would send: a WebSocket frame, an h2
        // preface. It is read as HTTP/1.1 and refused.
        tcp.write_all(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let reply = read_reply(&mut tcp).await;
        assert_eq!(reply.statuses(), vec![200, 400], "{}", reply.text());
        assert!(reply.closed);
        assert!(!reply.text().contains(" 101 "));
    }
    assert_eq!(gw.blnk.count(), 4);
    for seen in gw.blnk.requests() {
        assert!(seen.all("upgrade").is_empty(), "{seen:?}");
        assert!(seen.all("http2-settings").is_empty(), "{seen:?}");
        let connection = seen.all("connection").join(",").to_ascii_lowercase();
        assert!(!connection.contains("upgrade"), "{connection}");
    }
}
