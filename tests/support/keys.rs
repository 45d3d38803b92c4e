//! Client keys issued and revoked with the real CLI, as an operator does it.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Runs `blnk-gateway keys` with `args`, fails the test unless it succeeds, and returns what it
/// printed on stdout.
fn keys(args: &[&str], file: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_blnk-gateway"))
        .arg("keys")
        .args(args)
        .arg("--file")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Issues a client key named `name` with `scopes` into `clients.json` in `dir` (created when
/// missing), passing `extra` to `keys new`; returns the key the CLI printed.
pub fn issue(dir: &Path, name: &str, scopes: &[&str], extra: &[&str]) -> String {
    let scopes = scopes.join(",");
    let mut args = vec!["new", "--name", name, "--scopes", &scopes];
    args.extend(extra);
    keys(&args, &dir.join("clients.json")).trim().to_string()
}

/// Revokes the client key with this id in the clients file `file`.
pub fn revoke(file: &Path, id: &str) {
    keys(&["revoke", id], file);
}
