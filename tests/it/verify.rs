//! Verify mode: the client's X-Blnk-Key is checked at the gateway before Blnk sees anything.

use serde_json::json;

use crate::support::client::{bare, empty, get_ledgers, keyed, keyed_empty, req, send1, send2};
use crate::support::gateway::{Setup, TestGateway};

#[tokio::test]
async fn the_right_key_reaches_blnk_exactly_once() {
    let gw = TestGateway::start(Setup::default()).await;
    let mut c = gw.h1().await;
    let a = send1(&mut c, keyed_empty("GET", "/ledgers?limit=1", &gw.key)).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.json()[0]["name"], "General Ledger", "Blnk's answer");
    let seen = gw.blnk.last();
    assert_eq!(seen.all("x-blnk-key"), vec![gw.key.clone()]);
    assert_eq!(seen.target, "/ledgers?limit=1");
}

#[tokio::test]
async fn a_missing_key_gets_blnks_401_and_blnk_sees_nothing() {
    let gw = TestGateway::start(Setup::default()).await;
    let mut c = gw.h1().await;
    for headers in [
        vec![],
        vec![("x-blnk-key", "")],
        vec![("x-blnk-key", "   ")],
    ] {
        let mut r = req("POST", "/transactions");
        for (k, v) in &headers {
            r = r.header(*k, *v);
        }
        let a = send1(&mut c, r.body(empty()).unwrap()).await;
        a.assert_error(401, "AUTH_MISSING_API_KEY");
        assert_eq!(
            a.json()["error"],
            "Authentication required. Use X-Blnk-Key header"
        );
    }
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn wrong_duplicated_and_joined_keys_are_refused_before_blnk() {
    let gw = TestGateway::start(Setup::default()).await;
    let mut c = gw.h1().await;
    let wrong = format!("{}x", gw.key);
    let joined = format!("{}, {}", gw.key, gw.key);
    let cases: Vec<Vec<&str>> = vec![
        vec![&wrong],
        vec!["short"],
        vec![&gw.key, &gw.key],
        vec![&wrong, &gw.key],
        vec![&gw.key, &wrong],
        vec![&joined],
    ];
    for keys in cases {
        let mut r = req("GET", "/balances");
        for k in &keys {
            r = r.header("x-blnk-key", *k);
        }
        let a = send1(&mut c, r.body(empty()).unwrap()).await;
        a.assert_error(401, "AUTH_INVALID_API_KEY");
        assert_eq!(a.json()["error"], "Invalid API key");
        assert!(!String::from_utf8_lossy(&a.body).contains(&gw.key));
    }
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn exempt_routes_pass_without_a_key_and_carry_none_upstream() {
    let gw = TestGateway::start(Setup::default()).await;
    let mut c = gw.h1().await;
    let a = send1(&mut c, keyed_empty("GET", "/health", "a-guess")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["status"], "UP");
    assert!(gw.blnk.last().all("x-blnk-key").is_empty());
    let a = send1(&mut c, bare("GET", "/")).await;
    assert_eq!(a.json(), json!("server running..."));
    // Spellings of an exempt path are exempt only as the path that is forwarded.
    for path in ["//health", "/%68ealth", "/./health"] {
        let a = send1(&mut c, bare("GET", path)).await;
        assert_eq!(a.status, 200, "{path}");
        let seen = gw.blnk.last();
        assert_eq!(seen.target, "/health", "{path}");
        assert!(seen.all("x-blnk-key").is_empty());
    }
    for path in ["/health/", "/health/../ledgers", "/health/%2e%2e/ledgers"] {
        let a = send1(&mut c, bare("GET", path)).await;
        a.assert_error(401, "AUTH_MISSING_API_KEY");
    }
    let a = send1(&mut c, bare("GET", "/health%2F..%2Fledgers")).await;
    a.assert_error(400, "GATEWAY_BAD_PATH");
    assert_eq!(gw.blnk.count(), 5);
}

#[tokio::test]
async fn metrics_keeps_blnks_bearer_token() {
    let gw = TestGateway::start(Setup::default()).await;
    let mut c = gw.h1().await;
    let a = send1(
        &mut c,
        req("GET", "/metrics")
            .header("authorization", "Bearer metrics-token")
            .body(empty())
            .unwrap(),
    )
    .await;
    // Blnk serves /metrics only with observability turned on; by default it answers 404.
    assert_eq!(a.status, 404);
    let seen = gw.blnk.last();
    assert_eq!(seen.target, "/metrics");
    assert_eq!(
        seen.one("authorization").as_deref(),
        Some("Bearer metrics-token")
    );
    assert!(seen.all("x-blnk-key").is_empty());
}

#[tokio::test]
async fn unknown_keys_pass_through_only_when_configured() {
    let setup = Setup {
        gateway: json!({"pass_through_unknown_keys": true}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    let mut c = gw.h1().await;
    let scoped = "blnk_scoped_key_that_only_blnk_knows_aaaaaaaa";
    let a = send1(&mut c, get_ledgers(scoped)).await;
    // The fake Blnk does not know it either, so its own 401 comes back.
    a.assert_error(401, "AUTH_INVALID_API_KEY");
    assert_eq!(gw.blnk.last().all("x-blnk-key"), vec![scoped.to_string()]);
    // Duplicates are still refused at the gateway.
    let a = send1(
        &mut c,
        keyed("GET", "/ledgers", scoped)
            .header("x-blnk-key", scoped)
            .body(empty())
            .unwrap(),
    )
    .await;
    a.assert_error(401, "AUTH_INVALID_API_KEY");
    assert_eq!(gw.blnk.count(), 1);
}

#[tokio::test]
async fn http2_clients_reach_blnk_as_http1_with_the_upstream_host() {
    let gw = TestGateway::start(Setup::default()).await;
    let mut c = gw.h2().await;
    let r = http::Request::builder()
        .method("POST")
        .uri(format!("https://localhost:{}/ledgers", gw.addr.port()))
        .header("x-blnk-key", &gw.key)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            br#"{"name":"h2"}"#,
        )))
        .unwrap();
    let a = send2(&mut c, r).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let seen = gw.blnk.last();
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(seen.one("host"), Some(gw.blnk.addr.to_string()));
    assert_eq!(&seen.body[..], br#"{"name":"h2"}"#);
    assert_eq!(seen.all("x-blnk-key"), vec![gw.key.clone()]);
    // Wrong key over HTTP/2: refused the same way.
    let r = http::Request::builder()
        .uri(format!("https://localhost:{}/ledgers", gw.addr.port()))
        .header("X-BLNK-KEY", "nope")
        .body(empty())
        .unwrap();
    send2(&mut c, r)
        .await
        .assert_error(401, "AUTH_INVALID_API_KEY");
    assert_eq!(gw.blnk.count(), 1);
}
