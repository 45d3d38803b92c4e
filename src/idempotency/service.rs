//! [`Idempotency`]: what a keyed request may do, given what the store holds for its keys, and how
//! the keys are settled once Blnk has answered (or not).
//!
//! A request has up to two keys (`key`): its `Idempotency-Key` (the client's) and one the gateway
//! derives (a transaction's reference, a refund's transaction, an unkeyed partial commit's
//! guard). Both are taken, header first, or neither:
//!
//! | the store holds | the request |
//! |---|---|
//! | nothing (or an expired entry) | takes the key and goes to Blnk (`first`); `suspect` when the key was seen within `remember` or the store may have lost writes |
//! | an answer, same fingerprint | gets the answer, Blnk sees nothing (`replayed`); a key taken before it keeps the same answer |
//! | anything, another fingerprint | 422 (`mismatch`) |
//! | a request in flight | 409 with `Retry-After` (`in_progress`); in flight at a gateway no longer alive, or longer than any exchange lasts: unknown |
//! | an unknown outcome | see `proxy::idempotent` (`unknown_outcome`) |
//!
//! A key taken before a refusal by the second is given back. How an answer settles the keys is
//! the pipeline's decision (`proxy::keep`): kept, given back, or of unknown outcome.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::entry::{Entry, Fingerprint, State, Stored, Subject};
use super::key::RequestKeys;
use super::store::{Claimed, Clock, Store, StoreError, StoreKey, StoreStats};
use crate::limits::{
    IDEMPOTENCY_IN_FLIGHT_MAX, IDEMPOTENCY_REFUSAL_SHOWN, IDEMPOTENCY_STORE_TIMEOUT,
};

/// A key this request holds: settle it when Blnk has answered.
#[derive(Debug, Clone)]
pub struct Claim {
    pub key: StoreKey,
    pub version: u64,
    pub fingerprint: Fingerprint,
    pub ttl: Duration,
    pub subject: Subject,
}

/// The keys a request holds, and whether Blnk must be asked before a new answer is trusted.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub claims: Vec<Claim>,
    pub suspect: bool,
}

/// Where a key of unknown outcome is, for a later compare-and-swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAt {
    pub key: StoreKey,
    pub version: u64,
    pub since_ms: u64,
}

/// What the store says about a keyed request.
#[derive(Debug)]
pub enum Gate {
    Claimed(Claims),
    Replay(Stored),
    /// In flight since `since_ms`.
    InProgress {
        since_ms: u64,
    },
    Mismatch,
    /// The first request may have reached Blnk, and its answer never came.
    Unknown(UnknownAt),
}

/// How Blnk's answer (or its absence) settles a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Kept and replayed to every retry.
    Keep(Stored),
    /// Blnk did nothing: the key is free again.
    Release,
    /// It may have taken effect.
    Unknown,
}

/// The idempotency keys of one gateway process.
pub struct Idempotency {
    store: Arc<dyn Store>,
    /// Who this process is, in the entries it writes.
    owner: u64,
    clock: Clock,
    /// Whether the gateway that wrote an entry in flight is still alive.
    alive: Box<dyn Fn(u64) -> bool + Send + Sync>,
    /// How the last claim went: `OK`, `FULL` or `UNAVAILABLE`, and when (for `/readyz`).
    last_claim: AtomicU8,
    last_claim_ms: AtomicU64,
    /// The store is this gateway's alone (`new`), not shared (`shared`).
    own_store: bool,
}

const OK: u8 = 0;
const FULL: u8 = 1;
const UNAVAILABLE: u8 = 2;

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("store", &self.store.describe())
            .finish()
    }
}

