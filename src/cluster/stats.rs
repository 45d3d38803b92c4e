//! Cluster mode's numbers for `/metrics`: whether Redis is usable, how often it stopped being,
//! which decisions were taken without it, and how many gateways are alive.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::metrics;

/// What a gateway did without Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// A quota checked against this process's share of it.
    RateLimit,
    /// A failed authentication counted in this process only.
    FailedAuth,
    /// A keyed request refused (503): idempotency cannot be shared without Redis.
    Idempotency,
    /// A heartbeat or subscription step skipped.
    Coordination,
}

impl Fallback {
    pub const ALL: [Fallback; 4] = [
        Fallback::RateLimit,
        Fallback::FailedAuth,
        Fallback::Idempotency,
        Fallback::Coordination,
    ];

    fn label(self) -> &'static str {
        match self {
            Fallback::RateLimit => "rate_limit",
            Fallback::FailedAuth => "failed_auth",
            Fallback::Idempotency => "idempotency",
            Fallback::Coordination => "coordination",
        }
    }
}

/// Counters kept by the cluster connection.
#[derive(Debug, Default)]
pub struct Stats {
    went_down: AtomicU64,
    fallbacks: [AtomicU64; Fallback::ALL.len()],
    gateways: AtomicU64,
}

impl Stats {
    pub(super) fn went_down(&self) {
        self.went_down.fetch_add(1, Ordering::Relaxed);
    }

    pub fn fell_back(&self, what: Fallback) {
        self.fallbacks[what as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_gateways(&self, n: u64) {
        self.gateways.store(n, Ordering::Relaxed);
    }

    /// Gateways alive at the last heartbeat (this one included; 0 before the first).
    pub fn gateways(&self) -> u64 {
        self.gateways.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self, up: bool) -> ClusterMetrics {
        ClusterMetrics {
            up,
            went_down: self.went_down.load(Ordering::Relaxed),
            fallbacks: Fallback::ALL.map(|f| self.fallbacks[f as usize].load(Ordering::Relaxed)),
            gateways: self.gateways(),
        }
    }
}

/// The numbers at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ClusterMetrics {
    up: bool,
    went_down: u64,
    fallbacks: [u64; Fallback::ALL.len()],
    gateways: u64,
}

impl Collector for ClusterMetrics {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        metrics::gauge(
            &mut e,
            "cluster_redis_up",
            "1 while the shared Redis answers in time; 0 while the gateway runs on its own state.",
            i64::from(self.up),
        )?;
        metrics::counter(
            &mut e,
            "cluster_redis_down",
            "Times the shared Redis stopped answering in time.",
            self.went_down,
        )?;
        metrics::gauge(
            &mut e,
            "cluster_gateways",
            "Gateways alive at the last heartbeat, this one included.",
            i64::try_from(self.gateways).unwrap_or(i64::MAX),
        )?;
        let counts = self.fallbacks.map(AtomicU64::new);
        let labels = Fallback::ALL.map(Fallback::label);
        metrics::labelled(
            &mut e,
            "cluster_fallbacks",
            "Decisions taken without the shared Redis, by what fell back.",
            "what",
            &labels,
            &counts,
        )
    }
}
