//! Secure mode (docs/blnk.md section 3): which routes need a key, the first `X-Blnk-Key` value,
//! Blnk's 401 bodies, the key probe the gateway's readiness and rotation use, and what gin
//! answers before any middleware (a trailing slash) and for a path it has no route for.

use http::Method;
use serde_json::json;

use crate::support::blnk;

#[tokio::test]
async fn a_missing_or_empty_key_gets_blnks_401_body() {
    let b = blnk().await;
    let m = "Authentication required. Use X-Blnk-Key header";
    let want = json!({"error": m, "error_detail": {"code": "AUTH_MISSING_API_KEY", "message": m}});
    for headers in [vec![], vec![("x-blnk-key", "")]] {
        let res = b.send(Method::GET, "/ledgers", &headers, None).await;
        assert_eq!(res.status, 401);
        assert_eq!(res.json(), want);
        assert_eq!(
            res.header("content-type").as_deref(),
            Some("application/json; charset=utf-8")
        );
    }
}

#[tokio::test]
async fn a_wrong_key_gets_blnks_401_body() {
    let b = blnk().await;
    let res = b
        .send(
            Method::GET,
            "/ledgers",
            &[("x-blnk-key", "not-the-key")],
            None,
        )
        .await;
    assert_eq!(res.status, 401);
    let want = json!({"error": "Invalid API key", "error_detail": {"code": "AUTH_INVALID_API_KEY", "message": "Invalid API key"}});
    assert_eq!(res.json(), want);
}

#[tokio::test]
async fn only_the_first_key_value_counts() {
    let b = blnk().await;
    let first_right = [("x-blnk-key", b.key.as_str()), ("x-blnk-key", "wrong")];
    assert_eq!(
        b.send(Method::GET, "/ledgers", &first_right, None)
            .await
            .status,
        200
    );
    let first_wrong = [("x-blnk-key", "wrong"), ("x-blnk-key", b.key.as_str())];
    let res = b.send(Method::GET, "/ledgers", &first_wrong, None).await;
    res.refused(401, "AUTH_INVALID_API_KEY");
}

#[tokio::test]
async fn health_and_root_need_no_key() {
    let b = blnk().await;
    let health = b.send(Method::GET, "/health", &[], None).await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "UP"}))
    );
    let root = b.send(Method::GET, "/", &[], None).await;
    assert_eq!(
        (root.status, root.json()),
        (200, json!("server running..."))
    );
    // Exempt by path, whatever the method: a POST passes the check and finds no route.
    let post = b.send(Method::POST, "/health", &[], Some(b"{}")).await;
    assert_eq!(post.status, 404);
}

#[tokio::test]
async fn the_key_probe_answers_200_to_the_key_and_401_to_another() {
    let b = blnk().await;
    let res = b.get("/ledgers?limit=1").await;
    assert_eq!(res.status, 200);
    assert!(res.json().is_array(), "{}", res.json());
    let other = b
        .send(
            Method::GET,
            "/ledgers?limit=1",
            &[("x-blnk-key", "old-key")],
            None,
        )
        .await;
    other.refused(401, "AUTH_INVALID_API_KEY");
}

#[tokio::test]
async fn a_path_without_a_route_needs_the_key_then_is_gins_404() {
    let b = blnk().await;
    let without = b.send(Method::GET, "/no-such-route", &[], None).await;
    without.refused(401, "AUTH_MISSING_API_KEY");
    let with = b.get("/no-such-route").await;
    assert_eq!(with.status, 404);
    assert_eq!(&with.body[..], b"404 page not found");
    assert_eq!(with.header("content-type").as_deref(), Some("text/plain"));
    // HEAD has no routes in Blnk, and /metrics exists only with observability turned on.
    assert_eq!(
        b.send(Method::HEAD, "/ledgers", &[("x-blnk-key", &b.key)], None)
            .await
            .status,
        404
    );
    assert_eq!(b.send(Method::GET, "/metrics", &[], None).await.status, 404);
}

#[tokio::test]
async fn a_trailing_slash_is_redirected_before_the_key_is_checked() {
    let b = blnk().await;
    let res = b.send(Method::GET, "/ledgers/", &[], None).await;
    assert_eq!(res.status, 301);
    assert_eq!(res.header("location").as_deref(), Some("/ledgers"));
    let post = b.send(Method::POST, "/ledgers/", &[], Some(b"{}")).await;
    assert_eq!(post.status, 307);
    let health = b.send(Method::GET, "/health/", &[], None).await;
    assert_eq!(
        (health.status, health.header("location").as_deref()),
        (301, Some("/health"))
    );
}
