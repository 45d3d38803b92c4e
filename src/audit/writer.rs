//! The audit writer: the one task that owns the log file.
//!
//! It receives finished records over the bounded channel and keeps them until a batch is due
//! (`flush_records` records, or `flush_interval` after the first one), frames the batch into the
//! chain and writes it with one `write` (and an `fsync` per policy) on tokio's blocking pool. The
//! chain advances only when a batch is written: a failed batch is cut back off the file and tried
//! again every `AUDIT_RETRY_INTERVAL`, its records kept in memory up to `max_pending_records`
//! (oldest dropped beyond, reported by a `gap` record once writing works again). Opening the file
//! reads its last line back, so a restart continues the chain it finds. With a signing key,
//! checkpoints go into the same batches (`seal` decides when), and a batch that certifies the next
//! epoch's key is synced before the key file is replaced. Records that requests wait for come on
//! their own channel (`channels`); records are built by `entry`, framed by `chain`, written by
//! `file`.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::chain::{Chain, Resume};
use super::file::{open_off_thread, write_off_thread, Sink};
use super::line::{Body, Header, RequestRecord, Rfc3339};
use super::seal::{Draft, Seal};
use super::status::{AuditError, Control, Durable, Status};
use crate::config::{AuditWriter, Fsync};
use crate::limits::AUDIT_RETRY_INTERVAL;

mod channels;
use self::channels::recv_durable;
pub(super) use self::channels::Channels;

pub(super) struct Writer {
    settings: AuditWriter,
    status: Arc<Status>,
    records: mpsc::Receiver<RequestRecord>,
    durable: Option<mpsc::Receiver<Durable>>,
    control: mpsc::Receiver<Control>,
    /// `None` while the path cannot be opened.
    sink: Option<Sink>,
    /// The chain as written: advanced only by a successful batch.
    chain: Chain,
    /// The genesis or continue record owed at the top of a newly opened file.
    header: Option<Header>,
    /// The file ends in the middle of a line: start with a newline.
    newline_first: bool,
    pending: VecDeque<RequestRecord>,
    first_pending_at: Option<Instant>,
    /// Records lost and not yet reported in a `gap` record.
    lost: u64,
    last_attempt: Instant,
    last_sync: Instant,
    unsynced: bool,
    buf: Vec<u8>,
    seal: Seal,
}

/// A batch as lines, linked onto a copy of the chain, with what it did to the seal.
struct Framed {
    chain: Chain,
    buf: Vec<u8>,
    /// Records that could not be framed.
    unframed: u64,
    draft: Draft,
}

impl Writer {
    pub(super) fn new(
        settings: AuditWriter,
        status: Arc<Status>,
        seal: Seal,
        channels: Channels,
    ) -> Self {
        let now = Instant::now();
        Writer {
            buf: Vec::with_capacity(settings.flush_records.saturating_mul(512)),
            settings,
            status,
            records: channels.records,
            durable: Some(channels.durable),
            control: channels.control,
            sink: None,
            chain: Chain::genesis(),
            header: None,
            newline_first: false,
            pending: VecDeque::new(),
            first_pending_at: None,
            lost: 0,
            last_attempt: now,
            last_sync: now,
            unsynced: false,
            seal,
        }
    }

