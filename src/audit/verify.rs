//! `blnk-gateway audit verify FILE...`: checks the hash chain across files, oldest first, and
//! reports the first line where it breaks and how.
//!
//! Reading is streaming, line by line under `AUDIT_MAX_LINE_BYTES`, with one line of lookahead;
//! only after a break is found does it read on, to tell a deletion from a reordering. How a break
//! is named, at the first record that does not link to the one before it (P, then C, then N):
//! - C is not a record: `truncated` if it is the last line and has no newline, else `edited`.
//! - N links to C and C's seq follows P's: P's bytes changed, so P was `edited`.
//! - C links to the record before P: P was `inserted`.
//! - N links to P: C does not belong; `reordered` if its seq belongs later, else `inserted`.
//! - C's seq jumps ahead: `reordered` if a missing seq appears later, else `deleted`, or
//!   `truncated` when C opens a new file (the file before it lost its end).
//! - a genesis record after the first line: the chain `restarted` there.
//!
//! A plain hash chain proves order and completeness against someone who edits lines; it cannot
//! stop someone who rewrites every line after an edit, nor notice the last records removed from
//! the newest file. With public keys ([`verify_sealed`]), the signed checkpoints catch the first
//! (`seal`), and the checkpoints the gateway logged to its operational log (`anchors`) the
//! second.

use std::io;
use std::path::{Path, PathBuf};

pub use self::anchors::read_anchors;
pub use self::lines::VerifyError;
use self::lines::{Lines, Rec};
pub use self::report::{Break, BreakKind, Intact, LastCheckpoint, Outcome, SealReport, Sealed};
use self::seal::{NoSeal, SealCheck, Watch};
use super::chain::{Digest, GENESIS_PREV};
use crate::audit::checkpoint::Checkpoint;
use crate::signing::PublicKey;

/// Checks `files` as one chain, in the order given.
pub fn verify(files: &[PathBuf]) -> Result<Outcome, VerifyError> {
    walk(files, &mut NoSeal)
}

/// Checks `files` as one chain and every checkpoint in it against `keys` (and the keys the
/// checkpoints certify), and `anchors` (checkpoints from the operational log), when given,
/// against the files.
pub fn verify_sealed(
    files: &[PathBuf],
    keys: &[PublicKey],
    anchors: Option<Vec<Checkpoint>>,
) -> Result<Sealed, VerifyError> {
    let mut seal = SealCheck::new(files, keys, anchors);
    Ok(match walk(files, &mut seal)? {
        Outcome::Broken(b) => Sealed::Broken(b),
        Outcome::Intact(intact) => match seal.finish(&intact) {
            Ok(report) => Sealed::Intact(intact, report),
            Err(b) => Sealed::Broken(b),
        },
    })
}

/// Walks the chain, showing `watch` every record it accepts and every break it finds.
fn walk(files: &[PathBuf], watch: &mut dyn Watch) -> Result<Outcome, VerifyError> {
    for path in files {
        let meta = std::fs::metadata(path).map_err(|source| VerifyError {
            path: path.clone(),
            source,
        })?;
        if meta.len() == 0 {
            return Ok(Outcome::Broken(at(
                path,
                1,
                BreakKind::Truncated,
                "the file is empty; the gateway starts every file with a record".into(),
            )));
        }
    }
    let mut lines = Lines::new(files);
    let Some(first) = lines.next()? else {
        return Err(VerifyError {
            path: PathBuf::new(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "no files given"),
        });
    };
    let starts_mid_chain = match check_first(files, &first) {
        Ok(mid) => mid,
        Err(b) => return Ok(Outcome::Broken(b)),
    };
    if let Some(b) = watch.record(&first) {
        return Ok(Outcome::Broken(b));
    }
    let first_seq = first.link.as_ref().map_or(0, |l| l.seq);
    let mut records = 1u64;
    let mut before: Option<Rec> = None;
    let mut prev = first;
    while let Some(cur) = lines.next()? {
        if let Some(b) = check(files, before.as_ref(), &prev, &cur, &mut lines)? {
            return Ok(Outcome::Broken(watch.chain_break(b, &cur)));
        }
        if let Some(b) = watch.record(&cur) {
            return Ok(Outcome::Broken(b));
        }
        records += 1;
        before = Some(std::mem::replace(&mut prev, cur));
    }
    Ok(Outcome::Intact(Intact {
        files: files.len(),
        records,
        first_seq,
        starts_mid_chain,
        head_seq: prev.link.as_ref().map_or(0, |l| l.seq),
        head: prev.hash,
    }))
}

fn at(path: &Path, line: u64, kind: BreakKind, detail: String) -> Break {
    Break {
        file: path.to_path_buf(),
        line,
        kind,
        detail,
    }
}

fn here(files: &[PathBuf], r: &Rec, kind: BreakKind, detail: String) -> Break {
    at(&files[r.file], r.line, kind, detail)
}

