//! How many gateways share the cluster: each says it is alive every `CLUSTER_HEARTBEAT_INTERVAL`
//! (a sorted set in Redis, scored by when the claim runs out, by Redis's clock), and reads which
//! others did within `CLUSTER_HEARTBEAT_TTL`, Redis's time, epoch and sequence (`peers`). While
//! Redis is away, each gateway limits with its share of every quota: the quota divided by this
//! count (or `gateway.cluster.gateways`).

use std::sync::{Arc, Weak};

use redis::Script;

use super::conn::Cluster;
use super::stats::Fallback;
use crate::limits;

/// Adds this gateway, drops the ones whose claim ran out; sets the epoch if Redis has none.
/// KEYS: gateways, epoch, seq. ARGV: this gateway's id, ttl ms, a fresh epoch. Answers Redis's
/// time, the epoch, the sequence, then the gateways alive.
const BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl)
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[2], epoch)
end
local seq = redis.call('GET', KEYS[3]) or '0'
local alive = redis.call('ZRANGE', KEYS[1], 0, -1)
table.insert(alive, 1, seq)
table.insert(alive, 1, epoch)
table.insert(alive, 1, tostring(now))
return alive
";

/// Starts the heartbeat; it ends when the cluster is dropped.
pub fn spawn(cluster: &Arc<Cluster>) {
    let weak = Arc::downgrade(cluster);
    tokio::spawn(beat(weak));
}

async fn beat(cluster: Weak<Cluster>) {
    let script = Script::new(BEAT);
    loop {
        let Some(c) = cluster.upgrade() else { return };
        let beaten = beat_once(&c, &script).await;
        drop(c);
        // After a failed beat (the first, before the connection is up, among them) the next
        // comes soon: what a beat learns, the epoch above all, is needed from the first request.
        tokio::time::sleep(if beaten {
            limits::CLUSTER_HEARTBEAT_INTERVAL
        } else {
            limits::CLUSTER_HEARTBEAT_RETRY
        })
        .await;
    }
}

/// One beat; false if Redis could not be used.
async fn beat_once(c: &Cluster, script: &Script) -> bool {
    let ttl_ms = u64::try_from(limits::CLUSTER_HEARTBEAT_TTL.as_millis()).unwrap_or(u64::MAX);
    let keys = [c.key("gateways"), c.key("epoch"), c.key("seq")];
    let mut fresh = [0u8; 8];
    let _ = crate::crypto::fill_random(&mut fresh);
    let floor = c.peers.seq_floor();
    let beat = c
        .run(Fallback::Coordination, |mut conn| {
            let mut call = script.key(&keys[..]);
            call.arg(&c.id).arg(ttl_ms).arg(hex::encode(fresh));
            async move { call.invoke_async::<Vec<String>>(&mut conn).await }
        })
        .await;
    let Ok(reply) = beat else { return false };
    let mut reply = reply.into_iter();
    let now = reply.next().and_then(|t| t.parse().ok());
    let epoch = reply.next().unwrap_or_default();
    let seq = reply.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    c.peers.observe(&epoch, seq, floor, false);
    let alive: std::collections::HashSet<u64> =
        reply.map(|id| super::peers::owner_of(&id)).collect();
    c.stats.set_gateways(alive.len() as u64);
    if let Some(now) = now {
        c.peers.heard(now, alive);
    }
    true
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
