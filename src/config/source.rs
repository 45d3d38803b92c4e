//! Where the master key comes from, and reading it safely.
//!
//! Sources in order, first one present wins (present means set, even if empty: an empty value is
//! an error, never "no authentication"):
//! 1. `BLNK_SERVER_SECRET_KEY_FILE` (a path)
//! 2. `gateway.secret_key_file`
//! 3. `$CREDENTIALS_DIRECTORY/blnk_secret_key` (systemd `LoadCredential=`), when that file exists
//! 4. `BLNK_SERVER_SECRET_KEY` (Blnk's own variable)
//! 5. `server.secret_key` in the file (Blnk's own key)
//!
//! A key file holds the key and at most one trailing newline.
//!
//! `gateway.dev_generate_key` (development only) makes `serve` write a new random key to the file
//! `gateway.secret_key_file` names when that file is missing, as `gateway.tls.dev_self_signed`
//! does for the certificate, so a fresh clone starts with one command; `check` writes nothing.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::env::Env;
use super::problems::{Problems, Purpose};
use super::raw::RawConfig;
use crate::limits::MAX_KEY_FILE_BYTES;
use crate::secret::{SecretKey, RECOMMENDED_MIN_KEY_LEN};

pub const SECRET_FILE_ENV: &str = "BLNK_SERVER_SECRET_KEY_FILE";
pub const SECRET_ENV: &str = "BLNK_SERVER_SECRET_KEY";
/// The systemd credential name the gateway looks for.
pub const CREDENTIAL_NAME: &str = "blnk_secret_key";

/// Which source supplied the key: logged at start and after reloads (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    FileFromEnv(PathBuf),
    File(PathBuf),
    /// `gateway.secret_key_file` with `gateway.dev_generate_key`, seen by `check` before the
    /// file exists: `serve` will write it.
    Pending(PathBuf),
    Credential(PathBuf),
    EnvVar,
    ConfigFile,
}

impl SecretSource {
    /// The file that holds the key, if the key comes from a file that can be watched.
    pub fn path(&self) -> Option<&Path> {
        match self {
            SecretSource::FileFromEnv(p)
            | SecretSource::File(p)
            | SecretSource::Pending(p)
            | SecretSource::Credential(p) => Some(p),
            SecretSource::EnvVar | SecretSource::ConfigFile => None,
        }
    }

    /// The key path named in problems about this source.
    fn key(&self) -> String {
        match self {
            SecretSource::FileFromEnv(_) => SECRET_FILE_ENV.into(),
            SecretSource::File(_) | SecretSource::Pending(_) => "gateway.secret_key_file".into(),
            SecretSource::Credential(_) => format!("$CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}"),
            SecretSource::EnvVar => SECRET_ENV.into(),
            SecretSource::ConfigFile => "server.secret_key".into(),
        }
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::FileFromEnv(p) => {
                write!(f, "file {} (from {SECRET_FILE_ENV})", p.display())
            }
            SecretSource::File(p) => write!(f, "file {} (gateway.secret_key_file)", p.display()),
            SecretSource::Pending(p) => write!(
                f,
                "file {} (gateway.secret_key_file, written by serve: gateway.dev_generate_key)",
                p.display()
            ),
            SecretSource::Credential(p) => write!(f, "systemd credential {}", p.display()),
            SecretSource::EnvVar => write!(f, "environment variable {SECRET_ENV}"),
            SecretSource::ConfigFile => f.write_str("server.secret_key in the config file"),
        }
    }
}

/// Picks the source and reads the key, recording any problem. Returns `None` on a problem.
pub(super) fn resolve(
    raw: &RawConfig,
    config_path: &Path,
    env: &Env,
    purpose: Purpose,
    (problems, warnings): (&mut Problems, &mut Vec<String>),
) -> Option<(SecretKey, SecretSource)> {
    let source = choose(raw, config_path, env);
    if let Some(SecretSource::File(path)) = &source {
        if raw.gateway.dev_generate_key && !path.exists() {
            return dev_key(path, purpose, warnings)
                .map_err(|why| problems.push("gateway.dev_generate_key", why))
                .ok();
        }
    }
    let Some(source) = source else {
        problems.push(
            "server.secret_key",
            format!(
                "no master key: set {SECRET_FILE_ENV}, gateway.secret_key_file, a systemd credential named {CREDENTIAL_NAME}, {SECRET_ENV} or server.secret_key"
            ),
        );
        return None;
    };
    let bytes = match &source {
        SecretSource::FileFromEnv(p)
        | SecretSource::File(p)
        | SecretSource::Pending(p)
        | SecretSource::Credential(p) => read_key_file(p).map_err(|m| {
            let hint = key_file_hint(p);
            problems.push(source.key(), format!("{}: {m}{hint}", p.display()))
        }),
        SecretSource::EnvVar => Ok(Zeroizing::new(
            env.get(SECRET_ENV).unwrap_or_default().as_bytes().to_vec(),
        )),
        SecretSource::ConfigFile => Ok(Zeroizing::new(
            raw.server
                .secret_key
                .as_ref()
                .map(|s| s.0.as_bytes().to_vec())
                .unwrap_or_default(),
        )),
    }
    .ok()?;
    match SecretKey::new(bytes.to_vec()) {
        Ok(key) => {
            if let Some(w) = differs_from_blnks(raw, &key, &source) {
                warnings.push(w);
            }
            if key.len() < RECOMMENDED_MIN_KEY_LEN {
                warnings.push(format!(
                    "the master key from {} is {} bytes; use at least {RECOMMENDED_MIN_KEY_LEN} random bytes",
                    source.key(),
                    key.len()
                ));
            }
            Some((key, source))
        }
        Err(e) => {
            problems.push(source.key(), format!("the key {e}"));
            None
        }
    }
}

