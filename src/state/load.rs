//! Everything a snapshot is built from, loaded and checked together: the configuration and the
//! master key (`config`), the certificates (`tls`) and the client keys (`clients`). The same
//! function serves `serve`, `check` and reloads; it reads files, so a reload runs it off the
//! runtime's threads.

use std::path::Path;
use std::sync::Arc;

use crate::clients::ClientTable;
use crate::config::{self, Env, Problems, Purpose, SecretSource, Settings};
use crate::secret::SecretKey;

/// A complete, validated configuration with its key, certificates and client keys loaded.
#[derive(Debug)]
pub struct Loaded {
    pub settings: Settings,
    pub key: SecretKey,
    pub key_source: SecretSource,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Inject mode with `gateway.clients_file`: the scoped client keys.
    pub clients: Option<ClientTable>,
    /// Things that work but deserve an operator's attention (short key, plaintext, ...).
    pub warnings: Vec<String>,
}

/// Loads and validates everything `serve` needs from `path` and `env`, or every problem found.
pub fn load(path: &Path, env: &Env, purpose: Purpose) -> Result<Loaded, Problems> {
    let mut read = config::read(path, env);
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
    match (read.settings, read.key) {
        (Some(settings), Some((key, key_source))) if read.problems.is_empty() => Ok(Loaded {
            clients,
            tls: tls.filter(|_| settings.tls.is_some()),
            settings,
            key,
            key_source,
            warnings: read.warnings,
        }),
        _ => Err(read.problems),
    }
}
