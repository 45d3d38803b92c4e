//! When Blnk is down, slow or broken: clear JSON answers, fast, and never a retried POST.

use std::time::Duration;

use serde_json::json;

use crate::support::client::{get_ledgers, keyed, keyed_transfer, send1};
use crate::support::clock::pace;
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::{Setup, TestGateway};
use crate::support::upstream::gateway_without_blnk;

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_at_once() {
    // A port that was just free: nothing listens there.
    let (gw, free) = gateway_without_blnk(Setup::default()).await;
    let mut c = gw.h1().await;
    let started = std::time::Instant::now();
    let a = send1(&mut c, keyed_transfer(&gw.key, "down")).await;
    a.assert_error(502, "GATEWAY_UPSTREAM_UNAVAILABLE");
    // Refused, not timed out: far below the 2 s connect deadline (a loose bound, not a benchmark).
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!String::from_utf8_lossy(&a.body).contains(&free.to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_slow_upstream_is_a_504_at_the_response_deadline() {
    pace();
    let setup = Setup {
        gateway: json!({"limits": {"upstream_response_timeout": "300ms"}}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup).await;
    gw.blnk
        .set_behavior(Behavior::Delay(Duration::from_secs(3600)));
    let mut c = gw.h1().await;
    let a = send1(&mut c, get_ledgers(&gw.key)).await;
    a.assert_error(504, "GATEWAY_UPSTREAM_TIMEOUT");
}

#[tokio::test]
async fn a_post_that_reached_blnk_is_never_sent_twice() {
    let gw = TestGateway::start(Setup::default()).await;
    gw.blnk.set_behavior(Behavior::Hangup);
    let mut c = gw.h1().await;
    let body = http_body_util::Full::new(bytes::Bytes::from_static(
        br#"{"reference":"ref-1","amount":10}"#,
    ));
    let a = send1(
        &mut c,
        keyed("POST", "/transactions", &gw.key).body(body).unwrap(),
    )
    .await;
    a.assert_error(502, "GATEWAY_BAD_UPSTREAM_RESPONSE");
    assert_eq!(gw.blnk.count(), 1, "{:?}", gw.blnk.requests());
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_in_flight_requests_finish() {
    pace();
    let mut gw = TestGateway::start(Setup::default()).await;
    gw.blnk
        .set_behavior(Behavior::Delay(Duration::from_millis(300)));
    let mut c = gw.h1().await;
    let key = gw.key.clone();
    let in_flight = tokio::spawn(async move { send1(&mut c, get_ledgers(&key)).await });
    // Wait until Blnk has the request, then signal shutdown while it is in flight.
    while gw.blnk.count() == 0 {
        tokio::task::yield_now().await;
    }
    gw.trigger_shutdown();
    let a = in_flight.await.unwrap();
    assert_eq!(a.status, 200);
    let addr = gw.addr;
    assert_eq!(gw.join().await, blnk_gateway::server::Drain::Clean);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}
