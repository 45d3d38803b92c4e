//! What `audit verify` finds: an intact chain, or the first break, where and how; and with
//! public keys, what the checkpoints seal.

use std::fmt;
use std::path::PathBuf;

use crate::audit::chain::{self, Digest};
use crate::signing::KeyId;

/// How the chain broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    Edited,
    Deleted,
    Inserted,
    Reordered,
    Truncated,
    Restarted,
    /// A checkpoint does not match the chain as it is now, or the operational log's copy of a
    /// checkpoint differs from the file's: records were rewritten after it was signed.
    Rewritten,
    /// A checkpoint signed by a key that is neither given nor certified, or not well formed.
    Forged,
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakKind::Edited => "edited",
            BreakKind::Deleted => "deleted",
            BreakKind::Inserted => "inserted",
            BreakKind::Reordered => "reordered",
            BreakKind::Truncated => "truncated",
            BreakKind::Restarted => "restarted",
            BreakKind::Rewritten => "rewritten",
            BreakKind::Forged => "forged",
        })
    }
}

/// The first break: where, how, and in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub file: PathBuf,
    pub line: u64,
    pub kind: BreakKind,
    pub detail: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (file, line, kind, detail) = (self.file.display(), self.line, self.kind, &self.detail);
        write!(f, "{file}:{line}: {kind}: {detail}")
    }
}

/// An intact chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    pub files: usize,
    pub records: u64,
    pub first_seq: u64,
    /// The first record is a continue record: the files before it were not given.
    pub starts_mid_chain: bool,
    pub head_seq: u64,
    pub head: Digest,
}

impl fmt::Display for Intact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "intact: {} records in {} file(s), seq {}..{}, head sha256 {}",
            self.records,
            self.files,
            self.first_seq,
            self.head_seq,
            chain::hex(&self.head)
        )?;
        if self.starts_mid_chain {
            write!(
                f,
                " (starts with a continue record: the files before it were not checked)"
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Intact(Intact),
    Broken(Break),
}

/// The newest checkpoint that verified, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastCheckpoint {
    pub file: PathBuf,
    pub line: u64,
    pub seq: u64,
    pub time: String,
}

/// What the checkpoints of an intact chain seal, and what the anchors said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SealReport {
    /// Checkpoints whose signature verified.
    pub checkpoints: u64,
    pub last: Option<LastCheckpoint>,
    /// The keys that signed them.
    pub signers: Vec<KeyId>,
    /// Records after the last checkpoint (all of them when there is none).
    pub unsealed: u64,
    /// The newest `time` among those records.
    pub newest_unsealed: Option<String>,
    pub anchors: Option<AnchorSummary>,
}

/// How the operational log's checkpoints compared with the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AnchorSummary {
    pub read: usize,
    /// Found in the files, identical.
    pub matched: u64,
    /// Older than the first record given (earlier files or an earlier chain): not compared.
    pub older: u64,
    /// Their signature does not verify with the keys known: ignored.
    pub unverified: u64,
}

/// The outcome of a verification with public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sealed {
    Intact(Intact, SealReport),
    Broken(Break),
}

/// How long ago an RFC 3339 time was, to the second; empty if it cannot be read.
fn age(time: &str) -> String {
    humantime::parse_rfc3339(time)
        .ok()
        .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
        .map(|d| {
            let whole = std::time::Duration::from_secs(d.as_secs());
            format!(", {} ago", humantime::format_duration(whole))
        })
        .unwrap_or_default()
}

impl fmt::Display for SealReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.last {
            Some(l) => {
                let keys: Vec<&str> = self.signers.iter().map(KeyId::as_str).collect();
                writeln!(
                    f,
                    "sealed: up to checkpoint seq {} at {}:{} ({}{}); {} checkpoint(s) verified, signed by {}",
                    l.seq,
                    l.file.display(),
                    l.line,
                    l.time,
                    age(&l.time),
                    self.checkpoints,
                    keys.join(", ")
                )?;
            }
            None => writeln!(f, "sealed: nothing: the files hold no checkpoint")?,
        }
        match (self.unsealed, &self.newest_unsealed) {
            (0, _) => write!(f, "unsealed: none")?,
            (n, newest) => write!(
                f,
                "unsealed: {n} record(s) after the last checkpoint{}: a crash leaves such a tail, but nothing proves these records were not changed or cut",
                newest.as_deref().map(|t| format!(", the newest written {t}")).unwrap_or_default()
            )?,
        }
        if let Some(a) = &self.anchors {
            write!(
                f,
                "\nanchors: {} checkpoint(s) read from the operational log: {} found in the files, {} older than the files, {} not verifiable (ignored)",
                a.read, a.matched, a.older, a.unverified
            )?;
        }
        Ok(())
    }
}
