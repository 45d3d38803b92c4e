//! Failed-authentication lockouts shared by every gateway of a cluster, exactly: failures are
//! rare, so each one is counted in Redis (GCRA per source, `gateway.rate_limit.failed_auth`), and
//! the one past the limit starts the source's cool-down there and publishes it. Every gateway
//! keeps a subscription and refuses the source from the moment the message arrives (within the
//! Redis round trip, a millisecond or so on a LAN); on every (re)subscription the cool-downs in
//! force are read again, so a gateway that was cut off catches up before it trusts its table.
//!
//! Sources are SHA-256 digests in Redis and in the messages (an IPv4 digest can be reversed by
//! trying every address; Redis must be as private as Blnk's own data in it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::Quota;
use redis::Script;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::cluster::{self, Cluster, Fallback, Unavailable};
use crate::limits;

/// A source as the cluster names it.
pub type SourceId = [u8; 16];

/// One failure from a source: {1, 0, 0} counted; {0, ms, 0} refused, cooling down for ms;
/// {0, ms, 1} this failure started a cool-down of ms (and published it).
const FAILURE: &str = r"
local cd = redis.call('PTTL', KEYS[2])
if cd > 0 then return {0, cd, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if now + burst * T - tat >= T then
  tat = tat + T
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
  return {1, 0, 0}
end
local cool = tonumber(ARGV[3])
redis.call('SET', KEYS[2], '1', 'PX', cool)
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. cool)
return {0, cool, 1}
";

/// What a counted failure comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Under the limit.
    Counted,
    /// Past it: refused for this long; `started` when this failure began the cool-down.
    CoolingDown { wait: Duration, started: bool },
}

/// The cluster's lockouts, as this gateway knows them.
pub struct SharedLockouts {
    cluster: Arc<Cluster>,
    script: Script,
    cooling: Arc<Cooling>,
}

/// Sources cooling down anywhere in the cluster, by digest, until when.
#[derive(Default)]
struct Cooling {
    until: Mutex<HashMap<SourceId, Instant>>,
    len: AtomicUsize,
}

impl SharedLockouts {
    /// Starts the subscription that keeps the table current.
    pub fn start(cluster: Arc<Cluster>) -> Self {
        let cooling = Arc::new(Cooling::default());
        let channel = cluster.key("cooldowns");
        let table = cooling.clone();
        let resync_table = cooling.clone();
        cluster::subscribe(
            &cluster,
            channel,
            move |c| resync(c, resync_table.clone()),
            move |msg| table.apply_message(msg),
        );
        SharedLockouts {
            cluster,
            script: Script::new(FAILURE),
            cooling,
        }
    }

    /// How long `source` is still refused, if it is cooling down anywhere in the cluster.
    pub fn remaining(&self, source: IpAddr) -> Option<Duration> {
        if self.cooling.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let id = source_id(source);
        let now = Instant::now();
        let table = self.cooling.until.lock().unwrap_or_else(|p| p.into_inner());
        table
            .get(&id)
            .filter(|u| **u > now)
            .map(|u| u.saturating_duration_since(now))
    }

    /// Counts a failure from `source` in Redis.
    pub async fn failure(
        &self,
        source: IpAddr,
        quota: &Quota,
        cool_down: Duration,
    ) -> Result<Counted, Unavailable> {
        let id = source_id(source);
        let hex_id = hex::encode(id);
        let keys = [
            self.cluster.key(&format!("fa:{hex_id}")),
            self.cluster.key(&format!("cd:{hex_id}")),
        ];
        let interval_us = u64::try_from(quota.replenish_interval().as_micros()).unwrap_or(u64::MAX);
        let cool_ms = u64::try_from(cool_down.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let channel = self.cluster.key("cooldowns");
        let script = &self.script;
        let (counted, ms, started) = self
            .cluster
            .run(Fallback::FailedAuth, |mut conn| {
                let mut call = script.key(&keys[0]);
                call.key(&keys[1])
                    .arg(interval_us)
                    .arg(quota.burst_size().get())
                    .arg(cool_ms)
                    .arg(channel)
                    .arg(&hex_id);
                async move { call.invoke_async::<(u8, u64, u8)>(&mut conn).await }
            })
            .await?;
        if counted == 1 {
            return Ok(Counted::Counted);
        }
        let wait = Duration::from_millis(ms);
        self.cooling.insert(id, Instant::now() + wait);
        Ok(Counted::CoolingDown {
            wait,
            started: started == 1,
        })
    }

    /// Sources this gateway knows to be cooling down.
    pub fn len(&self) -> usize {
        self.cooling.len.load(Ordering::Relaxed)
    }
}

impl Cooling {
    fn insert(&self, id: SourceId, until: Instant) {
        let mut table = self.until.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if table.len() >= limits::RATE_LIMIT_MAX_TRACKED {
            table.retain(|_, u| *u > now);
        }
        if table.len() < limits::RATE_LIMIT_MAX_TRACKED {
            table.insert(id, until);
        }
        self.len.store(table.len(), Ordering::Relaxed);
    }

    /// `<32 hex digits> <milliseconds>`, as the script publishes it.
    fn apply_message(&self, msg: &[u8]) {
        let Some((id, ms)) = parse(msg) else {
            tracing::debug!("ignoring a malformed cool-down message");
            return;
        };
        self.insert(id, Instant::now() + Duration::from_millis(ms));
    }
}

fn parse(msg: &[u8]) -> Option<(SourceId, u64)> {
    let text = std::str::from_utf8(msg).ok()?;
    let (id, ms) = text.split_once(' ')?;
    let mut out = [0u8; 16];
    hex::decode_to_slice(id, &mut out).ok()?;
    Some((out, ms.parse().ok()?))
}

/// Reads every cool-down in force (after a (re)subscription), in bounded batches.
async fn resync(cluster: Arc<Cluster>, cooling: Arc<Cooling>) {
    let pattern = cluster.key("cd:*");
    let prefix_len = cluster.key("cd:").len();
    let mut cursor: u64 = 0;
    let mut seen = 0usize;
    loop {
        let batch = cluster
            .run(Fallback::Coordination, |mut conn| {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000);
                async move { cmd.query_async::<(u64, Vec<String>)>(&mut conn).await }
            })
            .await;
        let Ok((next, keys)) = batch else { return };
        for key in keys {
            let ttl = cluster
                .run(Fallback::Coordination, |mut conn| {
                    let mut cmd = redis::cmd("PTTL");
                    cmd.arg(&key);
                    async move { cmd.query_async::<i64>(&mut conn).await }
                })
                .await;
            let hexid = key.get(prefix_len..).unwrap_or_default();
            let mut id = [0u8; 16];
            if let (Ok(ms), Ok(())) = (ttl, hex::decode_to_slice(hexid, &mut id)) {
                if ms > 0 {
                    let ms = u64::try_from(ms).unwrap_or(0);
                    cooling.insert(id, Instant::now() + Duration::from_millis(ms));
                }
            }
            seen += 1;
        }
        cursor = next;
        if cursor == 0 || seen >= limits::RATE_LIMIT_MAX_TRACKED {
            return;
        }
    }
}

/// The digest of a source address (already narrowed to its /64 for IPv6 by `source`).
pub fn source_id(source: IpAddr) -> SourceId {
    let mut h = Sha256::new();
    h.update(b"blnk-gateway source v1\0");
    h.update(source.to_string());
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}