impl Idempotency {
    /// Alone on its store: every entry in flight is this process's own.
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        let mut idem = Self::shared(store, clock, random_u64(), Box::new(|_| true));
        idem.own_store = true;
        idem
    }

    /// On a store several gateways share: `owner` names this one, `alive` tells the others.
    pub fn shared(
        store: Arc<dyn Store>,
        clock: Clock,
        owner: u64,
        alive: Box<dyn Fn(u64) -> bool + Send + Sync>,
    ) -> Self {
        Idempotency {
            store,
            owner,
            clock,
            alive,
            last_claim: AtomicU8::new(OK),
            last_claim_ms: AtomicU64::new(0),
            own_store: false,
        }
    }

    /// Milliseconds now, by the clock keys are stamped with.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// Why new keys cannot be taken, as the last claim found within `IDEMPOTENCY_REFUSAL_SHOWN`:
    /// this gateway's own store is full of requests in flight or of unknown outcome, or cannot
    /// be used. `None` while claims succeed, once the last refusal is older (a gateway taken out
    /// of a load balancer's rotation gets no claims that could show it recovered), and for a
    /// store the gateways share: every one of them refuses alike, and taking them all out of
    /// rotation would stop the reads too (the cluster's metrics and alerts tell it).
    pub fn refusing(&self) -> Option<&'static str> {
        if !self.own_store {
            return None;
        }
        let at = self.last_claim_ms.load(Ordering::Relaxed);
        if self.clock.now_ms().saturating_sub(at) > ms(IDEMPOTENCY_REFUSAL_SHOWN) {
            return None;
        }
        match self.last_claim.load(Ordering::Relaxed) {
            FULL => Some("the idempotency store is full of requests in flight or of unknown outcome (gateway.idempotency.max_entries): requests that move money are refused"),
            UNAVAILABLE => Some("the idempotency store cannot be used: requests that move money are refused"),
            _ => None,
        }
    }

    pub fn stats(&self) -> StoreStats {
        self.store.stats()
    }

    /// Entries in flight or of unknown outcome, oldest first (the operator's view).
    pub async fn pending(&self, limit: usize) -> Result<Vec<(StoreKey, Entry)>, StoreError> {
        deadline(self.store.pending(limit)).await
    }

    /// At shutdown, once no request is left: the store finishes and lets go of its file.
    pub async fn close(&self) -> Result<(), StoreError> {
        deadline(self.store.close()).await
    }

    /// Takes the request's keys, or says what holds them.
    pub async fn gate(&self, keys: &RequestKeys, ttl: Duration) -> Result<Gate, StoreError> {
        let mut claims = Claims::default();
        for spec in &keys.keys {
            let now = self.clock.now_ms();
            let mine = self.in_flight(keys, ttl, now);
            let version = mine.version;
            let found = deadline(self.store.claim(spec.store_key, mine, now)).await;
            self.last_claim.store(
                match &found {
                    Ok(_) => OK,
                    Err(StoreError::Full) => FULL,
                    Err(StoreError::Unavailable(_)) => UNAVAILABLE,
                },
                Ordering::Relaxed,
            );
            self.last_claim_ms.store(now, Ordering::Relaxed);
            let held = match found {
                Ok(Claimed::Free { suspect }) => {
                    claims.suspect |= suspect;
                    claims
                        .claims
                        .push(self.claim(spec.store_key, version, keys, ttl));
                    continue;
                }
                Ok(Claimed::Held(entry)) => entry,
                Err(e) => {
                    self.let_go(&claims, Settle::Release).await;
                    return Err(e);
                }
            };
            // Judged by the clock as the store just read it (in a cluster, Redis's).
            let gate = self.judge(spec.store_key, keys.fingerprint, held, self.clock.now_ms());
            // A key taken before keeps an answer it will replay, else is given back.
            let earlier = match &gate {
                Gate::Replay(stored) => Settle::Keep(stored.clone()),
                _ => Settle::Release,
            };
            self.let_go(&claims, earlier).await;
            return Ok(gate);
        }
        Ok(Gate::Claimed(claims))
    }

    /// What an entry held by another request means for this one.
    fn judge(&self, key: StoreKey, fingerprint: Fingerprint, entry: Entry, now: u64) -> Gate {
        if entry.fingerprint != fingerprint {
            return Gate::Mismatch;
        }
        let unknown = |since_ms| {
            Gate::Unknown(UnknownAt {
                key,
                version: entry.version,
                since_ms,
            })
        };
        match entry.state {
            State::Done(stored) => Gate::Replay(stored),
            // In flight for longer than any exchange lasts, or at a gateway that stopped.
            State::InFlight { since_ms, owner }
                if now >= since_ms + ms(IDEMPOTENCY_IN_FLIGHT_MAX) || !(self.alive)(owner) =>
            {
                unknown(since_ms)
            }
            State::InFlight { since_ms, .. } => Gate::InProgress { since_ms },
            State::Unknown { since_ms } => unknown(since_ms),
        }
    }

    /// Settles what was taken before a refusal, without failing the request: a key left in
    /// flight becomes of unknown outcome later, which is safe.
    async fn let_go(&self, claims: &Claims, how: Settle) {
        if !claims.claims.is_empty() {
            if let Err(e) = self.settle(&mut claims.clone(), how).await {
                tracing::warn!(error = %e, "idempotency key not given back");
            }
        }
    }

    /// Takes over a key whose outcome was unknown (its first request never took effect, or
    /// will be found out); the other keys of the request are taken too. Always `suspect`.
    pub async fn take_over(
        &self,
        at: &UnknownAt,
        keys: &RequestKeys,
        ttl: Duration,
    ) -> Result<Option<Claims>, StoreError> {
        let now = self.clock.now_ms();
        let mine = self.in_flight(keys, ttl, now);
        let version = mine.version;
        let taken = deadline(self.store.replace(at.key, at.version, Some(mine), now)).await?;
        if !taken {
            return Ok(None);
        }
        let mut claims = Claims {
            claims: vec![self.claim(at.key, version, keys, ttl)],
            suspect: true,
        };
        let others: Vec<_> = keys.keys.iter().filter(|k| k.store_key != at.key).collect();
        for spec in others {
            let now = self.clock.now_ms();
            let mine = self.in_flight(keys, ttl, now);
            let version = mine.version;
            if let Ok(Claimed::Free { .. }) =
                deadline(self.store.claim(spec.store_key, mine, now)).await
            {
                claims
                    .claims
                    .push(self.claim(spec.store_key, version, keys, ttl));
            }
        }
        Ok(Some(claims))
    }

    /// Records an answer learnt some other way for a key whose outcome was unknown.
    pub async fn resolve(
        &self,
        at: &UnknownAt,
        keys: &RequestKeys,
        stored: Stored,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let entry = self.entry(keys, ttl, now, State::Done(stored));
        deadline(self.store.replace(at.key, at.version, Some(entry), now)).await
    }

    /// Settles every key `claims` holds the same way; each claim then holds the version it
    /// wrote (a guard's answer is given back later by that version). A claim already settled
    /// is not settled again, so a failed settle can be tried again whole.
    pub async fn settle(&self, claims: &mut Claims, how: Settle) -> Result<(), StoreError> {
        let mut result = Ok(());
        for claim in &mut claims.claims {
            match self.settle_one(claim, &how).await {
                Ok(Some(version)) => claim.version = version,
                Ok(None) => {}
                Err(e) => result = Err(e),
            }
        }
        result
    }

    /// The version written, if an entry was.
    async fn settle_one(&self, claim: &Claim, how: &Settle) -> Result<Option<u64>, StoreError> {
        let now = self.clock.now_ms();
        let state = match how {
            Settle::Keep(stored) => Some(State::Done(stored.clone())),
            Settle::Unknown => Some(State::Unknown { since_ms: now }),
            Settle::Release => None,
        };
        let next = state.map(|state| Entry {
            version: random_u64(),
            fingerprint: claim.fingerprint,
            expires_at_ms: now.saturating_add(ms(claim.ttl)),
            state,
            subject: claim.subject.clone(),
        });
        let version = next.as_ref().map(|e| e.version);
        let replaced = deadline(self.store.replace(claim.key, claim.version, next, now)).await?;
        Ok(version.filter(|_| replaced))
    }

    fn claim(&self, key: StoreKey, version: u64, keys: &RequestKeys, ttl: Duration) -> Claim {
        Claim {
            key,
            version,
            fingerprint: keys.fingerprint,
            ttl,
            subject: keys.subject.clone(),
        }
    }

    fn in_flight(&self, keys: &RequestKeys, ttl: Duration, now: u64) -> Entry {
        let state = State::InFlight {
            owner: self.owner,
            since_ms: now,
        };
        self.entry(keys, ttl, now, state)
    }

    fn entry(&self, keys: &RequestKeys, ttl: Duration, now: u64, state: State) -> Entry {
        Entry {
            version: random_u64(),
            fingerprint: keys.fingerprint,
            expires_at_ms: now.saturating_add(ms(ttl)),
            state,
            subject: keys.subject.clone(),
        }
    }
}

pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // Without a random source the versions would repeat; the time keeps them apart.
    if crate::crypto::fill_random(&mut b).is_err() {
        return super::store::system_now_ms() ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

/// Every store operation has a deadline.
async fn deadline<T>(
    op: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(IDEMPOTENCY_STORE_TIMEOUT, op)
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("no answer in time".into())))
}

#[cfg(test)]
mod tests;
