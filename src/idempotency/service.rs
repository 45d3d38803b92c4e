//! [`Idempotency`]: what a keyed request may do, given what the store holds for its key, and how
//! the key is settled once Blnk has answered (or not).
//!
//! | the store holds | the request |
//! |---|---|
//! | nothing (or an expired entry) | takes the key and goes to Blnk (`first`) |
//! | an answer, same fingerprint | gets the answer, Blnk sees nothing (`replayed`) |
//! | anything, another fingerprint | 422 (`mismatch`) |
//! | a request in flight | 409 with `Retry-After` (`in_progress`) |
//! | an unknown outcome | see `proxy::idempotent` (`unknown_outcome`) |
//!
//! How an answer settles the key ([`Settle::of_status`]): 2xx and 3xx are kept and replayed; a
//! 4xx, or 503, means Blnk did nothing, so the key is given back and a corrected retry goes
//! through; any other 5xx may or may not have taken effect, so the outcome is unknown.

use std::sync::Arc;
use std::time::Duration;

use super::entry::{Entry, Fingerprint, State, Stored};
use super::key::RequestKey;
use super::store::{system_now_ms, Clock, Store, StoreError, StoreKey};
use crate::limits::{IDEMPOTENCY_IN_FLIGHT_MAX, IDEMPOTENCY_STORE_TIMEOUT};

/// A key this request holds: settle it when Blnk has answered.
#[derive(Debug, Clone)]
pub struct Claim {
    pub key: StoreKey,
    pub version: u64,
    pub fingerprint: Fingerprint,
    pub ttl: Duration,
}

/// What the store says about a keyed request.
#[derive(Debug)]
pub enum Gate {
    Claimed(Claim),
    Replay(Stored),
    InProgress,
    Mismatch,
    /// The first request may have reached Blnk, and its answer never came; `version` is the
    /// entry's, for a later compare-and-swap.
    Unknown {
        version: u64,
        since_ms: u64,
    },
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

impl Settle {
    /// The rule for an answer with `status` (see the module docs).
    pub fn of_status(status: u16, stored: impl FnOnce() -> Stored) -> Settle {
        match status {
            200..=399 => Settle::Keep(stored()),
            400..=499 | 503 => Settle::Release,
            _ => Settle::Unknown,
        }
    }
}

/// The idempotency keys of one gateway process.
pub struct Idempotency {
    store: Arc<dyn Store>,
    /// Who this process is, in the entries it writes.
    owner: u64,
    clock: Clock,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("store", &self.store.describe())
            .finish()
    }
}

impl Idempotency {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Idempotency {
            store,
            owner: random_u64(),
            clock,
        }
    }

    /// Milliseconds now, by the clock keys are stamped with.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// At shutdown, once no request is left: the store finishes and lets go of its file.
    pub async fn close(&self) -> Result<(), StoreError> {
        deadline(self.store.close()).await
    }

    /// Takes the key for this request, or says what holds it.
    pub async fn gate(&self, key: &RequestKey, ttl: Duration) -> Result<Gate, StoreError> {
        let now = self.clock.now_ms();
        let mine = self.in_flight(key.fingerprint, ttl, now);
        let version = mine.version;
        let held = deadline(self.store.claim(key.store_key, mine, now)).await?;
        let Some(entry) = held else {
            return Ok(Gate::Claimed(Claim {
                key: key.store_key,
                version,
                fingerprint: key.fingerprint,
                ttl,
            }));
        };
        if entry.fingerprint != key.fingerprint {
            return Ok(Gate::Mismatch);
        }
        Ok(match entry.state {
            State::Done(stored) => Gate::Replay(stored),
            State::InFlight { since_ms, .. } if now < since_ms + ms(IDEMPOTENCY_IN_FLIGHT_MAX) => {
                Gate::InProgress
            }
            // In flight for longer than any exchange lasts: its gateway stopped or failed.
            State::InFlight { since_ms, .. } | State::Unknown { since_ms } => Gate::Unknown {
                version: entry.version,
                since_ms,
            },
        })
    }

    /// Takes over a key whose outcome was unknown and turned out never to have taken effect.
    pub async fn take_over(
        &self,
        key: &RequestKey,
        version: u64,
        ttl: Duration,
    ) -> Result<Option<Claim>, StoreError> {
        let now = self.clock.now_ms();
        let mine = self.in_flight(key.fingerprint, ttl, now);
        let new_version = mine.version;
        let taken = deadline(self.store.replace(key.store_key, version, Some(mine), now)).await?;
        Ok(taken.then_some(Claim {
            key: key.store_key,
            version: new_version,
            fingerprint: key.fingerprint,
            ttl,
        }))
    }

    /// Records an answer learnt some other way for a key whose outcome was unknown.
    pub async fn resolve(
        &self,
        key: &RequestKey,
        version: u64,
        stored: Stored,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let entry = self.entry(key.fingerprint, ttl, now, State::Done(stored));
        deadline(self.store.replace(key.store_key, version, Some(entry), now)).await
    }

    /// Settles the key `claim` holds.
    pub async fn settle(&self, claim: &Claim, how: Settle) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let next = match how {
            Settle::Keep(stored) => {
                Some(self.entry(claim.fingerprint, claim.ttl, now, State::Done(stored)))
            }
            Settle::Unknown => Some(self.entry(
                claim.fingerprint,
                claim.ttl,
                now,
                State::Unknown { since_ms: now },
            )),
            Settle::Release => None,
        };
        deadline(self.store.replace(claim.key, claim.version, next, now))
            .await
            .map(|_| ())
    }

    fn in_flight(&self, fingerprint: Fingerprint, ttl: Duration, now: u64) -> Entry {
        let state = State::InFlight {
            owner: self.owner,
            since_ms: now,
        };
        self.entry(fingerprint, ttl, now, state)
    }

    fn entry(&self, fingerprint: Fingerprint, ttl: Duration, now: u64, state: State) -> Entry {
        Entry {
            version: random_u64(),
            fingerprint,
            expires_at_ms: now.saturating_add(ms(ttl)),
            state,
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // Without a random source the versions would repeat; the time keeps them apart.
    if crate::crypto::fill_random(&mut b).is_err() {
        return system_now_ms() ^ u64::from(std::process::id());
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
