//! Request targets and hosts. The gateway authorises and forwards one string: the normalised
//! path (`proxy::path`: unreserved escapes decoded, empty and dot segments resolved). Encoded
//! slashes, backslashes and control bytes are refused, as are target forms that name no path,
//! and Host is required once (HTTP/1.1).

use super::{exchange, plain_default, Reply};
use crate::support::clock::pace;
use crate::support::gateway::TestGateway;

async fn get(gw: &TestGateway, target: &str, key: bool, extra: &str) -> Reply {
    let key = if key {
        format!("X-Blnk-Key: {}\r\n", gw.key)
    } else {
        String::new()
    };
    let head = format!("GET {target} HTTP/1.1\r\nHost: x\r\n{key}{extra}Connection: close\r\n\r\n");
    exchange(gw.addr, head.as_bytes()).await
}

#[tokio::test]
async fn dot_segments_are_resolved_before_the_decision_and_forwarded_resolved() {
    let gw = plain_default().await;
    for (target, forwarded) in [
        ("/ledgers/../api-keys", "/api-keys"),
        ("/./ledgers", "/ledgers"),
        ("/../../ledgers?x=/../y", "/ledgers?x=/../y"),
        ("/balances/x/./../../ledgers", "/ledgers"),
    ] {
        get(&gw, target, true, "").await.assert_refused(200);
        assert_eq!(gw.blnk.last().target, forwarded);
    }
    // Resolved to an exempt path: exempt, and forwarded as that path without a key.
    get(&gw, "/ledgers/../health", false, "")
        .await
        .assert_refused(200);
    let seen = gw.blnk.last();
    assert_eq!(seen.target, "/health");
    assert!(seen.all("x-blnk-key").is_empty());
    // Resolved away from an exempt path: a key is needed.
    let reply = get(&gw, "/health/../ledgers", false, "").await;
    assert_eq!(reply.statuses(), vec![401]);
    assert_eq!(gw.blnk.count(), 5);
}

#[tokio::test]
async fn encoded_dots_are_resolved_and_encoded_slashes_backslashes_and_nul_are_400() {
    let gw = plain_default().await;
    for (target, forwarded) in [
        ("/ledgers/%2e%2e/api-keys", "/api-keys"),
        ("/ledgers/%2E%2E/api-keys", "/api-keys"),
        ("/ledgers/.%2e/api-keys", "/api-keys"),
        ("/%2e/ledgers", "/ledgers"),
    ] {
        get(&gw, target, true, "").await.assert_refused(200);
        assert_eq!(gw.blnk.last().target, forwarded, "{target}");
    }
    let n = gw.blnk.count();
    for target in [
        "/ledgers%2fabc",
        "/ledgers%2Fabc",
        "/ledgers%5c..%5capi-keys",
        "/ledgers%00",
        "/ledgers%0d%0aX-Injected:%20x",
        "/ledgers\\..\\api-keys",
    ] {
        let reply = get(&gw, target, true, "").await;
        assert_eq!(reply.statuses(), vec![400], "{target}: {}", reply.text());
        assert!(
            reply.responses[0].code().starts_with("GATEWAY_BAD_"),
            "{target}"
        );
    }
    assert_eq!(gw.blnk.count(), n);
}

#[tokio::test]
async fn double_slashes_other_escapes_and_fragments() {
    let gw = plain_default().await;
    // Variants of /health that normalise to it are /health: exempt, forwarded as /health.
    for target in ["//health", "/%68ealth"] {
        get(&gw, target, false, "").await.assert_refused(200);
        assert_eq!(gw.blnk.last().target, "/health");
        assert!(gw.blnk.last().all("x-blnk-key").is_empty());
    }
    // Exemptions stay exact: a trailing slash is another path and needs a key.
    assert_eq!(get(&gw, "/health/", false, "").await.statuses(), vec![401]);
    for (target, forwarded) in [
        ("//ledgers", "/ledgers"),
        ("/ledgers//x", "/ledgers/x"),
        ("/ledgers/%41%20b", "/ledgers/A%20b"),
    ] {
        get(&gw, target, true, "").await.assert_refused(200);
        assert_eq!(gw.blnk.last().target, forwarded);
    }
    // A fragment never leaves the client in a valid request; one that does is refused, though
    // the parser drops it (the request would otherwise go on as `/ledgers`).
    let before = gw.blnk.count();
    for target in ["/ledgers#/../api-keys", "/ledgers?x=1#y", "/#"] {
        let reply = get(&gw, target, true, "").await;
        reply.assert_refused(400);
        assert_eq!(reply.responses[0].code(), "GATEWAY_BAD_PATH", "{target}");
    }
    assert_eq!(gw.blnk.count(), before);
}

