//! The command line as ops scripts use it: `check` and `serve` exit codes and messages.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::certs;

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");
const KEY: &str = "cli-test-master-key-0123456789abcdef-xyz";

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    crate::support::only_path(cmd, env)
        .output()
        .expect("run blnk-gateway")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

fn tls_config(extra_gateway: &str) -> String {
    format!(
        r#"{{"server": {{"secure": true}}, "gateway": {{"tls": {{"cert": "server.pem", "key": "server.key"}}{extra_gateway}}}}}"#
    )
}

#[test]
fn check_accepts_the_shipped_examples() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path());
    let root = env!("CARGO_MANIFEST_DIR");
    // The development config makes its own certificate only when serving; check accepts it.
    // Its key file, certs/dev.key, is made by the README's first step; without it check says how.
    let dev_key = write(dir.path(), "dev.key", &format!("{KEY}\n"));
    let dev = run(
        &["check", "--config", &format!("{root}/config/dev.json")],
        &[("BLNK_SERVER_SECRET_KEY_FILE", &dev_key)],
    );
    assert!(dev.status.success(), "{}", text(&dev));
    let missing = dir.path().join("no-dev.key");
    let no_key = run(
        &["check", "--config", &format!("{root}/config/dev.json")],
        &[("BLNK_SERVER_SECRET_KEY_FILE", missing.to_str().unwrap())],
    );
    assert_eq!(no_key.status.code(), Some(78));
    assert!(
        text(&no_key).contains("openssl rand -hex 32 >"),
        "{}",
        text(&no_key)
    );
    // The production example expects its files under /etc; point them at test files.
    let cert = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    let audit = dir.path().join("audit.log");
    let store = dir.path().join("idempotency.redb");
    let key_file = write(dir.path(), "master.key", &format!("{KEY}\n"));
    let prod = run(
        &[
            "check",
            "--config",
            &format!("{root}/config/production.json"),
        ],
        &[
            ("BLNK_GATEWAY_TLS__CERT", cert.to_str().unwrap()),
            ("BLNK_GATEWAY_TLS__KEY", key.to_str().unwrap()),
            ("BLNK_SERVER_SECRET_KEY_FILE", &key_file),
            ("BLNK_GATEWAY_AUDIT__PATH", audit.to_str().unwrap()),
            ("BLNK_GATEWAY_IDEMPOTENCY__PATH", store.to_str().unwrap()),
        ],
    );
    assert!(prod.status.success(), "{}", text(&prod));
    assert!(!audit.exists(), "check created the audit log");
    assert!(!store.exists(), "check created the idempotency store");
    assert!(!text(&prod).contains(KEY));
}

#[test]
fn check_names_every_problem_and_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "blnk.json",
        r#"{"redis": {"dns": "localhost:6379"}, "server": {"port": "5001"},
            "gateway": {"lisen": "0.0.0.0:1", "mode": "verify", "tls": {"cert": "missing.pem", "key": "missing.key"}}}"#,
    );
    let out = run(&["check", "--config", &cfg], &[]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("gateway.lisen: unknown key"), "{t}");
    assert!(!t.contains("lisen.lisen"), "{t}");
    assert!(t.contains("blnk.json"), "{t}");

    // Without the typo, every remaining problem is listed at once.
    let cfg = write(
        dir.path(),
        "blnk.json",
        r#"{"gateway": {"tls": {"cert": "missing.pem", "key": "missing.key"}, "limits": {"max_headers": 0}}}"#,
    );
    let t = text(&run(&["check", "--config", &cfg], &[]));
    for expected in [
        "missing.pem",
        "missing.key",
        "gateway.limits.max_headers",
        "no master key",
        // Where a certificate comes from, without a path into this repository (an installed
        // gateway has none).
        "an ACME client such as certbot, or from your organisation's CA",
    ] {
        assert!(t.contains(expected), "{expected} not in: {t}");
    }
    assert!(!t.contains("make-dev-cert"), "{t}");
}

