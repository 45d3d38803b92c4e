//! What reaches Blnk and what comes back: hop-by-hop removal, forwarding headers, request ids,
//! and the response headers that must not leak.

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::client::{self, bare, empty, get_ledgers, keyed, send1};
use crate::support::gateway::{Setup, TestGateway};

#[tokio::test]
async fn hop_by_hop_headers_and_connection_named_ones_never_reach_blnk() {
    let gw = TestGateway::start(Setup::default()).await;
    let mut c = gw.h1().await;
    let r = keyed("GET", "/accounts", &gw.key)
        .header(
            "connection",
            "keep-alive, X-Blnk-Key, X-Custom, X-Forwarded-For",
        )
        .header("keep-alive", "timeout=5")
        .header("x-custom", "drop me")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-real-ip", "6.6.6.6")
        .header("forwarded", "for=6.6.6.6")
        .header("x-keep", "kept")
        .body(empty())
        .unwrap();
    let a = send1(&mut c, r).await;
    assert_eq!(a.status, 200);
    let seen = gw.blnk.last();
    for gone in [
        "keep-alive",
        "x-custom",
        "te",
        "proxy-authorization",
        "x-real-ip",
        "forwarded",
    ] {
        assert!(
            seen.all(gone).is_empty(),
            "{gone} reached Blnk: {:?}",
            seen.all(gone)
        );
    }
    // The gateway's own connection management to Blnk may say keep-alive; never the client's list.
    assert!(seen
        .all("connection")
        .iter()
        .all(|v| !v.to_ascii_lowercase().contains("x-blnk-key")));
    // Connection naming the key did not remove the key the gateway sends.
    assert_eq!(seen.all("x-blnk-key"), vec![gw.key.clone()]);
    assert_eq!(seen.one("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.one("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(seen.one("x-keep").as_deref(), Some("kept"));
}

#[tokio::test]
async fn trusted_proxies_extend_x_forwarded_for() {
    let setup = Setup {
        gateway: json!({"trusted_proxies": ["127.0.0.1/32"]}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let mut c = gw.h1().await;
    let r = keyed("GET", "/accounts", &gw.key)
        .header("x-forwarded-for", "203.0.113.9")
        .body(empty())
        .unwrap();
    send1(&mut c, r).await;
    assert_eq!(
        gw.blnk.last().one("x-forwarded-for").as_deref(),
        Some("203.0.113.9, 127.0.0.1")
    );
}

#[tokio::test]
async fn responses_lose_leaky_headers_and_gain_hsts_and_a_request_id() {
    let gw = TestGateway::start(Setup::default()).await;
    let mut c = gw.h1().await;
    let a = send1(&mut c, get_ledgers(&gw.key)).await;
    // Blnk's limiter headers: two leak addresses, two describe a limit that is not the one in
    // force; the gateway's RateLimit-* replace Blnk's.
    for name in [
        "x-rate-limit-request-remote-addr",
        "x-rate-limit-request-forwarded-for",
        "x-rate-limit-limit",
        "x-rate-limit-duration",
    ] {
        assert!(a.headers.get(name).is_none(), "{name}: {:?}", a.headers);
    }
    assert_ne!(a.headers["ratelimit-limit"], "5000000");
    assert_eq!(a.headers.get_all("ratelimit-limit").iter().count(), 1);
    assert_ne!(a.headers["ratelimit-remaining"], "4999999");
    assert_eq!(a.headers["strict-transport-security"], "max-age=31536000");
    let id = a.headers["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(gw.blnk.last().one("x-request-id"), Some(id));

    // A well-formed client id is kept end to end; a malformed one is replaced.
    let a = send1(
        &mut c,
        keyed("GET", "/ledgers", &gw.key)
            .header("x-request-id", "client-id-42")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.headers["x-request-id"], "client-id-42");
    assert_eq!(
        gw.blnk.last().one("x-request-id").as_deref(),
        Some("client-id-42")
    );
    let a = send1(
        &mut c,
        keyed("GET", "/ledgers", &gw.key)
            .header("x-request-id", "bad id;")
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_ne!(a.headers["x-request-id"], "bad id;");

    // The gateway's own answers carry them too.
    let a = send1(&mut c, bare("GET", "/ledgers")).await;
    assert_eq!(a.headers["strict-transport-security"], "max-age=31536000");
    assert!(a.headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn absolute_form_targets_never_choose_the_upstream() {
    let gw = TestGateway::start(Setup {
        tls: false,
        ..Setup::default()
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let request = format!(
        "GET http://169.254.169.254/ledgers?meta-data HTTP/1.1\r\nHost: 169.254.169.254\r\nX-Blnk-Key: {}\r\nConnection: close\r\n\r\n",
        gw.key
    );
    let answer = client::raw(&mut tcp, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let seen = gw.blnk.last();
    assert_eq!(seen.target, "/ledgers?meta-data");
    assert_eq!(seen.one("host"), Some(gw.blnk.addr.to_string()));
    // Plaintext listener: proto says so, and no HSTS.
    assert_eq!(seen.one("x-forwarded-proto").as_deref(), Some("http"));
    assert!(!answer
        .to_ascii_lowercase()
        .contains("strict-transport-security"));
}

#[tokio::test]
async fn connect_and_trace_are_refused() {
    let gw = TestGateway::start(Setup {
        tls: false,
        ..Setup::default()
    })
    .await;
    for request in [
        "TRACE /ledgers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "CONNECT 127.0.0.1:5432 HTTP/1.1\r\nHost: 127.0.0.1:5432\r\nConnection: close\r\n\r\n"
            .to_string(),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        let answer = client::raw(&mut tcp, request.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 405") || answer.starts_with("HTTP/1.1 400"),
            "{answer}"
        );
    }
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn pipelined_requests_are_each_authenticated() {
    let gw = TestGateway::start(Setup {
        tls: false,
        ..Setup::default()
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let body = r#"{"name":"a"}"#;
    let request = format!(
        "POST /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\nContent-Length: {len}\r\n\r\n{body}\
         GET /ledgers HTTP/1.1\r\nHost: x\r\n\r\n\
         GET /balances HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\nConnection: close\r\n\r\n",
        key = gw.key,
        len = body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let answer = client::read_to_close(&mut tcp).await;
    // Bodies carry no trailing newline, so status lines are found by their prefix.
    let statuses: Vec<&str> = answer.split("HTTP/1.1 ").skip(1).map(|s| &s[..3]).collect();
    assert_eq!(statuses, vec!["201", "401", "200"], "{answer}");
    let targets: Vec<String> = gw.blnk.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, vec!["/ledgers", "/balances"]);
}