    pub(super) async fn run(mut self) {
        // The genesis or continue record is written at once, so a log that cannot be written is
        // known before the first request.
        let _ = self.flush(true).await;
        let mut batch = Vec::with_capacity(self.settings.flush_records);
        let mut durable = Vec::new();
        loop {
            let wake = self.next_wake();
            tokio::select! {
                biased;
                cmd = self.control.recv() => match cmd {
                    Some(Control::Flush(ack)) => {
                        self.drain();
                        let _ = ack.send(self.flush(true).await);
                    }
                    Some(Control::Reopen(ack)) => {
                        self.drain();
                        let _ = ack.send(self.reopen().await);
                    }
                    Some(Control::Close(ack)) => {
                        let _ = ack.send(self.close().await);
                        return;
                    }
                    None => {
                        let _ = self.close().await;
                        return;
                    }
                },
                // Group commit: every record waiting to be durable goes in one synced write.
                n = recv_durable(&mut self.durable, &mut durable) => self.commit_durable(n, &mut durable).await,
                n = self.records.recv_many(&mut batch, self.settings.flush_records) => {
                    if n == 0 {
                        let _ = self.close().await;
                        return;
                    }
                    self.take(batch.drain(..));
                    if self.healthy() && self.pending.len() >= self.settings.flush_records {
                        let _ = self.flush(false).await;
                    }
                }
                () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    let _ = self.flush(false).await;
                }
            }
        }
    }

    /// Writes and syncs the `n` durable records received (after the ordinary ones waiting), then
    /// tells each request how it went. `n == 0`: the channel closed; it is not read again.
    async fn commit_durable(&mut self, n: usize, durable: &mut Vec<Durable>) {
        if n == 0 {
            self.durable = None;
            return;
        }
        self.drain();
        let (records, acks) = channels::split(durable);
        self.take(records.into_iter());
        channels::answer(acks, &self.flush(true).await);
    }

    fn healthy(&self) -> bool {
        self.status.healthy.load(Ordering::Relaxed)
    }

    /// When the loop must act without a message: a retry, a batch's deadline, a due fsync, a
    /// due checkpoint.
    fn next_wake(&self) -> Option<Instant> {
        if !self.healthy() {
            return Some(self.last_attempt + AUDIT_RETRY_INTERVAL);
        }
        let batch = self
            .first_pending_at
            .map(|first| first + self.settings.flush_interval);
        let sync = (self.unsynced && self.settings.fsync == Fsync::Interval)
            .then(|| self.last_sync + self.settings.fsync_interval);
        [batch, sync, self.seal.due_at()]
            .into_iter()
            .flatten()
            .min()
    }

    fn take(&mut self, records: impl Iterator<Item = RequestRecord>) {
        self.pending.extend(records);
        if self.first_pending_at.is_none() && !self.pending.is_empty() {
            self.first_pending_at = Some(Instant::now());
        }
        let excess = self
            .pending
            .len()
            .saturating_sub(self.settings.max_pending_records);
        if excess > 0 {
            self.pending.drain(..excess);
            if self.lost == 0 {
                tracing::error!(
                    max_pending_records = self.settings.max_pending_records,
                    "audit records are being lost while the log cannot be written"
                );
            }
            self.lost += excess as u64;
            self.status.lost.fetch_add(excess as u64, Ordering::Relaxed);
        }
    }

    /// Takes every record already in the channel (at most its capacity).
    fn drain(&mut self) {
        let taken = channels::waiting(&mut self.records);
        self.take(taken.into_iter());
    }

    /// Writes what is pending (opening the path first if it is not open), syncing per policy or
    /// when `force_sync` and the policy syncs at all.
    async fn flush(&mut self, force_sync: bool) -> Result<(), AuditError> {
        self.last_attempt = Instant::now();
        self.lost += self.status.dropped.swap(0, Ordering::Relaxed);
        if self.sink.is_none() {
            let reason = self.chain.head().map_or("start", |_| "retry");
            self.open(reason).await?;
        }
        let sync = match self.settings.fsync {
            Fsync::Batch => true,
            Fsync::Interval => {
                force_sync || self.last_sync.elapsed() >= self.settings.fsync_interval
            }
            Fsync::Never => false,
        };
        let nothing =
            self.pending.is_empty() && self.header.is_none() && self.lost == 0 && !self.seal.due();
        if nothing && !(sync && self.unsynced) {
            return Ok(());
        }
        let framed = self.frame_batch();
        // A certified next key must be on disk before the key file no longer holds this one.
        let sync = sync || framed.draft.certifies();
        if let Err(e) = self.write(framed.buf, sync).await {
            return Err(self.status.failed(&self.settings.target, &e));
        }
        self.written(framed.chain, framed.unframed, sync);
        let target = self.settings.target.to_string();
        if let Some(next) = self.seal.commit(framed.draft, &target) {
            self.seal.advance(next).await;
        }
        Ok(())
    }

    /// The batch as lines, linked onto a copy of the chain: the owed header, a gap record for
    /// records lost, then what is pending, with checkpoints where they are due.
    fn frame_batch(&mut self) -> Framed {
        let mut draft = self.seal.draft(self.status.take_key_offer());
        let mut chain = self.chain;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if self.newline_first {
            buf.push(b'\n');
        }
        let now = SystemTime::now();
        // Framing cannot fail for these bodies (they are JSON objects); a failure would only
        // leave the record out, and it is counted.
        let mut unframed = 0u64;
        let mut line = |framed: bool, chain: &mut Chain, buf: &mut Vec<u8>| {
            unframed += u64::from(!framed);
            if framed {
                self.seal.line(&mut draft, chain, buf, now);
            }
        };
        if let Some(h) = self.header {
            let framed = chain.append(&mut buf, &h.body(now)).is_ok();
            line(framed, &mut chain, &mut buf);
        }
        if self.lost > 0 {
            let gap = Body::Gap {
                time: Rfc3339(now),
                lost: self.lost,
            };
            let framed = chain.append(&mut buf, &gap).is_ok();
            line(framed, &mut chain, &mut buf);
        }
        for r in &self.pending {
            let framed = r.frame(&mut chain, &mut buf).is_ok();
            line(framed, &mut chain, &mut buf);
        }
        self.seal.end(&mut draft, &mut chain, &mut buf, now);
        Framed {
            chain,
            buf,
            unframed,
            draft,
        }
    }

    /// Writes `buf` on the blocking pool; the buffer comes back for the next batch.
    async fn write(&mut self, buf: Vec<u8>, sync: bool) -> io::Result<()> {
        let (sink, buf, result) = write_off_thread(self.sink.take(), buf, sync).await;
        self.sink = sink;
        if let Some(buf) = buf {
            self.buf = buf;
        }
        result
    }

    /// After a batch was written: the chain advances and what was pending is done.
    fn written(&mut self, chain: Chain, unframed: u64, synced: bool) {
        let written = self.pending.len() as u64;
        self.status.written.fetch_add(written, Ordering::Relaxed);
        if self.lost > 0 {
            tracing::error!(
                lost = self.lost,
                "audit records were lost; a gap record in the log says how many"
            );
        }
        if unframed > 0 {
            self.status.lost.fetch_add(unframed, Ordering::Relaxed);
            tracing::error!(unframed, "audit records could not be serialized");
        }
        self.chain = chain;
        self.pending.clear();
        self.first_pending_at = None;
        self.header = None;
        self.newline_first = false;
        self.lost = 0;
        self.status.overflow.store(false, Ordering::Relaxed);
        if synced {
            self.last_sync = Instant::now();
        }
        self.unsynced = !synced;
        self.status.recovered(&self.settings.target);
    }

    /// Opens the path and decides the first record: continue our chain if we have one, else the
    /// chain the file ends with, else a genesis.
    async fn open(&mut self, reason: &'static str) -> Result<(), AuditError> {
        let opened = open_off_thread(self.settings.target.clone(), self.sink.take()).await;
        let (sink, resume) = match opened {
            Ok(o) => o,
            Err(e) => return Err(self.status.failed(&self.settings.target, &e)),
        };
        self.sink = Some(sink);
        self.newline_first = resume
            == Resume::Damaged {
                needs_newline: true,
            };
        if self.chain.head().is_some() {
            self.header = Some(Header::Continue(reason));
            return Ok(());
        }
        match resume {
            Resume::After(head) => {
                self.chain = Chain::after(head);
                self.header = Some(Header::Continue(reason));
            }
            Resume::Fresh => {
                self.chain = Chain::genesis();
                self.header = Some(Header::Genesis);
            }
            Resume::Damaged { .. } => {
                tracing::error!(
                    path = %self.settings.target,
                    "audit log ends with an incomplete or damaged line; a new chain starts after it, and `audit verify` will report the damage"
                );
                self.chain = Chain::genesis();
                self.header = Some(Header::Genesis);
            }
        }
        Ok(())
    }

    /// Writes what is pending to the current file, then opens the path again.
    async fn reopen(&mut self) -> Result<(), AuditError> {
        // The file being left ends sealed.
        self.seal.force();
        if self.sink.is_some() {
            let _ = self.flush(true).await;
        }
        self.open("reopen").await?;
        self.flush(true).await?;
        self.chain
            .log_head(&self.settings.target, "audit log reopened");
        Ok(())
    }

    async fn close(&mut self) -> Result<(), AuditError> {
        self.drain();
        self.seal.force();
        let result = self.flush(true).await;
        match &result {
            Ok(()) => self
                .chain
                .log_head(&self.settings.target, "audit log closed"),
            Err(e) => tracing::error!(
                unwritten = self.pending.len(),
                error = %e,
                "audit log closed with records unwritten"
            ),
        }
        result
    }
}

#[cfg(test)]
mod tests;
