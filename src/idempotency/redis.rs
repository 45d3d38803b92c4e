//! The shared store: idempotency keys in the Redis of a cluster, so a retry that lands on
//! another gateway is replayed too and exactly one copy reaches Blnk.
//!
//! Each key is one Redis string holding the entry's binary form (`entry`), with Redis's expiry
//! set to the entry's; `claim` and `replace` are Lua scripts, so each is atomic across gateways
//! (the claim is a `SET` when absent; the replacement a compare-and-swap on the entry's random
//! version, bytes 2 to 9 of its form). Redis holds the keys' digests (never a key or a client
//! identity) and, for answered keys, Blnk's answer: status, a few headers and the body.
//!
//! While Redis cannot be used, every operation fails (`StoreError::Unavailable`): a keyed request
//! is refused (503) rather than forwarded without the guarantee, since a per-gateway store would
//! let a retry on another gateway move money again.

use std::sync::Arc;

use redis::Script;

use super::entry::Entry;
use super::store::{Store, StoreError, StoreFuture, StoreKey};
use crate::cluster::{Cluster, Fallback};

/// KEYS[1]; ARGV: entry, ttl ms. Returns the entry holding the key, or nothing once it is ours.
const CLAIM: &str = r"
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";

/// KEYS[1]; ARGV: expected version (8 bytes), next entry (empty: remove), ttl ms. 1 if replaced.
const REPLACE: &str = r"
local held = redis.call('GET', KEYS[1])
if not held or string.sub(held, 2, 9) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
";

/// Idempotency keys in the cluster's Redis.
pub struct RedisStore {
    cluster: Arc<Cluster>,
    claim: Script,
    replace: Script,
}

impl RedisStore {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        RedisStore {
            cluster,
            claim: Script::new(CLAIM),
            replace: Script::new(REPLACE),
        }
    }

    fn key(&self, key: &StoreKey) -> String {
        self.cluster.key(&format!("idem:{}", hex::encode(key)))
    }
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("the cluster's Redis cannot be used".into())
}

/// Redis's expiry for an entry: until its own, at least a millisecond.
fn ttl_ms(entry: &Entry, now_ms: u64) -> u64 {
    entry.expires_at_ms.saturating_sub(now_ms).max(1)
}

impl Store for RedisStore {
    fn claim(&self, key: StoreKey, entry: Entry, now_ms: u64) -> StoreFuture<'_, Option<Entry>> {
        Box::pin(async move {
            let k = self.key(&key);
            let ttl = ttl_ms(&entry, now_ms);
            let bytes = entry.encode();
            let script = &self.claim;
            let held = self
                .cluster
                .run(Fallback::Idempotency, |mut conn| {
                    let mut call = script.key(k);
                    call.arg(bytes).arg(ttl);
                    async move { call.invoke_async::<Option<Vec<u8>>>(&mut conn).await }
                })
                .await
                .map_err(|_| unavailable())?;
            match held {
                None => Ok(None),
                Some(b) => Entry::decode(&b).map(Some).ok_or_else(|| {
                    StoreError::Unavailable("an entry in Redis is unreadable".into())
                }),
            }
        })
    }

    fn replace(
        &self,
        key: StoreKey,
        expected: u64,
        next: Option<Entry>,
        now_ms: u64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let k = self.key(&key);
            let ttl = next.as_ref().map_or(1, |e| ttl_ms(e, now_ms));
            let bytes = next.map(|e| e.encode()).unwrap_or_default();
            let script = &self.replace;
            let replaced = self
                .cluster
                .run(Fallback::Idempotency, |mut conn| {
                    let mut call = script.key(k);
                    call.arg(&expected.to_be_bytes()[..]).arg(bytes).arg(ttl);
                    async move { call.invoke_async::<u8>(&mut conn).await }
                })
                .await
                .map_err(|_| unavailable())?;
            Ok(replaced == 1)
        })
    }

    fn describe(&self) -> String {
        format!("shared, in Redis at {}", self.cluster.settings().redis)
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}
