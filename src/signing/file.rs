//! The key files: read with the master key file's care (bounded, never echoed), created new
//! with mode 0600 and never over an existing file, and replaced atomically with the old
//! content overwritten (the forward-secure epochs of docs/audit.md).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::key::{PublicKey, SigningKey};
use crate::config::read_key_file;

/// Reads a signing key file. The error names the problem, never the content.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, String> {
    let text = read_key_file(path)?;
    SigningKey::from_pem(&text).map_err(|e| format!("the file {e}"))
}

/// Reads a public key file (PEM `PUBLIC KEY` or 64 hex digits).
pub fn read_public_key(path: &Path) -> Result<PublicKey, String> {
    let text = read_key_file(path)?;
    PublicKey::parse(&text).map_err(|e| format!("the file {e}"))
}

/// Writes `contents` to a new file with `mode`; fails if `path` exists (a key is never
/// overwritten by mistake).
pub fn create_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Replaces the key in `path` by `contents`: written to a temporary file beside it and synced,
/// renamed over it (so a reader sees the old key or the new one, whole), the directory synced;
/// then the old file's bytes, still reachable through a handle opened before the rename, are
/// overwritten with zeros and synced. On a filesystem that writes in place (ext4, xfs) that
/// erases them; a copy-on-write filesystem or an SSD's wear levelling may keep them.
pub fn replace_secret(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".next");
    let tmp = dir.join(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    create_new(&tmp, contents, 0o600)?;
    let old = OpenOptions::new().write(true).open(path).ok();
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)?.sync_all()?;
    if let Some(old) = old {
        erase(old)?;
    }
    Ok(())
}

/// Overwrites a file's whole length with zeros and syncs it.
fn erase(mut file: File) -> io::Result<()> {
    let len = usize::try_from(file.metadata()?.len()).unwrap_or(0);
    file.write_all(&vec![0u8; len])?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_0600_never_overwritten_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let (first, pem) = SigningKey::generate().unwrap();
        create_new(&path, pem.as_bytes(), 0o600).unwrap();
        assert_eq!(
            create_new(&path, b"x", 0o600).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(read_signing_key(&path).unwrap().id(), first.id());
        // A hard link stands for whatever else still points at the old inode.
        let link = dir.path().join("old-inode");
        std::fs::hard_link(&path, &link).unwrap();
        let (second, pem2) = SigningKey::generate().unwrap();
        replace_secret(&path, pem2.as_bytes()).unwrap();
        assert_eq!(read_signing_key(&path).unwrap().id(), second.id());
        let old = std::fs::read(&link).unwrap();
        assert_eq!(old.len(), pem.len());
        assert!(old.iter().all(|b| *b == 0), "the old key was not erased");
        assert!(!dir.path().join("audit.key.next").exists());
        let err = read_signing_key(&dir.path().join("public")).unwrap_err();
        assert_eq!(err, "file not found");
    }
}
