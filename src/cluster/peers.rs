//! What the heartbeat learns besides the count: Redis's clock, which every gateway of the
//! cluster stamps shared entries with (one clock, whatever each machine's says), which gateways
//! are alive (an entry left in flight by one that is not was left by a crash), and whether Redis
//! lost writes: its epoch (a random value set when Redis has none: another one, or none, means
//! it came back empty) and its sequence (advanced by every idempotency claim: lower than seen
//! means it came back behind, a failover to a replica that lagged).

use std::collections::HashSet;
use std::sync::{Mutex, RwLock};

use tokio::time::Instant;

/// How many gateways `Peers` remembers having seen alive; beyond, newcomers are not recorded
/// (and count as alive until their in-flight entries are older than any exchange lasts).
const SEEN_GATEWAYS_MAX: usize = 4096;

/// Redis's time at the last heartbeat, and the gateways alive then.
#[derive(Debug, Default)]
pub struct Peers {
    time: Mutex<Option<(u64, Instant)>>,
    gateways: RwLock<Gateways>,
    history: Mutex<History>,
}

/// The gateways of the last heartbeat, and every one seen alive at some heartbeat: a gateway is
/// known dead only once it was seen and is gone. One that started after this gateway's last
/// heartbeat is in neither, and counts as alive.
#[derive(Debug, Default)]
struct Gateways {
    alive: HashSet<u64>,
    seen: HashSet<u64>,
}

/// What this gateway knows of Redis's writes.
#[derive(Debug, Default)]
struct History {
    /// The epoch last seen ("" before the first reading).
    epoch: String,
    /// The highest sequence seen.
    seq: u64,
    /// A loss seen and not yet reported to the store (which then makes claims suspect).
    unreported: bool,
}

impl Peers {
    pub(super) fn heard(&self, redis_ms: u64, alive: HashSet<u64>) {
        *self.time.lock().unwrap_or_else(|e| e.into_inner()) = Some((redis_ms, Instant::now()));
        let mut g = self.gateways.write().unwrap_or_else(|e| e.into_inner());
        for id in &alive {
            if g.seen.len() < SEEN_GATEWAYS_MAX {
                g.seen.insert(*id);
            }
        }
        g.alive = alive;
    }

    /// Redis's time as a script just read it.
    pub fn heard_time(&self, redis_ms: u64) {
        *self.time.lock().unwrap_or_else(|e| e.into_inner()) = Some((redis_ms, Instant::now()));
    }

    /// Redis's time now: its last reading advanced by this machine's monotonic clock; this
    /// machine's wall clock until the first heartbeat.
    pub fn now_ms(&self) -> u64 {
        match *self.time.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((ms, at)) => {
                ms.saturating_add(u64::try_from(at.elapsed().as_millis()).unwrap_or(0))
            }
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// Whether the gateway `owner` may still be alive: false only for one seen at an earlier
    /// heartbeat and gone from the last (its claim ran out: `CLUSTER_HEARTBEAT_TTL` without a beat).
    pub fn alive(&self, owner: u64) -> bool {
        let g = self.gateways.read().unwrap_or_else(|e| e.into_inner());
        g.alive.contains(&owner) || !g.seen.contains(&owner)
    }
}

impl Peers {
    /// The epoch last seen, for a script to compare with Redis's ("" before any).
    pub fn epoch(&self) -> String {
        self.history().epoch.clone()
    }

    /// The highest sequence seen: read before a script is sent, it is the floor its answer
    /// must be above (or, for a script that only reads it, not below).
    pub fn seq_floor(&self) -> u64 {
        self.history().seq
    }

    /// Learns Redis's epoch and sequence as a script read them; true if Redis lost writes.
    /// `floor`: `seq_floor()` when the script was sent (answers may arrive in any order, but
    /// Redis ran the script after every answer seen by then). `advanced`: the script advanced
    /// the sequence (a claim), so one equal to the floor is a loss too.
    pub fn observe(&self, epoch: &str, seq: u64, floor: u64, advanced: bool) -> bool {
        let mut h = self.history();
        let empty = !h.epoch.is_empty() && h.epoch != epoch;
        let behind = if advanced { seq <= floor } else { seq < floor };
        if empty || behind {
            tracing::error!(empty, behind, "the cluster's Redis lost writes (it came back empty or behind): idempotency keys are checked with Blnk before they are trusted, for gateway.idempotency.ttl");
            h.unreported = true;
        }
        if empty {
            h.seq = seq;
        }
        h.epoch = epoch.to_string();
        h.seq = h.seq.max(seq);
        empty || behind
    }

    /// A loss seen that the store has not acted on yet; it is reported once.
    pub fn take_loss(&self) -> bool {
        std::mem::take(&mut self.history().unreported)
    }

    /// A loss taken that could not be acted on: it is reported again.
    pub fn report_loss(&self) {
        self.history().unreported = true;
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A gateway's id in the heartbeat (16 hex digits) as the owner number its entries carry.
pub fn owner_of(id: &str) -> u64 {
    u64::from_str_radix(id, 16).unwrap_or(0)
}
