//! HTTP/1.1: bodies cut off, malformed, slow or too large never reach Blnk, and the client is told
//! so; clients that half-close, or that write their whole body before reading, get the answer.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{plain, post_head, short_body, tls_gateway, txn, TXN};
use crate::hostile::{assert_nothing_reached_blnk, dribble, exchange, read_reply, wait_for};
use crate::support::client::{self, CLIENT_DEADLINE};
use crate::support::clock::pace;
use crate::support::gateway::TestGateway;

/// A normal `POST /transactions` on its own connection; the statuses it got.
async fn normal_post(gw: &TestGateway) -> Vec<u16> {
    let framing = format!("Content-Length: {}\r\nConnection: close\r\n", TXN.len());
    let request = format!("{}{TXN}", post_head(gw, "normal", &framing));
    exchange(gw.addr, request.as_bytes()).await.statuses()
}

/// The gateway's own answer to a HEAD (401, no key) is its head and nothing after it: the
/// connection ends right after the blank line.
#[tokio::test]
async fn a_local_answer_to_head_is_only_a_head() {
    let gw = plain(json!({})).await;
    let reply = exchange(
        gw.addr,
        b"HEAD /ledgers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = reply.text();
    assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "{text}");
    assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
    let len = text.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length: ")
            .map(str::to_owned)
    });
    assert!(
        len.is_some_and(|n| n != "0"),
        "the length GET would have: {text}"
    );
    assert_nothing_reached_blnk(&gw);
}

