//! What the audit handle, the open entries and the writer share: the channels to the writer,
//! its health and counters, and the commands it takes.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::line::RequestRecord;
use crate::config::AuditTarget;
use crate::limits;
use crate::signing::SigningKey;

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
    /// Records that must be on disk before their request is answered (money-moving requests).
    pub(super) durable: mpsc::Sender<Durable>,
    pub(super) control: mpsc::Sender<Control>,
    pub(super) status: Arc<Status>,
}

/// A record whose request waits for it to be written and synced.
#[derive(Debug)]
pub struct Durable {
    pub(super) record: RequestRecord,
    pub(super) ack: tokio::sync::oneshot::Sender<Result<(), AuditError>>,
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
    /// A signing key a reload read, for the writer to take at its next batch.
    pub(super) key_offer: std::sync::Mutex<Option<SigningKey>>,
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
            key_offer: std::sync::Mutex::new(None),
        }
    }
}

impl Status {
    /// A failed open, write or sync: counted, logged once per outage, and the log unhealthy.
    pub(super) fn failed(&self, path: &AuditTarget, e: &io::Error) -> AuditError {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::error!(
                path = %path,
                error = %e,
                retry_every = ?limits::AUDIT_RETRY_INTERVAL,
                "audit log cannot be written; write requests get 503 until it recovers, unless gateway.audit.on_failure is fail_open"
            );
        }
        AuditError::Io(e.to_string())
    }

    /// A write succeeded: healthy again, logged if it was not.
    pub(super) fn recovered(&self, path: &AuditTarget) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            self.refusal_logged.store(false, Ordering::Relaxed);
            tracing::info!(path = %path, "audit log writable again");
        }
    }

    /// The key offered since the writer last looked, if any.
    pub(super) fn take_key_offer(&self) -> Option<SigningKey> {
        self.key_offer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
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
