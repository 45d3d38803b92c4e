//! A new operator's first hour, through the real binary: the development configuration starts on
//! a fresh clone with nothing made by hand and no warning to chase; `check` and `serve`, run as
//! the same user, agree on what that user can open, and `serve` exits 78 for what the
//! configuration names; every error names its key and says what to do.
//!
//! Permissions mean nothing to root, and CI runs as root: there the commands that must meet a
//! permission run through `setpriv` as nobody, the way an operator runs `sudo -u blnk-gateway`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{exit_and_output, only_path};

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const KEY: &str = "first-hour-master-key-0123456789abcdef-xyz";
const OTHER_KEY: &str = "first-hour-other-key-0123456789abcdef-xyz";
/// Bound on every wait for the child process.
const WAIT: Duration = Duration::from_secs(20);
/// nobody:nogroup on Debian.
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The binary with only PATH from the environment, and `env`.
fn gateway(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    only_path(cmd, env)
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
    .args(args);
    only_path(cmd, env)
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

/// `config/dev.json` as shipped, in a fresh copy of the repository's layout (`config/`, and no
/// `certs/`): `check` passes before anything exists and creates nothing; the first `serve`
/// writes the development key (0600, 64 hex digits) and certificate and becomes ready; no run
/// warns about the audit log.
#[test]
fn the_development_config_starts_on_a_fresh_clone_with_nothing_made_by_hand() {
    let clone = tempfile::tempdir().unwrap();
    std::fs::create_dir(clone.path().join("config")).unwrap();
    let cfg = clone.path().join("config/dev.json");
    std::fs::copy(format!("{ROOT}/config/dev.json"), &cfg).unwrap();
    let cfg = cfg.to_str().unwrap();
    let key = clone.path().join("certs/dev.key");
    let local = [
        ("BLNK_GATEWAY_LISTEN", "127.0.0.1:0"),
        ("BLNK_GATEWAY_ADMIN_LISTEN", "off"),
    ];

    let (code, out) = run(gateway(&["check", "--config", cfg], &local));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("key_fingerprint=none-yet"), "{out}");
    assert!(
        out.contains("serve writes a new random development key"),
        "{out}"
    );
    assert!(!out.contains("gateway.audit.path"), "{out}");
    assert!(!clone.path().join("certs").exists(), "check wrote files");

    let sock = clone.path().join("notify.sock");
    let notify = UnixDatagram::bind(&sock).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    let mut serve = gateway(&["serve", "--config", cfg], &local);
    serve
        .env("NOTIFY_SOCKET", &sock)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = serve.spawn().unwrap();
    let mut buf = [0u8; 512];
    let n = notify
        .recv(&mut buf)
        .expect("the development config never became ready");
    assert!(buf[..n].starts_with(b"READY=1"));
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&key).unwrap();
    let hex = text.strip_suffix('\n').unwrap();
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "not 64 hex digits"
    );
    assert!(clone.path().join("certs/dev-cert.pem").exists());
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let (code, log) = exit_and_output(&out);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("wrote a new random development key"), "{log}");
    assert!(!log.contains("gateway.audit.path"), "{log}");
    assert!(!log.contains(hex), "the key was logged");

    // The key stays: the next start reads it, and check shows its fingerprint.
    let (code, out) = run(gateway(&["check", "--config", cfg], &local));
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("none-yet") && !out.contains("dev_generate_key"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);
}

/// The state and log directories as an operator gets them wrong: not writable by the user the
/// gateway runs as. `check` as that user refuses, naming each key and the user; `serve` as that
/// user refuses the same, with 78 and before binding; made writable, both pass.
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

/// A store file that is there and writable but is not a store: found only when `serve` opens
/// it, and still a configuration error (78, named by key), not a runtime failure systemd would
/// restart into again.
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

