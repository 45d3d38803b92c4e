//! [`ReloadStats`]: how many reloads were applied and how many refused, and their counters in
//! `/metrics`. Counted by the reloader; kept with the process-wide parts (`Gateway::reloads`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Reload counters.
#[derive(Debug, Default)]
pub struct ReloadStats {
    pub reloads: AtomicU64,
    pub failures: AtomicU64,
}

impl ReloadStats {
    /// For `/metrics`: the counters now.
    pub fn counts(&self) -> ReloadCounts {
        ReloadCounts {
            applied: self.reloads.load(Ordering::Relaxed),
            refused: self.failures.load(Ordering::Relaxed),
        }
    }
}

/// The reload counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ReloadCounts {
    applied: u64,
    refused: u64,
}

impl prometheus_client::collector::Collector for ReloadCounts {
    fn encode(
        &self,
        mut e: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        crate::metrics::counter(
            &mut e,
            "reloads",
            "Configuration reloads applied.",
            self.applied,
        )?;
        crate::metrics::counter(
            &mut e,
            "reload_failures",
            "Reloads refused; the previous configuration kept serving.",
            self.refused,
        )
    }
}
