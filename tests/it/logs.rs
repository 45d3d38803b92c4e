//! The operational log of the real binary, as an operator reads it in the journal: JSON lines with
//! the start line's facts as fields; rustls's per-handshake warnings kept out by default (and back
//! when `BLNK_GATEWAY_LOG` asks for them); a key mismatch logged once per change; reload lines
//! that name the certificate and keys in force.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::Digest;

use crate::support::certs::{self, Certs};
use crate::support::client::{connect_tls, empty, h1, req, send1, tls};
use crate::support::fake_blnk::FakeBlnk;
use crate::support::gateway::new_key;

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");
const WAIT: Duration = Duration::from_secs(20);

struct Gateway {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    port: u16,
    admin: u16,
    certs: Certs,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The binary with TLS and an admin listener in front of `blnk`, logging JSON to a reader.
fn start(blnk: &FakeBlnk, key: &str, log_filter: Option<&str>) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let certs = certs::make(dir.path());
    let (port, admin) = (free_port(), free_port());
    let config = json!({"server": {"secure": true}, "gateway": {
        "listen": format!("127.0.0.1:{port}"), "admin_listen": format!("127.0.0.1:{admin}"),
        "upstream": blnk.url(), "secret_key_file": "master.key",
        "tls": {"cert": "server.pem", "key": "server.key"},
        "audit": {"enabled": false}, "idempotency": {"enabled": false}}});
    std::fs::write(dir.path().join("blnk.json"), config.to_string()).unwrap();
    std::fs::write(dir.path().join("master.key"), format!("{key}\n")).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["--log-format", "json", "serve", "--config"])
        .arg(dir.path().join("blnk.json"))
        .env_remove("BLNK_GATEWAY_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(f) = log_filter {
        cmd.env("BLNK_GATEWAY_LOG", f);
    }
    let mut child = cmd.spawn().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = BufReader::new(child.stderr.take().unwrap());
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let v = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            sink.lock().unwrap().push(v);
        }
    });
    let gw = Gateway {
        child,
        lines,
        port,
        admin,
        certs,
        dir,
    };
    gw.wait_for("blnk-gateway starting");
    gw
}

impl Gateway {
    /// Lines whose message contains `text`.
    fn with(&self, text: &str) -> Vec<Value> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| l["fields"]["message"].as_str().unwrap_or("").contains(text))
            .cloned()
            .collect()
    }

    fn wait_for(&self, text: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self.with(text).pop() {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} in {:#?}",
                self.lines
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and every line once the process has exited.
    fn stop(mut self) -> Vec<Value> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the gateway did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.wait_for("drained");
        let lines = self.lines.lock().unwrap().clone();
        lines
    }

    async fn get(&self, path: &str, key: Option<&str>) -> u16 {
        let connector = tls(&self.certs.ca, None, &[b"http/1.1"]);
        let addr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let mut c = h1(connect_tls(addr, &connector).await.unwrap()).await;
        let mut r = req("GET", path);
        if let Some(k) = key {
            r = r.header("x-blnk-key", k);
        }
        send1(&mut c, r.body(empty()).unwrap())
            .await
            .status
            .as_u16()
    }

    async fn readyz(&self) -> u16 {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.admin))
            .await
            .unwrap();
        let mut c = h1(tcp).await;
        let a = send1(&mut c, req("GET", "/readyz").body(empty()).unwrap()).await;
        a.status.as_u16()
    }
}

