//! Validation of `gateway.idempotency` into [`IdempotencyStore`] (whether there is a store and
//! where: read once at start) and [`IdempotencyPolicy`] (what each request does: follows a
//! reload).
//!
//! The store's file defaults to `$STATE_DIRECTORY/idempotency.redb` when systemd provides a state
//! directory (`StateDirectory=` in the unit), else `idempotency.redb` next to the configuration
//! file. Its directory must exist, and the user checking must be able to open the file for
//! reading and writing or create it there, as `serve` will; the file is created at `serve`, never
//! by `check`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::env::Env;
use super::problems::Problems;
use super::raw::RawIdempotency;
use crate::limits;

const KEY: &str = "gateway.idempotency";

/// File name of the embedded store in the state directory.
pub const STORE_FILE: &str = "idempotency.redb";

/// Whether retries are made safe, and where the keys are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdempotencyStore {
    pub enabled: bool,
    pub path: PathBuf,
    pub max_entries: u64,
    /// How long a key is remembered after its entry is gone (`seen`).
    #[serde(with = "humantime_serde")]
    pub remember: Duration,
}

/// What each request does about idempotency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdempotencyPolicy {
    /// How long a key is remembered.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// A transaction's `reference` counts as its key when no `Idempotency-Key` is sent.
    pub from_reference: bool,
    /// Largest answer body kept for replay.
    pub max_answer_bytes: usize,
    /// After an unknown outcome, how long before a reference Blnk does not know is taken to mean
    /// the request never took effect.
    #[serde(with = "humantime_serde")]
    pub unknown_settle: Duration,
}

pub(super) fn validate(
    raw: &RawIdempotency,
    (base, cluster): (&Path, bool),
    env: &Env,
    problems: &mut Problems,
) -> (IdempotencyStore, IdempotencyPolicy) {
    (
        store(raw, (base, cluster), env, problems),
        policy(raw, problems),
    )
}

/// Whether there is a store and where; its directory must exist when it is enabled (and used:
/// in cluster mode the keys are in Redis).
fn store(
    raw: &RawIdempotency,
    (base, cluster): (&Path, bool),
    env: &Env,
    problems: &mut Problems,
) -> IdempotencyStore {
    let enabled = raw.enabled.unwrap_or(true);
    let path = match (&raw.path, env.get("STATE_DIRECTORY")) {
        (Some(p), _) => base.join(p),
        // systemd may pass several directories, colon-separated: the first is the unit's own.
        (None, Some(dirs)) if !dirs.is_empty() => {
            Path::new(dirs.split(':').next().unwrap_or(dirs)).join(STORE_FILE)
        }
        (None, _) => base.join(STORE_FILE),
    };
    if enabled && !cluster {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if path.is_dir() {
            problems.push(
                format!("{KEY}.path"),
                format!("{} is a directory; name a file", path.display()),
            );
        } else if !dir.is_dir() {
            problems.push(
                format!("{KEY}.path"),
                super::problems::missing_dir(dir, "StateDirectory"),
            );
        } else if let Some(why) = super::access::writable_file(&path) {
            problems.push(format!("{KEY}.path"), why);
        }
    }
    let max_entries = match raw.max_entries {
        Some(0) => {
            problems.push(format!("{KEY}.max_entries"), "must be greater than zero");
            limits::IDEMPOTENCY_MAX_ENTRIES
        }
        Some(n) => n,
        None => limits::IDEMPOTENCY_MAX_ENTRIES,
    };
    let remember = raw.remember.unwrap_or(limits::IDEMPOTENCY_REMEMBER);
    if remember.is_zero() || remember > limits::IDEMPOTENCY_MAX_REMEMBER {
        problems.push(
            format!("{KEY}.remember"),
            format!(
                "must be greater than zero and at most {}",
                humantime::format_duration(limits::IDEMPOTENCY_MAX_REMEMBER)
            ),
        );
    }
    IdempotencyStore {
        enabled,
        path,
        max_entries,
        remember,
    }
}

fn policy(raw: &RawIdempotency, problems: &mut Problems) -> IdempotencyPolicy {
    let ttl = match raw.ttl {
        Some(t) if t.is_zero() || t > limits::IDEMPOTENCY_MAX_TTL => {
            problems.push(
                format!("{KEY}.ttl"),
                format!(
                    "must be greater than zero and at most {}",
                    humantime::format_duration(limits::IDEMPOTENCY_MAX_TTL)
                ),
            );
            limits::IDEMPOTENCY_TTL
        }
        Some(t) => t,
        None => limits::IDEMPOTENCY_TTL,
    };
    let max_answer_bytes = match raw.max_answer_bytes {
        Some(n) if n > limits::IDEMPOTENCY_MAX_ANSWER_BYTES_LIMIT => {
            problems.push(
                format!("{KEY}.max_answer_bytes"),
                format!(
                    "must be at most {}",
                    limits::IDEMPOTENCY_MAX_ANSWER_BYTES_LIMIT
                ),
            );
            limits::IDEMPOTENCY_MAX_ANSWER_BYTES
        }
        Some(n) => n,
        None => limits::IDEMPOTENCY_MAX_ANSWER_BYTES,
    };
    let unknown_settle = raw
        .unknown_settle
        .unwrap_or(limits::IDEMPOTENCY_UNKNOWN_SETTLE);
    if unknown_settle >= ttl {
        problems.push(
            format!("{KEY}.unknown_settle"),
            format!("must be shorter than {KEY}.ttl"),
        );
    }
    IdempotencyPolicy {
        ttl,
        from_reference: raw.from_reference.unwrap_or(true),
        max_answer_bytes,
        unknown_settle,
    }
}

/// A request holds its key for at most connect + response + reading the answer; past
/// `IDEMPOTENCY_IN_FLIGHT_MAX` a retry takes it for lost. The deadlines must fit in it.
pub(super) fn check_deadlines(
    store: &IdempotencyStore,
    limits: &limits::Limits,
    problems: &mut Problems,
) {
    let longest = limits.upstream_connect_timeout + limits.upstream_response_timeout * 2;
    if store.enabled && longest >= limits::IDEMPOTENCY_IN_FLIGHT_MAX {
        problems.push(
            "gateway.limits.upstream_response_timeout",
            format!(
                "with gateway.idempotency enabled, upstream_connect_timeout + 2 x upstream_response_timeout must be under {}",
                humantime::format_duration(limits::IDEMPOTENCY_IN_FLIGHT_MAX)
            ),
        );
    }
}
