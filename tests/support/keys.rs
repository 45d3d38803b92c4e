//! Client keys issued with the real CLI, as an operator issues them.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Issues a client key named `name` with `scopes` into `clients.json` in `dir` (created when
/// missing), passing `extra` to `blnk-gateway keys new`; returns the key the CLI printed.
pub fn issue(dir: &Path, name: &str, scopes: &[&str], extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_blnk-gateway"))
        .args(["keys", "new", "--name", name, "--scopes", &scopes.join(",")])
        .arg("--file")
        .arg(dir.join("clients.json"))
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