/// A key file the user cannot read names the user and the fix; a missing one says the key is
/// Blnk's, readable by the service's group (not a root-only file the service cannot read).
#[test]
fn a_key_file_problem_says_whose_key_and_who_must_read_it() {
    let dir = shared_dir();
    let (cfg, _) = config(dir.path(), "");
    let key = dir.path().join("master.key");
    mode(&key, if is_root() { 0o600 } else { 0o000 });
    let (code, out) = run(unprivileged(&["check", "--config", &cfg], &[]));
    assert_eq!(code, 78, "{out}");
    for expected in [
        "gateway.secret_key_file: ",
        "permission denied for ",
        "uid ",
        "chmod 0640",
    ] {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }
    std::fs::remove_file(&key).unwrap();
    let (code, out) = run(gateway(&["check", "--config", &cfg], &[]));
    assert_eq!(code, 78, "{out}");
    assert!(
        out.contains("file not found (put Blnk's master key in it")
            && out.contains("chgrp blnk-gateway"),
        "{out}"
    );
}

/// `gateway.secret_key_file` and Blnk's own `server.secret_key` in the same file, different:
/// a warning with both fingerprints (never a key), since a Blnk reading this file would refuse
/// the gateway. The same key: no warning.
#[test]
fn check_warns_when_the_gateways_key_is_not_the_one_blnk_reads() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "master.key", &format!("{KEY}\n"));
    let body = |blnks: &str| {
        format!(
            r#"{{"server": {{"secure": true, "secret_key": "{blnks}"}}, "gateway": {{"allow_plaintext": true, "admin_listen": "off", "secret_key_file": "master.key", "idempotency": {{"enabled": false}}, "audit": {{"path": "-"}}}}}}"#
        )
    };
    let cfg = write(dir.path(), "blnk.json", &body(OTHER_KEY));
    let (code, out) = run(gateway(&["check", "--config", &cfg], &[]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("differs from server.secret_key in the same file"),
        "{out}"
    );
    assert!(!out.contains(KEY) && !out.contains(OTHER_KEY), "{out}");
    let cfg = write(dir.path(), "blnk.json", &body(KEY));
    let (code, out) = run(gateway(&["check", "--config", &cfg], &[]));
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("differs"), "{out}");
}

/// The main listener's error names its key, as the admin listener's does, and what usually
/// causes it: a runtime failure (1), since the port may be free a moment later.
#[test]
fn a_taken_port_is_named_by_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = config(dir.path(), r#", "idempotency": {"enabled": false}"#);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let (code, out) = run(gateway(
        &["serve", "--config", &cfg],
        &[("BLNK_GATEWAY_LISTEN", &listen)],
    ));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("cannot listen on gateway.listen {listen}: "))
            && out.contains("a gateway already running?"),
        "{out}"
    );
}

/// `keys new` on a configuration without a clients file says what to add; with one that does
/// not exist yet, the new file takes its directory's group (the service's, in
/// /etc/blnk-gateway), so a key made with sudo is readable by the gateway; a rewrite keeps the
/// group.
#[test]
fn keys_new_says_what_to_add_and_leaves_a_file_the_service_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _) = config(dir.path(), "");
    let new = |cfg: &str| {
        run(gateway(
            &[
                "keys",
                "new",
                "--config",
                cfg,
                "--name",
                "pay",
                "--scopes",
                "data:read",
            ],
            &[],
        ))
    };
    let (code, out) = new(&cfg);
    assert_eq!(code, 78, "{out}");
    assert!(
        out.contains("gateway.clients_file is not set")
            && out.contains(r#""clients_file": "clients.json""#)
            && out.contains("inject"),
        "{out}"
    );

    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    // Root may give the directory any group; anyone else, one of their own.
    let group = if is_root() {
        NOBODY
    } else {
        rustix::process::getegid().as_raw()
    };
    std::os::unix::fs::chown(&keys, None, Some(group)).unwrap();
    let (cfg, _) = config(
        dir.path(),
        r#", "mode": "inject", "clients_file": "keys/clients.json""#,
    );
    let (code, out) = new(&cfg);
    assert_eq!(code, 0, "{out}");
    let file = keys.join("clients.json");
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (meta.gid(), meta.permissions().mode() & 0o777),
        (group, 0o640)
    );
    let (code, out) = new(&cfg);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::metadata(&file).unwrap().gid(), group);
}
