//! The real binary, serving with real keys in verify and inject mode at the most verbose log
//! level: no key, nor any piece of one longer than a fingerprint, appears in the operational log
//! (stderr), on stdout or in the audit file.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};

use serde_json::{json, Value};
use sha2::Digest;

use crate::support::certs;
use crate::support::client::{
    self, get_ledgers, keyed_empty, keyed_ledger, keyed_transfer, send1, send2, CLIENT_DEADLINE,
};
use crate::support::fake_blnk::FakeBlnk;

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");
/// A fingerprint is 12 hex characters; anything longer taken from a key is a leak.
const LONGEST_ALLOWED: usize = 12;

fn random_key(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let digest = sha2::Sha256::digest(format!("{tag}-{nanos}-{:?}", std::thread::current().id()));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first piece of `key` longer than a fingerprint found in `text`.
fn leaked<'k>(text: &str, key: &'k str) -> Option<&'k str> {
    (0..key.len() - LONGEST_ALLOWED)
        .map(|i| &key[i..=i + LONGEST_ALLOWED])
        .find(|piece| text.contains(piece))
}

/// A running `serve`: its port, its pid, and its operational log lines as they come.
#[derive(Clone)]
pub(super) struct Running {
    pub port: u16,
    pub pid: u32,
    lines: Arc<Mutex<mpsc::Receiver<String>>>,
}

impl Running {
    /// Waits (bounded) for an operational log line containing `needle`.
    pub fn wait_for(&self, needle: &str) {
        let lines = self.lines.lock().unwrap();
        loop {
            let line = lines
                .recv_timeout(CLIENT_DEADLINE)
                .unwrap_or_else(|e| panic!("no log line with {needle:?}: {e}"));
            if line.contains(needle) {
                return;
            }
        }
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.pid.to_string();
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }
}

pub(super) struct Output {
    pub stdout: String,
    pub stderr: String,
    pub audit: String,
}

/// Runs `serve` with `gateway` settings, calls `exercise` once it listens, then SIGTERM.
pub(super) async fn serve<F, Fut>(dir: &Path, key: &str, gateway: Value, exercise: F) -> Output
where
    F: FnOnce(Running) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.join("master.key"), format!("{key}\n")).unwrap();
    let mut g = json!({
        "listen": format!("127.0.0.1:{port}"),
        "secret_key_file": "master.key",
        "tls": {"cert": "server.pem", "key": "server.key"},
        "admin_listen": "off",
    });
    crate::support::gateway::merge(&mut g, &gateway);
    let cfg = dir.join("blnk.json");
    let doc = json!({"server": {"secure": true}, "gateway": g});
    std::fs::write(&cfg, doc.to_string()).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .env_clear()
        .env("BLNK_GATEWAY_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut stdout = child.stdout.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stdout.read_to_string(&mut all);
        all
    });
    // `serve` logs its settings once it has bound the port.
    loop {
        match rx.recv_timeout(CLIENT_DEADLINE) {
            Ok(line) if line.contains("key_fingerprint=") => break,
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "gateway did not start ({e}):\n{}",
                    err_reader.join().unwrap()
                );
            }
        }
    }
    let running = Running {
        port,
        pid: child.id(),
        lines: Arc::new(Mutex::new(rx)),
    };
    exercise(running.clone()).await;
    running.signal("-TERM");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let audit_path = dir.join("audit.log");
    Output {
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        audit: std::fs::read_to_string(audit_path).unwrap_or_default(),
    }
}

fn assert_no_key(out: &Output, keys: &[&str]) {
    for (name, text) in [
        ("stdout", &out.stdout),
        ("stderr", &out.stderr),
        ("audit", &out.audit),
    ] {
        for key in keys {
            assert_eq!(leaked(text, key), None, "a key leaked into {name}:\n{text}");
        }
    }
}

#[tokio::test]
async fn no_key_reaches_any_log_in_verify_or_inject_mode() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certs::make(dir.path());
    let master = random_key("master");
    let guess = random_key("guess");
    let blnk = FakeBlnk::start(&master).await;

    // Verify mode, audit records on stdout (the journald deployment).
    let (m, g, ca) = (master.clone(), guess.clone(), certs.ca.clone());
    let verify = serve(
        dir.path(),
        &master,
        json!({"upstream": blnk.url(), "audit": {"path": "-"}}),
        move |run: Running| async move {
            let addr = ([127, 0, 0, 1], run.port).into();
            let tls = client::connect_tls(addr, &client::tls(&ca, None, &[b"http/1.1"]))
                .await
                .unwrap();
            let mut c = client::h1(tls).await;
            for k in [&m, &g] {
                send1(&mut c, get_ledgers(k)).await;
                send1(&mut c, keyed_transfer(k, "")).await;
            }
            let tls = client::connect_tls(addr, &client::tls(&ca, None, &[b"h2"]))
                .await
                .unwrap();
            let mut c = client::h2(tls).await;
            let a = send2(&mut c, keyed_empty("GET", "/balances", &m)).await;
            assert_eq!(a.status, 200);
        },
    )
    .await;
    assert_no_key(&verify, &[&master, &guess]);
    let records: Vec<Value> = verify
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        records.iter().filter(|r| r["kind"] == "request").count(),
        5,
        "{}",
        verify.stdout
    );

    // Inject mode, audit records in a file; clients send the master key and a guess anyway.
    let (m, g, ca) = (master.clone(), guess.clone(), certs.ca.clone());
    let inject = serve(
        dir.path(),
        &master,
        json!({"upstream": blnk.url(), "mode": "inject", "allow_networks": ["127.0.0.1/32"], "audit": {"path": "audit.log"}}),
        move |run: Running| async move {
            let addr = ([127, 0, 0, 1], run.port).into();
            let tls = client::connect_tls(addr, &client::tls(&ca, None, &[b"h2"])).await.unwrap();
            let mut c = client::h2(tls).await;
            for k in [&m, &g] {
                let a = send2(&mut c, keyed_ledger(k, "inject")).await;
                assert_eq!(a.status, 201);
            }
        },
    )
    .await;
    assert_no_key(&inject, &[&master, &guess]);
    assert_eq!(
        inject
            .audit
            .lines()
            .filter(|l| l.contains("\"kind\":\"request\""))
            .count(),
        2
    );
    // The operational log did say something at trace level: the check looked at real output.
    assert!(inject.stderr.lines().count() > 5, "{}", inject.stderr);
}
