//! The real binary: `audit keygen`, `serve` signing checkpoints, killed with SIGKILL. The log it
//! leaves verifies up to its last checkpoint with the unsealed tail reported; cuts are proven
//! by the checkpoints its operational log kept (`--anchors`), within the limit docs/audit.md
//! states; the signing key is in no log; and OpenSSL alone checks a checkpoint's signature.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use serde_json::{json, Value};

use crate::support::certs;
use crate::support::client::{self, empty, req, send1, CLIENT_DEADLINE};
use crate::support::fake_blnk::FakeBlnk;
use crate::support::gateway::new_key;

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");

fn run(args: &[&str], dir: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    crate::support::exit_and_output(&out)
}

/// `serve` in `dir`, its port and its operational log as it comes.
struct Serve {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
    log: String,
}

impl Serve {
    fn start(dir: &Path, gateway: Value) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut g = json!({
            "listen": format!("127.0.0.1:{port}"),
            "secret_key_file": "master.key",
            "tls": {"cert": "server.pem", "key": "server.key"},
            "admin_listen": "off",
        });
        crate::support::gateway::merge(&mut g, &gateway);
        let cfg = dir.join("blnk.json");
        std::fs::write(
            &cfg,
            json!({"server": {"secure": true}, "gateway": g}).to_string(),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&cfg)
            .env_clear()
            .env("BLNK_GATEWAY_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut serve = Serve {
            child,
            port,
            lines,
            log: String::new(),
        };
        serve.wait_for("key_fingerprint=");
        serve
    }

    /// Waits (bounded) for an operational log line containing `needle`; keeps every line.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + CLIENT_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|e| {
                let _ = self.child.kill();
                panic!("no log line with {needle:?} ({e}):\n{}", self.log)
            });
            self.log.push_str(&line);
            self.log.push('\n');
            if line.contains(needle) {
                return;
            }
        }
    }

    /// SIGKILL: no drain, no close, no last checkpoint. Returns the operational log.
    fn kill9(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(5)) {
            self.log.push_str(&line);
            self.log.push('\n');
        }
        self.log
    }
}

/// Waits (bounded) until the file has `n` lines: the writer flushes on its own clock.
fn until_lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + CLIENT_DEADLINE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} lines, not {n}:\n{text}",
            lines.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn windows(secret: &str) -> Vec<&str> {
    (0..secret.len().saturating_sub(12))
        .map(|i| &secret[i..i + 13])
        .collect()
}

#[tokio::test]
async fn a_killed_gateway_leaves_a_sealed_log_and_cuts_are_proven_by_its_operational_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let certs = certs::make(d);
    let (code, text) = run(
        &[
            "audit",
            "keygen",
            "--out-secret",
            "audit.key",
            "--out-public",
            "audit.pub",
        ],
        d,
    );
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(
        &[
            "audit",
            "keygen",
            "--out-secret",
            "audit.key",
            "--out-public",
            "x.pub",
        ],
        d,
    );
    assert_eq!(code, 1, "keygen overwrote a key: {text}");
    let key = new_key("seal");
    std::fs::write(d.join("master.key"), format!("{key}\n")).unwrap();
    let blnk = FakeBlnk::start(&key).await;
    let audit = json!({"path": "audit.log", "signing_key_file": "audit.key", "checkpoint_records": 5, "checkpoint_interval": "1h"});
    let mut serve = Serve::start(d, json!({"upstream": blnk.url(), "audit": audit}));
    let addr = ([127, 0, 0, 1], serve.port).into();
    let tls = client::connect_tls(addr, &client::tls(&certs.ca, None, &[b"http/1.1"]))
        .await
        .unwrap();
    let mut c = client::h1(tls).await;
    for _ in 0..12 {
        let r = req("GET", "/ledgers").header("x-blnk-key", key.as_str());
        assert_eq!(send1(&mut c, r.body(empty()).unwrap()).await.status, 200);
    }
    // genesis, 4 records | checkpoint 5 | 5 records | checkpoint 11 | 3 records, unsealed
    serve.wait_for("audit checkpoint seq=11 ");
    let lines = until_lines(&d.join("audit.log"), 15);
    let ops = serve.kill9();
    std::fs::write(d.join("ops.log"), &ops).unwrap();

    let verify = |file: &str| {
        run(
            &[
                "audit",
                "verify",
                "--public-key",
                "audit.pub",
                "--anchors",
                "ops.log",
                file,
            ],
            d,
        )
    };
    let (code, text) = verify("audit.log");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("sealed: up to checkpoint seq 11 at audit.log:12"),
        "{text}"
    );
    assert!(text.contains("unsealed: 3 record(s)"), "{text}");
    assert!(text.contains("2 found in the files"), "{text}");

    let cut = |n: usize| std::fs::write(d.join("cut.log"), lines[..n].join("\n") + "\n").unwrap();
    // A whole checkpoint interval cut: the file ends on a valid checkpoint, yet the
    // operational log saw a later one.
    cut(6);
    let (code, text) = run(
        &["audit", "verify", "--public-key", "audit.pub", "cut.log"],
        d,
    );
    assert_eq!(code, 0, "without anchors the cut is invisible: {text}");
    let (code, text) = verify("cut.log");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("cut.log:7: truncated") && text.contains("checkpoint seq 11"),
        "{text}"
    );
    // The newest records after a checkpoint cut, with the checkpoint that sealed them.
    cut(9);
    let (code, text) = verify("cut.log");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("cut.log:10: truncated"), "{text}");
    // The limit: records after the last checkpoint can be cut unseen (docs/audit.md).
    cut(13);
    let (code, text) = verify("cut.log");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("unsealed: 1 record(s)"), "{text}");

    // The signing key is in no log: neither its PEM nor its seed, whole or in pieces.
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_file(d.join("audit.key")).unwrap();
    let seed = hex::encode(&der.secret_pkcs8_der()[16..48]);
    let pem = std::fs::read_to_string(d.join("audit.key")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    // The first 21 base64 characters are the ASN.1 header every Ed25519 key shares.
    let audit_text = lines.join("\n");
    for text in [&ops, &audit_text] {
        for piece in windows(&body[21..]).into_iter().chain(windows(&seed)) {
            assert!(
                !text.contains(piece),
                "a piece of the signing key is in a log"
            );
        }
    }
    assert!(ops.lines().count() > 10 && ops.contains("TRACE"), "{ops}");

    // OpenSSL checks a checkpoint with the public key and the message docs/audit.md defines.
    let cp: Value = serde_json::from_str(&lines[11]).unwrap();
    let message = format!(
        "blnk-gateway audit checkpoint v1\nseq={}\nhead={}\ntime={}\nkey={}\nnext_key=\n",
        cp["seq"],
        cp["prev"].as_str().unwrap(),
        cp["time"].as_str().unwrap(),
        cp["key"].as_str().unwrap()
    );
    std::fs::write(d.join("msg"), message).unwrap();
    std::fs::write(
        d.join("sig"),
        hex::decode(cp["sig"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let out = Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "audit.pub",
            "-rawin",
            "-in",
            "msg",
            "-sigfile",
            "sig",
        ])
        .current_dir(d)
        .output()
        .expect("openssl (.ci/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
