//! What the user this process runs as may do with a path, asked of the kernel (`access(2)`), so
//! owners, modes, ACLs and read-only mounts all count. `check` run as the service user then
//! refuses exactly what `serve`, run as that user, could not open; a `check` run as root is
//! told nothing about the service user, which is why the install steps run it as that user.

use std::path::Path;

use rustix::fs::Access;

/// The user this process runs as, for messages.
pub struct User {
    uid: u32,
    name: Option<String>,
}

impl User {
    pub fn current() -> User {
        let uid = rustix::process::geteuid().as_raw();
        User {
            uid,
            name: user_name(uid),
        }
    }

    /// What `chown` and `chgrp` take: the name (a service user's group has its name), else the
    /// number.
    pub fn owner(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.uid.to_string())
    }
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "user {name} (uid {})", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

/// The name `/etc/passwd` gives `uid`, if it has one (read only when small: a message never
/// waits on a huge user database).
fn user_name(uid: u32) -> Option<String> {
    const MAX_PASSWD_BYTES: u64 = 4 << 20;
    let meta = std::fs::metadata("/etc/passwd").ok()?;
    if meta.len() > MAX_PASSWD_BYTES {
        return None;
    }
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    let uid = uid.to_string();
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        fields.next()?;
        (fields.next()? == uid).then(|| name.to_string())
    })
}

/// `permission denied for user blnk-gateway (uid 998)`: an I/O error's reason with the user it
/// concerns, so the operator knows whose permission to fix.
pub fn denied() -> String {
    format!("permission denied for {}", User::current())
}

/// Whether this user may create files in `dir` (write and search permission).
fn can_create_in(dir: &Path) -> bool {
    rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK).is_ok()
}

/// Whether this user may open `file` for reading and writing.
fn can_read_write(file: &Path) -> bool {
    rustix::fs::access(file, Access::READ_OK | Access::WRITE_OK).is_ok()
}

/// Checks that this user can open `file` for reading and writing, creating it if it does not
/// exist (then its directory must let this user create files): `None` when it can, else what is
/// wrong and how to fix it. A directory that does not exist is reported elsewhere.
pub fn writable_file(file: &Path) -> Option<String> {
    let user = User::current();
    if file.exists() {
        return (!can_read_write(file)).then(|| {
            format!(
                "{} cannot be opened for reading and writing by {user} (give it to that user: sudo chown {} {})",
                file.display(),
                user.owner(),
                file.display()
            )
        });
    }
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() || can_create_in(dir) {
        return None;
    }
    Some(format!(
        "{} would be created in directory {}, which {user} cannot write to (give it to that user: sudo chown {} {})",
        file.display(),
        dir.display(),
        user.owner(),
        dir.display()
    ))
}

/// Checks that this user can create and replace files in `dir`: `None` when it can, else what is
/// wrong and how to fix it.
pub fn writable_dir(dir: &Path) -> Option<String> {
    if !dir.is_dir() || can_create_in(dir) {
        return None;
    }
    let user = User::current();
    Some(format!(
        "directory {} is not writable by {user} (give it to that user: sudo chown {} {})",
        dir.display(),
        user.owner(),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_user_is_named_by_uid() {
        let uid = rustix::process::geteuid().as_raw();
        assert!(User::current().to_string().contains(&format!("uid {uid}")));
        assert!(denied().starts_with("permission denied for "));
    }

    #[test]
    fn a_writable_directory_and_file_pass() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("store.redb");
        assert_eq!(writable_file(&file), None);
        std::fs::write(&file, b"").unwrap();
        assert_eq!(writable_file(&file), None);
    }
}
