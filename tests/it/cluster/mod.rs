//! Several gateways, one set of guarantees (cluster mode): three gateways share one real
//! `redis-server` (started by the test on a free port) and one fake Blnk. Each case counts what
//! the three let through together, or what reached Blnk.
//!
//! - here: shared quotas, shared lockouts, shared idempotency, the gateways' count.
//! - `degraded`: Redis killed in the middle of a load, then restarted empty.

mod degraded;
mod safety;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};

use crate::support::client::{empty, req, send1, send2, Answer};
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::{merge, new_key, Setup, TestGateway};
use crate::support::redis::Redis;

/// Three gateways on one Redis (or none, for the control case), with `extra` merged in.
async fn trio(redis: Option<&Redis>, extra: Value) -> Vec<TestGateway> {
    let mut gateway = match redis {
        Some(r) => json!({"cluster": {"enabled": true, "redis": r.url()}}),
        None => json!({}),
    };
    merge(&mut gateway, &extra);
    let setup = || Setup {
        gateway: gateway.clone(),
        ..Setup::default()
    };
    let first = TestGateway::start(setup()).await;
    let (key, blnk) = (first.key.clone(), first.blnk.clone());
    let mut all = vec![first];
    for _ in 0..2 {
        all.push(TestGateway::start_with(setup(), key.clone(), blnk.clone()).await);
    }
    if redis.is_some() {
        // Up, and has beaten once: it knows Redis's epoch, so it can tell when Redis lost writes.
        wait_until("every gateway reaches Redis", || {
            all.iter().all(|g| {
                let c = g.state.cluster.as_ref().unwrap();
                c.is_up() && !c.peers.epoch().is_empty()
            })
        })
        .await;
    }
    all
}

/// Waits (at most 20 s) for something the gateways do in the background.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what}: not within 20 s");
}

fn get(key: &str) -> http::Request<Full<Bytes>> {
    req("GET", "/ledgers")
        .header("x-blnk-key", key)
        .body(empty())
        .unwrap()
}

/// Sends `n` GETs round robin over the gateways; returns (200s, 429s).
async fn spread(gws: &[TestGateway], n: usize, key: &str) -> (usize, usize) {
    let mut conns = Vec::new();
    for g in gws {
        conns.push(g.h1().await);
    }
    let (mut ok, mut limited) = (0, 0);
    for i in 0..n {
        let k = i % conns.len();
        let a = send1(&mut conns[k], get(key)).await;
        match a.status.as_u16() {
            200 => ok += 1,
            429 => limited += 1,
            s => panic!("{s}: {:?}", a.body),
        }
    }
    (ok, limited)
}

/// A quota that refills so slowly that only its burst counts within a test.
fn burst_only(burst: u32) -> Value {
    json!({"rate_limit": {"per_client": {"per_second": 0.01, "burst": burst}}})
}

#[tokio::test]
async fn a_clients_quota_is_shared_by_the_gateways() {
    let redis = Redis::start();
    let gws = trio(Some(&redis), burst_only(30)).await;
    let key = gws[0].key.clone();
    // One client, spread over three gateways: the quota's burst, not three of them.
    assert_eq!(spread(&gws, 60, &key).await, (30, 30));
    // The same without a cluster: each gateway has a bucket of its own.
    let alone = trio(None, burst_only(30)).await;
    let key = alone[0].key.clone();
    assert_eq!(spread(&alone, 120, &key).await, (90, 30));
}

#[tokio::test]
async fn leases_never_let_the_gateways_past_the_quota() {
    // 200/s with a burst of 40: leases of 10 tokens (50 ms of refill), spent locally.
    let redis = Redis::start();
    let quota = json!({"rate_limit": {"per_client": {"per_second": 200, "burst": 40}}});
    let gws = trio(Some(&redis), quota).await;
    let key = gws[0].key.clone();
    let started = std::time::Instant::now();
    let (ok, limited) = spread(&gws, 300, &key).await;
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!("leases: {ok} allowed, {limited} limited in {elapsed:.3} s");
    // Never more than the burst plus what refilled meanwhile (plus one lease taken at the end).
    let bound = 40.0 + 200.0 * elapsed + 10.0;
    assert!(
        f64::from(ok as u32) <= bound,
        "{ok} allowed in {elapsed:.3} s (bound {bound:.0})"
    );
    assert!(
        limited > 0,
        "the quota never bit: {ok} allowed in {elapsed:.3} s"
    );
}