/// A handshake whose ClientHello carries an IP address as SNI, as wrk sends it.
fn handshake_with_ip_sni(port: u16) {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "127.0.0.1"])
        .stdin(Stdio::null())
        .output()
        .expect(
            "openssl is needed for this test: apt-get install openssl (.ci/test.sh installs it)",
        );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BEGIN CERTIFICATE") || text.contains("Server certificate"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_start_line_has_fields_and_rustls_sni_warnings_stay_out_unless_asked_for() {
    let key = new_key("logs");
    let blnk = FakeBlnk::start(&key).await;
    let gw = start(&blnk, &key, None);
    let started = gw.wait_for("blnk-gateway starting");
    let f = &started["fields"];
    assert_eq!(f["message"], "blnk-gateway starting", "{started}");
    assert_eq!(f["mode"], "verify");
    assert_eq!(f["tls"], true);
    assert_eq!(f["listen"], format!("127.0.0.1:{}", gw.port));
    assert_eq!(f["key_fingerprint"].as_str().unwrap().len(), 12);
    assert_eq!(f["cert_sha256"].as_str().unwrap().len(), 64);
    assert!(
        f["cert_not_after"].as_str().unwrap().ends_with('Z'),
        "{started}"
    );
    tokio::task::block_in_place(|| handshake_with_ip_sni(gw.port));
    let lines = tokio::task::block_in_place(|| gw.stop());
    let text = format!("{lines:#?}");
    assert!(!text.contains("SNI"), "{text}");
    assert!(!text.contains(&key));

    // The same handshake with rustls asked for by name: the warning is there, so the check
    // above can see one.
    let gw = start(&blnk, &key, Some("info,rustls=warn"));
    tokio::task::block_in_place(|| handshake_with_ip_sni(gw.port));
    let lines = tokio::task::block_in_place(|| gw.stop());
    assert!(format!("{lines:#?}").contains("SNI"), "{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_mismatch_is_logged_once_per_change_and_reloads_name_what_changed() {
    let key = new_key("logs");
    let blnk = FakeBlnk::start(&new_key("blnk-other")).await;
    let gw = start(&blnk, &key, None);
    for _ in 0..3 {
        assert_eq!(gw.readyz().await, 503);
    }
    for _ in 0..12 {
        assert_eq!(gw.get("/ledgers", Some(&key)).await, 401);
    }
    blnk.set_key(&key);
    assert_eq!(gw.get("/ledgers", Some(&key)).await, 200);
    assert_eq!(gw.readyz().await, 200);

    // A new certificate: the reload line names it.
    let fresh = tempfile::tempdir().unwrap();
    let new = certs::make(fresh.path());
    std::fs::write(gw.dir.path().join("server.key.tmp"), &new.server.key).unwrap();
    std::fs::write(gw.dir.path().join("server.pem.tmp"), &new.server.cert).unwrap();
    for f in ["server.key", "server.pem"] {
        let from = gw.dir.path().join(format!("{f}.tmp"));
        std::fs::rename(from, gw.dir.path().join(f)).unwrap();
    }
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(new.server.cert.as_bytes());
    let der: rustls_pki_types::CertificateDer = der.unwrap();
    let sha = hex::encode(sha2::Sha256::digest(der.as_ref()));
    let reloaded = tokio::task::block_in_place(|| {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = gw
                .with("configuration reloaded")
                .into_iter()
                .find(|l| l["fields"]["cert_sha256"] == sha.as_str());
            if let Some(l) = found {
                return l;
            }
            assert!(Instant::now() < deadline, "{:#?}", gw.lines);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let f = &reloaded["fields"];
    assert_eq!(f["cert_changed"], true, "{reloaded}");
    assert_eq!(f["key_changed"], false, "{reloaded}");
    assert!(f["cert_not_after"].as_str().unwrap().ends_with('Z'));
    assert_eq!(f["client_keys"], 0);

    let lines = tokio::task::block_in_place(|| gw.stop());
    let count = |text: &str| {
        lines
            .iter()
            .filter(|l| l["fields"]["message"].as_str().unwrap_or("").contains(text))
            .count()
    };
    let rejects: Vec<&Value> = lines
        .iter()
        .filter(|l| l["level"] == "ERROR" && l.to_string().contains("master key"))
        .collect();
    assert_eq!(rejects.len(), 1, "one ERROR per change: {rejects:#?}");
    assert!(count("Blnk rejects the gateway's master key") == 1);
    assert!(count("likely key mismatch") >= 1);
    assert_eq!(count("accepts the gateway's master key again"), 1);
    assert!(!format!("{lines:?}").contains(&key));
}
