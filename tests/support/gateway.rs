//! A gateway started in-process for one test, with its own certificates, config file and fake
//! Blnk, listening on 127.0.0.1:0, through the same `app::start` as `blnk-gateway serve`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use blnk_gateway::app::{self, Listeners, Options, Running};
use blnk_gateway::config::{Env, Purpose};
use blnk_gateway::gateway::Gateway;
use blnk_gateway::reload::Reloader;
use blnk_gateway::server::Drain;
use blnk_gateway::state;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::certs::{self, Certs};
use super::fake_blnk::FakeBlnk;

/// A fresh master key per test, long enough not to draw the short-key warning.
pub fn new_key(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "mk-{tag}-{nanos:x}-{}-padpadpadpadpadpad",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The audit log of every test gateway, in its directory (a test may point it elsewhere).
pub const AUDIT_FILE: &str = "audit.log";

/// A stopped gateway's audit log, and the directory that holds it.
pub struct AuditLog {
    pub lines: Vec<String>,
    pub path: PathBuf,
    pub state: Arc<Gateway>,
    pub dir: tempfile::TempDir,
}

impl AuditLog {
    /// Every line as JSON.
    pub fn all(&self) -> Vec<Value> {
        self.lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The request records only.
    pub fn requests(&self) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|r| r["kind"] == "request")
            .collect()
    }

    /// The one request record with this request id; fails unless there is exactly one.
    pub fn one(&self, request_id: &str) -> Value {
        let found: Vec<Value> = self
            .requests()
            .into_iter()
            .filter(|r| r["request_id"] == request_id)
            .collect();
        assert_eq!(found.len(), 1, "{request_id}: {found:#?}");
        found.into_iter().next().unwrap()
    }
}

pub struct TestGateway {
    pub addr: SocketAddr,
    /// The admin listener, when `Setup::admin` asked for one.
    pub admin_addr: Option<SocketAddr>,
    pub blnk: FakeBlnk,
    pub key: String,
    pub certs: Certs,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub state: Arc<Gateway>,
    pub reloader: Arc<Reloader>,
    shutdown: Option<oneshot::Sender<()>>,
    running: Option<Running>,
}

/// What to put in the config. `gateway` is merged over the defaults below.
pub struct Setup {
    pub tls: bool,
    pub gateway: Value,
    /// Watch the files and reload on change, as `serve` does.
    pub watch: bool,
    /// Deliver the key Kubernetes-style: `secret/master.key -> ..data/master.key`,
    /// `..data -> ..v0`.
    pub k8s_secret: bool,
    /// Extra files (name, content) written next to the config before it is loaded.
    pub files: Vec<(String, String)>,
    /// Serve the admin listener on 127.0.0.1:0.
    pub admin: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            tls: true,
            gateway: json!({}),
            watch: false,
            k8s_secret: false,
            files: Vec::new(),
            admin: false,
        }
    }
}

/// Writes a new key into the Kubernetes-style layout by an atomic `..data` symlink swap.
pub fn k8s_write(dir: &std::path::Path, version: usize, key: &str) {
    let secret = dir.join("secret");
    let v = secret.join(format!("..v{version}"));
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("master.key"), format!("{key}\n")).unwrap();
    let tmp = secret.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..v{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, secret.join("..data")).unwrap();
    let link = secret.join("master.key");
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink("..data/master.key", &link).unwrap();
    }
}

/// Merges `extra` into `base`, objects key by key.
pub fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e.clone(),
    }
}

impl TestGateway {
    pub async fn start(setup: Setup) -> TestGateway {
        let key = new_key("gw");
        let blnk = FakeBlnk::start(&key).await;
        Self::start_with(setup, key, blnk).await
    }