#[tokio::test]
async fn a_guesser_spread_over_the_gateways_is_cooled_down_on_all_of_them() {
    let redis = Redis::start();
    let rules = json!({"rate_limit": {"failed_auth": {"per_second": 0.001, "burst": 5, "cool_down": "5m"}}});
    let gws = trio(Some(&redis), rules).await;
    let mut conns = Vec::new();
    for g in &gws {
        conns.push(g.h1().await);
    }
    // Five wrong keys in total are counted; the sixth, wherever it lands, starts the cool-down.
    for i in 0..5 {
        let a = send1(&mut conns[i % 3], get(&new_key("guess"))).await;
        a.assert_error(401, "AUTH_INVALID_API_KEY");
    }
    let a = send1(&mut conns[5 % 3], get(&new_key("guess"))).await;
    assert_eq!(a.status, 429);
    // Every gateway learns of it (published by Redis; measured in milliseconds here)...
    let started = std::time::Instant::now();
    wait_until("every gateway knows the cool-down", || {
        gws.iter()
            .all(|g| g.state.rate_limits.tracked().cooling_down >= 1)
    })
    .await;
    eprintln!("cool-down known to all three after {:?}", started.elapsed());
    // ...and refuses the right key.
    let key = gws[0].key.clone();
    for c in &mut conns {
        let a = send1(c, get(&key)).await;
        assert_eq!(a.status, 429, "{:?}", a.body);
        assert_eq!(a.json()["error_detail"]["code"], "GEN_RATE_LIMITED");
    }
    assert_eq!(gws[0].blnk.count(), 0);
}