#[test]
fn idempotency_settings_are_checked_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "blnk.json",
        r#"{"server": {"secret_key": "k-padpadpadpadpadpadpadpadpadpadpad"},
            "gateway": {"allow_plaintext": true,
              "limits": {"upstream_response_timeout": "60s"},
              "idempotency": {"path": "no/such/dir/keys.redb", "ttl": "1m", "unknown_settle": "5m",
                              "max_answer_bytes": 99999999, "max_entries": 0}}}"#,
    );
    let out = run(&["check", "--config", &cfg], &[]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let t = text(&out);
    for expected in [
        "gateway.idempotency.path",
        "gateway.idempotency.unknown_settle",
        "gateway.idempotency.max_answer_bytes",
        "gateway.idempotency.max_entries",
        "gateway.limits.upstream_response_timeout",
    ] {
        assert!(t.contains(expected), "{expected} not in: {t}");
    }
    // Turned off, the store's settings do not matter; the policy's still must make sense.
    let cfg = write(
        dir.path(),
        "blnk.json",
        r#"{"server": {"secret_key": "k-padpadpadpadpadpadpadpadpadpadpad"},
            "gateway": {"allow_plaintext": true, "limits": {"upstream_response_timeout": "60s", "idle_timeout": "90s"},
              "idempotency": {"enabled": false, "path": "no/such/dir/keys.redb"}}}"#,
    );
    let out = run(&["check", "--config", &cfg], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !dir.path().join("idempotency.redb").exists(),
        "check created the store"
    );
}

#[test]
fn cluster_mode_takes_blnks_redis_and_never_shows_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let base = r#"{"server": {"secret_key": "k-padpadpadpadpadpadpadpadpadpadpad"},
        "redis": {"dns": "redis://:blnk-redis-pass@cache.internal:6380/1"},
        "gateway": {"allow_plaintext": true, "cluster": {"enabled": true}}}"#;
    let cfg = write(dir.path(), "blnk.json", base);
    let out = run(&["check", "--config", &cfg], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("cluster=redis://cache.internal:6380/1"), "{t}");
    assert!(!t.contains("blnk-redis-pass"), "{t}");
    // BLNK_REDIS_DNS as Blnk reads it; the password from the gateway's own variable.
    let env = [
        ("BLNK_REDIS_DNS", "127.0.0.1:6379"),
        ("BLNK_GATEWAY_CLUSTER_PASSWORD", "env-redis-pass"),
    ];
    let out = run(&["check", "--config", &cfg], &env);
    let t = text(&out);
    assert!(t.contains("cluster=redis://127.0.0.1:6379/0"), "{t}");
    assert!(!t.contains("env-redis-pass"), "{t}");
    // A Redis URL that cannot be used is named, without its password.
    let cfg = write(
        dir.path(),
        "blnk.json",
        &base.replace("cache.internal:6380/1", "cache.internal:99999"),
    );
    let out = run(&["check", "--config", &cfg], &[]);
    assert_eq!(out.status.code(), Some(78));
    let t = text(&out);
    assert!(t.contains("redis.dns"), "{t}");
    assert!(!t.contains("blnk-redis-pass"), "{t}");
}

#[test]
fn empty_and_unreadable_keys_are_errors_never_open_access() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path());
    let cfg = write(dir.path(), "blnk.json", &tls_config(""));
    let blank = write(dir.path(), "blank.key", " \n");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("BLNK_SERVER_SECRET_KEY", "")],
            "BLNK_SERVER_SECRET_KEY",
        ),
        (
            vec![("BLNK_SERVER_SECRET_KEY_FILE", &blank)],
            "BLNK_SERVER_SECRET_KEY_FILE",
        ),
        (
            vec![("BLNK_SERVER_SECRET_KEY_FILE", "/nonexistent/key")],
            "file not found",
        ),
        // A set-but-empty variable wins over a later source, as in Blnk: it is an error.
        (
            vec![
                ("BLNK_SERVER_SECRET_KEY", ""),
                ("CREDENTIALS_DIRECTORY", "/nonexistent"),
            ],
            "empty",
        ),
    ];
    for (env, expected) in cases {
        let out = run(&["check", "--config", &cfg], &env);
        assert_eq!(out.status.code(), Some(78), "{env:?}: {}", text(&out));
        assert!(text(&out).contains(expected), "{env:?}: {}", text(&out));
    }
}