    pub async fn start_with(setup: Setup, key: String, blnk: FakeBlnk) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let certs = certs::make(dir.path());
        let key_path = if setup.k8s_secret {
            k8s_write(dir.path(), 0, &key);
            "secret/master.key"
        } else {
            std::fs::write(dir.path().join("master.key"), format!("{key}\n")).unwrap();
            "master.key"
        };
        let mut gateway = json!({
            "listen": "127.0.0.1:0",
            "upstream": blnk.url(),
            "secret_key_file": key_path,
            "audit": {"path": AUDIT_FILE},
        });
        if setup.tls {
            gateway["tls"] = json!({"cert": "server.pem", "key": "server.key"});
        } else {
            gateway["allow_plaintext"] = json!(true);
        }
        merge(&mut gateway, &setup.gateway);
        let doc = json!({
            "project_name": "test ledger",
            "data_source": {"dns": "postgres://user:pass@localhost/blnk"},
            "server": {"secure": true, "port": "5001"},
            "gateway": gateway,
        });
        for (name, content) in &setup.files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        let config_path = dir.path().join("blnk.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        let loaded = state::load(&config_path, &Env::default(), Purpose::Serve)
            .unwrap_or_else(|p| panic!("test config rejected:\n{p}"));
        let client = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = match setup.admin {
            true => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
            false => None,
        };
        let options = Options {
            config_path: config_path.clone(),
            env: Env::default(),
            systemd: Arc::new(blnk_gateway::systemd::Notifier::disabled()),
            watch_files: setup.watch,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let listeners = Listeners { client, admin };
        let shutdown = async move {
            let _ = rx.await;
        };
        let running = app::start(loaded, listeners, options, shutdown).unwrap();
        TestGateway {
            addr: running.addr,
            admin_addr: running.admin_addr,
            blnk,
            key,
            certs,
            dir,
            config_path,
            state: running.gateway.clone(),
            reloader: running.reloader.clone(),
            shutdown: Some(tx),
            running: Some(running),
        }
    }

    /// The value of the line starting with `name` on the gateway's /metrics (an admin listener
    /// of its own, on 127.0.0.1:0).
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, text) = self.admin_get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} not in:\n{text}"))
    }

    /// A GET to an admin listener of this gateway's state (started for the call): the status
    /// and the body.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(blnk_gateway::admin::Admin::new(self.state.clone()).run(listener));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut admin = super::client::h1(tcp).await;
        let a = super::client::send1(&mut admin, super::client::bare("GET", path)).await;
        (
            a.status.as_u16(),
            String::from_utf8_lossy(&a.body).into_owned(),
        )
    }

    /// Rewrites the key file in place (truncate, then write).
    pub fn write_key(&self, key: &str) {
        std::fs::write(self.dir.path().join("master.key"), format!("{key}\n")).unwrap();
    }

    /// Replaces the key file by writing a temporary file and renaming it over the old one.
    pub fn rename_key(&self, key: &str) {
        let tmp = self.dir.path().join(".master.key.tmp");
        std::fs::write(&tmp, format!("{key}\n")).unwrap();
        std::fs::rename(&tmp, self.dir.path().join("master.key")).unwrap();
    }

    /// The fingerprint of the key the gateway uses now.
    pub fn fingerprint(&self) -> String {
        self.state.snapshot().keys.current.fingerprint().to_string()
    }

    /// Waits (bounded) until the gateway has loaded `key`: file events arrive asynchronously.
    pub async fn wait_for_key(&self, key: &str) {
        let want = blnk_gateway::secret::Fingerprint::of(key.as_bytes()).to_string();
        let waited = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            while self.fingerprint() != want {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the gateway did not load the new key");
    }

    /// A TLS connector trusting the test CA, offering `alpn`.
    pub fn connector(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        super::client::tls(&self.certs.ca, None, alpn)
    }

    pub async fn h1(&self) -> super::client::H1 {
        let tls = super::client::connect_tls(self.addr, &self.connector(&[b"http/1.1"]))
            .await
            .unwrap();
        super::client::h1(tls).await
    }

    pub async fn h2(&self) -> super::client::H2 {
        let tls = super::client::connect_tls(self.addr, &self.connector(&[b"h2"]))
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        super::client::h2(tls).await
    }

    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join(AUDIT_FILE)
    }

    /// Stops the gateway (every connection drained, so every record handed over; the audit log
    /// closed, so every record written), and reads the log.
    pub async fn stop_and_read_audit(self) -> AuditLog {
        let path = self.audit_path();
        self.stop_and_read_audit_at(&path).await
    }

    /// As `stop_and_read_audit`, for a log the test put elsewhere.
    pub async fn stop_and_read_audit_at(self, path: &std::path::Path) -> AuditLog {
        let path = path.to_path_buf();
        let state = self.state.clone();
        let mut me = self;
        if let Some(tx) = me.shutdown.take() {
            let _ = tx.send(());
        }
        me.running
            .take()
            .unwrap()
            .finished()
            .await
            .expect("the gateway crashed");
        let text = std::fs::read_to_string(&path).unwrap();
        AuditLog {
            lines: text.lines().map(str::to_string).collect(),
            path,
            state,
            dir: me.dir,
        }
    }

    /// Signals shutdown and waits for the drain.
    pub async fn stop(mut self) -> Drain {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let running = self.running.take().unwrap();
        running.finished().await.expect("the gateway crashed")
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn join(mut self) -> Drain {
        let running = self.running.take().unwrap();
        running.finished().await.expect("the gateway crashed")
    }
}
