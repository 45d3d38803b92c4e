//! [`Limiter`]: what a request meets. A single gateway limits with its own buckets
//! ([`LocalLimits`], in `local`). In cluster mode the quotas and lockouts are the cluster's
//! (`ClusterLimits`: `shared_buckets` and `shared_lockouts`), and while Redis cannot be used
//! each gateway falls back to its own buckets holding its share of every quota (the quota divided
//! by the gateways alive, or `gateway.cluster.gateways`) and counts failed authentications on its
//! own.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use governor::Quota;
use http::Method;
use sha2::{Digest, Sha256};

use super::local::{allowance, LocalLimits, Tracked};
use super::shared_buckets::{SharedBuckets, Taken};
use super::shared_lockouts::{Counted, SharedLockouts};
use super::source::source;
use crate::cluster::{self, Cluster, Unavailable};
use crate::config::{ClientQuota, Identity, RateLimitSettings};
use crate::error::Reject;
use crate::limits;
use crate::quota::{Allowance, Limited, Scope};
use crate::route::is_write;

/// The rate limits of one gateway process, alone or in a cluster.
pub struct Limiter {
    local: LocalLimits,
    shared: Option<ClusterLimits>,
    /// The settings as configured (the local buckets may hold a share of them).
    base: ArcSwap<RateLimitSettings>,
    /// Into how many shares the local buckets divide each quota (1 when alone).
    share: AtomicU32,
}

/// What a gateway in a cluster shares with the others: the quotas' buckets and the failed-auth
/// lockouts, in the cluster's Redis.
struct ClusterLimits {
    cluster: Arc<Cluster>,
    buckets: SharedBuckets,
    lockouts: SharedLockouts,
}

impl Limiter {
    /// Alone, or sharing quotas and lockouts through `cluster`.
    pub fn new(settings: &RateLimitSettings, cluster: Option<Arc<Cluster>>) -> Self {
        let shared = cluster.map(|c| ClusterLimits {
            buckets: SharedBuckets::new(c.clone()),
            lockouts: SharedLockouts::start(c.clone()),
            cluster: c,
        });
        let share = shared.as_ref().map_or(1, |s| cluster::share(&s.cluster));
        Limiter {
            local: LocalLimits::new(&divided(settings, share)),
            shared,
            base: ArcSwap::from_pointee(settings.clone()),
            share: AtomicU32::new(share),
        }
    }

    /// Before authentication: refuses a source cooling down after failed authentications, here
    /// or (in a cluster) on any gateway.
    pub fn admit(&self, peer: IpAddr) -> Result<(), Reject> {
        self.local.admit(peer)?;
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        match shared.lockouts.remaining(source(peer)) {
            Some(wait) => Err(self.cooling(wait)),
            None => Ok(()),
        }
    }

    /// After authentication: the client's bucket, then the global one. `Ok(None)` when rate
    /// limiting is off.
    pub async fn check(
        &self,
        identity: &Identity,
        method: &Method,
    ) -> Result<Option<Allowance>, Reject> {
        if let Some(shared) = self.shared.as_ref().filter(|s| s.cluster.is_up()) {
            let base = self.base.load();
            if !base.enabled {
                return Ok(None);
            }
            // Boxed: the cluster's state stays out of every request's future when alone.
            if let Ok(decided) = Box::pin(check_shared(shared, &base, identity, method)).await {
                return decided;
            }
        }
        self.rescale();
        self.local.check(identity, method)
    }

    /// A request refused at authentication: a failed authentication counts against the source;
    /// returns `reject`, or 429 once the source is past its limit.
    pub async fn auth_failed(&self, peer: IpAddr, reject: Reject) -> Reject {
        if !reject.is_failed_authentication() {
            return reject;
        }
        match self.record_failure(peer).await {
            Some(limited) => Reject::RateLimited(limited),
            None => reject,
        }
    }

