//! [`Audit`], the handle that lives in the gateway for the whole process: opens entries, starts
//! the writer, sends it commands, reads its health.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::entry::Entry;
use super::line::{RequestHead, RequestRecord};
use super::seal::Seal;
use super::status::{AuditError, Control, Durable, Shared, Status};
use super::writer;
use crate::config::AuditWriter;
use crate::conn::ConnInfo;
use crate::limits;
use crate::metrics;
use crate::mode::Mode;
use crate::signing::SigningKey;

/// The process-lifetime audit handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    shared: Option<Arc<Shared>>,
}

/// Counters for operators and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditStats {
    pub enabled: bool,
    pub healthy: bool,
    /// Records written to the log (flushed to the file, synced per policy).
    pub written: u64,
    /// Records that will never be written (a full channel, or the pending bound while the log
    /// could not be written); each loss is also reported in the log by a `gap` record.
    pub lost: u64,
    /// Failed opens, writes and syncs.
    pub write_errors: u64,
    /// Requests answered 503 because the log could not be written.
    pub refused_writes: u64,
}

impl Audit {
    /// Starts the writer on the current tokio runtime. Without a runtime (a bug, never user
    /// input) every record is counted as lost and the log reports unhealthy.
    pub fn start(settings: &AuditWriter) -> Audit {
        Audit::start_signed(settings, None)
    }