fn txn(reference: &str) -> http::Request<Full<Bytes>> {
    let body = crate::support::fake_blnk::transfer(reference, 100);
    req("POST", "/transactions")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn keyed(gw: &TestGateway, reference: &str) -> http::Request<Full<Bytes>> {
    let mut r = txn(reference);
    r.headers_mut()
        .insert("x-blnk-key", gw.key.parse().unwrap());
    r
}

#[tokio::test]
async fn a_retry_on_another_gateway_is_replayed_and_blnk_sees_one() {
    let redis = Redis::start();
    let gws = trio(Some(&redis), json!({})).await;
    let mut answers: Vec<Answer> = Vec::new();
    for g in &gws {
        let mut c = g.h1().await;
        answers.push(send1(&mut c, keyed(g, "ref-cluster-1")).await);
    }
    assert_eq!(answers[0].status, 201, "{:?}", answers[0].body);
    for a in &answers[1..] {
        assert_eq!(a.body, answers[0].body);
        assert_eq!(a.headers["idempotent-replayed"], "true");
    }
    assert_eq!(gws[0].blnk.transaction_posts(), 1);
    // The store is Redis, not the gateways' files.
    // One entry (a key's digest is 64 hex digits; the store's sets and markers sit beside it).
    assert_eq!(
        redis.count_keys(&format!("blnk-gateway:idem:{}", "?".repeat(64))),
        1
    );
}

#[tokio::test]
async fn twenty_concurrent_copies_over_three_gateways_reach_blnk_once() {
    let redis = Redis::start();
    let gws = trio(Some(&redis), json!({})).await;
    gws[0].blnk.set_behavior(Behavior::Hold);
    let mut conns = Vec::new();
    for g in &gws {
        conns.push(g.h2().await);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..20 {
        let mut c = conns[i % 3].clone();
        let r = keyed(&gws[i % 3], "ref-cluster-race");
        let tx = tx.clone();
        tokio::spawn(async move { tx.send(send2(&mut c, r).await) });
    }
    for _ in 0..19 {
        next(&mut rx)
            .await
            .assert_error(409, "GATEWAY_IDEMPOTENCY_IN_PROGRESS");
    }
    gws[0].blnk.release();
    assert_eq!(next(&mut rx).await.status, 201);
    assert_eq!(gws[0].blnk.transaction_posts(), 1);
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Answer>) -> Answer {
    let got = tokio::time::timeout(Duration::from_secs(20), rx.recv());
    got.await.expect("an answer").expect("a sender")
}

#[tokio::test]
async fn each_gateway_counts_the_others() {
    let redis = Redis::start();
    let gws = trio(Some(&redis), json!({})).await;
    wait_until("three gateways alive", || {
        gws.iter()
            .all(|g| g.state.cluster.as_ref().unwrap().stats.gateways() == 3)
    })
    .await;
    // Redis holds digests, never an identity or a key.
    let key = gws[0].key.clone();
    spread(&gws, 3, &key).await;
    let mut c = gws[0].h1().await;
    send1(&mut c, get("wrong-key-for-a-failure")).await;
    assert!(redis.count_keys("blnk-gateway:rl:*") >= 1);
    assert_eq!(redis.count_keys("blnk-gateway:fa:*"), 1);
    let keys = redis.command(&["KEYS", "*"]).unwrap();
    assert!(!keys.contains(&gws[0].key), "{keys}");
    assert!(!keys.contains("127.0.0.1"), "{keys}");
}

/// The Redis user docs/cluster.md tells operators to make is enough: with exactly its commands,
/// transfers are kept and replayed, quotas and the heartbeat run, and nothing falls back.
#[tokio::test]
async fn the_documented_redis_acl_is_enough() {
    let redis = Redis::start();
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cluster.md")).unwrap();
    let start = doc
        .find("redis-cli ACL SETUSER")
        .expect("the ACL in docs/cluster.md");
    let end = start + doc[start..].find("\n```").unwrap();
    let line = doc[start..end].replace("\\\n", " ").replace('\'', "");
    let args: Vec<&str> = line
        .split_whitespace()
        .skip(1)
        .map(|a| {
            if a == ">PASSWORD" {
                ">pw-for-the-test"
            } else {
                a
            }
        })
        .collect();
    let reply = redis.command(&args).unwrap();
    assert!(reply.starts_with("+OK"), "{args:?}: {reply}");
    let url = format!(
        "redis://blnk-gateway:pw-for-the-test@127.0.0.1:{}/0",
        redis.port
    );
    let gws = trio(
        None,
        json!({"cluster": {"enabled": true, "redis": url},
               "rate_limit": {"per_client": {"per_second": 1000, "burst": 100}}}),
    )
    .await;
    wait_until("every gateway reaches Redis as blnk-gateway", || {
        gws.iter().all(|g| {
            let c = g.state.cluster.as_ref().unwrap();
            c.is_up() && !c.peers.epoch().is_empty()
        })
    })
    .await;
    // Fallbacks before the connection was up do not count: only those of the operations below.
    let fallbacks = |gws: &[TestGateway]| -> Vec<String> {
        gws.iter()
            .flat_map(|g| {
                let c = g.state.cluster.as_ref().unwrap();
                let text = blnk_gateway::metrics::render(vec![Box::new(c.metrics())]);
                text.lines()
                    .filter(|l| l.starts_with("blnk_gateway_cluster_fallbacks_total"))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let before = fallbacks(&gws);
    let mut c = gws[0].h1().await;
    let first = send1(&mut c, keyed(&gws[0], "r-acl")).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let mut c = gws[1].h1().await;
    let again = send1(&mut c, keyed(&gws[1], "r-acl")).await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    spread(&gws, 6, &gws[0].key.clone()).await;
    // Two heartbeats more on every gateway.
    tokio::time::sleep(blnk_gateway::limits::CLUSTER_HEARTBEAT_INTERVAL * 2).await;
    assert_eq!(
        fallbacks(&gws),
        before,
        "an operation the ACL refused fell back"
    );
}
