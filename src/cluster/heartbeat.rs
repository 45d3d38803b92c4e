//! How many gateways share the cluster: each says it is alive every `CLUSTER_HEARTBEAT_INTERVAL`
//! (a sorted set in Redis, scored by when the claim runs out, by Redis's clock), and reads how
//! many others did within `CLUSTER_HEARTBEAT_TTL`. While Redis is away, each gateway limits with
//! its share of every quota: the quota divided by this count (or `gateway.cluster.gateways`).

use std::sync::{Arc, Weak};

use redis::Script;

use super::conn::Cluster;
use super::stats::Fallback;
use crate::limits;

/// Adds this gateway, drops the ones whose claim ran out, counts the rest.
const BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('ZCARD', KEYS[1])
";

/// Starts the heartbeat; it ends when the cluster is dropped.
pub fn spawn(cluster: &Arc<Cluster>) {
    let weak = Arc::downgrade(cluster);
    tokio::spawn(beat(weak));
}

async fn beat(cluster: Weak<Cluster>) {
    let script = Script::new(BEAT);
    let ttl_ms = u64::try_from(limits::CLUSTER_HEARTBEAT_TTL.as_millis()).unwrap_or(u64::MAX);
    let mut tick = tokio::time::interval(limits::CLUSTER_HEARTBEAT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(c) = cluster.upgrade() else { return };
        let key = c.key("gateways");
        let counted = c
            .run(Fallback::Coordination, |mut conn| {
                let mut call = script.key(key);
                call.arg(&c.id).arg(ttl_ms);
                async move { call.invoke_async::<u64>(&mut conn).await }
            })
            .await;
        if let Ok(n) = counted {
            c.stats.set_gateways(n);
        }
    }
}

/// Into how many shares a quota is divided while Redis is away.
pub fn share(cluster: &Cluster) -> u32 {
    match cluster.settings().gateways {
        Some(n) => n.max(1),
        None => u32::try_from(cluster.stats.gateways())
            .unwrap_or(u32::MAX)
            .max(1),
    }
}
