//! Validation of `gateway.audit` into [`AuditWriter`] (the file and its durability, read once at
//! start) and [`AuditPolicy`] (what each request does, which follows a reload).
//!
//! The audit log is on unless `enabled: false` says otherwise: the gateway's promise is a record
//! of every request, so leaving out the section must not silently drop it. Without a `path` the
//! records go to standard output (journald under systemd), with a warning that names the choice.
//! A path is checked here (its directory exists, it is not a directory) but never created: that
//! is the writer's job, at `serve`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::problems::Problems;
use super::raw::{Fsync, OnFailure, RawAudit};
use crate::limits;

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum AuditTarget {
    Stdout,
    File(PathBuf),
}

impl std::fmt::Display for AuditTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditTarget::Stdout => f.write_str("stdout"),
            AuditTarget::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl From<AuditTarget> for String {
    fn from(t: AuditTarget) -> String {
        t.to_string()
    }
}

/// The audit log's file and durability: read once, when the writer starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditWriter {
    pub enabled: bool,
    #[serde(rename = "path")]
    pub target: AuditTarget,
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    pub flush_records: usize,
    pub fsync: Fsync,
    #[serde(with = "humantime_serde")]
    pub fsync_interval: Duration,
    pub max_pending_records: usize,
    /// Signed checkpoints (docs/audit.md): the key that signs them; none for no checkpoints.
    /// The file is read at start and on every reload; its path is read once.
    pub signing_key_file: Option<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    pub checkpoint_records: u64,
    /// Forward-secure epochs: the gateway replaces the key file with a fresh key this often.
    #[serde(with = "humantime_serde")]
    pub key_epoch: Option<Duration>,
}

/// What each request does about the audit log: follows a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct AuditPolicy {
    pub include_query: bool,
    pub on_failure: OnFailure,
}

impl Default for AuditWriter {
    fn default() -> Self {
        AuditWriter {
            enabled: true,
            target: AuditTarget::Stdout,
            flush_interval: limits::AUDIT_FLUSH_INTERVAL,
            flush_records: limits::AUDIT_FLUSH_RECORDS,
            fsync: Fsync::default(),
            fsync_interval: limits::AUDIT_FSYNC_INTERVAL,
            max_pending_records: limits::AUDIT_MAX_PENDING_RECORDS,
            signing_key_file: None,
            checkpoint_interval: limits::AUDIT_CHECKPOINT_INTERVAL,
            checkpoint_records: limits::AUDIT_CHECKPOINT_RECORDS,
            key_epoch: None,
        }
    }
}

use crate::limits::{
    AUDIT_MAX_CHECKPOINT_INTERVAL as MAX_CHECKPOINT_INTERVAL,
    AUDIT_MAX_CHECKPOINT_RECORDS as MAX_CHECKPOINT_RECORDS, AUDIT_MAX_INTERVAL as MAX_INTERVAL,
    AUDIT_MAX_PENDING_LIMIT as MAX_PENDING_LIMIT,
};

