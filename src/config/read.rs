//! Reading a configuration: the file and the environment into validated [`Settings`] and the
//! master key, every problem collected. Certificates and the clients file are read by `state`,
//! which builds a snapshot from what this returns.

use std::path::{Path, PathBuf};

use super::env::Env;
use super::problems::{Problems, Purpose};
use super::settings::{Settings, TlsFiles};
use super::source::{self, SecretSource};
use super::validate;
use crate::secret::SecretKey;

/// What reading found. `settings` and `key` are present only when they could be validated;
/// `tls_files` and `clients_file` are given whenever they are named, so their files can be checked
/// even when other settings are wrong and one run shows every problem.
#[derive(Debug, Default)]
pub struct Read {
    pub settings: Option<Settings>,
    pub key: Option<(SecretKey, SecretSource)>,
    pub tls_files: Option<TlsFiles>,
    pub clients_file: Option<PathBuf>,
    pub problems: Problems,
    /// Things that work but deserve an operator's attention (short key, plaintext, ...).
    pub warnings: Vec<String>,
}

/// Reads and validates `path` with `env` over it, and resolves the master key. Keys that cannot
/// be read are reported once and left out, and the rest is still validated, so one run shows
/// every problem; a later problem about a key already reported is not repeated.
pub fn read(path: &Path, env: &Env, purpose: Purpose) -> Read {
    let (raw, problems) = super::load::load_lenient(path, env);
    let Some(raw) = raw else {
        return Read {
            problems,
            ..Read::default()
        };
    };
    let mut out = Read::default();
    let (settings, tls_files) =
        validate::validate(&raw, path, env, &mut out.problems, &mut out.warnings);
    let found = (&mut out.problems, &mut out.warnings);
    out.key = source::resolve(&raw, path, env, purpose, found);
    out.problems
        .0
        .retain(|p| !under_any(&p.key, &raw.unreadable));
    let unread = !problems.is_empty();
    out.problems.0.splice(0..0, problems.0);
    out.clients_file = settings.as_ref().and_then(|s| s.clients_file.clone());
    // Settings validated around a left-out key are not the file's settings.
    out.settings = settings.filter(|_| !unread);
    out.tls_files = tls_files;
    out
}

/// True when `key` is one of `keys` or lies under one (`a.b` under `a`, `a[0]` under `a`).
fn under_any(key: &str, keys: &[String]) -> bool {
    keys.iter().any(|k| {
        key.strip_prefix(k.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
    })
}
