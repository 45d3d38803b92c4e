//! [`LocalLimits`], the limiters of this process alone: the per-client, write and global buckets
//! and the failed-auth counts (governor's GCRA), kept across reconfigurations. A single gateway's
//! limits, and in a cluster the fallback holding this gateway's share while Redis is away
//! (`limiter`); see the module docs of `ratelimit`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};
use http::Method;

use super::cooldown::Cooldowns;
use super::source::source;
use super::table::Table;
use crate::config::{ClientQuota, Identity, RateLimitSettings};
use crate::error::Reject;
use crate::limits;
use crate::quota::{ceil_secs, Allowance, Limited, Scope};
use crate::route::is_write;

type Keyed<K, C> = RateLimiter<K, Table<K>, C, StateInformationMiddleware>;
type Direct<C> = RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>;
type Outcome<C> = Result<StateSnapshot, NotUntil<<C as Clock>::Instant>>;

/// The rate limiters of this process, shared with no other gateway.
pub struct LocalLimits<C: Clock = DefaultClock> {
    clock: C,
    /// `None` while rate limiting is off.
    current: ArcSwapOption<Generation<C>>,
    cooldowns: Cooldowns<C::Instant>,
    last_prune: Mutex<Option<C::Instant>>,
}

/// The limiters for one version of the settings. A reconfiguration builds a new generation that
/// takes over every limiter whose quota did not change, buckets and all.
struct Generation<C: Clock> {
    settings: RateLimitSettings,
    requests: Arc<KeyedBuckets<Identity, C>>,
    writes: Option<Arc<KeyedBuckets<Identity, C>>>,
    clients: HashMap<Identity, Arc<Own<C>>>,
    global: Option<Arc<Single<C>>>,
    failures: Arc<KeyedBuckets<IpAddr, C>>,
}

/// A bucket per key (client identity or source address): a keyed limiter and a handle on its
/// table.
struct KeyedBuckets<K: Hash + Eq + Clone, C: Clock> {
    quota: Quota,
    limiter: Keyed<K, C>,
    table: Table<K>,
}

/// One bucket (the global ceiling).
struct Single<C: Clock> {
    quota: Quota,
    limiter: Direct<C>,
}

/// The buckets of a client with an override.
struct Own<C: Clock> {
    quota: ClientQuota,
    requests: Direct<C>,
    writes: Option<Direct<C>>,
}

/// Number of keys each table tracks (for tests, metrics and the memory figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracked {
    pub clients: usize,
    pub writers: usize,
    pub sources: usize,
    pub cooling_down: usize,
}

impl LocalLimits<DefaultClock> {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl<C: Clock + Clone> LocalLimits<C> {
    pub fn with_clock(settings: &RateLimitSettings, clock: C) -> Self {
        let limits = LocalLimits {
            current: ArcSwapOption::empty(),
            cooldowns: Cooldowns::new(),
            last_prune: Mutex::new(None),
            clock,
        };
        limits.reconfigure(settings);
        limits
    }

    /// Before authentication: refuses a source that is cooling down after failed
    /// authentications, whatever key it presents.
    pub fn admit(&self, peer: IpAddr) -> Result<(), Reject> {
        if self.cooldowns.len() == 0 {
            return Ok(());
        }
        let guard = self.current.load();
        let Some(gen) = guard.as_ref() else {
            return Ok(());
        };
        match self.cooldowns.remaining(&source(peer), self.clock.now()) {
            Some(wait) => Err(Reject::RateLimited(Limited::new(
                Scope::FailedAuth,
                gen.settings.failed_auth.burst_size().get(),
                wait.into(),
            ))),
            None => Ok(()),
        }
    }

