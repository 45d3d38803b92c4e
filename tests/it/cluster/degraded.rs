//! Redis killed in the middle of a load: the three gateways keep serving (no 5xx from their own
//! state), say they are degraded, refuse only keyed writes (503, the documented rule for
//! idempotency), and share again once Redis is back, empty, without a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::{get, keyed, trio, wait_until};
use crate::support::client::send1;
use crate::support::gateway::TestGateway;
use crate::support::redis::Redis;

/// GETs in a loop on each gateway until `stop`; every status is recorded.
fn load(gws: &[TestGateway], stop: &Arc<AtomicBool>) -> Arc<Mutex<Vec<u16>>> {
    let statuses = Arc::new(Mutex::new(Vec::new()));
    for g in gws {
        let (addr, key, connector) = (g.addr, g.key.clone(), g.connector(&[b"http/1.1"]));
        let (stop, statuses) = (stop.clone(), statuses.clone());
        tokio::spawn(async move {
            let tls = crate::support::client::connect_tls(addr, &connector)
                .await
                .unwrap();
            let mut c = crate::support::client::h1(tls).await;
            while !stop.load(Ordering::Relaxed) {
                let s = send1(&mut c, get(&key)).await.status.as_u16();
                statuses.lock().unwrap().push(s);
            }
        });
    }
    statuses
}

fn metric(g: &TestGateway, line_start: &str) -> f64 {
    let c = g.state.cluster.as_ref().unwrap();
    let text = blnk_gateway::metrics::render(vec![Box::new(c.metrics())]);
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line_start} not in:\n{text}"))
}

#[tokio::test]
async fn with_redis_gone_the_gateways_serve_alone_and_share_again_when_it_returns() {
    let mut redis = Redis::start();
    let quota = json!({"cluster": {"gateways": 3},
        "rate_limit": {"per_client": {"per_second": 100000, "burst": 100000}}});
    let gws = trio(Some(&redis), quota).await;
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = load(&gws, &stop);
    let seen = |n: usize| {
        let statuses = statuses.clone();
        move || statuses.lock().unwrap().len() >= n
    };
    wait_until("the load runs", seen(200)).await;

    redis.kill();
    wait_until("every gateway notices", || {
        gws.iter()
            .all(|g| !g.state.cluster.as_ref().unwrap().is_up())
    })
    .await;
    let at_kill = statuses.lock().unwrap().len();
    wait_until("the load goes on", seen(at_kill + 300)).await;
    for g in &gws {
        assert_eq!(metric(g, "blnk_gateway_cluster_redis_up "), 0.0);
        assert!(
            metric(
                g,
                "blnk_gateway_cluster_fallbacks_total{what=\"rate_limit\"}"
            ) > 0.0
        );
    }
    // A keyed write cannot be made safe without the shared store: refused, never forwarded.
    let mut c = gws[1].h1().await;
    send1(&mut c, keyed(&gws[1], "ref-while-down"))
        .await
        .assert_error(503, "GATEWAY_IDEMPOTENCY_UNAVAILABLE");
    assert_eq!(gws[0].blnk.transaction_posts(), 0);

    redis.restart();
    wait_until("every gateway is back on Redis", || {
        gws.iter()
            .all(|g| g.state.cluster.as_ref().unwrap().is_up())
    })
    .await;
    let at_restart = statuses.lock().unwrap().len();
    wait_until("the load goes on", seen(at_restart + 200)).await;
    stop.store(true, Ordering::Relaxed);

    let all = statuses.lock().unwrap().clone();
    let errors: Vec<&u16> = all.iter().filter(|s| **s >= 500).collect();
    assert!(errors.is_empty(), "{} 5xx of {}", errors.len(), all.len());
    assert!(
        all.iter().all(|s| *s == 200),
        "only 200s expected under this quota"
    );
    // Shared again: the buckets are in the new Redis, and a retry on another gateway replays.
    assert!(redis.count_keys("blnk-gateway:rl:*") >= 1);
    for (i, g) in gws.iter().enumerate() {
        let mut c = g.h1().await;
        let a = send1(&mut c, keyed(g, "ref-after-restart")).await;
        assert_eq!(a.status, 201, "gateway {i}: {:?}", a.body);
    }
    assert_eq!(gws[0].blnk.transaction_posts(), 1);
}
