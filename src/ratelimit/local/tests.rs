//! [`LocalLimits`] on governor's fake clock: time moves only when a test says so.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::FakeRelativeClock;
use http::Method;

use governor::clock::Clock;

use super::*;
use crate::config::quota;

fn q(per_second: f64, burst: u32) -> Quota {
    quota(per_second, burst).unwrap()
}

/// One request per second, bursts of 3, no global ceiling, failed auth 2 then cool-down 60 s.
fn small() -> RateLimitSettings {
    RateLimitSettings {
        per_client: ClientQuota {
            requests: q(1.0, 3),
            writes: None,
        },
        global: None,
        failed_auth: q(0.1, 2),
        cool_down: Duration::from_secs(60),
        ..RateLimitSettings::default()
    }
}

fn limiter(settings: &RateLimitSettings) -> (LocalLimits<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    (LocalLimits::with_clock(settings, clock.clone()), clock)
}

fn key(n: u8) -> Identity {
    Identity::Key([n; 6])
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn limited(r: Result<Option<Allowance>, Reject>) -> Limited {
    match r {
        Err(Reject::RateLimited(l)) => l,
        other => panic!("expected a 429, got {other:?}"),
    }
}

#[test]
fn a_burst_passes_then_429_with_the_wait() {
    let (rl, _clock) = limiter(&small());
    for remaining in [2, 1, 0] {
        let a = rl.check(&key(1), &Method::GET).unwrap().unwrap();
        assert_eq!((a.limit, a.remaining), (3, remaining));
    }
    let l = limited(rl.check(&key(1), &Method::GET));
    assert_eq!(l.scope, Scope::Client);
    assert_eq!((l.limit, l.retry_after_secs), (3, 1));
}

#[test]
fn the_quota_returns_with_time() {
    let (rl, clock) = limiter(&small());
    for _ in 0..3 {
        rl.check(&key(1), &Method::GET).unwrap();
    }
    limited(rl.check(&key(1), &Method::GET));
    clock.advance(Duration::from_millis(999));
    limited(rl.check(&key(1), &Method::GET));
    clock.advance(Duration::from_millis(1));
    let a = rl.check(&key(1), &Method::GET).unwrap().unwrap();
    assert_eq!((a.remaining, a.reset_secs), (0, 3));
    clock.advance(Duration::from_secs(10));
    let a = rl.check(&key(1), &Method::GET).unwrap().unwrap();
    assert_eq!((a.remaining, a.reset_secs), (2, 1));
}

#[test]
fn clients_do_not_share_buckets() {
    let (rl, _clock) = limiter(&small());
    for _ in 0..3 {
        rl.check(&key(1), &Method::GET).unwrap();
    }
    limited(rl.check(&key(1), &Method::GET));
    let a = rl.check(&key(2), &Method::GET).unwrap().unwrap();
    assert_eq!(a.remaining, 2);
    rl.check(&Identity::Ip(ip("10.0.0.1")), &Method::GET)
        .unwrap();
}

#[test]
fn writes_and_overrides_have_buckets_of_their_own() {
    let mut s = small();
    s.per_client.writes = Some(q(1.0, 1));
    s.clients.insert(
        key(9),
        ClientQuota {
            requests: q(100.0, 50),
            writes: None,
        },
    );
    let (rl, _clock) = limiter(&s);
    rl.check(&key(1), &Method::POST).unwrap();
    limited(rl.check(&key(1), &Method::DELETE));
    // Reads are untouched by the writes.
    assert_eq!(
        rl.check(&key(1), &Method::GET).unwrap().unwrap().remaining,
        2
    );
    // The override replaces both: 50 of anything.
    for _ in 0..50 {
        rl.check(&key(9), &Method::POST).unwrap();
    }
    assert_eq!(limited(rl.check(&key(9), &Method::GET)).limit, 50);
}

#[test]
fn the_global_ceiling_holds_across_clients() {
    let mut s = small();
    s.global = Some(q(1.0, 2));
    let (rl, clock) = limiter(&s);
    rl.check(&key(1), &Method::GET).unwrap();
    rl.check(&key(2), &Method::GET).unwrap();
    let l = limited(rl.check(&key(3), &Method::GET));
    assert_eq!((l.scope, l.limit), (Scope::Global, 2));
    clock.advance(Duration::from_secs(1));
    rl.check(&key(3), &Method::GET).unwrap();
}

#[test]
fn a_cool_down_refuses_even_a_correct_key_then_ends() {
    let (rl, clock) = limiter(&small());
    let attacker = ip("192.0.2.7");
    rl.admit(attacker).unwrap();
    assert_eq!(rl.record_failure(attacker), None);
    assert_eq!(rl.record_failure(attacker), None);
    let l = rl.record_failure(attacker).unwrap();
    assert_eq!((l.scope, l.retry_after_secs), (Scope::FailedAuth, 60));
    // Refused before authentication, so the key it would send makes no difference.
    let Err(Reject::RateLimited(l)) = rl.admit(attacker) else {
        panic!("a source cooling down was admitted");
    };
    assert_eq!((l.limit, l.retry_after_secs), (2, 60));
    rl.admit(ip("192.0.2.8")).unwrap();
    clock.advance(Duration::from_secs(59));
    assert!(rl.admit(attacker).is_err());
    clock.advance(Duration::from_secs(1));
    rl.admit(attacker).unwrap();
    assert_eq!(rl.tracked().cooling_down, 0);
    // Its failed-auth bucket has refilled during the cool-down.
    assert_eq!(rl.record_failure(attacker), None);
}

#[test]
fn auth_failed_keeps_the_401_until_the_limit() {
    let (rl, _clock) = limiter(&small());
    let peer = ip("2001:db8::1");
    assert_eq!(rl.auth_failed(peer, Reject::InvalidKey), Reject::InvalidKey);
    assert_eq!(rl.auth_failed(peer, Reject::MissingKey), Reject::MissingKey);
    // Another address of the same /64 counts as the same source.
    let other = ip("2001:db8::2");
    assert!(matches!(
        rl.auth_failed(other, Reject::InvalidKey),
        Reject::RateLimited(_)
    ));
    assert!(rl.admit(peer).is_err());
}

#[test]
fn reconfiguring_keeps_buckets_whose_quota_is_unchanged() {
    let mut s = small();
    s.clients.insert(
        key(9),
        ClientQuota {
            requests: q(1.0, 1),
            writes: None,
        },
    );
    let (rl, _clock) = limiter(&s);
    for _ in 0..3 {
        rl.check(&key(1), &Method::GET).unwrap();
    }
    rl.check(&key(9), &Method::GET).unwrap();
    for _ in 0..3 {
        rl.record_failure(ip("192.0.2.1"));
    }
    // A new global ceiling and failed-auth quota: the client buckets and the cool-down stay.
    s.global = Some(q(1000.0, 1000));
    s.failed_auth = q(1.0, 5);
    rl.reconfigure(&s);
    limited(rl.check(&key(1), &Method::GET));
    limited(rl.check(&key(9), &Method::GET));
    assert!(rl.admit(ip("192.0.2.1")).is_err());
    // A changed default quota starts over; the unchanged override still does not.
    s.per_client.requests = q(1.0, 4);
    rl.reconfigure(&s);
    assert_eq!(rl.check(&key(1), &Method::GET).unwrap().unwrap().limit, 4);
    limited(rl.check(&key(9), &Method::GET));
    // Off, then on again.
    rl.reconfigure(&RateLimitSettings {
        enabled: false,
        ..s.clone()
    });
    assert_eq!(rl.check(&key(9), &Method::GET).unwrap(), None);
    assert_eq!(rl.record_failure(ip("192.0.2.1")), None);
    rl.admit(ip("192.0.2.1")).unwrap();
    rl.reconfigure(&s);
    rl.check(&key(9), &Method::GET).unwrap();
}

#[test]
fn a_million_identities_stay_within_the_cap() {
    let s = RateLimitSettings {
        global: None,
        ..RateLimitSettings::default()
    };
    let cap = s.max_tracked;
    let (rl, clock) = limiter(&s);
    let known = key(0xee);
    rl.check(&known, &Method::GET).unwrap();
    let mut refused = 0u32;
    for n in 0u32..1_000_000 {
        let b = n.to_be_bytes();
        let id = Identity::Key([1, b[0], b[1], b[2], b[3], 0]);
        refused += u32::from(rl.check(&id, &Method::GET).is_err());
    }
    assert_eq!(rl.tracked().clients, cap);
    // Past the cap the newcomers shared one bucket: a burst, then refusals.
    let burst = s.per_client.requests.burst_size().get();
    assert!(refused >= 1_000_000 - cap as u32 - burst - 1, "{refused}");
    // A client tracked before the flood still has its own bucket.
    assert_eq!(
        rl.check(&known, &Method::GET).unwrap().unwrap().remaining,
        burst - 2
    );
    let gen = rl.current.load_full().unwrap();
    let (slots, slot_bytes) = gen.requests.table.footprint();
    let per_identity = (slots * slot_bytes) as f64 / cap as f64;
    println!(
        "{cap} identities: {slots} slots of {slot_bytes} bytes = {:.1} MB, {per_identity:.1} bytes each",
        (slots * slot_bytes) as f64 / 1e6
    );
    assert!(per_identity <= 2.0 * 8.0 / 7.0 * slot_bytes as f64);
    // Once their buckets are full again, a prune frees the room.
    clock.advance(Duration::from_secs(10));
    rl.check(&key(0xef), &Method::GET).unwrap();
    gen.prune(&rl.cooldowns, clock.now());
    assert!(rl.tracked().clients <= 2, "{:?}", rl.tracked());
}

#[test]
fn a_full_table_is_pruned_by_the_next_checks() {
    let s = RateLimitSettings {
        max_tracked: 10,
        global: None,
        ..small()
    };
    let (rl, clock) = limiter(&s);
    for n in 0..20 {
        let _ = rl.check(&key(n), &Method::GET);
    }
    assert_eq!(rl.tracked().clients, 10);
    clock.advance(Duration::from_secs(5));
    // This one overflows, asks for a prune, and the same check prunes.
    rl.check(&key(100), &Method::GET).unwrap();
    assert_eq!(rl.tracked().clients, 0);
    rl.check(&key(101), &Method::GET).unwrap();
    assert_eq!(rl.tracked().clients, 1);
}

#[test]
fn off_means_no_limits_and_no_headers() {
    let (rl, _clock) = limiter(&RateLimitSettings {
        enabled: false,
        ..small()
    });
    for _ in 0..10 {
        assert_eq!(rl.check(&key(1), &Method::GET).unwrap(), None);
        assert_eq!(rl.record_failure(ip("192.0.2.1")), None);
    }
    rl.admit(ip("192.0.2.1")).unwrap();
}
