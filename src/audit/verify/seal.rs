//! The checkpoints, checked while the chain is walked: each one's signature against the keys
//! given (and the keys earlier checkpoints certified), and each anchor from the operational log
//! against the line with its seq. After the walk, an anchor beyond the end of the files proves
//! the newest records were cut. What is reported is `report`'s; the walk is `verify`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::SystemTime;

use super::lines::Rec;
use super::report::{AnchorSummary, Break, BreakKind, Intact, LastCheckpoint, SealReport};
use crate::audit::checkpoint::{self, Checkpoint};
use crate::limits::AUDIT_MAX_PUBLIC_KEYS;
use crate::signing::{KeyId, PublicKey};

/// What the walk shows: every record the chain accepted, and the break it found.
pub(super) trait Watch {
    /// A record that links to the one before; a break if what it says is not authentic.
    fn record(&mut self, r: &Rec) -> Option<Break>;
    /// The chain broke at `b`, found at `cur`; the watcher may name it better.
    fn chain_break(&mut self, b: Break, cur: &Rec) -> Break;
}

/// The chain alone.
pub(super) struct NoSeal;

impl Watch for NoSeal {
    fn record(&mut self, _: &Rec) -> Option<Break> {
        None
    }

    fn chain_break(&mut self, b: Break, _: &Rec) -> Break {
        b
    }
}

struct Anchor {
    cp: Checkpoint,
    time: Option<SystemTime>,
    seen: bool,
}

/// The checkpoints and anchors of one verification.
pub(super) struct SealCheck<'a> {
    files: &'a [PathBuf],
    trusted: BTreeMap<KeyId, PublicKey>,
    /// By seq; none when no anchors were given.
    anchors: Option<BTreeMap<u64, Anchor>>,
    summary: AnchorSummary,
    /// The first record's time: anchors older than it belong to earlier files or chains.
    first_time: Option<SystemTime>,
    started: bool,
    last_rec: (usize, u64),
    report: SealReport,
    signers: BTreeSet<KeyId>,
}

fn parse_time(t: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(t).ok()
}

impl<'a> SealCheck<'a> {
    pub(super) fn new(
        files: &'a [PathBuf],
        keys: &[PublicKey],
        anchors: Option<Vec<Checkpoint>>,
    ) -> Self {
        let mut summary = AnchorSummary::default();
        let anchors = anchors.map(|list| {
            summary.read = list.len();
            let mut by_seq: BTreeMap<u64, Anchor> = BTreeMap::new();
            for cp in list {
                let time = parse_time(&cp.time);
                // Two chains may share a seq: the newer anchor is the one that can concern them.
                if by_seq.get(&cp.seq).is_none_or(|a| a.time < time) {
                    let a = Anchor {
                        cp,
                        time,
                        seen: false,
                    };
                    by_seq.insert(a.cp.seq, a);
                }
            }
            by_seq
        });
        SealCheck {
            files,
            trusted: keys.iter().map(|k| (k.id(), *k)).collect(),
            anchors,
            summary,
            first_time: None,
            started: false,
            last_rec: (0, 0),
            report: SealReport::default(),
            signers: BTreeSet::new(),
        }
    }

    fn here(&self, r: &Rec, kind: BreakKind, detail: String) -> Break {
        Break {
            file: self.files[r.file].clone(),
            line: r.line,
            kind,
            detail,
        }
    }

    fn authentic(&self, cp: &Checkpoint) -> bool {
        self.trusted.get(&cp.key).is_some_and(|k| cp.verify(k))
    }

    fn older(&self, time: Option<SystemTime>) -> bool {
        matches!((time, self.first_time), (Some(a), Some(first)) if a < first)
    }

    /// Compares the anchor with this line's seq, if there is one.
    fn anchor_at(&mut self, r: &Rec, seq: u64) -> Option<Break> {
        let a = self.anchors.as_mut()?.get_mut(&seq)?;
        a.seen = true;
        let (cp, time) = (a.cp.clone(), a.time);
        if self.older(time) {
            self.summary.older += 1;
            return None;
        }
        if r.checkpoint.as_ref() == Some(&cp) {
            self.summary.matched += 1;
            return None;
        }
        if !self.authentic(&cp) {
            self.summary.unverified += 1;
            return None;
        }
        let detail = format!(
            "the operational log has checkpoint seq {seq} ({}, key {}), but this line is not it: the records up to here were rewritten after the gateway logged it",
            cp.time, cp.key
        );
        Some(self.here(r, BreakKind::Rewritten, detail))
    }