/// Whether `r` cannot be a record at all, and why.
fn unreadable(files: &[PathBuf], r: &Rec) -> Option<Break> {
    if r.overlong {
        return Some(here(
            files,
            r,
            BreakKind::Edited,
            "longer than any record the gateway writes".into(),
        ));
    }
    if r.link.is_some() {
        return None;
    }
    Some(if r.newline {
        here(
            files,
            r,
            BreakKind::Edited,
            "not a valid audit record".into(),
        )
    } else {
        here(
            files,
            r,
            BreakKind::Truncated,
            "the last line is incomplete (no newline, not a whole record)".into(),
        )
    })
}

/// The first line must open a chain (genesis) or continue one from files not given.
fn check_first(files: &[PathBuf], r: &Rec) -> Result<bool, Break> {
    if let Some(b) = unreadable(files, r) {
        return Err(b);
    }
    let Some(link) = &r.link else {
        return Ok(false);
    };
    match link.kind.as_str() {
        "genesis" if link.prev == GENESIS_PREV && link.seq == 0 => Ok(false),
        "genesis" => Err(here(
            files,
            r,
            BreakKind::Edited,
            "a genesis record must have seq 0 and a zero prev".into(),
        )),
        "continue" => Ok(true),
        _ => Err(here(
            files,
            r,
            BreakKind::Deleted,
            format!(
                "the log starts with seq {} instead of a genesis or continue record: the records before it are missing",
                link.seq
            ),
        )),
    }
}

/// Checks `cur` against `prev`; on a break, names it (see the module docs).
fn check(
    files: &[PathBuf],
    before: Option<&Rec>,
    prev: &Rec,
    cur: &Rec,
    lines: &mut Lines<'_>,
) -> Result<Option<Break>, VerifyError> {
    if let Some(b) = unreadable(files, cur) {
        return Ok(Some(b));
    }
    let (Some(p), Some(c)) = (&prev.link, &cur.link) else {
        return Ok(None);
    };
    let expected = p.seq.saturating_add(1);
    if c.kind == "genesis" {
        return Ok(Some(here(
            files,
            cur,
            BreakKind::Restarted,
            "a new chain starts here: nothing links it to the records before".into(),
        )));
    }
    if c.prev == prev.hash {
        if c.seq == expected {
            return Ok(None);
        }
        let detail = format!("seq is {}, the chain expects {expected}", c.seq);
        return Ok(Some(here(files, cur, BreakKind::Edited, detail)));
    }
    let next = lines.peek()?.cloned();
    let next_links = |hash: &Digest| {
        next.as_ref()
            .and_then(|n| n.link.as_ref())
            .is_some_and(|l| l.prev == *hash)
    };
    if c.seq == expected && next_links(&cur.hash) {
        let detail = "changed after it was written: the next record's prev no longer matches it";
        return Ok(Some(here(files, prev, BreakKind::Edited, detail.into())));
    }
    if before.is_some_and(|b| c.prev == b.hash) {
        let detail = "does not belong: the next record continues from the one before it";
        return Ok(Some(here(files, prev, BreakKind::Inserted, detail.into())));
    }
    if next_links(&prev.hash) {
        let b = if c.seq > expected {
            let detail = format!("seq {} belongs later in the chain", c.seq);
            here(files, cur, BreakKind::Reordered, detail)
        } else {
            let detail = "does not belong: the next record continues from the one before it";
            here(files, cur, BreakKind::Inserted, detail.into())
        };
        return Ok(Some(b));
    }
    if c.seq > expected {
        return Ok(Some(gap(files, prev, cur, expected, c.seq - 1, lines)?));
    }
    if c.seq == expected {
        let detail = match next {
            Some(_) => "its prev no longer matches the record before it",
            None => "this record or the one before it was changed",
        };
        return Ok(Some(here(files, cur, BreakKind::Edited, detail.into())));
    }
    let detail = format!("seq {} comes after seq {}", c.seq, p.seq);
    Ok(Some(here(files, cur, BreakKind::Reordered, detail)))
}

/// Records `from..=to` are missing before `cur`: reordered if one of them comes later, else
/// deleted (or, at the start of a file, the end of the file before was truncated).
fn gap(
    files: &[PathBuf],
    prev: &Rec,
    cur: &Rec,
    from: u64,
    to: u64,
    lines: &mut Lines<'_>,
) -> Result<Break, VerifyError> {
    let missing = to - from + 1;
    while let Some(r) = lines.next()? {
        if let Some(seq) = r
            .link
            .as_ref()
            .map(|l| l.seq)
            .filter(|s| (from..=to).contains(s))
        {
            let later = format!("{}:{}", files[r.file].display(), r.line);
            let detail = format!("seq {seq} belongs before this line but appears at {later}");
            return Ok(here(files, cur, BreakKind::Reordered, detail));
        }
    }
    if cur.file != prev.file {
        let detail = format!(
            "the file ends after seq {}, but {} continues from a later record: {missing} record(s) (seq {from}..{to}) missing at its end",
            prev.link.as_ref().map_or(0, |l| l.seq),
            files[cur.file].display()
        );
        return Ok(at(
            &files[prev.file],
            prev.line + 1,
            BreakKind::Truncated,
            detail,
        ));
    }
    let detail = format!("{missing} record(s) (seq {from}..{to}) missing before this line");
    Ok(here(files, cur, BreakKind::Deleted, detail))
}

mod anchors;
mod lines;
mod report;
mod seal;
#[cfg(test)]
mod tests;