/// What to do about a key file that cannot be read: where the key comes from when it is missing
/// (Blnk's own key, so both hold the same), who must be able to read it when it is not readable.
fn key_file_hint(p: &Path) -> String {
    let path = p.display();
    if !p.exists() {
        return format!(
            " (put Blnk's master key in it, the value of Blnk's server.secret_key or BLNK_SERVER_SECRET_KEY, readable by the user the gateway runs as; a new key for both: sudo sh -c '(umask 027; openssl rand -hex 32 > {path}) && chgrp blnk-gateway {path}', then give Blnk the same)"
        );
    }
    if std::fs::File::open(p).is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied) {
        return format!(
            " (make it readable by that user's group and no one else: sudo chgrp {} {path} && sudo chmod 0640 {path})",
            super::access::User::current().owner()
        );
    }
    String::new()
}

/// A warning when the file also holds Blnk's own `server.secret_key` and it is not the key the
/// gateway took from a source that comes first: a Blnk reading this file holds the other key and
/// answers every keyed request 401. Fingerprints only, never a key.
fn differs_from_blnks(raw: &RawConfig, key: &SecretKey, source: &SecretSource) -> Option<String> {
    if *source == SecretSource::ConfigFile {
        return None;
    }
    let blnks = raw.server.secret_key.as_ref()?;
    let blnks = SecretKey::new(blnks.0.as_bytes().to_vec()).ok()?;
    if blnks.digest().matches(key.digest()) {
        return None;
    }
    Some(format!(
        "the master key from {} (fingerprint {}) differs from server.secret_key in the same file (fingerprint {}); a Blnk reading this file holds the other key and will refuse the gateway's requests: give both the same key",
        source.key(),
        key.fingerprint(),
        blnks.fingerprint()
    ))
}

/// `gateway.dev_generate_key`, the file missing: at `serve`, writes a new random key (64 hex
/// digits, mode 0600) to `path` and returns it; at `check`, writes nothing and returns a key that
/// stands in for it (`SecretSource::Pending`: no fingerprint is shown for it), so `check` passes
/// what `serve` will start with.
fn dev_key(
    path: &Path,
    purpose: Purpose,
    warnings: &mut Vec<String>,
) -> Result<(SecretKey, SecretSource), String> {
    let mut random = Zeroizing::new([0u8; 32]);
    crate::crypto::fill_random(random.as_mut()).map_err(|_| "no random source".to_string())?;
    let text = Zeroizing::new(hex::encode(random.as_ref()));
    let key = SecretKey::new(text.as_bytes().to_vec()).map_err(|e| format!("the key {e}"))?;
    if purpose == Purpose::Check {
        warnings.push(format!(
            "gateway.dev_generate_key: {} does not exist; serve writes a new random development key there",
            path.display()
        ));
        return Ok((key, SecretSource::Pending(path.to_path_buf())));
    }
    let line = Zeroizing::new(format!("{}\n", text.as_str()));
    write_new_key(path, line.as_bytes()).map_err(|e| {
        let why = super::problems::io_reason(&e);
        format!("cannot write {}: {why}", path.display())
    })?;
    warnings.push(format!(
        "gateway.dev_generate_key: wrote a new random development key to {}; never use this in production",
        path.display()
    ));
    Ok((key, SecretSource::File(path.to_path_buf())))
}

/// Creates `path` with mode 0600, never replacing a file that appeared meanwhile.
fn write_new_key(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn choose(raw: &RawConfig, config_path: &Path, env: &Env) -> Option<SecretSource> {
    let base = config_path.parent().unwrap_or(Path::new("."));
    if let Some(p) = env.get(SECRET_FILE_ENV) {
        return Some(SecretSource::FileFromEnv(PathBuf::from(p)));
    }
    if let Some(p) = &raw.gateway.secret_key_file {
        return Some(SecretSource::File(base.join(p)));
    }
    if let Some(dir) = env.get("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(CREDENTIAL_NAME);
        if p.exists() {
            return Some(SecretSource::Credential(p));
        }
    }
    if env.get(SECRET_ENV).is_some() {
        return Some(SecretSource::EnvVar);
    }
    raw.server
        .secret_key
        .as_ref()
        .map(|_| SecretSource::ConfigFile)
}

/// Reads a key file: bounded in size, one trailing newline (LF or CRLF) removed.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    if path.as_os_str().is_empty() {
        return Err("the path is empty".into());
    }
    let file = std::fs::File::open(path).map_err(|e| super::problems::io_reason(&e))?;
    let mut buf = Zeroizing::new(Vec::with_capacity(128));
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| super::problems::io_reason(&e))?;
    if buf.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "larger than {MAX_KEY_FILE_BYTES} bytes, not a key file"
        ));
    }
    let len = buf.len();
    if buf.ends_with(b"\r\n") {
        buf.truncate(len - 2);
    } else if buf.ends_with(b"\n") {
        buf.truncate(len - 1);
    }
    Ok(buf)
}