    /// A checkpoint line: authentic, signed by a trusted key, over the chain as it is.
    fn checkpoint(&mut self, r: &Rec, seq: u64) -> Option<Break> {
        let Some(cp) = &r.checkpoint else {
            let detail = "a checkpoint line that is not well formed".to_string();
            return Some(self.here(r, BreakKind::Forged, detail));
        };
        let Some(key) = self.trusted.get(&cp.key) else {
            let detail = format!(
                "checkpoint seq {seq} is signed by key {}, which is neither a --public-key given nor certified by an earlier checkpoint (if the key is yours, give its public key)",
                cp.key
            );
            return Some(self.here(r, BreakKind::Forged, detail));
        };
        if !cp.verify(key) {
            let since = match &self.report.last {
                Some(l) => format!(
                    "the records after checkpoint seq {} ({}:{})",
                    l.seq,
                    l.file.display(),
                    l.line
                ),
                None => "the records before it".to_string(),
            };
            let detail = format!(
                "checkpoint seq {seq} does not verify with key {}: {since} were rewritten after it was signed, or the checkpoint was altered",
                cp.key
            );
            return Some(self.here(r, BreakKind::Rewritten, detail));
        }
        if let Some(next) = cp.next_key {
            if self.trusted.len() >= AUDIT_MAX_PUBLIC_KEYS {
                let detail = format!("more than {AUDIT_MAX_PUBLIC_KEYS} keys certified");
                return Some(self.here(r, BreakKind::Forged, detail));
            }
            self.trusted.insert(next.id(), next);
        }
        self.signers.insert(cp.key);
        self.report.checkpoints += 1;
        self.report.unsealed = 0;
        self.report.newest_unsealed = None;
        self.report.last = Some(LastCheckpoint {
            file: self.files[r.file].clone(),
            line: r.line,
            seq,
            time: cp.time.clone(),
        });
        None
    }

    /// After an intact walk: an authentic anchor beyond the end proves a cut; the report.
    pub(super) fn finish(mut self, intact: &Intact) -> Result<SealReport, Break> {
        let mut report = std::mem::take(&mut self.report);
        report.signers = self.signers.iter().copied().collect();
        let Some(anchors) = self.anchors.take() else {
            return Ok(report);
        };
        let mut summary = self.summary;
        let mut beyond: Option<&Anchor> = None;
        for a in anchors.values().filter(|a| !a.seen) {
            if a.cp.seq < intact.first_seq || self.older(a.time) {
                summary.older += 1;
            } else if !self.authentic(&a.cp) {
                summary.unverified += 1;
            } else {
                beyond = Some(a);
            }
        }
        if let Some(a) = beyond {
            let (file, line) = self.last_rec;
            let detail = format!(
                "the operational log has checkpoint seq {} ({}), beyond the end of the files (seq {}): the newest records were cut, at least {} of them",
                a.cp.seq,
                a.cp.time,
                intact.head_seq,
                a.cp.seq.saturating_sub(intact.head_seq)
            );
            return Err(Break {
                file: self.files[file].clone(),
                line: line + 1,
                kind: BreakKind::Truncated,
                detail,
            });
        }
        report.anchors = Some(summary);
        Ok(report)
    }
}

impl Watch for SealCheck<'_> {
    fn record(&mut self, r: &Rec) -> Option<Break> {
        self.last_rec = (r.file, r.line);
        let link = r.link.as_ref()?;
        if !self.started {
            self.started = true;
            self.first_time = link.time.as_deref().and_then(parse_time);
        }
        if let Some(b) = self.anchor_at(r, link.seq) {
            return Some(b);
        }
        if link.kind == checkpoint::KIND {
            return self.checkpoint(r, link.seq);
        }
        self.report.unsealed += 1;
        if self.report.newest_unsealed.as_deref() < link.time.as_deref() {
            self.report.newest_unsealed = link.time.clone();
        }
        None
    }

    fn chain_break(&mut self, b: Break, cur: &Rec) -> Break {
        let at_cur = b.file == self.files[cur.file] && b.line == cur.line;
        match &cur.checkpoint {
            Some(cp) if at_cur && self.authentic(cp) => {
                let detail = format!(
                    "checkpoint seq {} is authentic (key {}), but the line before it does not hash to the head it sealed: records before it were changed after it was signed",
                    cp.seq, cp.key
                );
                self.here(cur, BreakKind::Rewritten, detail)
            }
            _ => b,
        }
    }
}

#[cfg(test)]
mod tests;
