//! The validated rate-limit settings (`gateway.rate_limit`), as config validation builds them
//! and the limiters (`ratelimit`) read them, and the bounds of a quota. Defaults come from
//! `crate::limits`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;

use super::identity::Identity;
use crate::limits;

/// The quotas of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ClientQuota {
    /// Every request, or only reads (GET, HEAD, OPTIONS, ...) when `writes` is set.
    #[serde(serialize_with = "show_quota")]
    pub requests: Quota,
    /// Writes (every method but GET, HEAD and OPTIONS: `route::is_write`), in a bucket of their
    /// own, when set.
    #[serde(serialize_with = "show_optional_quota")]
    pub writes: Option<Quota>,
}

/// `gateway.rate_limit`, validated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Every client without an override.
    pub per_client: ClientQuota,
    /// Clients with quotas of their own; an override replaces `per_client` whole.
    #[serde(serialize_with = "show_clients")]
    pub clients: HashMap<Identity, ClientQuota>,
    /// Ceiling on everything forwarded to Blnk; `None` for no ceiling.
    #[serde(serialize_with = "show_optional_quota")]
    pub global: Option<Quota>,
    /// Failed authentications per source address.
    #[serde(serialize_with = "show_quota")]
    pub failed_auth: Quota,
    /// How long a source past `failed_auth` is refused, whatever it sends.
    #[serde(with = "humantime_serde")]
    pub cool_down: Duration,
    /// Identities (or sources) tracked per table.
    pub max_tracked: usize,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            per_client: ClientQuota {
                requests: default_quota(
                    limits::RATE_LIMIT_PER_CLIENT_PER_SECOND,
                    limits::RATE_LIMIT_PER_CLIENT_BURST,
                ),
                writes: None,
            },
            clients: HashMap::new(),
            global: Some(default_quota(
                limits::RATE_LIMIT_GLOBAL_PER_SECOND,
                limits::RATE_LIMIT_GLOBAL_BURST,
            )),
            failed_auth: default_quota(limits::FAILED_AUTH_PER_SECOND, limits::FAILED_AUTH_BURST),
            cool_down: limits::FAILED_AUTH_COOL_DOWN,
            max_tracked: limits::RATE_LIMIT_MAX_TRACKED,
        }
    }
}

/// A quota from a rate and a burst, or `None` outside the bounds in `crate::limits`.
pub fn quota(per_second: f64, burst: u32) -> Option<Quota> {
    Some(Quota::with_period(period(per_second)?)?.allow_burst(self::burst(burst)?))
}

/// The time one request takes to replenish at `per_second`, within the bounds.
pub fn period(per_second: f64) -> Option<Duration> {
    if !(limits::RATE_LIMIT_MIN_PER_SECOND..=limits::RATE_LIMIT_MAX_PER_SECOND)
        .contains(&per_second)
    {
        return None;
    }
    // Within the bounds this is between 1 us and 10^13 ns: exact enough, and no overflow.
    Some(Duration::from_nanos((1e9 / per_second).round() as u64))
}

/// A burst within the bounds.
pub fn burst(n: u32) -> Option<NonZeroU32> {
    NonZeroU32::new(n).filter(|n| n.get() <= limits::RATE_LIMIT_MAX_BURST)
}

/// A quota as the reload log shows a change: `<per_second>/s burst <burst>`.
fn show_quota<S: serde::Serializer>(q: &Quota, s: S) -> Result<S::Ok, S::Error> {
    let per_second = 1e9 / q.replenish_interval().as_nanos().max(1) as f64;
    s.collect_str(&format_args!("{per_second}/s burst {}", q.burst_size()))
}

fn show_optional_quota<S: serde::Serializer>(q: &Option<Quota>, s: S) -> Result<S::Ok, S::Error> {
    match q {
        Some(q) => show_quota(q, s),
        None => s.serialize_none(),
    }
}

/// Per-client overrides by identity, in a stable order.
fn show_clients<S: serde::Serializer>(
    clients: &HashMap<Identity, ClientQuota>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let sorted: std::collections::BTreeMap<String, &ClientQuota> =
        clients.iter().map(|(id, q)| (id.to_string(), q)).collect();
    serde::Serialize::serialize(&sorted, s)
}

/// The defaults are constants within the bounds; the fallback only keeps this free of `expect`.
fn default_quota(per_second: f64, burst: u32) -> Quota {
    quota(per_second, burst).unwrap_or(Quota::per_second(NonZeroU32::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced() {
        assert!(quota(0.0, 1).is_none());
        assert!(quota(f64::NAN, 1).is_none());
        assert!(quota(f64::INFINITY, 1).is_none());
        assert!(quota(1.0, 0).is_none());
        assert!(quota(1.0, limits::RATE_LIMIT_MAX_BURST + 1).is_none());
        let q = quota(0.1, 10).unwrap();
        assert_eq!(q.replenish_interval(), Duration::from_secs(10));
        assert_eq!(q.burst_size().get(), 10);
        let d = RateLimitSettings::default();
        assert_eq!(d.per_client.requests.burst_size().get(), 2_000);
        assert_eq!(d.failed_auth.replenish_interval(), Duration::from_secs(10));
    }
}
