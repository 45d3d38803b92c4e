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

/// Heads hyper refuses itself (a malformed field, one too large) never reach the gateway's
/// checks, yet each has its audit record (the peer and protocol, no method or path, the reason)
/// and its count, as docs/audit.md promises for every request.
#[tokio::test]
async fn heads_hyper_refuses_have_their_record_and_count() {
    let gw = plain_default().await;
    let bad = b"GET /ledgers HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n";
    exchange(gw.addr, bad).await.assert_refused(400);
    let large = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "v".repeat(17 * 1024)
    );
    exchange(gw.addr, large.as_bytes())
        .await
        .assert_refused(431);
    let count = |reason: &'static str| {
        let gw = &gw;
        async move {
            gw.metric(&format!(
                "blnk_gateway_protocol_refusals_total{{reason=\"{reason}\"}}"
            ))
            .await
        }
    };
    assert_eq!(count("malformed").await, 1.0);
    assert_eq!(count("head_too_large").await, 1.0);
    let requests_4xx =
        r#"blnk_gateway_requests_total{mode="verify",status_class="4xx",resource="unknown"}"#;
    assert_eq!(gw.metric(requests_4xx).await, 2.0);
    assert_eq!(gw.blnk.count(), 0);
    let records = gw.stop_and_read_audit().await.requests();
    let reasons: Vec<_> = records
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        reasons,
        ["HTTP_MALFORMED", "HTTP_HEAD_TOO_LARGE"],
        "{records:?}"
    );
    for r in &records {
        assert_eq!(
            (
                &r["decision"],
                &r["http"],
                &r["method"],
                &r["path"],
                &r["sent_upstream"]
            ),
            (
                &json!("rejected"),
                &json!("HTTP/1.1"),
                &json!(""),
                &json!(""),
                &json!(false)
            ),
            "{r}"
        );
        assert!(
            r["peer"]
                .as_str()
                .is_some_and(|p| p.starts_with("127.0.0.1")),
            "{r}"
        );
        assert!(!r["request_id"].as_str().unwrap_or("").is_empty(), "{r}");
    }
}

/// A chunk size no body can have (over 2^63 - 1) is refused at once (400), not answered with a
/// 408 once the body deadline passes: the deadline here is a minute, and the answer must come
/// within [`super::QUIET`] of the request.
#[tokio::test]
async fn a_chunk_size_past_any_body_is_400_at_once() {
    let gw = plain(json!({"limits": {"body_read_timeout": "60s"}})).await;
    for size in ["ffffffffffffffff", "8000000000000000"] {
        let head = format!(
            "POST /transactions HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabc",
            gw.key
        );
        let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        tcp.write_all(head.as_bytes()).await.unwrap();
        // The client keeps the connection open: only the gateway can end this exchange early.
        let reply = read_reply(&mut tcp).await;
        reply.assert_refused(400);
        assert_eq!(reply.responses[0].code(), "GATEWAY_BAD_REQUEST", "{size}");
    }
    assert_nothing_reached_blnk(&gw);
    still_serves(&gw).await;
}