#[test]
fn key_sources_are_taken_in_order_and_a_trailing_newline_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path());
    let file_key = write(dir.path(), "file.key", &format!("{KEY}-file\n"));
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("blnk_secret_key"), format!("{KEY}-cred")).unwrap();
    let cfg = write(
        dir.path(),
        "blnk.json",
        &tls_config(r#", "secret_key_file": "file.key""#),
    );
    let out = run(
        &["check", "--config", &cfg],
        &[
            ("BLNK_SERVER_SECRET_KEY", KEY),
            ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("gateway.secret_key_file"),
        "{}",
        text(&out)
    );
    let env_file = run(
        &["check", "--config", &cfg],
        &[("BLNK_SERVER_SECRET_KEY_FILE", &file_key)],
    );
    assert!(
        text(&env_file).contains("BLNK_SERVER_SECRET_KEY_FILE"),
        "{}",
        text(&env_file)
    );

    // Credential beats the env var; env var beats server.secret_key.
    let cfg = write(
        dir.path(),
        "blnk.json",
        &format!(
            r#"{{"server": {{"secret_key": "{KEY}-json"}}, "gateway": {{"tls": {{"cert": "server.pem", "key": "server.key"}}}}}}"#
        ),
    );
    let out = run(
        &["check", "--config", &cfg],
        &[
            ("BLNK_SERVER_SECRET_KEY", KEY),
            ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ],
    );
    assert!(text(&out).contains("systemd credential"), "{}", text(&out));
    let out = run(
        &["check", "--config", &cfg],
        &[("BLNK_SERVER_SECRET_KEY", KEY)],
    );
    assert!(
        text(&out).contains("environment variable BLNK_SERVER_SECRET_KEY"),
        "{}",
        text(&out)
    );
    let out = run(&["check", "--config", &cfg], &[]);
    assert!(text(&out).contains("server.secret_key"), "{}", text(&out));
    assert!(!text(&out).contains(KEY));
}

#[test]
fn inject_mode_without_client_authentication_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path());
    let cfg = write(
        dir.path(),
        "blnk.json",
        &tls_config(r#", "mode": "inject""#),
    );
    let out = run(
        &["serve", "--config", &cfg],
        &[("BLNK_SERVER_SECRET_KEY", KEY)],
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("gateway.mode"), "{}", text(&out));
}