pub(super) fn validate(
    raw: &RawAudit,
    base: &Path,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> (AuditWriter, AuditPolicy) {
    let d = AuditWriter::default();
    let enabled = raw.enabled.unwrap_or(true);
    if !enabled {
        warnings.push("gateway.audit.enabled is false: requests are not recorded".into());
    }
    let target = match raw.path.as_deref() {
        None => {
            if enabled {
                warnings.push(
                    "gateway.audit.path is not set: audit records go to standard output (set \"-\" to say so, or a file)".into(),
                );
            }
            AuditTarget::Stdout
        }
        Some("-") => AuditTarget::Stdout,
        Some(p) => {
            let path = base.join(p);
            if enabled {
                check_path(&path, problems);
            }
            AuditTarget::File(path)
        }
    };
    let flush_interval = interval(
        "flush_interval",
        raw.flush_interval,
        d.flush_interval,
        problems,
    );
    let fsync_interval = interval(
        "fsync_interval",
        raw.fsync_interval,
        d.fsync_interval,
        problems,
    );
    let max_pending_records = match raw.max_pending_records {
        Some(n) if !(1..=MAX_PENDING_LIMIT).contains(&n) => {
            problems.push(
                "gateway.audit.max_pending_records",
                format!("must be between 1 and {MAX_PENDING_LIMIT}"),
            );
            d.max_pending_records
        }
        Some(n) => n,
        None => d.max_pending_records,
    };
    let flush_records = match raw.flush_records {
        Some(n) if n == 0 || n > max_pending_records => {
            problems.push(
                "gateway.audit.flush_records",
                format!("must be between 1 and max_pending_records ({max_pending_records})"),
            );
            d.flush_records.min(max_pending_records)
        }
        Some(n) => n,
        None => d.flush_records.min(max_pending_records),
    };
    let seal = seal(raw, base, problems);
    let writer = AuditWriter {
        enabled,
        target,
        flush_interval,
        flush_records,
        fsync: raw.fsync.unwrap_or_default(),
        fsync_interval,
        max_pending_records,
        ..seal
    };
    let policy = AuditPolicy {
        include_query: raw.include_query,
        on_failure: raw.on_failure.unwrap_or_default(),
    };
    (writer, policy)
}

/// An interval greater than zero and at most `MAX_INTERVAL`, else the default and a problem.
fn interval(
    name: &str,
    v: Option<Duration>,
    default: Duration,
    problems: &mut Problems,
) -> Duration {
    match v {
        Some(v) if v.is_zero() || v > MAX_INTERVAL => {
            problems.push(
                format!("gateway.audit.{name}"),
                format!(
                    "must be greater than zero and at most {}s",
                    MAX_INTERVAL.as_secs()
                ),
            );
            default
        }
        Some(v) => v,
        None => default,
    }
}

/// The checkpoint settings (in an otherwise default `AuditWriter`): every key but the key file
/// needs the key file. The key itself is read with the rest of the state (`state::load`).
fn seal(raw: &RawAudit, base: &Path, problems: &mut Problems) -> AuditWriter {
    let d = AuditWriter::default();
    let key_file = raw.signing_key_file.as_ref().map(|p| base.join(p));
    let interval = match raw.checkpoint_interval {
        Some(v) if v.is_zero() || v > MAX_CHECKPOINT_INTERVAL => {
            let max = MAX_CHECKPOINT_INTERVAL.as_secs();
            let why = format!("must be greater than zero and at most {max}s");
            problems.push("gateway.audit.checkpoint_interval", why);
            d.checkpoint_interval
        }
        v => v.unwrap_or(d.checkpoint_interval),
    };
    let records = match raw.checkpoint_records {
        Some(n) if !(1..=MAX_CHECKPOINT_RECORDS).contains(&n) => {
            let why = format!("must be between 1 and {MAX_CHECKPOINT_RECORDS}");
            problems.push("gateway.audit.checkpoint_records", why);
            d.checkpoint_records
        }
        n => n.unwrap_or(d.checkpoint_records),
    };
    let epoch = raw.key_epoch.filter(|e| {
        let ok = (limits::AUDIT_MIN_KEY_EPOCH..=limits::AUDIT_MAX_KEY_EPOCH).contains(e);
        if !ok {
            let max = limits::AUDIT_MAX_KEY_EPOCH.as_secs() / 86_400;
            let why = format!("must be between 1s and {max} days");
            problems.push("gateway.audit.key_epoch", why);
        }
        ok
    });
    // A new epoch's key replaces the file (a new file renamed over it), so the gateway's user
    // must be able to write the key's directory, not only read the key.
    if let (Some(file), Some(_)) = (&key_file, epoch) {
        let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(why) = super::access::writable_dir(dir.unwrap_or(Path::new("."))) {
            problems.push("gateway.audit.key_epoch", why);
        }
    }
    if key_file.is_none() {
        let set = [
            ("checkpoint_interval", raw.checkpoint_interval.is_some()),
            ("checkpoint_records", raw.checkpoint_records.is_some()),
            ("key_epoch", raw.key_epoch.is_some()),
        ];
        for (name, _) in set.iter().filter(|(_, set)| *set) {
            let why = "checkpoints are signed: set gateway.audit.signing_key_file too";
            problems.push(format!("gateway.audit.{name}"), why);
        }
    }
    AuditWriter {
        signing_key_file: key_file,
        checkpoint_interval: interval,
        checkpoint_records: records,
        key_epoch: epoch,
        ..d
    }
}

fn check_path(path: &Path, problems: &mut Problems) {
    let key = "gateway.audit.path";
    if path.is_dir() {
        problems.push(
            key,
            format!("{} is a directory; name a file", path.display()),
        );
        return;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        problems.push(key, super::problems::missing_dir(dir, "LogsDirectory"));
    } else if let Some(why) = super::access::writable_file(path) {
        problems.push(key, why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: RawAudit) -> ((AuditWriter, AuditPolicy), Problems, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let mut problems = Problems::default();
        let mut warnings = Vec::new();
        let s = validate(&raw, dir.path(), &mut problems, &mut warnings);
        (s, problems, warnings)
    }

    #[test]
    fn on_by_default_to_stdout_with_a_warning() {
        let (s, problems, warnings) = run(RawAudit::default());
        assert!(problems.is_empty());
        assert_eq!(s, (AuditWriter::default(), AuditPolicy::default()));
        assert!(warnings.iter().any(|w| w.contains("standard output")));
    }

    #[test]
    fn every_problem_is_named() {
        let raw = RawAudit {
            path: Some("missing-dir/audit.log".into()),
            flush_interval: Some(Duration::ZERO),
            flush_records: Some(10),
            max_pending_records: Some(5),
            ..RawAudit::default()
        };
        let (_, problems, _) = run(raw);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "gateway.audit.path",
                "gateway.audit.flush_interval",
                "gateway.audit.flush_records"
            ]
        );
    }

    #[test]
    fn checkpoint_settings_are_checked_by_name() {
        let raw = RawAudit {
            checkpoint_interval: Some(Duration::ZERO),
            checkpoint_records: Some(0),
            key_epoch: Some(Duration::from_millis(10)),
            ..RawAudit::default()
        };
        let (_, problems, _) = run(raw);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "gateway.audit.checkpoint_interval",
                "gateway.audit.checkpoint_records",
                "gateway.audit.key_epoch",
                "gateway.audit.checkpoint_interval",
                "gateway.audit.checkpoint_records",
                "gateway.audit.key_epoch",
            ]
        );
        assert!(problems
            .iter()
            .last()
            .unwrap()
            .message
            .contains("signing_key_file"));
        let raw = RawAudit {
            signing_key_file: Some("audit.key".into()),
            checkpoint_records: Some(5),
            key_epoch: Some(Duration::from_secs(3600)),
            ..RawAudit::default()
        };
        let ((w, _), problems, _) = run(raw);
        assert!(problems.is_empty(), "{problems}");
        assert!(w.signing_key_file.unwrap().ends_with("audit.key"));
        assert_eq!(
            (w.checkpoint_records, w.checkpoint_interval, w.key_epoch),
            (5, Duration::from_secs(60), Some(Duration::from_secs(3600)))
        );
    }

    #[test]
    fn a_directory_is_not_a_log_file() {
        let raw = RawAudit {
            path: Some(".".into()),
            ..RawAudit::default()
        };
        let (_, problems, _) = run(raw);
        assert!(problems
            .iter()
            .any(|p| p.message.contains("is a directory")));
    }
}
