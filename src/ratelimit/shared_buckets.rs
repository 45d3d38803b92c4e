//! Buckets shared by every gateway of a cluster: GCRA in Redis (one time per bucket, advanced by
//! a Lua script with Redis's clock), consumed through short leases.
//!
//! A gateway takes a few tokens at once from a shared bucket (as many as the quota refills in
//! `gateway.cluster.lease`, at most half the burst) and spends them locally until they run out or
//! the lease ends; what is left then goes back to the bucket. Tokens are taken from the shared
//! bucket before they are spent, so the gateways together never admit more than the quota's
//! rate and burst; a token is spent at most one lease after it was taken, so over any window the
//! excess is at most what the quota refills in one lease. Leased tokens a gateway does not use
//! are unavailable to the others until the lease ends (at most the lease size per gateway). With
//! `lease: 0s` each request takes its token from Redis itself (exact, one round trip each).
//!
//! Requests for one bucket on one gateway wait for one another while a lease is fetched, so a
//! burst costs one round trip, not one per request. A refusal is remembered until the bucket has
//! a token again, so a client over its quota costs no Redis traffic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::Quota;
use redis::Script;
use tokio::time::Instant;

use crate::cluster::{Cluster, Fallback, Unavailable};
use crate::limits;

/// Takes up to ARGV[3] tokens from the bucket KEYS[1] (emission interval ARGV[1] µs, burst
/// ARGV[2]); returns {taken, left after, µs until one is available when none was taken}.
const LEASE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local room = math.floor((now + burst * T - tat) / T)
if room < 1 then
  return {0, 0, math.ceil(tat - (now + (burst - 1) * T))}
end
local k = math.min(want, room)
tat = tat + k * T
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {k, room - k, 0}
";

/// Gives ARGV[1] unused tokens (of interval ARGV[2] µs) back to the bucket KEYS[1].
const GIVE_BACK: &str = r"
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
tat = tat - tonumber(ARGV[1]) * tonumber(ARGV[2])
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return 1
";

/// What a shared bucket said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Allowed; about this many tokens are left in the bucket.
    Allowed { remaining: u32 },
    /// Refused; the bucket has a token again after this long.
    Denied { wait: Duration },
}

/// This gateway's leases on shared buckets.
pub struct SharedBuckets {
    cluster: Arc<Cluster>,
    lease: Script,
    give_back: Script,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

/// One bucket's lease on this gateway.
#[derive(Debug, Default)]
struct Slot {
    tokens: u32,
    until: Option<Instant>,
    /// Tokens left in the shared bucket when the lease was taken, for `RateLimit-Remaining`.
    remaining: u32,
    denied_until: Option<Instant>,
    interval_us: u64,
}

impl SharedBuckets {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        SharedBuckets {
            cluster,
            lease: Script::new(LEASE),
            give_back: Script::new(GIVE_BACK),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from the shared bucket `name` of `quota`.
    pub async fn take(&self, name: &str, quota: &Quota) -> Result<Taken, Unavailable> {
        let interval_us = u64::try_from(quota.replenish_interval().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let burst = quota.burst_size().get();
        let key = self
            .cluster
            .key(&format!("rl:{name}:{interval_us}:{burst}"));
        let slot = self.slot(&key);
        let mut slot = slot.lock().await;
        let now = Instant::now();
        if let Some(until) = slot.denied_until.filter(|u| *u > now) {
            return Ok(Taken::Denied { wait: until - now });
        }
        if slot.tokens > 0 && slot.until.is_some_and(|u| u > now) {
            slot.tokens -= 1;
            return Ok(Taken::Allowed {
                remaining: slot.remaining.saturating_add(slot.tokens),
            });
        }
        if slot.tokens > 0 {
            self.return_unused(&key, slot.tokens, slot.interval_us);
            slot.tokens = 0;
        }
        let want = self.lease_size(interval_us, burst);
        let (taken, left, wait_us) = self.fetch(&key, interval_us, burst, want).await?;
        let now = Instant::now();
        if taken == 0 {
            let wait = Duration::from_micros(wait_us.max(1));
            slot.denied_until = Some(now + wait);
            return Ok(Taken::Denied { wait });
        }
        slot.tokens = taken - 1;
        slot.until = Some(now + self.cluster.settings().lease);
        slot.remaining = left;
        slot.denied_until = None;
        slot.interval_us = interval_us;
        Ok(Taken::Allowed {
            remaining: left.saturating_add(slot.tokens),
        })
    }

    /// As many tokens as the quota refills in one lease, at least one, at most half the burst.
    fn lease_size(&self, interval_us: u64, burst: u32) -> u32 {
        let lease_us = u64::try_from(self.cluster.settings().lease.as_micros()).unwrap_or(0);
        let refill = lease_us.div_ceil(interval_us);
        u32::try_from(refill)
            .unwrap_or(u32::MAX)
            .clamp(1, (burst / 2).max(1))
    }

    async fn fetch(
        &self,
        key: &str,
        interval_us: u64,
        burst: u32,
        want: u32,
    ) -> Result<(u32, u32, u64), Unavailable> {
        let script = &self.lease;
        self.cluster
            .run(Fallback::RateLimit, |mut conn| {
                let mut call = script.key(key);
                call.arg(interval_us).arg(burst).arg(want);
                async move { call.invoke_async::<(u32, u32, u64)>(&mut conn).await }
            })
            .await
    }

    /// Gives unused tokens back, off the request path.
    fn return_unused(&self, key: &str, tokens: u32, interval_us: u64) {
        let cluster = self.cluster.clone();
        let script = self.give_back.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            let _ = cluster
                .run(Fallback::RateLimit, |mut conn| {
                    let mut call = script.key(key);
                    call.arg(tokens).arg(interval_us);
                    async move { call.invoke_async::<u32>(&mut conn).await }
                })
                .await;
        });
    }

    /// The bucket's slot, made on first use. At the cap, slots holding nothing are dropped
    /// first; if every slot holds a live lease, the new bucket gets a slot of its own that is
    /// not kept (its request takes its token without a lease).
    fn slot(&self, key: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slots.get(key) {
            return s.clone();
        }
        if slots.len() >= limits::CLUSTER_MAX_LEASES {
            let now = Instant::now();
            slots.retain(|_, s| {
                s.try_lock().map_or(true, |s| {
                    s.tokens > 0 && s.until.is_some_and(|u| u > now)
                        || s.denied_until.is_some_and(|u| u > now)
                })
            });
            if slots.len() >= limits::CLUSTER_MAX_LEASES {
                return Arc::new(tokio::sync::Mutex::new(Slot::default()));
            }
        }
        let s = Arc::new(tokio::sync::Mutex::new(Slot::default()));
        slots.insert(key.to_string(), s.clone());
        s
    }
}
