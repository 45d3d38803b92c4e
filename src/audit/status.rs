//! What the audit handle, the open entries and the writer share: the channels to the writer,
//! its health and counters, and the commands it takes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::line::RequestRecord;
use crate::limits;

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

/// What entries and the handle share: the channels to the writer and the status.
#[derive(Debug)]
pub struct Shared {
    pub(super) records: mpsc::Sender<RequestRecord>,
    pub(super) control: mpsc::Sender<Control>,
    pub(super) status: Arc<Status>,
}

/// Health and counters, written by the writer and the request path.
#[derive(Debug)]
pub struct Status {
    /// The last write, open or sync succeeded.
    pub(super) healthy: AtomicBool,
    /// A record was dropped for a full channel and the writer has not yet caught up.
    pub(super) overflow: AtomicBool,
    /// Records dropped by the request path, not yet reported in a `gap` record.
    pub(super) dropped: AtomicU64,
    /// Whether the refusal of writes has been logged since the log last became unwritable.
    pub(super) refusal_logged: AtomicBool,
    pub(super) written: AtomicU64,
    pub(super) lost: AtomicU64,
    pub(super) write_errors: AtomicU64,
    pub(super) refused_writes: AtomicU64,
}

impl Status {
    pub(super) fn new() -> Self {
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
pub enum Control {
    Flush(oneshot::Sender<Result<(), AuditError>>),
    Reopen(oneshot::Sender<Result<(), AuditError>>),
    Close(oneshot::Sender<Result<(), AuditError>>),
}

impl Shared {
    /// Hands a finished record to the writer without waiting.
    pub fn submit(&self, record: RequestRecord) {
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