    /// After authentication: charges the client's bucket, then the global one. `Ok(None)` when
    /// rate limiting is off.
    pub fn check(&self, identity: &Identity, method: &Method) -> Result<Option<Allowance>, Reject> {
        let guard = self.current.load();
        let Some(gen) = guard.as_ref() else {
            return Ok(None);
        };
        let write = is_write(method);
        let own = if gen.clients.is_empty() {
            None
        } else {
            gen.clients.get(identity)
        };
        let outcome: Outcome<C> = match (own, &gen.writes) {
            (Some(own), _) => match (&own.writes, write) {
                (Some(writes), true) => writes.check(),
                _ => own.requests.check(),
            },
            (None, Some(writes)) if write => writes.limiter.check_key(identity),
            (None, _) => gen.requests.limiter.check_key(identity),
        };
        self.maybe_prune(gen);
        let snapshot = outcome.map_err(|denied| self.refused(Scope::Client, &denied))?;
        if let Some(global) = &gen.global {
            global
                .limiter
                .check()
                .map_err(|denied| self.refused(Scope::Global, &denied))?;
        }
        Ok(Some(allowance(
            &snapshot.quota(),
            snapshot.remaining_burst_capacity(),
        )))
    }

    /// A request refused at authentication. A failed authentication (see
    /// [`Reject::is_failed_authentication`]) counts against the source. Returns what to answer:
    /// `reject` itself, or 429 once the source is past its failed-auth limit.
    pub fn auth_failed(&self, peer: IpAddr, reject: Reject) -> Reject {
        if !reject.is_failed_authentication() {
            return reject;
        }
        match self.record_failure(peer) {
            Some(limited) => Reject::RateLimited(limited),
            None => reject,
        }
    }

    /// Counts a failed authentication (also Blnk's 401 for a key passed through); `Some` when
    /// the source went past its limit.
    pub fn record_failure(&self, peer: IpAddr) -> Option<Limited> {
        let guard = self.current.load();
        let gen = guard.as_ref()?;
        let src = source(peer);
        let outcome = gen.failures.limiter.check_key(&src);
        self.maybe_prune(gen);
        let denied = outcome.err()?;
        let now = self.clock.now();
        let cool_down = gen
            .settings
            .cool_down
            .min(limits::FAILED_AUTH_MAX_COOL_DOWN);
        let burst = gen.settings.failed_auth.burst_size().get();
        let started = self.cooldowns.start(
            src,
            now + Nanos::from(cool_down),
            now,
            gen.settings.max_tracked,
        );
        if started {
            tracing::warn!(source = %src, ?cool_down, "too many failed authentications: refusing this source until its cool-down ends");
            Some(Limited::new(Scope::FailedAuth, burst, cool_down))
        } else {
            Some(Limited::new(
                Scope::FailedAuth,
                burst,
                denied.wait_time_from(now),
            ))
        }
    }

    /// Applies new settings. Every limiter whose quota is unchanged keeps its buckets; a changed
    /// quota starts with full buckets; cool-downs in progress run to their end. Called by the
    /// reload with each new snapshot's settings; nothing happens when they are the same.
    pub fn reconfigure(&self, settings: &RateLimitSettings) {
        let old = self.current.load_full();
        if !settings.enabled {
            if old.is_some() {
                self.current.store(None);
            }
            return;
        }
        if old.as_ref().is_some_and(|g| g.settings == *settings) {
            return;
        }
        let next = Generation::build(settings, old.as_deref(), &self.clock);
        next.prune(&self.cooldowns, self.clock.now());
        self.current.store(Some(Arc::new(next)));
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> Tracked {
        let guard = self.current.load();
        let Some(gen) = guard.as_ref() else {
            return Tracked::default();
        };
        Tracked {
            clients: gen.requests.limiter.len(),
            writers: gen.writes.as_ref().map_or(0, |w| w.limiter.len()),
            sources: gen.failures.limiter.len(),
            cooling_down: self.cooldowns.len(),
        }
    }

    fn refused(&self, scope: Scope, denied: &NotUntil<C::Instant>) -> Reject {
        let wait = denied.wait_time_from(self.clock.now());
        Reject::RateLimited(Limited::new(scope, denied.quota().burst_size().get(), wait))
    }

    /// Prunes when a table reached its cap, at most once per prune interval, by one caller.
    fn maybe_prune(&self, gen: &Generation<C>) {
        let full = gen.requests.table.wants_prune()
            || gen.writes.as_ref().is_some_and(|w| w.table.wants_prune())
            || gen.failures.table.wants_prune();
        if !full {
            return;
        }
        let Ok(mut last) = self.last_prune.try_lock() else {
            return;
        };
        let now = self.clock.now();
        let interval = Nanos::from(limits::RATE_LIMIT_PRUNE_INTERVAL);
        if last.is_some_and(|t| now.duration_since(t) < interval) {
            return;
        }
        *last = Some(now);
        gen.prune(&self.cooldowns, now);
    }
}

impl<C: Clock + Clone> Generation<C> {
    fn build(settings: &RateLimitSettings, old: Option<&Self>, clock: &C) -> Self {
        let cap = settings.max_tracked;
        let requests = KeyedBuckets::reuse_or_new(
            old.map(|g| &g.requests),
            settings.per_client.requests,
            cap,
            clock,
        );
        let writes = settings.per_client.writes.map(|quota| {
            KeyedBuckets::reuse_or_new(old.and_then(|g| g.writes.as_ref()), quota, cap, clock)
        });
        let clients = settings
            .clients
            .iter()
            .map(|(id, quota)| {
                let own = old
                    .and_then(|g| g.clients.get(id))
                    .filter(|own| own.quota == *quota)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Own::new(*quota, clock)));
                (*id, own)
            })
            .collect();
        let global = settings.global.map(|quota| {
            old.and_then(|g| g.global.as_ref())
                .filter(|g| g.quota == quota)
                .cloned()
                .unwrap_or_else(|| {
                    Arc::new(Single {
                        quota,
                        limiter: direct(quota, clock),
                    })
                })
        });
        let failures =
            KeyedBuckets::reuse_or_new(old.map(|g| &g.failures), settings.failed_auth, cap, clock);
        Generation {
            settings: settings.clone(),
            requests,
            writes,
            clients,
            global,
            failures,
        }
    }

