//! Trust headers: whatever the client sends, Blnk receives exactly the headers the gateway
//! decided on.

use serde_json::json;

use super::{exchange, plain, plain_default};

#[tokio::test]
async fn connection_cannot_remove_the_headers_the_gateway_decides_on() {
    let gw = plain_default().await;
    let head = format!(
        "POST /identities HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\nConnection: X-Blnk-Key, X-Forwarded-For, Content-Length, Host, X-Request-Id, X-Forwarded-Proto, close\r\nContent-Length: 5\r\nX-Forwarded-For: 6.6.6.6\r\n\r\nhello",
        gw.key
    );
    exchange(gw.addr, head.as_bytes()).await.assert_refused(201);
    let seen = gw.blnk.last();
    assert_eq!(gw.blnk.count(), 1);
    assert!(seen.complete);
    assert_eq!(&seen.body[..], b"hello");
    assert_eq!(seen.all("x-blnk-key"), vec![gw.key.clone()]);
    assert_eq!(seen.one("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.one("host"), Some(gw.blnk.addr.to_string()));
    assert_eq!(seen.one("x-forwarded-proto").as_deref(), Some("http"));
    assert!(seen.one("x-request-id").is_some());
    // The body is framed by the gateway's client: a length or chunks, never neither.
    assert!(
        seen.one("content-length").as_deref() == Some("5")
            || seen.one("transfer-encoding").as_deref() == Some("chunked"),
        "{:?}",
        seen.headers
    );
}

#[tokio::test]
async fn client_forwarding_headers_are_replaced_in_any_case_and_count() {
    let gw = plain_default().await;
    let head = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {}\r\n\
         X-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7, 8.8.8.8\r\nX-FORWARDED-FOR: unknown\r\n\
         X-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6;proto=https\r\nforwarded: for=\"[::1]\"\r\n\
         X-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 1\r\nX-Forwarded-Proto: https\r\n\
         Connection: close\r\n\r\n",
        gw.key
    );
    exchange(gw.addr, head.as_bytes()).await.assert_refused(200);
    let seen = gw.blnk.last();
    assert_eq!(seen.all("x-forwarded-for"), vec!["127.0.0.1".to_string()]);
    assert_eq!(seen.all("x-forwarded-proto"), vec!["http".to_string()]);
    for gone in [
        "x-real-ip",
        "forwarded",
        "x-forwarded-host",
        "x-forwarded-port",
    ] {
        assert!(seen.all(gone).is_empty(), "{gone}: {:?}", seen.all(gone));
    }
}

#[tokio::test]
async fn the_key_header_in_any_case_is_one_header_and_duplicates_are_refused() {
    let gw = plain_default().await;
    let k = &gw.key;
    for name in ["x-blnk-key", "X-BLNK-KEY", "x-Blnk-kEY"] {
        let head =
            format!("GET /ledgers HTTP/1.1\r\nHost: x\r\n{name}: {k}\r\nConnection: close\r\n\r\n");
        exchange(gw.addr, head.as_bytes()).await.assert_refused(200);
        assert_eq!(gw.blnk.last().all("x-blnk-key"), vec![k.clone()]);
    }
    let n = gw.blnk.count();
    for keys in [
        format!("X-Blnk-Key: {k}\r\nx-blnk-key: {k}\r\n"),
        format!("X-Blnk-Key: {k}\r\nX-BLNK-KEY: wrong\r\n"),
        format!("X-Blnk-Key: wrong\r\nX-BLNK-KEY: {k}\r\n"),
        format!("X-Blnk-Key: {k},{k}\r\n"),
        format!("X-Blnk-Key: {k}\r\nX-Blnk-Key:\r\n"),
    ] {
        let head = format!("GET /ledgers HTTP/1.1\r\nHost: x\r\n{keys}Connection: close\r\n\r\n");
        let reply = exchange(gw.addr, head.as_bytes()).await;
        assert_eq!(reply.statuses(), vec![401], "{}", reply.text());
        assert_eq!(reply.responses[0].code(), "AUTH_INVALID_API_KEY");
        assert!(!reply.text().contains(k.as_str()));
    }
    assert_eq!(gw.blnk.count(), n);
}

#[tokio::test]
async fn inject_mode_removes_every_client_key_whatever_its_case_or_place() {
    let gw = plain(json!({"mode": "inject", "allow_networks": ["127.0.0.1/32"]})).await;
    let head = "POST /identities HTTP/1.1\r\nHost: x\r\nx-blnk-key: client-guess\r\nX-BLNK-KEY: other\r\n\
                Connection: X-Blnk-Key, close\r\nX_Blnk_Key: underscored\r\nTransfer-Encoding: chunked\r\n\r\n\
                5\r\nhello\r\n0\r\nX-Blnk-Key: in-trailer\r\n\r\n";
    exchange(gw.addr, head.as_bytes()).await.assert_refused(201);
    let seen = gw.blnk.last();
    assert_eq!(seen.all("x-blnk-key"), vec![gw.key.clone()]);
    assert!(seen.all("x_blnk_key").is_empty());
    assert!(seen.trailers.is_none());
}

#[tokio::test]
async fn cr_and_lf_in_values_never_make_a_header() {
    let gw = plain_default().await;
    let k = &gw.key;
    for head in [
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-Request-Id: a\rX-Blnk-Key: evil\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-A: a\r\rX-Injected: b\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-A: a\r\n\rX-Injected: b\r\n\r\n"),
    ] {
        exchange(gw.addr, head.as_bytes()).await.assert_refused(400);
    }
    assert_eq!(gw.blnk.count(), 0);
    // An encoded CR LF and a request id with one are data, never structure.
    let head = format!(
        "GET /ledgers?x=%0d%0aX-Injected:%20y HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nX-Request-Id: %0d%0aX-Injected: y\r\nConnection: close\r\n\r\n"
    );
    let reply = exchange(gw.addr, head.as_bytes()).await;
    reply.assert_refused(200);
    let seen = gw.blnk.last();
    assert!(seen.all("x-injected").is_empty());
    assert_ne!(
        seen.one("x-request-id").as_deref(),
        Some("%0d%0aX-Injected: y")
    );
    assert!(reply.responses[0].header("x-injected").is_none());
}