/// The request whose target held the `#` is the one refused, whatever came before it on the
/// connection: another request, or a body that reads like a request with a fragment.
#[tokio::test]
async fn a_fragment_is_refused_in_its_own_request_only() {
    let gw = plain_default().await;
    let key = &gw.key;
    let hidden = "GET /ledgers#x HTTP/1.1\r\nHost: x\r\n\r\n";
    let pipelined = format!(
        "POST /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\nContent-Length: {}\r\n\r\n{hidden}\
         POST /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{hidden}\r\n0\r\n\r\n\
         GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\n\r\n\
         GET /ledgers#/../api-keys HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\nConnection: close\r\n\r\n",
        hidden.len(),
        hidden.len()
    );
    let reply = exchange(gw.addr, pipelined.as_bytes()).await;
    // Blnk's own 400s to the two bodies that are not JSON, its 200, and the gateway's 400.
    assert_eq!(reply.statuses(), [400, 400, 200, 400], "{}", reply.text());
    let codes: Vec<_> = reply.responses.iter().map(|r| r.code()).collect();
    assert!(
        codes[..3].iter().all(|c| c != "GATEWAY_BAD_PATH"),
        "{codes:?}"
    );
    assert_eq!(codes[3], "GATEWAY_BAD_PATH");
    let bodies: Vec<_> = gw.blnk.requests().iter().map(|r| r.body.len()).collect();
    assert_eq!(bodies, [hidden.len(), hidden.len(), 0]);
}

#[tokio::test]
async fn absolute_form_never_chooses_the_upstream_and_other_forms_are_refused() {
    let gw = plain_default().await;
    let upstream = gw.blnk.addr.to_string();
    for target in [
        "https://evil.example:443/ledgers",
        "http://user:pass@127.0.0.1:1/ledgers",
        "HTTP://10.0.0.1/ledgers",
    ] {
        get(&gw, target, true, "").await.assert_refused(200);
        let seen = gw.blnk.last();
        assert_eq!(seen.target, "/ledgers");
        assert_eq!(seen.one("host"), Some(upstream.clone()));
    }
    let n = gw.blnk.count();
    for target in [
        "*",
        "127.0.0.1:5432",
        "evil.example:443",
        "ftp://evil.example/ledgers",
    ] {
        get(&gw, target, true, "").await.assert_refused(400);
    }
    // OPTIONS * asks about the server; the gateway has nothing to say and Blnk is not asked.
    let reply = exchange(
        gw.addr,
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    reply.assert_refused(400);
    assert_eq!(gw.blnk.count(), n);
}

#[tokio::test(start_paused = true)]
async fn connect_and_trace_are_405_whatever_else_they_carry() {
    pace();
    let gw = plain_default().await;
    let k = &gw.key;
    for head in [
        format!(
            "CONNECT 127.0.0.1:5432 HTTP/1.1\r\nHost: 127.0.0.1:5432\r\nX-Blnk-Key: {k}\r\n\r\n"
        ),
        format!("CONNECT /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("TRACE /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {k}\r\nMax-Forwards: 0\r\n\r\n"),
        "TRACE * HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
    ] {
        let reply = exchange(gw.addr, head.as_bytes()).await;
        let statuses = reply.statuses();
        assert!(statuses == [405] || statuses == [400], "{}", reply.text());
        assert!(!reply.text().contains(" 200 "));
    }
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn host_is_required_once_and_valid() {
    let gw = plain_default().await;
    let k = &gw.key;
    for head in [
        format!("GET /ledgers HTTP/1.1\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x\r\nHost: y\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x, y\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost:\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: a b\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/1.1\r\nHost: x/y\r\nX-Blnk-Key: {k}\r\n\r\n"),
        format!("GET /ledgers HTTP/1.0\r\nHost: x\r\nHost: y\r\nX-Blnk-Key: {k}\r\n\r\n"),
    ] {
        let reply = exchange(gw.addr, head.as_bytes()).await;
        reply.assert_refused(400);
        assert_eq!(reply.responses[0].code(), "GATEWAY_BAD_REQUEST", "{head:?}");
    }
    assert_eq!(gw.blnk.count(), 0);
    // HTTP/1.0 may omit it; every forwarded request carries the upstream's Host.
    let reply = exchange(
        gw.addr,
        format!("GET /ledgers HTTP/1.0\r\nX-Blnk-Key: {k}\r\n\r\n").as_bytes(),
    )
    .await;
    reply.assert_refused(200);
    assert_eq!(gw.blnk.last().one("host"), Some(gw.blnk.addr.to_string()));
}

#[tokio::test]
async fn underscored_header_names_are_never_forwarded_nor_read_as_their_hyphenated_twins() {
    let gw = plain_default().await;
    // An underscore key is not a key.
    let reply = get(
        &gw,
        "/ledgers",
        false,
        &format!("X_Blnk_Key: {}\r\n", gw.key),
    )
    .await;
    assert_eq!(reply.statuses(), vec![401]);
    assert_eq!(reply.responses[0].code(), "AUTH_MISSING_API_KEY");
    let extra = "X_Forwarded_For: 6.6.6.6\r\nTransfer_Encoding: chunked\r\nContent_Length: 5\r\nX_Real_IP: 6.6.6.6\r\nX-Fine: yes\r\n";
    get(&gw, "/ledgers", true, extra).await.assert_refused(200);
    let seen = gw.blnk.last();
    assert_eq!(gw.blnk.count(), 1);
    assert!(
        seen.headers.keys().all(|n| !n.as_str().contains('_')),
        "{:?}",
        seen.headers
    );
    assert_eq!(seen.one("x-fine").as_deref(), Some("yes"));
    assert_eq!(seen.one("x-forwarded-for").as_deref(), Some("127.0.0.1"));
}
