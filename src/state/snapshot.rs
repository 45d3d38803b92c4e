//! [`Snapshot`]: everything a request reads, fixed for the request's lifetime, and the snapshot
//! that follows it after a reload.

use std::sync::Arc;

use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::load::Loaded;
use crate::clients::ClientTable;
use crate::config::{quota, ClientQuota, Identity, RateLimitSettings, Settings};
use crate::keys::{KeyGauges, KeyRing};
use crate::x509::CertFacts;

/// Everything a request reads, fixed for the request's lifetime.
pub struct Snapshot {
    pub settings: Settings,
    pub keys: KeyRing,
    pub tls: Option<TlsAcceptor>,
    /// The certificate `tls` serves: fingerprint and expiry, for logs and `/metrics`.
    pub cert: Option<CertFacts>,
    pub clients: Option<Arc<ClientTable>>,
}

impl Snapshot {
    pub fn from_loaded(loaded: Loaded) -> Self {
        Snapshot {
            tls: loaded.tls.map(TlsAcceptor::from),
            cert: loaded.cert,
            keys: KeyRing::new(loaded.key, loaded.key_source),
            clients: loaded.clients.map(Arc::new),
            settings: loaded.settings,
        }
    }

    /// The snapshot that follows this one after a reload: new settings, TLS and clients, and a
    /// key ring that carries a rotation across (see `keys`).
    pub fn next(&self, loaded: Loaded, now: Instant) -> Snapshot {
        let grace = loaded.settings.rotation.grace;
        let keys = self.keys.next(loaded.key, loaded.key_source, grace, now);
        let clients = loaded.clients.map(|mut table| {
            if let Some(old) = &self.clients {
                table.carry_last_used(old);
            }
            Arc::new(table)
        });
        Snapshot {
            tls: loaded.tls.map(TlsAcceptor::from),
            cert: loaded.cert,
            keys,
            clients,
            settings: loaded.settings,
        }
    }

    /// The rate limits in force: `gateway.rate_limit`, plus the quota of every client key that
    /// has one in the clients file (unless `gateway.rate_limit.clients` names it too).
    pub fn rate_limit_settings(&self) -> RateLimitSettings {
        let mut settings = self.settings.rate_limit.clone();
        for client in self.clients.iter().flat_map(|t| t.iter()) {
            let id = Identity::client(&client.id);
            let quota = client
                .rate_limit
                .and_then(|r| quota(f64::from(r.per_second), r.burst));
            if let (Some(id), Some(requests)) = (id, quota) {
                settings.clients.entry(id).or_insert(ClientQuota {
                    requests,
                    writes: None,
                });
            }
        }
        settings
    }

    /// For `/metrics`: the key ring's gauges and the served certificate's expiry, now.
    pub fn gauges(&self) -> SnapshotGauges {
        SnapshotGauges {
            keys: self.keys.gauges(),
            cert_not_after: self.cert.as_ref().and_then(|c| c.not_after),
        }
    }

    /// The same snapshot with other keys.
    pub fn with_keys(&self, keys: KeyRing) -> Snapshot {
        Snapshot {
            settings: self.settings.clone(),
            keys,
            tls: self.tls.clone(),
            cert: self.cert.clone(),
            clients: self.clients.clone(),
        }
    }
}

/// A snapshot's gauges at one moment.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotGauges {
    keys: KeyGauges,
    cert_not_after: Option<i64>,
}

impl prometheus_client::collector::Collector for SnapshotGauges {
    fn encode(
        &self,
        mut e: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        self.keys.write(&mut e)?;
        if let Some(t) = self.cert_not_after {
            crate::metrics::gauge(
                &mut e,
                "tls_cert_not_after_seconds",
                "notAfter of the certificate served, as a Unix time.",
                t,
            )?;
        }
        Ok(())
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