    fn prune(&self, cooldowns: &Cooldowns<C::Instant>, now: C::Instant) {
        self.requests.limiter.retain_recent();
        if let Some(w) = &self.writes {
            w.limiter.retain_recent();
        }
        self.failures.limiter.retain_recent();
        cooldowns.prune(now);
    }
}

impl<K: Hash + Eq + Clone, C: Clock + Clone> KeyedBuckets<K, C> {
    fn reuse_or_new(old: Option<&Arc<Self>>, quota: Quota, cap: usize, clock: &C) -> Arc<Self> {
        if let Some(old) = old.filter(|o| o.quota == quota) {
            old.table.set_cap(cap);
            return old.clone();
        }
        let table = Table::new(cap);
        Arc::new(KeyedBuckets {
            quota,
            limiter: RateLimiter::new(quota, table.clone(), clock.clone()),
            table,
        })
    }
}

impl<C: Clock + Clone> Own<C> {
    fn new(quota: ClientQuota, clock: &C) -> Self {
        Own {
            quota,
            requests: direct(quota.requests, clock),
            writes: quota.writes.map(|q| direct(q, clock)),
        }
    }
}

fn direct<C: Clock + Clone>(quota: Quota, clock: &C) -> Direct<C> {
    RateLimiter::new(quota, InMemoryState::default(), clock.clone())
}

/// What `quota` leaves a request that found `remaining` cells: the `RateLimit-*` numbers, for a
/// local bucket and for a shared one (`limiter`) alike.
pub(super) fn allowance(quota: &Quota, remaining: u32) -> Allowance {
    let limit = quota.burst_size().get();
    let remaining = remaining.min(limit);
    // Until the bucket is full again: one replenish interval per used cell.
    let used = limit.saturating_sub(remaining);
    let refill = quota
        .replenish_interval()
        .checked_mul(used)
        .unwrap_or(Duration::MAX);
    Allowance {
        limit,
        remaining,
        reset_secs: ceil_secs(refill),
    }
}

impl prometheus_client::collector::Collector for Tracked {
    fn encode(
        &self,
        mut e: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        crate::metrics::gauge(
            &mut e,
            "rate_limit_tracked_clients",
            "Client identities with a bucket of their own (capped at max_tracked).",
            n(self.clients),
        )?;
        crate::metrics::gauge(
            &mut e,
            "rate_limit_tracked_sources",
            "Source addresses with failed authentications being counted.",
            n(self.sources),
        )?;
        crate::metrics::gauge(
            &mut e,
            "rate_limit_cooling_down",
            "Source addresses refused until their failed-auth cool-down ends.",
            n(self.cooling_down),
        )
    }
}

#[cfg(test)]
mod tests;
