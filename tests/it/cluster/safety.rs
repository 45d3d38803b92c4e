//! Ledger safety with the keys in Redis: state Redis may have lost is treated as lost, the
//! gateways share Redis's clock whatever their own says, and a settle Redis could not take in
//! time is taken later, not left "in flight".

use serde_json::json;

use super::{keyed, trio};
use crate::support::client::{send1, Answer, H1};
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::TestGateway;
use crate::support::process::Process;
use crate::support::redis::Redis;
use crate::support::until;

fn replayed(a: &Answer) -> bool {
    a.headers.get("idempotent-replayed").map(|v| v.as_bytes()) == Some(b"true")
}

/// Sends the transfer until the answer is not 503 (at most 20 s): a client's retries while
/// the gateway reconnects to Redis.
async fn until_not_503(c: &mut H1, gw: &TestGateway, reference: &str) -> Answer {
    let started = std::time::Instant::now();
    loop {
        let a = send1(c, keyed(gw, reference)).await;
        if a.status != 503 || started.elapsed() > std::time::Duration::from_secs(20) {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Redis restarted empty (no persistence; the same as a failover to a replica that had not
/// caught up): a transfer answered before is retried on another gateway. The key is gone from
/// Redis, so the gateway asks Blnk before forwarding, and answers with Blnk's record.
#[tokio::test]
async fn after_redis_comes_back_empty_a_retry_gets_blnks_record_not_a_second_transfer() {
    let mut redis = Redis::start();
    let gws = trio(Some(&redis), json!({})).await;
    let mut c = gws[0].h1().await;
    let first = send1(&mut c, keyed(&gws[0], "r-redis-lost")).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    gws[0].blnk.settled().await;

    redis.restart();
    let mut c = gws[1].h1().await;
    // Until the gateway has reconnected, keyed writes are refused (503), as a client expects.
    let retry = until_not_503(&mut c, &gws[1], "r-redis-lost").await;
    gws[0].blnk.settled().await;
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert_eq!(gws[0].blnk.transaction_posts(), 1);
    assert!(replayed(&retry), "{:?}", retry.headers);
    let held = &gws[0].blnk.transactions()["r-redis-lost"];
    assert_eq!(retry.json()["transaction_id"], held["transaction_id"]);
    assert_eq!(first.json()["transaction_id"], held["transaction_id"]);
}

/// A gateway whose clock is three hours ahead (libfaketime) sees a copy of a transfer another
/// gateway has in flight: in flight by Redis's clock, so 409, not a take-over of a "stale" key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_with_its_clock_ahead_judges_keys_by_redis_time() {
    let redis = Redis::start();
    let gws = trio(Some(&redis), json!({})).await;
    let blnk = gws[0].blnk.clone();
    let dir = tempfile::tempdir().unwrap();
    let cluster = json!({"cluster": {"enabled": true, "redis": redis.url()}});
    let ahead = Process::start(
        dir.path(),
        &blnk.url(),
        &gws[0].key,
        cluster,
        &["faketime", "-f", "+3h"],
    );

    blnk.set_behavior(Behavior::Hold);
    let mut c = gws[0].h1().await;
    let request = keyed(&gws[0], "r-clock");
    let first = tokio::spawn(async move { send1(&mut c, request).await });
    until(|| blnk.transaction_posts() == 1).await;

    let mut c = ahead.h1().await;
    let copy = send1(&mut c, keyed(&gws[0], "r-clock")).await;
    copy.assert_error(409, "GATEWAY_IDEMPOTENCY_IN_PROGRESS");
    blnk.release();
    let first = first.await.unwrap();
    assert_eq!(first.status, 201, "{:?}", first.body);

    let retry = send1(&mut c, keyed(&gws[0], "r-clock")).await;
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert!(replayed(&retry));
    assert_eq!(retry.body, first.body);
    assert_eq!(blnk.transaction_posts(), 1);
}

/// Redis stops answering (paused longer than `cluster.timeout`) just as Blnk's answer arrives:
/// the settle fails, is tried again in the background, and the retry on another gateway is
/// replayed once Redis answers, instead of waiting out the in-flight limit (two minutes).
#[tokio::test]
async fn a_settle_redis_missed_is_retried_and_the_key_is_not_left_in_flight() {
    let redis = Redis::start();
    let gws = trio(Some(&redis), json!({"cluster": {"timeout": "100ms"}})).await;
    let blnk = gws[0].blnk.clone();
    blnk.set_behavior(Behavior::Hold);
    let mut c = gws[0].h1().await;
    let request = keyed(&gws[0], "r-settle");
    let first = tokio::spawn(async move { send1(&mut c, request).await });
    until(|| blnk.transaction_posts() == 1).await;
    redis.command(&["CLIENT", "PAUSE", "1500", "ALL"]).unwrap();
    blnk.release();
    let first = first.await.unwrap();
    assert_eq!(first.status, 201, "{:?}", first.body);

    let started = std::time::Instant::now();
    let mut c = gws[1].h1().await;
    let retry = loop {
        let a = send1(&mut c, keyed(&gws[1], "r-settle")).await;
        let busy = a.status == 409 || a.status == 503;
        if !busy || started.elapsed() > std::time::Duration::from_secs(30) {
            break a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    eprintln!("replayed {:?} after the pause began", started.elapsed());
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert!(replayed(&retry));
    assert_eq!(retry.body, first.body);
    assert_eq!(blnk.transaction_posts(), 1);
}
