//! A new operator's first hour, through the real binary: `check` and `serve`, run as the same
//! user, agree on what that user can open, and `serve` exits 78 for what the configuration
//! names; every error names its key and says what to do.
//!
//! Permissions mean nothing to root, and CI runs as root: there the commands that must meet a
//! permission run through `setpriv` as nobody, the way an operator runs `sudo -u blnk-gateway`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::exit_and_output;

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");
const KEY: &str = "first-hour-master-key-0123456789abcdef-xyz";
/// nobody:nogroup on Debian.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The binary with only PATH from the environment, and `env`.
fn gateway(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// The same command as a user permissions apply to: this user, or nobody when this is root.
fn unprivileged(args: &[&str], env: &[(&str, &str)]) -> Command {
    if !is_root() {
        return gateway(args, env);
    }
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid",
        &NOBODY.to_string(),
        "--regid",
        &NOBODY.to_string(),
        "--clear-groups",
        "--",
        BIN,
    ])
    .args(args)
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(mut cmd: Command) -> (i32, String) {
    exit_and_output(
        &cmd.output()
            .expect("run blnk-gateway (and setpriv, from util-linux)"),
    )
}

/// A directory the unprivileged user can enter and read, not write.
fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A directory the unprivileged user cannot write to: root's (as nobody), or read-only.
fn read_only_dir(path: &Path) {
    std::fs::create_dir(path).unwrap();
    mode(path, 0o555);
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    mode(&p, 0o644);
    p.to_string_lossy().into_owned()
}

/// A plaintext gateway on a free port with its key in `master.key`, and `extra` in its
/// `gateway` section.
fn config(dir: &Path, extra: &str) -> (String, u16) {
    let port = free_port();
    write(dir, "master.key", &format!("{KEY}\n"));
    let cfg = write(
        dir,
        "blnk.json",
        &format!(
            r#"{{"server": {{"secure": true}}, "gateway": {{"listen": "127.0.0.1:{port}", "admin_listen": "off", "allow_plaintext": true, "secret_key_file": "master.key"{extra}}}}}"#
        ),
    );
    (cfg, port)
}

#[test]
fn check_and_serve_agree_on_what_the_user_may_open() {
    let dir = shared_dir();
    read_only_dir(&dir.path().join("state"));
    read_only_dir(&dir.path().join("log"));
    let (cfg, port) = config(
        dir.path(),
        r#", "idempotency": {"path": "state/idempotency.redb"}, "audit": {"path": "log/audit.log"}"#,
    );
    let args = ["check", "--config", cfg.as_str()];
    let (code, out) = run(unprivileged(&args, &[]));
    assert_eq!(code, 78, "{out}");
    for expected in [
        "gateway.idempotency.path: ",
        "state/idempotency.redb would be created in directory",
        "gateway.audit.path: ",
        "log/audit.log would be created in directory",
        "cannot write to",
        "sudo chown",
    ] {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }
    let (code, out) = run(unprivileged(&["serve", "--config", &cfg], &[]));
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("gateway.idempotency.path"), "{out}");
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("serve bound the port");

    // An existing store the user cannot write is refused too.
    mode(&dir.path().join("state"), 0o777);
    let store = write(&dir.path().join("state"), "idempotency.redb", "");
    mode(Path::new(&store), 0o444);
    mode(&dir.path().join("log"), 0o777);
    let (code, out) = run(unprivileged(&args, &[]));
    assert_eq!(code, 78, "{out}");
    assert!(
        out.contains("cannot be opened for reading and writing by"),
        "{out}"
    );
    std::fs::remove_file(&store).unwrap();
    let (code, out) = run(unprivileged(&args, &[]));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_store_that_cannot_be_opened_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = config(dir.path(), "");
    write(
        dir.path(),
        "idempotency.redb",
        &"not a database\n".repeat(400),
    );
    let (code, out) = run(gateway(&["serve", "--config", &cfg], &[]));
    assert_eq!(code, 78, "{out}");
    assert!(
        out.contains("configuration cannot be used") && out.contains("gateway.idempotency.path: "),
        "{out}"
    );
}
