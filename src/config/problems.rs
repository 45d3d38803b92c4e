//! What is wrong with a configuration: every problem, each with the key path or file it concerns
//! and never a secret's value, so one `check` shows them all.

use std::fmt;
use std::path::Path;

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

/// A short reason for an I/O error, without the OS error number noise; a permission problem
/// names the user it concerns (`check` run as root and `serve` run as the service user differ
/// exactly there).
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "file not found".into(),
        std::io::ErrorKind::PermissionDenied => super::access::denied(),
        _ => e.to_string(),
    }
}

/// A directory that must exist and does not, with how to create it. The Debian package creates
/// the ones its configuration names at installation; `unit_setting` is the systemd setting that
/// creates it when the service starts (before `ExecStartPre=`).
pub fn missing_dir(dir: &Path, unit_setting: &str) -> String {
    format!(
        "directory {} does not exist (the Debian package creates it at installation; by hand: sudo install -d -o blnk-gateway -g blnk-gateway -m 0750 {}; under systemd, the unit's {unit_setting}= creates it when the service starts)",
        dir.display(),
        dir.display()
    )
}
