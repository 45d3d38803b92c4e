//! Size and count limits: 414 for a long target, 431 for a long line, block or count, 413 for a
//! body over the limit (declared or growing), and many requests on one connection.

use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::{
    assert_nothing_reached_blnk, exchange, plain, plain_default, read_reply, still_serves,
};

#[tokio::test]
async fn a_long_request_target_is_414_and_a_longer_head_431() {
    let gw = plain_default().await;
    let long = format!(
        "/ledgers?q={}",
        "a".repeat(blnk_gateway::limits::MAX_URI_BYTES)
    );
    let head = format!(
        "GET {long} HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n\r\n",
        gw.key
    );
    let reply = exchange(gw.addr, head.as_bytes()).await;
    reply.assert_refused(414);
    assert_eq!(reply.responses[0].code(), "GATEWAY_URI_TOO_LONG");
    // Past the whole head limit (16 KiB) hyper refuses before the gateway sees a target.
    let longer = format!("/ledgers?q={}", "a".repeat(17 * 1024));
    let head = format!("GET {longer} HTTP/1.1\r\nHost: x\r\n\r\n");
    exchange(gw.addr, head.as_bytes()).await.assert_refused(431);
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn a_long_header_line_and_one_header_too_many_are_431() {
    let gw = plain_default().await;
    let line = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nX-Long: {}\r\n\r\n",
        gw.key,
        "v".repeat(16 * 1024)
    );
    exchange(gw.addr, line.as_bytes()).await.assert_refused(431);
    // The default limit is 100 fields; Host and the key are two of them.
    let mut many = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n",
        gw.key
    );
    for i in 0..99 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    exchange(gw.addr, many.as_bytes()).await.assert_refused(431);
    assert_eq!(gw.blnk.count(), 0);
    still_serves(&gw).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_declared_or_growing_and_blnk_gets_no_complete_request() {
    let gw = plain(json!({"limits": {"max_body_bytes": 1024}})).await;
    // Declared: refused before a byte of the body is read.
    let head = format!(
        "POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nContent-Length: 1025\r\n\r\n",
        gw.key
    );
    let reply = exchange(gw.addr, head.as_bytes()).await;
    reply.assert_refused(413);
    assert_eq!(reply.responses[0].code(), "GEN_PAYLOAD_TOO_LARGE");
    assert_eq!(gw.blnk.count(), 0);
    // Growing: chunked, one byte past the limit; the upstream request is aborted.
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        gw.key
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let _ = tcp
        .write_all(format!("400\r\n{}\r\n1\r\nx\r\n0\r\n\r\n", "a".repeat(1024)).as_bytes())
        .await;
    let reply = read_reply(&mut tcp).await;
    reply.assert_refused(413);
    assert_nothing_reached_blnk(&gw);
}

#[tokio::test]
async fn many_requests_on_one_connection_are_each_answered() {
    let gw = plain_default().await;
    let one = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n\r\n",
        gw.key
    );
    let mut stream = one.repeat(499);
    stream.push_str(&one.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"));
    let reply = exchange(gw.addr, stream.as_bytes()).await;
    assert_eq!(reply.statuses(), vec![200; 500]);
    assert!(reply.closed);
    assert_eq!(gw.blnk.count(), 500);
}