    /// Counts a failed authentication; `Some` when the source is past its limit.
    pub async fn record_failure(&self, peer: IpAddr) -> Option<Limited> {
        if let Some(shared) = self.shared.as_ref().filter(|s| s.cluster.is_up()) {
            let base = self.base.load();
            if !base.enabled {
                return None;
            }
            let src = source(peer);
            let cool_down = base.cool_down.min(limits::FAILED_AUTH_MAX_COOL_DOWN);
            let counted = shared.lockouts.failure(src, &base.failed_auth, cool_down);
            match Box::pin(counted).await {
                Ok(Counted::Counted) => return None,
                Ok(Counted::CoolingDown { wait, started }) => {
                    if started {
                        tracing::warn!(source = %src, ?cool_down, "too many failed authentications across the cluster: every gateway refuses this source until its cool-down ends");
                    }
                    return Some(self.limited_cooling(wait));
                }
                Err(Unavailable) => {}
            }
        }
        self.local.record_failure(peer)
    }

    /// New settings: the local buckets take their share of them (see `LocalLimits::reconfigure`).
    pub fn reconfigure(&self, settings: &RateLimitSettings) {
        self.base.store(Arc::new(settings.clone()));
        let share = self.share.load(Ordering::Relaxed);
        self.local.reconfigure(&divided(settings, share));
    }

    /// Keys tracked now, and sources cooling down (here or anywhere in the cluster).
    pub fn tracked(&self) -> Tracked {
        let mut t = self.local.tracked();
        if let Some(shared) = &self.shared {
            t.cooling_down += shared.lockouts.len();
        }
        t
    }

    /// The local buckets follow the number of gateways, once it is known to have changed.
    fn rescale(&self) {
        let Some(shared) = &self.shared else { return };
        let share = cluster::share(&shared.cluster);
        if self.share.swap(share, Ordering::Relaxed) != share {
            self.local.reconfigure(&divided(&self.base.load(), share));
        }
    }

    fn cooling(&self, wait: Duration) -> Reject {
        Reject::RateLimited(self.limited_cooling(wait))
    }

    fn limited_cooling(&self, wait: Duration) -> Limited {
        let burst = self.base.load().failed_auth.burst_size().get();
        Limited::new(Scope::FailedAuth, burst, wait)
    }
}

type Decided = Result<Option<Allowance>, Reject>;

async fn check_shared(
    shared: &ClusterLimits,
    base: &RateLimitSettings,
    identity: &Identity,
    method: &Method,
) -> Result<Decided, Unavailable> {
    let own: ClientQuota = base
        .clients
        .get(identity)
        .copied()
        .unwrap_or(base.per_client);
    let (tag, quota) = match own.writes {
        Some(w) if is_write(method) => ("w", w),
        _ => ("r", own.requests),
    };
    let name = format!("{tag}:{}", identity_id(identity));
    let allowance = match shared.buckets.take(&name, &quota).await? {
        Taken::Allowed { remaining } => allowance(&quota, remaining),
        Taken::Denied { wait } => return Ok(Err(limited(Scope::Client, &quota, wait))),
    };
    if let Some(global) = &base.global {
        if let Taken::Denied { wait } = shared.buckets.take("global", global).await? {
            return Ok(Err(limited(Scope::Global, global, wait)));
        }
    }
    Ok(Ok(Some(allowance)))
}

fn limited(scope: Scope, quota: &Quota, wait: Duration) -> Reject {
    Reject::RateLimited(Limited::new(scope, quota.burst_size().get(), wait))
}

/// An identity as the cluster names it: a digest, so Redis holds no address or key id.
fn identity_id(identity: &Identity) -> String {
    let mut h = Sha256::new();
    h.update(b"blnk-gateway identity v1\0");
    h.update(identity.to_string());
    hex::encode(&h.finalize()[..16])
}

/// The settings with every request quota divided into `share` parts (failed-auth limits are
/// per source and stay whole).
fn divided(settings: &RateLimitSettings, share: u32) -> RateLimitSettings {
    if share <= 1 {
        return settings.clone();
    }
    let part = |q: Quota| -> Quota {
        let period = q.replenish_interval().saturating_mul(share);
        let burst = (q.burst_size().get() / share).max(1);
        Quota::with_period(period)
            .and_then(|p| std::num::NonZeroU32::new(burst).map(|b| p.allow_burst(b)))
            .unwrap_or(q)
    };
    let client = |c: ClientQuota| ClientQuota {
        requests: part(c.requests),
        writes: c.writes.map(part),
    };
    RateLimitSettings {
        per_client: client(settings.per_client),
        clients: settings
            .clients
            .iter()
            .map(|(id, q)| (*id, client(*q)))
            .collect(),
        global: settings.global.map(part),
        ..settings.clone()
    }
}