#[test]
fn serve_exits_78_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = write(
        dir.path(),
        "blnk.json",
        &format!(r#"{{"gateway": {{"listen": "127.0.0.1:{port}", "allow_plaintext": true}}}}"#),
    );
    let out = run(&["serve", "--config", &cfg], &[]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    // The port was never taken.
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[test]
fn env_overrides_name_the_variable_and_secrets_never_print() {
    let dir = tempfile::tempdir().unwrap();
    certs::make(dir.path());
    let cfg = write(
        dir.path(),
        "blnk.json",
        r#"{"server": {"secret_key": 12345678901234567890}, "gateway": {"tls": {"cert": "server.pem", "key": "server.key"}}}"#,
    );
    let out = run(&["check", "--config", &cfg], &[]);
    assert_eq!(out.status.code(), Some(78));
    let t = text(&out);
    assert!(t.contains("server.secret_key"), "{t}");
    assert!(!t.contains("12345678901234567890"), "{t}");

    let cfg = write(dir.path(), "blnk.json", &tls_config(""));
    let out = run(
        &["check", "--config", &cfg],
        &[
            ("BLNK_GATEWAY_LISTEN", "not-an-address"),
            ("BLNK_SERVER_SECRET_KEY", KEY),
        ],
    );
    assert_eq!(out.status.code(), Some(78));
    assert!(text(&out).contains("gateway.listen"), "{}", text(&out));
    let out = run(
        &["check", "--config", &cfg],
        &[
            ("BLNK_GATEWAY_LIMITS__MAX_HEADERS", "[1,2]"),
            ("BLNK_SERVER_SECRET_KEY", KEY),
        ],
    );
    assert_eq!(out.status.code(), Some(78));
    assert!(
        text(&out).contains("gateway.limits.max_headers")
            && text(&out).contains("BLNK_GATEWAY_LIMITS__MAX_HEADERS"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(KEY));
}

#[test]
fn help_and_version() {
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    assert!(text(&out).contains(env!("CARGO_PKG_VERSION")));
    let out = run(&["--help"], &[]);
    assert!(out.status.success());
    for word in ["serve", "check"] {
        assert!(text(&out).contains(word));
    }
    // Every command's help has an example of itself, and `help COMMAND` prints just that.
    for cmd in [
        &["serve"][..],
        &["check"],
        &["keys"],
        &["keys", "new"],
        &["keys", "list"],
        &["keys", "revoke"],
        &["audit"],
        &["audit", "verify"],
        &["audit", "keygen"],
        &["completions"],
        &["help"],
    ] {
        let out = run(&[cmd, &["--help"]].concat(), &[]);
        assert!(out.status.success(), "{cmd:?}: {}", text(&out));
        let t = text(&out);
        let example = format!("blnk-gateway {}", cmd.join(" "));
        assert!(
            t.contains("Example") && t.contains(&example),
            "{cmd:?}:\n{t}"
        );
        let via_help = run(&[&["help"][..], cmd].concat(), &[]);
        assert!(via_help.status.success(), "help {cmd:?}");
        assert_eq!(text(&via_help), t, "help {cmd:?}");
    }
    let out = run(&["help", "nothing"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("unrecognized subcommand 'nothing'"),
        "{}",
        text(&out)
    );
    // Positional arguments say what they are.
    for (cmd, expected) in [
        (&["keys", "revoke"][..], "<ID>  The key's id"),
        (
            &["audit", "verify"],
            "<FILES>...  The audit log files, oldest first",
        ),
        (&["audit", "keygen"], "--out-public <FILE>"),
    ] {
        let t = text(&run(&[cmd, &["--help"]].concat(), &[]));
        assert!(t.contains(expected), "{expected:?} not in:\n{t}");
    }
}

/// Shell completions and man pages come from the same definition as `--help`.
#[test]
fn completions_and_man_pages_follow_the_command_line() {
    let out = run(&["completions", "bash"], &[]);
    assert!(out.status.success());
    let bash = String::from_utf8_lossy(&out.stdout);
    for word in [
        "blnk-gateway",
        "serve",
        "keygen",
        "--out-secret",
        "--config",
    ] {
        assert!(bash.contains(word), "{word} not in the bash completions");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["manpages", "--dir", dir.path().to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(
        pages,
        [
            "blnk-gateway-audit-keygen.1",
            "blnk-gateway-audit-verify.1",
            "blnk-gateway-audit.1",
            "blnk-gateway-check.1",
            "blnk-gateway-completions.1",
            "blnk-gateway-help.1",
            "blnk-gateway-idempotency-pending.1",
            "blnk-gateway-idempotency.1",
            "blnk-gateway-keys-list.1",
            "blnk-gateway-keys-new.1",
            "blnk-gateway-keys-revoke.1",
            "blnk-gateway-keys.1",
            "blnk-gateway-serve.1",
            "blnk-gateway.1",
        ]
    );
    let main = std::fs::read_to_string(dir.path().join("blnk-gateway.1")).unwrap();
    for section in [
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "/etc/blnk-gateway/blnk.json",
    ] {
        assert!(main.contains(section), "{section} not in blnk-gateway.1");
    }
}

/// One run lists every kind of problem at once: parse and type errors (each read around, with a
/// hint), cross-field rules, missing files, and validation of what could be read.
#[test]
fn check_lists_parse_type_cross_field_and_file_problems_together() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "blnk.json",
        r#"{"gateway": {"mode": "injekt", "upstream": "https://blnk:5001",
              "tls": {"cert": "missing.pem", "key": "missing.key"},
              "limits": {"idle_timeout": "10", "max_headers": "many"},
              "audit": {"fsync": "always", "path": "no/such/dir/audit.log"},
              "clients_file": "clients.json"}}"#,
    );
    let out = run(
        &["check", "--config", &cfg],
        &[
            ("BLNK_SERVER_SECRET_KEY", KEY),
            ("BLNK_GATEWAY_RATE_LIMIT__ENABLED", "yes"),
        ],
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let t = text(&out);
    for expected in [
        // type and parse errors, each with its hint
        r#"gateway.mode: "injekt" is not one of "verify", "inject"; did you mean "inject"?"#,
        r#"gateway.limits.idle_timeout: "10" has no unit: write "10s""#,
        r#"gateway.limits.max_headers: expected a whole number, found "many""#,
        r#"gateway.audit.fsync: "always" is not one of "batch", "interval", "never""#,
        "gateway.rate_limit.enabled: expected true or false, found \"yes\" (in environment variable BLNK_GATEWAY_RATE_LIMIT__ENABLED)",
        // validation of what could be read
        "gateway.upstream: must be an http:// URL",
        "gateway.audit.path: directory",
        "install -d",
        // files
        "gateway.tls.cert: ",
        "missing.pem: file not found",
        "missing.key: file not found",
    ] {
        assert!(t.contains(expected), "{expected:?} not in:\n{t}");
    }
    // No garbled quoting, no second complaint about a key already reported, no guess from a
    // mode that could not be read (clients_file is only wrong if the mode is verify).
    assert!(!t.contains('`'), "{t}");
    assert_eq!(t.matches("gateway.limits.idle_timeout").count(), 1, "{t}");
    assert!(!t.contains("gateway.clients_file"), "{t}");
    assert!(!t.contains(KEY));

    // A cross-field rule the README states: idle_timeout above upstream_response_timeout.
    let cfg = write(
        dir.path(),
        "blnk.json",
        r#"{"gateway": {"allow_plaintext": true, "limits": {"idle_timeout": "5s"}}}"#,
    );
    let out = run(
        &["check", "--config", &cfg],
        &[("BLNK_SERVER_SECRET_KEY", KEY)],
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("gateway.limits.idle_timeout: must be longer than gateway.limits.upstream_response_timeout (15s)"),
        "{}",
        text(&out)
    );
    let cfg = write(
        dir.path(),
        "blnk.json",
        r#"{"gateway": {"allow_plaintext": true, "admin_listen": "off", "audit": {"enabled": false}, "idempotency": {"enabled": false},
            "limits": {"idle_timeout": "5s", "upstream_response_timeout": "4s"}}}"#,
    );
    let out = run(
        &["check", "--config", &cfg],
        &[("BLNK_SERVER_SECRET_KEY", KEY)],
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn keys_new_names_both_forms_of_expiry() {
    let out = run(
        &[
            "keys",
            "new",
            "--name",
            "x",
            "--scopes",
            "data:read",
            "--expires",
            "90x",
        ],
        &[],
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("\"90d\"") && t.contains("RFC 3339"), "{t}");
}

/// The README's install steps work in the order written: the package, then Blnk's key and the
/// certificate where the package's example configuration looks for them, `check` as the service
/// user, and only then `systemctl enable --now`. (.ci/package.sh runs the same steps on the
/// installed package.)
#[test]
fn the_install_steps_check_as_the_service_user_before_enabling() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let start = readme.find("\n## Install\n").unwrap();
    let steps = &readme[start..];
    let steps = &steps[..steps
        .find("sudo systemctl enable --now blnk-gateway")
        .unwrap()];
    let mut at = 0;
    for step in [
        "sudo apt install ./target/debian/blnk-gateway_*.deb",
        "sudo install -m 0640 -o root -g blnk-gateway /dev/stdin /etc/blnk-gateway/secret_key",
        "sudo install -m 0640 -o root -g blnk-gateway fullchain.pem privkey.pem /etc/blnk-gateway/tls/",
        "sudo -u blnk-gateway blnk-gateway check --config /etc/blnk-gateway/blnk.json",
    ] {
        let found = steps[at..]
            .find(step)
            .unwrap_or_else(|| panic!("the install steps lack, or misplace: {step}"));
        at += found + step.len();
    }
    let prod: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/config/production.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        prod["gateway"]["secret_key_file"],
        "/etc/blnk-gateway/secret_key"
    );
    assert_eq!(
        prod["gateway"]["tls"]["cert"],
        "/etc/blnk-gateway/tls/fullchain.pem"
    );
    assert_eq!(
        prod["gateway"]["tls"]["key"],
        "/etc/blnk-gateway/tls/privkey.pem"
    );
}

/// `check` says what the configured idempotency store holds: keys, the sustained rate over the
/// ttl, and the disk (embedded) or Redis memory (cluster) at capacity.
#[test]
fn check_prints_what_the_idempotency_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "master.key",
        "a-master-key-long-enough-for-the-check-0123456789\n",
    );
    let embedded = write(
        dir.path(),
        "blnk.json",
        r#"{"gateway": {"listen": "127.0.0.1:0", "allow_plaintext": true, "secret_key_file": "master.key",
            "idempotency": {"path": "idem.redb", "max_entries": 864000, "ttl": "24h", "unknown_settle": "1m"}}}"#,
    );
    let out = run(&["check", "--config", &embedded], &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("idempotency store: 864000 keys for ttl 1d: 10.0 new keys a second sustained"),
        "{t}"
    );
    assert!(t.contains("2.2 GB on disk"), "{t}");
    let cluster = write(
        dir.path(),
        "blnk.json",
        r#"{"gateway": {"listen": "127.0.0.1:0", "allow_plaintext": true, "secret_key_file": "master.key",
            "cluster": {"enabled": true, "redis": "redis://127.0.0.1:6379/0"},
            "idempotency": {"max_entries": 3600, "ttl": "1h", "unknown_settle": "1m"}}}"#,
    );
    let t = text(&run(&["check", "--config", &cluster], &[]));
    assert!(
        t.contains("3600 keys for ttl 1h: 1.0 new keys a second"),
        "{t}"
    );
    assert!(t.contains("of Redis memory"), "{t}");
}
