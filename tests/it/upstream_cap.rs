//! The cap on connections to Blnk (`gateway.limits.upstream_max_connections`): never more are
//! opened; a request that finds every connection busy waits for one to come back, and gets 503
//! `GATEWAY_UPSTREAM_BUSY` if none does within `upstream_connect_timeout`.

use serde_json::json;

use crate::hostile::wait_for;
use crate::support::client::{empty, req, send1};
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::{Setup, TestGateway};

async fn capped(wait: &str) -> TestGateway {
    TestGateway::start(Setup {
        gateway: json!({"limits": {
            "upstream_max_connections": 2,
            "upstream_connect_timeout": wait,
        }}),
        ..Setup::default()
    })
    .await
}

/// Starts `n` keyed GETs on connections of their own; their statuses arrive on the handles.
async fn start(gw: &TestGateway, n: usize) -> Vec<tokio::task::JoinHandle<u16>> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut c = gw.h1().await;
        let r = req("GET", "/ledgers")
            .header("x-blnk-key", &gw.key)
            .body(empty())
            .unwrap();
        tasks.push(tokio::spawn(async move {
            send1(&mut c, r).await.status.as_u16()
        }));
    }
    tasks
}

#[tokio::test]
async fn a_request_waits_for_a_connection_to_come_back_and_never_opens_more() {
    let gw = capped("20s").await;
    gw.blnk.set_behavior(Behavior::Hold);
    let tasks = start(&gw, 3).await;
    // Two reach Blnk on the two connections allowed; the third waits for one of them.
    wait_for("two requests at Blnk", || gw.blnk.count() == 2).await;
    gw.blnk.set_behavior(Behavior::Normal);
    gw.blnk.release();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(gw.blnk.count(), 3);
    assert_eq!(gw.blnk.accepted_connections(), 2);
}

#[tokio::test]
async fn a_request_that_finds_no_connection_in_time_gets_503() {
    let gw = capped("300ms").await;
    gw.blnk.set_behavior(Behavior::Hold);
    let held = start(&gw, 2).await;
    wait_for("two requests at Blnk", || gw.blnk.count() == 2).await;
    let mut c = gw.h1().await;
    let a = send1(
        &mut c,
        req("GET", "/ledgers")
            .header("x-blnk-key", &gw.key)
            .body(empty())
            .unwrap(),
    )
    .await;
    a.assert_error(503, "GATEWAY_UPSTREAM_BUSY");
    assert_eq!(a.headers["retry-after"], "1");
    gw.blnk.release();
    for t in held {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(gw.blnk.count(), 2);
    assert_eq!(gw.blnk.accepted_connections(), 2);
}