#[tokio::test(start_paused = true)]
async fn a_body_shorter_than_its_length_held_open_is_408_and_blnk_sees_nothing() {
    pace();
    let gw = plain(short_body()).await;
    let framing = format!("Content-Length: {}\r\n", TXN.len() + 20);
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let request = format!("{}{TXN}", post_head(&gw, "cl-short", &framing));
    tcp.write_all(request.as_bytes()).await.unwrap();
    // The connection stays open: the rest of the body never comes.
    let reply = read_reply(&mut tcp).await;
    reply.assert_refused(408);
    assert_eq!(reply.responses[0].code(), "GATEWAY_REQUEST_TIMEOUT");
    assert_nothing_reached_blnk(&gw);
    let r = gw.stop_and_read_audit().await.one("cl-short");
    assert_eq!(
        (&r["reason"], &r["sent_upstream"], &r["upstream_status"]),
        (
            &json!("GATEWAY_REQUEST_TIMEOUT"),
            &json!(false),
            &Value::Null
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_chunked_body_with_a_complete_transaction_then_bad_framing_never_reaches_blnk() {
    pace();
    let gw = plain(short_body()).await;
    let first = format!("{:x}\r\n{TXN}\r\n", TXN.len());
    let cases: [(&str, String, u16); 7] = [
        ("malformed chunk size", format!("{first}ZZ\r\n"), 400),
        (
            "bad chunk terminator",
            format!("{:x}\r\n{TXN}XX", TXN.len()),
            400,
        ),
        (
            "bad trailer",
            format!("{first}0\r\nBad Trailer\r\n\r\n"),
            400,
        ),
        (
            "chunk size overflow",
            format!("{first}fffffffffffffffff\r\n"),
            400,
        ),
        (
            "bare LF after size",
            format!("{first}5\nhello\r\n0\r\n\r\n"),
            400,
        ),
        // Held open: the final CRLF never comes, so the body never ends.
        ("missing final CRLF", format!("{first}0\r\n"), 408),
        ("missing last chunk", first.clone(), 408),
    ];
    for (what, body, status) in cases {
        let head = post_head(&gw, what, "Transfer-Encoding: chunked\r\n");
        let reply = exchange(gw.addr, format!("{head}{body}").as_bytes()).await;
        assert_eq!(reply.statuses(), vec![status], "{what}: {}", reply.text());
        assert!(reply.closed, "{what}");
    }
    assert_nothing_reached_blnk(&gw);
}

#[tokio::test]
async fn a_body_cut_off_by_the_client_never_reaches_blnk() {
    let gw = plain(json!({})).await;
    for framing in [
        format!("Content-Length: {}\r\n", TXN.len() + 1),
        "Transfer-Encoding: chunked\r\n".to_string(),
    ] {
        let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
        let body = if framing.starts_with("Content") {
            TXN.to_string()
        } else {
            format!("{:x}\r\n{TXN}\r\n", TXN.len())
        };
        let request = format!("{}{body}", post_head(&gw, "cut", &framing));
        tcp.write_all(request.as_bytes()).await.unwrap();
        tcp.shutdown().await.unwrap();
        let reply = read_reply(&mut tcp).await;
        assert!(
            reply.statuses().iter().all(|s| *s == 400),
            "{}",
            reply.text()
        );
    }
    assert_nothing_reached_blnk(&gw);
}

#[tokio::test(start_paused = true)]
async fn slow_uploads_meet_408_and_hold_nothing_at_blnk_while_others_are_served() {
    pace();
    let gw = plain(short_body()).await;
    let mut slow = Vec::new();
    for i in 0..20 {
        let head = post_head(&gw, &format!("slow-{i}"), "Content-Length: 100\r\n");
        slow.push(tokio::spawn({
            let addr = gw.addr;
            async move {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                tcp.write_all(head.as_bytes()).await.unwrap();
                dribble(&mut tcp, &[b'x'; 100], Duration::from_millis(25)).await;
                read_reply(&mut tcp).await.statuses()
            }
        }));
    }
    // Meanwhile a normal client is served, on the one connection Blnk sees.
    assert_eq!(normal_post(&gw).await, vec![201]);
    for s in slow {
        assert_eq!(s.await.unwrap(), vec![408]);
    }
    assert_eq!(gw.blnk.count(), 1);
    assert_eq!(gw.blnk.accepted_connections(), 1);
}

#[tokio::test]
async fn a_get_with_a_body_is_refused_whatever_its_framing() {
    let gw = plain(json!({})).await;
    let get = |framing: &str, body: &str| {
        format!(
            "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n{framing}\r\n{body}",
            gw.key
        )
    };
    for (framing, body) in [
        ("Content-Length: 5\r\n", "hello"),
        ("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"),
        ("Transfer-Encoding: chunked\r\n", "0\r\n\r\n"),
    ] {
        let reply = exchange(gw.addr, get(framing, body).as_bytes()).await;
        reply.assert_refused(400);
        assert_eq!(reply.responses[0].code(), "GATEWAY_BAD_REQUEST");
    }
    assert_nothing_reached_blnk(&gw);
    // An empty declared body is no body.
    let reply = exchange(
        gw.addr,
        get("Content-Length: 0\r\nConnection: close\r\n", "").as_bytes(),
    )
    .await;
    assert_eq!(reply.statuses(), vec![200], "{}", reply.text());
    assert_eq!(gw.blnk.count(), 1);
}

/// A client that sends a whole request and then shuts down its sending side still gets the
/// answer, and the request its record: over plain TCP, and over TLS with and without
/// `close_notify`.
#[tokio::test]
async fn a_half_closed_client_gets_its_answer_and_its_record() {
    let plain_gw = plain(json!({})).await;
    let tls_gw = tls_gateway(json!({})).await;
    let request = |gw: &TestGateway, id: &str| {
        let body = txn(id);
        format!(
            "{}{body}",
            post_head(gw, id, &format!("Content-Length: {}\r\n", body.len()))
        )
    };
    for i in 0..10 {
        let id = format!("plain-{i}");
        let mut tcp = TcpStream::connect(plain_gw.addr).await.unwrap();
        tcp.write_all(request(&plain_gw, &id).as_bytes())
            .await
            .unwrap();
        tcp.shutdown().await.unwrap();
        assert_eq!(read_reply(&mut tcp).await.statuses(), vec![201], "{id}");

        for notify in [true, false] {
            let id = format!("tls-{notify}-{i}");
            let connector = tls_gw.connector(&[b"http/1.1"]);
            let mut tls = client::connect_tls(tls_gw.addr, &connector).await.unwrap();
            tls.write_all(request(&tls_gw, &id).as_bytes())
                .await
                .unwrap();
            tls.flush().await.unwrap();
            if notify {
                tls.shutdown().await.unwrap();
            } else {
                socket2::SockRef::from(tls.get_ref().0)
                    .shutdown(std::net::Shutdown::Write)
                    .unwrap();
            }
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(CLIENT_DEADLINE, tls.read_to_end(&mut answer)).await;
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.starts_with("HTTP/1.1 201"), "{id}: {answer}");
        }
    }
    assert_eq!(plain_gw.blnk.count(), 10);
    assert_eq!(tls_gw.blnk.count(), 20);
    for (gw, ids) in [
        (plain_gw, vec!["plain-3".to_string()]),
        (tls_gw, vec!["tls-true-3".into(), "tls-false-3".into()]),
    ] {
        let log = gw.stop_and_read_audit().await;
        assert_eq!(log.requests().len(), ids.len() * 10);
        for id in ids {
            let r = log.one(&id);
            // A transfer's record is on disk before its answer leaves: it says `answered`.
            assert_eq!(
                (&r["decision"], &r["upstream_status"], &r["end"]),
                (&json!("forwarded"), &json!(201), &json!("answered")),
                "{r}"
            );
        }
    }
}

/// Python's `requests`, like many clients, writes the whole body before it reads. An answer
/// given before the body arrived (413 here, by the declared length) must still reach it.
#[tokio::test]
async fn a_client_that_writes_six_mib_before_reading_gets_the_413() {
    let gw = tls_gateway(json!({})).await;
    let body = vec![b'a'; 6 * 1024 * 1024];
    for id in ["big-1", "big-2"] {
        let connector = gw.connector(&[b"http/1.1"]);
        let mut tls = client::connect_tls(gw.addr, &connector).await.unwrap();
        let head = post_head(&gw, id, &format!("Content-Length: {}\r\n", body.len()));
        tokio::time::timeout(CLIENT_DEADLINE, async {
            tls.write_all(head.as_bytes()).await.unwrap();
            tls.write_all(&body).await.unwrap();
            tls.flush().await.unwrap();
        })
        .await
        .expect("the gateway stopped reading before the body was sent");
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(CLIENT_DEADLINE, tls.read_to_end(&mut answer)).await;
        let reply = crate::hostile::parse_responses(&answer);
        assert_eq!(reply.len(), 1, "{}", String::from_utf8_lossy(&answer));
        assert_eq!(reply[0].status, 413);
        assert_eq!(reply[0].code(), "GEN_PAYLOAD_TOO_LARGE");
    }
    assert_nothing_reached_blnk(&gw);
}

/// The buffer budget: slow uploads of large bodies fill their share and further large bodies
/// get 503 with `Retry-After`, while a normal request is still served from the reserve.
#[tokio::test(start_paused = true)]
async fn large_uploads_that_exhaust_the_buffer_budget_get_503_while_a_normal_client_is_served() {
    pace();
    let gw = plain(json!({"limits": {
        "max_body_bytes": 256 * 1024,
        "max_buffered_bytes": 512 * 1024,
        "body_read_timeout": "20s",
    }}))
    .await;
    let declared = format!("Content-Length: {}\r\n", 256 * 1024);
    let part = vec![b'x'; 200 * 1024];
    // The first upload sends 200 KiB and holds: 64 KiB of the budget's small share, 136 KiB of
    // its large share (384 KiB).
    let mut first = TcpStream::connect(gw.addr).await.unwrap();
    first
        .write_all(post_head(&gw, "first", &declared).as_bytes())
        .await
        .unwrap();
    first.write_all(&part).await.unwrap();
    wait_for("the first upload is buffered", || {
        gw.state.buffers.in_use() >= 200 * 1024
    })
    .await;
    // The second finds no room for its large bytes, waits briefly, and is told to retry.
    let mut second = TcpStream::connect(gw.addr).await.unwrap();
    second
        .write_all(post_head(&gw, "second", &declared).as_bytes())
        .await
        .unwrap();
    second.write_all(&part).await.unwrap();
    let reply = read_reply(&mut second).await;
    reply.assert_refused(503);
    assert_eq!(reply.responses[0].code(), "GATEWAY_BUSY");
    assert_eq!(reply.responses[0].header("retry-after"), Some("1"));
    // A normal client is served meanwhile.
    assert_eq!(normal_post(&gw).await, vec![201]);
    assert_eq!(gw.blnk.count(), 1);
    drop(first);
    wait_for("the first upload's bytes are given back", || {
        gw.state.buffers.in_use() == 0
    })
    .await;
}
