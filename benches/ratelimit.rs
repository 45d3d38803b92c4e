//! The rate limiter's per-request cost, on the real clock (governor's quanta clock).
//!
//!     cargo bench --bench ratelimit
//!
//! Each request pays `admit` (is the source cooling down?), `check` (the client's bucket, then
//! the global one) and, when it goes through, the `RateLimit-*` headers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use blnk_gateway::config::{quota, ClientQuota, Identity, RateLimitSettings};
use blnk_gateway::limits::{
    RATE_LIMIT_MAX_BURST, RATE_LIMIT_MAX_PER_SECOND, RATE_LIMIT_MAX_TRACKED,
};
use blnk_gateway::quota::Allowance;
use blnk_gateway::ratelimit::LocalLimits;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, Method};

/// As many identities as the default cap, each asked far below its quota: the allowed path with
/// a full table, so lookups miss the CPU caches as they would in production.
fn identities() -> Vec<Identity> {
    (0..RATE_LIMIT_MAX_TRACKED as u32)
        .map(|n| {
            let b = n.to_be_bytes();
            Identity::Key([7, b[0], b[1], b[2], b[3], 7])
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ids = identities();
    let mut g = c.benchmark_group("ratelimit");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let no_global = LocalLimits::new(&RateLimitSettings {
        global: None,
        ..RateLimitSettings::default()
    });
    let mut i = 0;
    g.bench_function("check: client bucket, 100k tracked", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            black_box(no_global.check(&ids[i], &Method::GET)).ok()
        })
    });

    let defaults = LocalLimits::new(&RateLimitSettings::default());
    let mut i = 0;
    g.bench_function("check: client bucket + saturated global ceiling", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            black_box(defaults.check(&ids[i], &Method::GET)).ok()
        })
    });

    // The common case in verify mode: few identities (every caller of the master key is one),
    // hot in the caches. 64 of them at the highest quota, so none is ever refused.
    let fast = LocalLimits::new(&RateLimitSettings {
        per_client: ClientQuota {
            requests: quota(RATE_LIMIT_MAX_PER_SECOND, RATE_LIMIT_MAX_BURST).unwrap(),
            writes: None,
        },
        global: None,
        ..RateLimitSettings::default()
    });
    let mut i = 0;
    g.bench_function("check: client bucket, 64 hot clients", |b| {
        b.iter(|| {
            i = (i + 1) % 64;
            black_box(fast.check(&ids[i], &Method::GET)).ok()
        })
    });

    let one = Identity::Key([1; 6]);
    g.bench_function("check: refused (429)", |b| {
        b.iter(|| black_box(no_global.check(&one, &Method::GET)).ok())
    });

    let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    g.bench_function("admit: no source cooling down", |b| {
        b.iter(|| black_box(defaults.admit(black_box(peer))).ok())
    });

    let allowance = Allowance {
        limit: 2_000,
        remaining: 1_234,
        reset_secs: 1,
    };
    let mut headers = HeaderMap::new();
    g.bench_function("stamp: RateLimit-* headers", |b| {
        b.iter(|| {
            black_box(allowance).stamp(&mut headers);
            black_box(&headers);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
