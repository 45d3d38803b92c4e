//! What Blnk adds to every answer (docs/blnk.md section 5), and its request size limit
//! (section 1).

use http::Method;

use crate::support::blnk;

#[tokio::test]
async fn every_answer_carries_the_rate_limit_headers_401s_too() {
    let b = blnk().await;
    for (headers, status) in [(vec![("x-blnk-key", b.key.as_str())], 200), (vec![], 401)] {
        let res = b.send(Method::GET, "/ledgers", &headers, None).await;
        assert_eq!(res.status, status);
        assert_eq!(
            res.header("x-rate-limit-limit").as_deref(),
            Some("5000000.00")
        );
        assert_eq!(res.header("x-rate-limit-duration").as_deref(), Some("1"));
        assert_eq!(res.header("ratelimit-limit").as_deref(), Some("5000000"));
        assert_eq!(res.header("ratelimit-reset").as_deref(), Some("1"));
        let remote = res
            .header("x-rate-limit-request-remote-addr")
            .expect("remote addr");
        assert!(remote.starts_with("127.0.0.1:"), "{remote}");
        assert_eq!(res.header("x-rate-limit-request-forwarded-for"), None);
        assert_eq!(res.header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(
            res.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(res.header("strict-transport-security"), None);
    }
}

#[tokio::test]
async fn forwarding_headers_are_echoed_and_https_gets_hsts() {
    let b = blnk().await;
    let headers = [
        ("x-forwarded-for", "10.1.1.1, 10.2.2.2"),
        ("x-forwarded-proto", "https"),
    ];
    let res = b.send(Method::GET, "/health", &headers, None).await;
    assert_eq!(
        res.header("x-rate-limit-request-forwarded-for").as_deref(),
        Some("10.1.1.1, 10.2.2.2")
    );
    assert_eq!(
        res.header("strict-transport-security").as_deref(),
        Some("max-age=31536000; includeSubDomains")
    );
}

/// Blnk caps a body at 5 MiB with `http.MaxBytesReader`, which fails only a read past the
/// limit, and Go's decoder reads no further than the first JSON value: a value that ends past
/// the limit is refused, one that ends before it is bound whatever follows.
#[tokio::test]
async fn only_a_json_value_that_runs_past_5_mib_is_too_large() {
    let b = blnk().await;
    let limit = 5 << 20;
    let mut long_name = b"{\"name\":\"".to_vec();
    long_name.resize(limit, b'x');
    long_name.extend_from_slice(b"\"}");
    let res = b.raw(Method::POST, "/ledgers", &long_name).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["errors"], "http: request body too large");
    assert_eq!(res.code(), "GEN_MALFORMED_REQUEST");
    let res = b.raw(Method::POST, "/transactions", &long_name).await;
    assert_eq!(
        (res.status, res.message()),
        (400, "Invalid input".to_string())
    );
    // A small value, then more than 5 MiB that is never read.
    let mut padded = b"{\"name\":\"padded\"}".to_vec();
    padded.resize(limit + 4096, b' ');
    let res = b.raw(Method::POST, "/ledgers", &padded).await;
    assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.json()["name"], "padded");
}
