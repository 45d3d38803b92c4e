//! `/readyz` knows whether Blnk accepts the gateway's master key: Blnk moving to another key
//! (the fake's `set_key`) makes the gateway not ready with the reason, from a probe (at most one
//! per interval, time advanced rather than slept) or from a run of Blnk's 401s to forwarded
//! requests; and ready again once the keys agree. `blnk_gateway_upstream_key_accepted` follows.

use std::time::Duration;

use blnk_gateway::limits::KEY_CHECK_INTERVAL;

use crate::support::client::{empty, h1, req, send1, Answer, H1};
use crate::support::gateway::{new_key, Setup, TestGateway};

async fn admin(gw: &TestGateway) -> H1 {
    h1(tokio::net::TcpStream::connect(gw.admin_addr.unwrap())
        .await
        .unwrap())
    .await
}

async fn get(c: &mut H1, path: &str) -> Answer {
    send1(c, req("GET", path).body(empty()).unwrap()).await
}

fn body(a: &Answer) -> String {
    String::from_utf8_lossy(&a.body).into_owned()
}

/// `blnk_gateway_upstream_key_accepted` as the admin listener renders it.
async fn key_accepted(c: &mut H1) -> f64 {
    let text = body(&get(c, "/metrics").await);
    text.lines()
        .find_map(|l| l.strip_prefix("blnk_gateway_upstream_key_accepted "))
        .unwrap_or_else(|| panic!("no upstream_key_accepted in:\n{text}"))
        .parse()
        .unwrap()
}

/// The probes the gateway sent to ask whether Blnk holds the key.
fn probes(gw: &TestGateway) -> usize {
    gw.blnk
        .requests()
        .iter()
        .filter(|r| r.target == "/ledgers?limit=1")
        .count()
}

/// Moves the clock past the key check's interval without sleeping; returns a new admin
/// connection (the old one idled past its deadline in that time, as a prober's would).
async fn after_the_interval(gw: &TestGateway) -> H1 {
    tokio::time::pause();
    tokio::time::advance(KEY_CHECK_INTERVAL + Duration::from_secs(1)).await;
    tokio::time::resume();
    admin(gw).await
}

#[tokio::test]
async fn readyz_says_not_ready_while_blnk_rejects_the_key_and_asks_blnk_once_per_interval() {
    let gw = TestGateway::start(Setup {
        admin: true,
        ..Setup::default()
    })
    .await;
    let mut a = admin(&gw).await;
    let r = get(&mut a, "/readyz").await;
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(probes(&gw), 1);
    assert_eq!(key_accepted(&mut a).await, 1.0);

    // Blnk restarts with another key; the gateway's is not updated.
    gw.blnk.set_key(&new_key("blnk-moved"));
    for _ in 0..20 {
        assert_eq!(get(&mut a, "/readyz").await.status, 200);
    }
    assert_eq!(
        probes(&gw),
        1,
        "readiness polling must not reach Blnk per call"
    );

    a = after_the_interval(&gw).await;
    let r = get(&mut a, "/readyz").await;
    assert_eq!(r.status, 503);
    let why = body(&r);
    assert!(
        why.starts_with("not ready: Blnk rejects the gateway's master key"),
        "{why}"
    );
    assert!(why.contains(&gw.fingerprint()), "{why}");
    assert!(!why.contains(&gw.key));
    assert_eq!(probes(&gw), 2);
    assert_eq!(key_accepted(&mut a).await, 0.0);
    // Still one probe per interval while not ready.
    for _ in 0..5 {
        assert_eq!(get(&mut a, "/readyz").await.status, 503);
    }
    assert_eq!(probes(&gw), 2);

    // Blnk gets the gateway's key back: ready at the next check.
    gw.blnk.set_key(&gw.key);
    a = after_the_interval(&gw).await;
    let r = get(&mut a, "/readyz").await;
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(key_accepted(&mut a).await, 1.0);
}

#[tokio::test]
async fn a_run_of_blnk_401s_to_the_master_key_makes_the_gateway_not_ready_at_once() {
    let gw = TestGateway::start(Setup {
        admin: true,
        ..Setup::default()
    })
    .await;
    let mut a = admin(&gw).await;
    assert_eq!(get(&mut a, "/readyz").await.status, 200);
    let keyed = || {
        req("GET", "/ledgers")
            .header("x-blnk-key", &gw.key)
            .body(empty())
            .unwrap()
    };
    let mut c = gw.h1().await;
    gw.blnk.set_key(&new_key("blnk-moved"));
    // Fewer than the run: one 401 proves nothing.
    for _ in 0..blnk_gateway::limits::KEY_MISMATCH_RUN - 1 {
        assert_eq!(send1(&mut c, keyed()).await.status, 401);
    }
    assert_eq!(get(&mut a, "/readyz").await.status, 200);
    assert_eq!(send1(&mut c, keyed()).await.status, 401);
    let r = get(&mut a, "/readyz").await;
    assert_eq!(r.status, 503, "{}", body(&r));
    assert!(body(&r).contains("rejects the gateway's master key"));
    assert_eq!(probes(&gw), 1, "the requests told, no probe needed");
    assert_eq!(key_accepted(&mut a).await, 0.0);

    // One answer that is not a 401 shows Blnk takes the key again.
    gw.blnk.set_key(&gw.key);
    assert_eq!(send1(&mut c, keyed()).await.status, 200);
    assert_eq!(get(&mut a, "/readyz").await.status, 200);
    assert_eq!(key_accepted(&mut a).await, 1.0);
}