    /// As [`Audit::start`], sealing the log with signed checkpoints when `key` is given and
    /// `settings` names its file (docs/audit.md).
    pub fn start_signed(settings: &AuditWriter, key: Option<SigningKey>) -> Audit {
        if !settings.enabled {
            return Audit::disabled();
        }
        let (audit, records, durable, control) = Audit::channels(limits::AUDIT_CHANNEL_CAPACITY);
        let status = audit
            .shared
            .as_ref()
            .map(|s| s.status.clone())
            .unwrap_or_else(|| Arc::new(Status::new()));
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let seal = Seal::new(settings, key);
                let channels = writer::Channels {
                    records,
                    durable,
                    control,
                };
                let writer = writer::Writer::new(settings.clone(), status, seal, channels);
                rt.spawn(writer.run());
            }
            Err(_) => {
                status.healthy.store(false, Ordering::Relaxed);
                tracing::error!("audit writer not started: no async runtime");
            }
        }
        audit
    }

    /// No audit log at all (`gateway.audit.enabled: false`).
    pub fn disabled() -> Audit {
        Audit { shared: None }
    }

    /// An audit handle with no writer: the caller receives the records. For benchmarks and
    /// tests of the request path.
    #[doc(hidden)]
    pub fn detached(capacity: usize) -> (Audit, mpsc::Receiver<RequestRecord>) {
        let (audit, records, _durable, _control) = Audit::channels(capacity);
        (audit, records)
    }

    #[allow(clippy::type_complexity)]
    fn channels(
        capacity: usize,
    ) -> (
        Audit,
        mpsc::Receiver<RequestRecord>,
        mpsc::Receiver<Durable>,
        mpsc::Receiver<Control>,
    ) {
        let (records_tx, records) = mpsc::channel(capacity.max(1));
        let (durable_tx, durable) = mpsc::channel(capacity.max(1));
        let (control_tx, control) = mpsc::channel(limits::AUDIT_CONTROL_CAPACITY);
        let shared = Arc::new(Shared {
            records: records_tx,
            durable: durable_tx,
            control: control_tx,
            status: Arc::new(Status::new()),
        });
        (
            Audit {
                shared: Some(shared),
            },
            records,
            durable,
            control,
        )
    }

    /// Opens the record of a request whose head just arrived.
    pub fn begin(
        &self,
        conn: &Arc<ConnInfo>,
        mode: Mode,
        include_query: bool,
        head: RequestHead<'_>,
    ) -> Entry {
        match &self.shared {
            Some(shared) => Entry::open(shared.clone(), conn, mode, include_query, head),
            None => Entry::disabled(),
        }
    }

    /// Whether a request that changes the ledger may go ahead under `refuse_writes`: the last
    /// write succeeded and no record has been lost since. Counts and logs a refusal otherwise.
    pub fn admit_write(&self) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        let s = &shared.status;
        if s.healthy.load(Ordering::Relaxed) && !s.overflow.load(Ordering::Relaxed) {
            return true;
        }
        s.refused_writes.fetch_add(1, Ordering::Relaxed);
        if !s.refusal_logged.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "refusing write requests (503) until the audit log can be written again (gateway.audit.on_failure = refuse_writes)"
            );
        }
        false
    }

    /// Writes (and syncs, per policy) every record handed over before this call. Used by tests
    /// and by anything that needs the log on disk now; while the log is unwritable, it is one
    /// more attempt.
    pub async fn flush(&self) -> Result<(), AuditError> {
        self.command(Control::Flush).await
    }

    /// Writes what is pending to the current file, then opens the path again and continues the
    /// chain there: the step after logrotate has renamed the file. The reload module calls this
    /// on SIGHUP.
    pub async fn reopen(&self) -> Result<(), AuditError> {
        self.command(Control::Reopen).await
    }

    /// Hands the writer a signing key a reload read; it signs with it from its next batch on,
    /// unless it is the key in force or one it retired (see `seal`).
    pub fn offer_signing_key(&self, key: SigningKey) {
        if let Some(shared) = &self.shared {
            *shared
                .status
                .key_offer
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(key);
        }
    }

    /// Writes and syncs everything, then stops the writer. For the end of `serve`.
    pub async fn close(&self) -> Result<(), AuditError> {
        self.command(Control::Close).await
    }

    async fn command(
        &self,
        make: fn(oneshot::Sender<Result<(), AuditError>>) -> Control,
    ) -> Result<(), AuditError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        let asked = async {
            shared
                .control
                .send(make(tx))
                .await
                .map_err(|_| AuditError::Stopped)?;
            rx.await.map_err(|_| AuditError::Stopped)?
        };
        tokio::time::timeout(limits::AUDIT_CONTROL_TIMEOUT, asked)
            .await
            .map_err(|_| AuditError::TimedOut)?
    }

    pub fn stats(&self) -> AuditStats {
        let Some(shared) = &self.shared else {
            return AuditStats::default();
        };
        let s = &shared.status;
        AuditStats {
            enabled: true,
            healthy: s.healthy.load(Ordering::Relaxed),
            written: s.written.load(Ordering::Relaxed),
            lost: s.lost.load(Ordering::Relaxed),
            write_errors: s.write_errors.load(Ordering::Relaxed),
            refused_writes: s.refused_writes.load(Ordering::Relaxed),
        }
    }
}

/// What `on_failure: refuse_writes` refuses: the gateway's one definition of a write.
pub use crate::route::is_write;

impl prometheus_client::collector::Collector for AuditStats {
    fn encode(
        &self,
        mut e: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let healthy = i64::from(self.healthy || !self.enabled);
        metrics::gauge(
            &mut e,
            "audit_healthy",
            "1 while the audit log can be written (or is disabled), 0 while it cannot.",
            healthy,
        )?;
        metrics::counter(
            &mut e,
            "audit_records_written",
            "Audit records written to the log.",
            self.written,
        )?;
        metrics::counter(
            &mut e,
            "audit_records_lost",
            "Audit records that will never be written; each loss is also a gap record in the log.",
            self.lost,
        )?;
        metrics::counter(
            &mut e,
            "audit_write_errors",
            "Failed opens, writes and syncs of the audit log.",
            self.write_errors,
        )?;
        metrics::counter(
            &mut e,
            "audit_refused_writes",
            "Write requests answered 503 because the audit log could not be written.",
            self.refused_writes,
        )
    }
}
