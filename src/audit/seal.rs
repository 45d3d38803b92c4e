//! When the writer seals the chain, and with which key: a checkpoint after every
//! `checkpoint_records` lines and at most `checkpoint_interval` after the oldest unsealed line
//! was written, and at every reopen and close, signed with the key in force; a key offered by
//! a reload replaces it (unless it is one this process already retired). With `key_epoch`, the
//! first checkpoint after an epoch certifies a fresh key, which replaces the key file once that
//! checkpoint is written (see docs/audit.md, forward security).
//!
//! Like the chain, the seal's state advances only when a batch is written: framing works on a
//! [`Draft`], which the writer commits after a successful write or drops with a failed batch.
//! The checkpoint record itself is `checkpoint`'s; the writing is `writer`'s.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use zeroize::Zeroizing;

use super::chain::Chain;
use super::checkpoint::Checkpoint;
use crate::config::AuditWriter;
use crate::limits::AUDIT_MAX_RETIRED_KEYS;
use crate::signing::{self, KeyId, SigningKey};

/// The writer's sealing state; inactive without `gateway.audit.signing_key_file`.
pub(super) struct Seal(Option<Active>);

struct Active {
    every: Duration,
    records: u64,
    epoch: Option<Duration>,
    key_file: PathBuf,
    key: SigningKey,
    /// Lines written since the last checkpoint.
    unsealed: u64,
    /// When the oldest of them was written.
    unsealed_since: Option<Instant>,
    epoch_start: Instant,
    /// Keys this process signed with before, newest last: never taken back from a reload.
    retired: VecDeque<KeyId>,
    /// Seal whatever is unsealed in the next batch (reopen, close).
    force: bool,
}

/// What one batch does to the seal, kept only if the batch is written.
#[derive(Default)]
pub(super) struct Draft {
    unsealed: u64,
    sealed: Vec<Checkpoint>,
    next: Option<NextKey>,
}

impl Draft {
    /// The batch certifies a next key: it must be on disk before the key file is replaced.
    pub(super) fn certifies(&self) -> bool {
        self.next.is_some()
    }
}

/// The next epoch's key, certified by a checkpoint in the batch, and its file content.
pub(super) struct NextKey {
    key: SigningKey,
    pem: Zeroizing<String>,
}

impl Seal {
    pub(super) fn new(settings: &AuditWriter, key: Option<SigningKey>) -> Seal {
        let (Some(key), Some(key_file)) = (key, settings.signing_key_file.clone()) else {
            return Seal(None);
        };
        tracing::info!(
            key = %key.id(),
            checkpoint_interval = ?settings.checkpoint_interval,
            checkpoint_records = settings.checkpoint_records,
            key_epoch = ?settings.key_epoch,
            "audit checkpoints are signed"
        );
        let now = Instant::now();
        Seal(Some(Active {
            every: settings.checkpoint_interval,
            records: settings.checkpoint_records,
            epoch: settings.key_epoch,
            key_file,
            key,
            unsealed: 0,
            unsealed_since: None,
            epoch_start: now,
            retired: VecDeque::new(),
            force: false,
        }))
    }

    /// Starts a batch, with the key a reload offered, if any.
    pub(super) fn draft(&mut self, offered: Option<SigningKey>) -> Draft {
        let Some(a) = &mut self.0 else {
            return Draft::default();
        };
        if let Some(key) = offered {
            a.take(key);
        }
        Draft {
            unsealed: a.unsealed,
            ..Draft::default()
        }
    }

    /// A line was framed: a checkpoint follows when `checkpoint_records` are unsealed.
    pub(super) fn line(
        &self,
        d: &mut Draft,
        chain: &mut Chain,
        buf: &mut Vec<u8>,
        now: SystemTime,
    ) {
        let Some(a) = &self.0 else { return };
        d.unsealed += 1;
        if d.unsealed >= a.records {
            a.checkpoint(d, chain, buf, now);
        }
    }

    /// The batch is framed: a checkpoint follows if one is due by time or forced.
    pub(super) fn end(&self, d: &mut Draft, chain: &mut Chain, buf: &mut Vec<u8>, now: SystemTime) {
        let Some(a) = &self.0 else { return };
        let by_time = a
            .unsealed_since
            .is_some_and(|t| Instant::now() >= t + a.every);
        if d.unsealed > 0 && (a.force || by_time) {
            a.checkpoint(d, chain, buf, now);
        }
    }

