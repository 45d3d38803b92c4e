//! An open audit record ([`Entry`]), filled in as the request goes.
//!
//! An entry is opened when a request head arrives and travels with the request: the proxy notes
//! the client identity, whether the request went upstream and the answer; the response body counts
//! the bytes out and closes the entry when it ends. Whatever path the request takes, the entry is
//! closed exactly once: explicitly, or by `Drop` when the handler or the response body is dropped
//! before the end (the client went away). Closing hands the finished [`RequestRecord`] to the
//! writer's channel; nothing here does I/O.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::line::{Decision, End, RequestHead, RequestRecord, Texts};
use super::status::{AuditError, Durable, Shared};
use crate::conn::ConnInfo;
use crate::mode::Mode;
use crate::route::Resource;
use crate::secret::Fingerprint;

/// An open record, closed exactly once (see the module docs). A disabled audit gives entries
/// that do nothing.
#[derive(Debug)]
pub struct Entry(Option<Pending>);

#[derive(Debug)]
struct Pending {
    sink: Arc<Shared>,
    started: Instant,
    bytes_in: Arc<AtomicU64>,
    record: RequestRecord,
    /// The request can move money: its record is on disk before its answer leaves.
    durable: bool,
}

impl Entry {
    pub fn disabled() -> Entry {
        Entry(None)
    }

    pub(super) fn open(
        sink: Arc<Shared>,
        conn: &Arc<ConnInfo>,
        mode: Mode,
        include_query: bool,
        head: RequestHead<'_>,
    ) -> Entry {
        let (text, path_truncated) = Texts::new(&head, include_query);
        Entry(Some(Pending {
            sink,
            started: Instant::now(),
            bytes_in: Arc::new(AtomicU64::new(0)),
            record: RequestRecord {
                time: SystemTime::now(),
                latency: Duration::ZERO,
                conn: conn.clone(),
                key_fingerprint: None,
                client_id: None,
                mode,
                version: head.version,
                text,
                path_truncated,
                resource: Resource::Unknown,
                idempotency: None,
                decision: Decision::Abandoned,
                sent_upstream: false,
                end: End::ClientGone,
                bytes_in: 0,
                bytes_out: 0,
            },
            durable: false,
        }))
    }

    /// The request went to Blnk on a route that can move money: its record must be on disk
    /// before the answer leaves (`finish_durably`).
    pub fn must_be_durable(&mut self) {
        if let Some(p) = &mut self.0 {
            p.durable = true;
        }
    }

    pub fn is_durable(&self) -> bool {
        self.0.as_ref().is_some_and(|p| p.durable)
    }

    /// Who the client is: the fingerprint of the key it presented, the id of its client key.
    pub fn identify(&mut self, fingerprint: Option<Fingerprint>, client_id: Option<&str>) {
        if let Some(p) = &mut self.0 {
            p.record.key_fingerprint = fingerprint;
            p.record.client_id = client_id.map(str::to_owned);
        }
    }

    /// The request could not be parsed (refused by the HTTP layer): its record keeps the request
    /// id, the peer and the protocol, and has an empty method and path.
    pub fn unparsed(&mut self) {
        if let Some(p) = &mut self.0 {
            p.record.text = p.record.text.id_only();
            p.record.path_truncated = false;
        }
    }

    /// Blnk's scope resource of the normalised path.
    pub fn resource(&mut self, resource: Resource) {
        if let Some(p) = &mut self.0 {
            p.record.resource = resource;
        }
    }

    /// What the idempotency store said about the request.
    pub fn idempotency(&mut self, outcome: &'static str) {
        if let Some(p) = &mut self.0 {
            p.record.idempotency = Some(outcome);
        }
    }

    /// The request is being handed to the upstream: Blnk may see it from now on.
    pub fn sent_upstream(&mut self) {
        if let Some(p) = &mut self.0 {
            p.record.sent_upstream = true;
        }
    }

    /// A counter the request body adds the bytes it reads to.
    pub fn body_counter(&self) -> Option<Arc<AtomicU64>> {
        self.0.as_ref().map(|p| p.bytes_in.clone())
    }

    pub fn answered(&mut self, decision: Decision) {
        if let Some(p) = &mut self.0 {
            p.record.decision = decision;
        }
    }

    pub fn count_out(&mut self, bytes: usize) {
        if let Some(p) = &mut self.0 {
            p.record.bytes_out = p.record.bytes_out.saturating_add(bytes as u64);
        }
    }

    /// Closes the entry and hands the record to the writer. Later calls do nothing.
    pub fn finish(&mut self, end: End) {
        if let Some(mut p) = self.0.take() {
            p.record.end = end;
            p.record.latency = p.started.elapsed();
            p.record.bytes_in = p.bytes_in.load(Ordering::Relaxed);
            p.sink.submit(p.record);
        }
    }
}

/// A record on its way to disk; awaiting it waits (bounded) until it is written and synced.
pub type Durability =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), AuditError>> + Send>>;

impl Entry {
    /// Closes the entry as `answered` and hands the record to the writer's durable queue: the
    /// returned future ends once it is written and synced (group commit), or after
    /// `AUDIT_DURABLE_TIMEOUT`. `None` when the audit is disabled.
    pub fn finish_durably(&mut self) -> Option<Durability> {
        let mut p = self.0.take()?;
        p.record.end = End::Answered;
        p.record.latency = p.started.elapsed();
        p.record.bytes_in = p.bytes_in.load(Ordering::Relaxed);
        let (ack, done) = tokio::sync::oneshot::channel();
        let sink = p.sink.clone();
        let durable = Durable {
            record: p.record,
            ack,
        };
        Some(Box::pin(async move {
            if sink.durable.try_send(durable).is_err() {
                return Err(AuditError::Stopped);
            }
            match tokio::time::timeout(crate::limits::AUDIT_DURABLE_TIMEOUT, done).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(AuditError::Stopped),
                Err(_) => Err(AuditError::TimedOut),
            }
        }))
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.finish(End::ClientGone);
    }
}
