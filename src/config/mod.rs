//! Configuration: read (`load`), check and convert (`validate`, and `audit` for
//! `gateway.audit`), and find the master key (`source`).
//!
//! The entry point is [`load`], used alike by `serve`, `check` and reloads: it returns either a
//! complete [`Loaded`] (settings, key, TLS configuration) or every [`Problem`] found, each naming
//! the key path or file it concerns and never a secret's value.

mod audit;
mod load;
mod rate_limit;
mod raw;
mod source;
mod validate;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use audit::{AuditSettings, AuditTarget};
pub use load::GATEWAY_ENV_PREFIX;
pub use raw::{Fsync, Mode, OnFailure};
pub use source::{SecretSource, SECRET_ENV, SECRET_FILE_ENV};
pub use validate::{Rotation, Settings, TlsFiles, Upstream};

use crate::secret::SecretKey;

/// The process environment as seen at load time: a list of (name, value) pairs.
#[derive(Clone, Default)]
pub struct Env(Vec<(String, String)>);

impl Env {
    /// The real process environment (variables that are not valid UTF-8 are skipped).
    pub fn from_process() -> Self {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Env({} variables)", self.0.len())
    }
}

/// One thing wrong with the configuration: the key path (or file) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Every problem found in one load, in the order found.
#[derive(Debug, Default, Clone)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}", p.key, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// What `load` is for: `check` must not create files, `serve` may create a development
/// certificate when the configuration explicitly asks for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Check,
    Serve,
}

/// A complete, validated configuration with its key and TLS material loaded.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub key: SecretKey,
    pub key_source: SecretSource,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Inject mode with `gateway.clients_file`: the scoped client keys.
    pub clients: Option<crate::clients::ClientTable>,
    /// Things that work but deserve an operator's attention (short key, plaintext, ...).
    pub warnings: Vec<String>,
}

/// Loads and validates everything `serve` needs from `path` and `env`.
pub fn load(path: &Path, env: &Env, purpose: Purpose) -> Result<Loaded, Problems> {
    let raw = load::load_raw(path, env)?;
    let mut problems = Problems::default();
    let mut warnings = Vec::new();
    let (settings, tls_files) = validate::validate(&raw, path, &mut problems, &mut warnings);
    let key = source::resolve(&raw, path, env, &mut problems, &mut warnings);
    // Certificates are checked even when other settings are wrong, so one run shows every problem.
    let tls =
        tls_files.and_then(|files| crate::tls::load(&files, purpose, &mut problems, &mut warnings));
    let clients = settings
        .as_ref()
        .and_then(|s| s.clients_file.as_deref())
        .and_then(|path| crate::clients::file::load(path, &mut problems));
    match (settings, key) {
        (Some(settings), Some((key, key_source))) if problems.is_empty() => Ok(Loaded {
            clients,
            tls: tls.filter(|_| settings.tls.is_some()),
            settings,
            key,
            key_source,
            warnings,
        }),
        _ => Err(problems),
    }
}

/// A short reason for an I/O error, without the OS error number noise.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