    /// When a checkpoint is due without any new line.
    pub(super) fn due_at(&self) -> Option<Instant> {
        let a = self.0.as_ref()?;
        a.unsealed_since.map(|t| t + a.every)
    }

    /// Whether a batch with no new line would still write a checkpoint.
    pub(super) fn due(&self) -> bool {
        let Some(a) = &self.0 else { return false };
        a.unsealed > 0 && (a.force || self.due_at().is_some_and(|t| Instant::now() >= t))
    }

    /// Seals what is unsealed in the next batch.
    pub(super) fn force(&mut self) {
        if let Some(a) = &mut self.0 {
            a.force = true;
        }
    }

    /// The batch was written: its checkpoints count, and go to the operational log as anchors.
    /// Returns the next epoch's key, to install once the key file holds it.
    pub(super) fn commit(&mut self, d: Draft, path: &str) -> Option<NextKey> {
        let a = self.0.as_mut()?;
        for cp in &d.sealed {
            tracing::info!(path, "{}", cp.anchor());
        }
        let now = Instant::now();
        if !d.sealed.is_empty() {
            a.force = false;
            a.unsealed_since = None;
        }
        if d.unsealed > 0 && a.unsealed_since.is_none() {
            a.unsealed_since = Some(now);
        }
        if d.unsealed == 0 {
            a.unsealed_since = None;
        }
        a.unsealed = d.unsealed;
        d.next
    }

    /// The key file now holds `next`: sign with it from now on.
    fn install(&mut self, next: NextKey) {
        if let Some(a) = &mut self.0 {
            let old = a.key.id();
            a.retire(old);
            a.key = next.key;
            a.epoch_start = Instant::now();
            tracing::info!(previous = %old, key = %a.key.id(), "audit signing key advanced to a new epoch; the previous key was erased");
        }
    }

    /// A checkpoint certified `next`: the key file takes it (the old key erased), then it signs.
    /// If the file cannot be replaced the current key stays: it is still trusted after the
    /// certification, and the next checkpoint tries again with another key.
    pub(super) async fn advance(&mut self, next: NextKey) {
        let Some(path) = self.0.as_ref().map(|a| a.key_file.clone()) else {
            return;
        };
        let pem = Zeroizing::new(next.pem.as_bytes().to_vec());
        let p = path.clone();
        let joined = tokio::task::spawn_blocking(move || signing::replace_secret(&p, &pem)).await;
        match joined.unwrap_or_else(|_| Err(io::Error::other("key file task failed"))) {
            Ok(()) => self.install(next),
            Err(e) => tracing::error!(
                path = %path.display(),
                error = %e,
                "the audit signing key file cannot be replaced: the current key goes on signing (no forward security until this is fixed)"
            ),
        }
    }
}

impl Active {
    /// Appends a checkpoint, certifying a fresh key when an epoch has ended.
    fn checkpoint(&self, d: &mut Draft, chain: &mut Chain, buf: &mut Vec<u8>, now: SystemTime) {
        let epoch_over = self.epoch.is_some_and(|e| self.epoch_start.elapsed() >= e);
        if epoch_over && d.next.is_none() {
            match SigningKey::generate() {
                Ok((key, pem)) => d.next = Some(NextKey { key, pem }),
                Err(e) => {
                    tracing::error!(error = %e, "no key for the next audit epoch; the current key goes on signing")
                }
            }
        }
        let next = d
            .next
            .as_ref()
            .filter(|_| !d.sealed.iter().any(|c| c.next_key.is_some()))
            .map(|n| *n.key.public());
        match Checkpoint::seal(chain, buf, &self.key, now, next) {
            Ok(cp) => {
                d.sealed.push(cp);
                d.unsealed = 0;
            }
            Err(e) => tracing::error!(error = %e, "audit checkpoint not written"),
        }
    }

    /// A key offered by a reload: taken unless it is the current one or a retired one.
    fn take(&mut self, key: SigningKey) {
        let id = key.id();
        if id == self.key.id() {
            return;
        }
        if self.retired.contains(&id) {
            tracing::warn!(key = %id, "the audit signing key file holds a key this gateway already retired; it is not used again");
            return;
        }
        let old = self.key.id();
        self.retire(old);
        self.key = key;
        self.epoch_start = Instant::now();
        tracing::info!(previous = %old, key = %id, "audit signing key changed");
    }

    fn retire(&mut self, id: KeyId) {
        if self.retired.len() >= AUDIT_MAX_RETIRED_KEYS {
            self.retired.pop_front();
        }
        self.retired.push_back(id);
    }
}

#[cfg(test)]
mod tests;
