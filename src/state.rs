//! The gateway's shared state: an immutable [`Snapshot`] of everything a request needs, swapped
//! whole, and the parts that live as long as the process (the upstream pool, id generator).
//!
//! A request loads one snapshot at its start and uses it to the end, so a reload never mixes an
//! old key with new settings. A reload builds and validates a complete snapshot first and swaps it
//! in only on success; the last good one keeps serving otherwise.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::TlsAcceptor;

use crate::config::{Loaded, SecretSource, Settings};
use crate::proxy::request_id::RequestIds;
use crate::secret::SecretKey;
use crate::upstream::UpstreamClient;

/// Everything a request reads, fixed for the request's lifetime.
pub struct Snapshot {
    pub settings: Settings,
    pub keys: KeyRing,
    pub tls: Option<TlsAcceptor>,
}

/// The keys in force. `current` is injected upstream and accepted from clients.
#[derive(Debug)]
pub struct KeyRing {
    pub current: SecretKey,
    pub source: SecretSource,
}

impl Snapshot {
    pub fn from_loaded(loaded: Loaded) -> Self {
        Snapshot {
            tls: loaded.tls.map(TlsAcceptor::from),
            keys: KeyRing {
                current: loaded.key,
                source: loaded.key_source,
            },
            settings: loaded.settings,
        }
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("settings", &self.settings)
            .field("keys", &self.keys)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The state shared by every connection of one gateway process.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    pub upstream: UpstreamClient,
    pub request_ids: RequestIds,
}

impl Gateway {
    pub fn new(loaded: Loaded) -> Arc<Self> {
        let upstream = UpstreamClient::new(&loaded.settings.limits);
        Arc::new(Gateway {
            snapshot: ArcSwap::from_pointee(Snapshot::from_loaded(loaded)),
            upstream,
            request_ids: RequestIds::new(),
        })
    }

    /// The snapshot in force now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replaces the snapshot whole. Requests in flight keep the one they loaded.
    pub fn swap(&self, next: Snapshot) {
        self.snapshot.store(Arc::new(next));
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("snapshot", &**self.snapshot.load())
            .finish()
    }
}
