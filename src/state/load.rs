//! Everything a snapshot is built from, loaded and checked together: the configuration and the
//! master key (`config`), the certificates (`tls`) and the client keys (`clients`). The same
//! function serves `serve`, `check` and reloads; it reads files, so a reload runs it off the
//! runtime's threads.

use std::path::Path;
use std::sync::Arc;

use crate::clients::ClientTable;
use crate::config::{self, AuditWriter, Env, Problems, Purpose, SecretSource, Settings};
use crate::secret::SecretKey;
use crate::signing::{self, SigningKey};
use crate::x509::CertFacts;

/// A complete, validated configuration with its key, certificates and client keys loaded.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub key: SecretKey,
    pub key_source: SecretSource,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The leaf certificate's fingerprint and expiry, with `tls`.
    pub cert: Option<CertFacts>,
    /// Inject mode with `gateway.clients_file`: the scoped client keys.
    pub clients: Option<ClientTable>,
    /// Things that work but deserve an operator's attention (short key, plaintext, ...).
    pub warnings: Vec<String>,
    /// The audit log's signing key, when `gateway.audit.signing_key_file` names one.
    pub audit_key: Option<SigningKey>,
}

/// Loads and validates everything `serve` needs from `path` and `env`, or every problem found.
pub fn load(path: &Path, env: &Env, purpose: Purpose) -> Result<Loaded, Problems> {
    let mut read = config::read(path, env, purpose);
    // Certificates and client keys are checked even when other settings are wrong, so one run
    // shows every problem.
    let tls = read
        .tls_files
        .as_ref()
        .and_then(|files| crate::tls::load(files, purpose, &mut read.problems, &mut read.warnings));
    let clients = read
        .clients_file
        .as_deref()
        .and_then(|path| crate::clients::file::load(path, &mut read.problems));
    let audit_key = read
        .settings
        .as_ref()
        .and_then(|s| audit_key(&s.process.audit, &mut read.problems, &mut read.warnings));
    match (read.settings, read.key) {
        (Some(settings), Some((key, key_source))) if read.problems.is_empty() => Ok(Loaded {
            clients,
            cert: tls
                .as_ref()
                .filter(|_| settings.tls.is_some())
                .map(|t| t.1.clone()),
            tls: tls.filter(|_| settings.tls.is_some()).map(|t| t.0),
            settings,
            key,
            key_source,
            warnings: read.warnings,
            audit_key,
        }),
        _ => Err(read.problems),
    }
}

/// Reads the audit signing key, if one is configured; a problem names the file, never its
/// content.
fn audit_key(
    audit: &AuditWriter,
    problems: &mut Problems,
    warnings: &mut Vec<String>,
) -> Option<SigningKey> {
    let path = audit
        .signing_key_file
        .as_deref()
        .filter(|_| audit.enabled)?;
    let key = signing::read_signing_key(path)
        .map_err(|why| {
            let problem = format!("{}: {why}", path.display());
            problems.push("gateway.audit.signing_key_file", problem);
        })
        .ok()?;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        if mode & 0o077 != 0 {
            warnings.push(format!(
                "gateway.audit.signing_key_file {} is readable by other users (mode {mode:04o}); make it 0600",
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = warnings;
    Some(key)
}
