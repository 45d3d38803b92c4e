//! The tamper-evident audit log: one hash-chained JSON line for every request.
//!
//! - [`record`]: what a request fills in ([`Entry`]) and the line it becomes.
//! - [`chain`]: the framing `{"v":1,"seq":N,"prev":..}` and the SHA-256 link between lines.
//! - [`writer`]: the task that owns the file: batches, flushes, syncs, reopens, retries.
//! - [`verify`]: `blnk-gateway audit verify`, which checks a chain across files.
//!
//! [`Audit`] is the handle that lives in `Gateway` for the whole process. A request pays for
//! building its record and one non-blocking `try_send` into a bounded channel
//! (`limits::AUDIT_CHANNEL_CAPACITY`); it never waits for the writer. When the channel is full
//! the record is lost: counted, logged, and reported by a `gap` record in the log itself, and
//! under `on_failure: refuse_writes` write requests are refused until the writer has caught up.
//! This module does not decide what a refused request looks like (see `error`) nor when the log
//! is reopened (the reload module calls [`Audit::reopen`]). The schema is in docs/audit.md.

pub mod chain;
mod json;
pub mod record;
pub mod verify;
mod writer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub use self::record::{Decision, End, Entry, RequestHead, RequestRecord};
use crate::config::{AuditSettings, Mode};
use crate::limits;
use crate::server::conn::ConnInfo;

/// Commands to the writer that can wait in line: few callers, rare.
const CONTROL_CAPACITY: usize = 16;

/// Why a flush, reopen or close did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("audit log cannot be written: {0}")]
    Io(String),
    #[error("audit writer is not running")]
    Stopped,
    #[error("audit writer did not answer in time")]
    TimedOut,
}

/// The process-lifetime audit handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    shared: Option<Arc<Shared>>,
}

/// What entries and the handle share: the channels to the writer and the status.
#[derive(Debug)]
pub(crate) struct Shared {
    records: mpsc::Sender<RequestRecord>,
    control: mpsc::Sender<Control>,
    status: Arc<Status>,
}

/// Health and counters, written by the writer and the request path.
#[derive(Debug)]
pub(crate) struct Status {
    /// The last write, open or sync succeeded.
    healthy: AtomicBool,
    /// A record was dropped for a full channel and the writer has not yet caught up.
    overflow: AtomicBool,
    /// Records dropped by the request path, not yet reported in a `gap` record.
    dropped: AtomicU64,
    /// Whether the refusal of writes has been logged since the log last became unwritable.
    refusal_logged: AtomicBool,
    written: AtomicU64,
    lost: AtomicU64,
    write_errors: AtomicU64,
    refused_writes: AtomicU64,
}

impl Status {
    fn new() -> Self {
        Status {
            healthy: AtomicBool::new(true),
            overflow: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            refusal_logged: AtomicBool::new(false),
            written: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            refused_writes: AtomicU64::new(0),
        }
    }
}

/// A command to the writer, with where to send the answer.
#[derive(Debug)]
pub(crate) enum Control {
    Flush(oneshot::Sender<Result<(), AuditError>>),
    Reopen(oneshot::Sender<Result<(), AuditError>>),
    Close(oneshot::Sender<Result<(), AuditError>>),
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

impl Shared {
    /// Hands a finished record to the writer without waiting.
    pub(crate) fn submit(&self, record: RequestRecord) {
        if self.records.try_send(record).is_ok() {
            return;
        }
        self.status.dropped.fetch_add(1, Ordering::Relaxed);
        self.status.lost.fetch_add(1, Ordering::Relaxed);
        if !self.status.overflow.swap(true, Ordering::Relaxed) {
            tracing::error!(
                capacity = limits::AUDIT_CHANNEL_CAPACITY,
                "audit writer is not keeping up: records are being lost (a gap record will say how many)"
            );
        }
    }
}

impl Audit {
    /// Starts the writer on the current tokio runtime. Without a runtime (a bug, never user
    /// input) every record is counted as lost and the log reports unhealthy.
    pub fn start(settings: &AuditSettings) -> Audit {
        if !settings.enabled {
            return Audit::disabled();
        }
        let (audit, records, control) = Audit::channels(limits::AUDIT_CHANNEL_CAPACITY);
        let status = audit
            .shared
            .as_ref()
            .map(|s| s.status.clone())
            .unwrap_or_else(|| Arc::new(Status::new()));
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let writer = writer::Writer::new(settings.clone(), status, records, control);
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
        let (audit, records, _control) = Audit::channels(capacity);
        (audit, records)
    }

    fn channels(
        capacity: usize,
    ) -> (
        Audit,
        mpsc::Receiver<RequestRecord>,
        mpsc::Receiver<Control>,
    ) {
        let (records_tx, records) = mpsc::channel(capacity.max(1));
        let (control_tx, control) = mpsc::channel(CONTROL_CAPACITY);
        let shared = Arc::new(Shared {
            records: records_tx,
            control: control_tx,
            status: Arc::new(Status::new()),
        });
        (
            Audit {
                shared: Some(shared),
            },
            records,
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

/// Methods that may change the ledger: everything but GET, HEAD and OPTIONS.
pub fn is_write(method: &http::Method) -> bool {
    !matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    )
}
