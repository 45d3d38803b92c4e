//! The clients file: its JSON shape, validation into a [`ClientTable`], new keys, atomic edits.
//!
//! ```json
//! {"clients": [{"id": "3f9a0c1b2d4e", "name": "payments", "hash": "sha256:…",
//!   "scopes": ["transactions:write", "ledgers:read"], "expires_at": "2027-01-01T00:00:00Z",
//!   "created_at": "…", "rate_limit": {"per_second": 20, "burst": 40},
//!   "allow_networks": ["10.0.0.0/8"], "client_cert_sha256": "…", "disabled": false}]}
//! ```
//! The file never holds a key. Edits by the CLI write a temporary file next to it and rename it
//! over the old one, so the gateway's reload never reads a half-written file.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::scope::Scope;
use super::table::{Client, ClientRate, ClientTable, ID_LEN, KEY_PREFIX, SECRET_LEN};
use crate::config::Problems;
use crate::conn::CertHash;
use crate::limits::{MAX_CLIENTS, MAX_CLIENTS_FILE_BYTES};
use crate::secret::KeyDigest;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsFile {
    #[serde(default)]
    pub clients: Vec<RawClient>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub id: String,
    pub name: String,
    pub hash: String,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<ClientRate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_networks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_sha256: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// Reads a clients file as it is, for the CLI. A missing file is an empty one.
pub fn read(path: &Path) -> Result<ClientsFile, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ClientsFile::default()),
        Err(e) => {
            return Err(format!(
                "{}: {}",
                path.display(),
                crate::config::io_reason(&e)
            ))
        }
    };
    if meta.len() > MAX_CLIENTS_FILE_BYTES {
        return Err(format!(
            "{}: larger than {MAX_CLIENTS_FILE_BYTES} bytes",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {}", path.display(), crate::config::io_reason(&e)))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads and validates the clients file for the gateway; every problem names its entry.
pub fn load(path: &Path, problems: &mut Problems) -> Option<ClientTable> {
    if !path.exists() {
        let msg = format!(
            "{}: file not found (create it with `blnk-gateway keys new`)",
            path.display()
        );
        problems.push("gateway.clients_file", msg);
        return None;
    }
    let file = read(path)
        .map_err(|e| problems.push("gateway.clients_file", e))
        .ok()?;
    check(&file, &path.display().to_string(), problems)
}

/// Validates every entry of `file`, naming each problem by `label` and entry.
pub fn check(file: &ClientsFile, label: &str, problems: &mut Problems) -> Option<ClientTable> {
    if file.clients.len() > MAX_CLIENTS {
        problems.push(label, format!("more than {MAX_CLIENTS} clients"));
        return None;
    }
    let before = problems.0.len();
    let mut clients = Vec::with_capacity(file.clients.len());
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in file.clients.iter().enumerate() {
        let at = format!("{label}: clients[{i}] ({})", raw.id);
        if !seen.insert(raw.id.clone()) {
            problems.push(&at, "duplicate id");
        }
        match validate(raw) {
            Ok(c) => clients.push(c),
            Err(errs) => errs.into_iter().for_each(|e| problems.push(&at, e)),
        }
    }
    (problems.0.len() == before).then(|| ClientTable::new(clients))
}

fn validate(raw: &RawClient) -> Result<Client, Vec<String>> {
    let mut errs = Vec::new();
    let is_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !is_hex(&raw.id, ID_LEN) {
        errs.push(format!("id must be {ID_LEN} lowercase hex digits"));
    }
    let mut bytes = [0u8; 32];
    let digest = match raw
        .hash
        .strip_prefix("sha256:")
        .filter(|h| is_hex(h, 64))
        .and_then(|h| hex::decode_to_slice(h, &mut bytes).ok())
    {
        Some(()) => Some(KeyDigest::from_bytes(bytes)),
        None => {
            errs.push("hash must be sha256:<64 lowercase hex digits>".into());
            None
        }
    };
    let mut scopes = Vec::new();
    for s in &raw.scopes {
        match Scope::parse(s) {
            Ok(s) => scopes.push(s),
            Err(e) => errs.push(format!("scopes: {e}")),
        }
    }
    let expires_at = raw.expires_at.as_deref().and_then(|t| match parse_time(t) {
        Ok(t) => Some(t),
        Err(e) => {
            errs.push(format!("expires_at: {e}"));
            None
        }
    });
    let allow_networks = networks(&raw.allow_networks, &mut errs);
    let client_cert = raw.client_cert_sha256.as_deref().and_then(|fp| {
        let parsed = is_hex(fp, 64).then(|| CertHash::parse(fp)).flatten();
        if parsed.is_none() {
            errs.push("client_cert_sha256 must be 64 lowercase hex digits".into());
        }
        parsed
    });
    if raw
        .rate_limit
        .is_some_and(|r| crate::config::quota(f64::from(r.per_second), r.burst).is_none())
    {
        errs.push(format!(
            "rate_limit: per_second must be between 1 and {} and burst between 1 and {}",
            crate::limits::RATE_LIMIT_MAX_PER_SECOND,
            crate::limits::RATE_LIMIT_MAX_BURST
        ));
    }
    match digest {
        Some(digest) if errs.is_empty() => Ok(Client {
            id: raw.id.clone(),
            name: raw.name.clone(),
            digest,
            scopes,
            expires_at,
            disabled: raw.disabled,
            allow_networks,
            client_cert,
            rate_limit: raw.rate_limit,
            last_used: Arc::new(AtomicU64::new(0)),
        }),
        _ => Err(errs),
    }
}

/// The networks a key is bound to; each one that is not an address or CIDR network is an error.
fn networks(items: &[String], errs: &mut Vec<String>) -> Vec<IpNet> {
    let mut out = Vec::with_capacity(items.len());
    for n in items {
        match n
            .parse::<IpNet>()
            .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
        {
            Ok(net) => out.push(net.trunc()),
            Err(_) => errs.push(format!(
                "allow_networks: {n:?} is not an address or CIDR network"
            )),
        }
    }
    out
}

/// An RFC 3339 time, as seconds since the Unix epoch.
pub fn parse_time(t: &str) -> Result<u64, String> {
    let st = humantime::parse_rfc3339_weak(t)
        .map_err(|e| format!("{t:?} is not an RFC 3339 time ({e})"))?;
    st.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| format!("{t:?} is before 1970"))
}

pub fn format_time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// A new key and the record that describes it. The key exists only in the return value.
pub fn generate(
    existing: &ClientsFile,
    name: &str,
    scopes: Vec<String>,
) -> Result<(String, RawClient), String> {
    let mut id_bytes = [0u8; ID_LEN / 2];
    let mut secret = zeroize::Zeroizing::new([0u8; SECRET_LEN / 2]);
    let no_random = |_| "no random source".to_string();
    for _ in 0..16 {
        crate::crypto::fill_random(&mut id_bytes).map_err(no_random)?;
        if !existing
            .clients
            .iter()
            .any(|c| c.id == hex::encode(id_bytes))
        {
            break;
        }
    }
    crate::crypto::fill_random(secret.as_mut()).map_err(no_random)?;
    let id = hex::encode(id_bytes);
    if existing.clients.iter().any(|c| c.id == id) {
        return Err("could not find a free id".into());
    }
    let key = format!("{KEY_PREFIX}{id}_{}", hex::encode(secret.as_ref()));
    let digest = sha2::Digest::finalize(sha2::Digest::chain_update(
        sha2::Sha256::default(),
        key.as_bytes(),
    ));
    let record = RawClient {
        id,
        name: name.to_string(),
        hash: format!("sha256:{}", hex::encode(digest)),
        scopes,
        expires_at: None,
        created_at: Some(format_time(super::table::now_unix())),
        rate_limit: None,
        allow_networks: Vec::new(),
        client_cert_sha256: None,
        disabled: false,
        revoked_at: None,
    };
    Ok((key, record))
}

/// Writes `file` to `path` atomically: a temporary file in the same directory (mode 0640, or the
/// old file's mode), synced, then renamed over the old one.
pub fn write_atomic(path: &Path, file: &ClientsFile) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let existing = std::fs::metadata(path).ok();
    let mode = existing
        .as_ref()
        .map_or(0o640, |m| m.permissions().mode() & 0o7777);
    // The file's group is what lets the gateway's user read it: keep the replaced file's, or a
    // new file takes the directory's (root:blnk-gateway for /etc/blnk-gateway), so a key made
    // with sudo is readable by the service and not only by root.
    let group = match &existing {
        Some(m) => Some(m.gid()),
        None => std::fs::metadata(dir).ok().map(|m| m.gid()),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("clients"),
        std::process::id()
    ));
    let body = serde_json::to_vec_pretty(file).map_err(|e| e.to_string())?;
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        if let Some(gid) = group.filter(|g| f.metadata().is_ok_and(|m| m.gid() != *g)) {
            // Only root or a member of that group may do this; anyone else keeps their own group,
            // as before, and the mode still says who may read.
            let _ = std::os::unix::fs::fchown(&f, None, Some(gid));
        }
        f.write_all(&body)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_authenticate_and_the_file_holds_no_key() {
        let (key, record) =
            generate(&ClientsFile::default(), "svc", vec!["ledgers:read".into()]).unwrap();
        assert!(key.starts_with("bgw_"));
        assert_eq!(
            super::super::table::key_id(key.as_bytes()),
            Some(record.id.as_str())
        );
        let text = serde_json::to_string(&record).unwrap();
        assert!(!text.contains(&key[KEY_PREFIX.len() + ID_LEN + 1..]));
        let table = ClientTable::new(vec![validate(&record).unwrap()]);
        let p = super::super::table::Presented {
            key: key.as_bytes(),
            peer: "127.0.0.1".parse().unwrap(),
            client_cert: None,
        };
        assert_eq!(table.authenticate(&p, 0).unwrap().name, "svc");
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('0') { '1' } else { '0' });
        let p = super::super::table::Presented {
            key: wrong.as_bytes(),
            ..p
        };
        assert_eq!(
            table.authenticate(&p, 0).unwrap_err(),
            crate::error::Reject::InvalidKey
        );
    }

    #[test]
    fn bad_entries_are_named() {
        let mut problems = Problems::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.json");
        std::fs::write(&path, r#"{"clients": [{"id": "xyz", "name": "a", "hash": "md5:1", "scopes": ["ledger:read"], "expires_at": "soon"}]}"#).unwrap();
        assert!(load(&path, &mut problems).is_none());
        let text = problems.to_string();
        for expected in [
            "clients[0] (xyz)",
            "id must be",
            "hash must be",
            "ledger",
            "expires_at",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
    }
}
