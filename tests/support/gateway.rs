//! A gateway started in-process for one test, with its own certificates, config file and fake
//! Blnk, listening on 127.0.0.1:0.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use blnk_gateway::config::{self, Env, Purpose};
use blnk_gateway::server::Drain;
use blnk_gateway::state::Gateway;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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

pub struct TestGateway {
    pub addr: SocketAddr,
    pub blnk: FakeBlnk,
    pub key: String,
    pub certs: Certs,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub state: Arc<Gateway>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Drain>>,
}

/// What to put in the config. `gateway` is merged over the defaults below.
pub struct Setup {
    pub tls: bool,
    pub gateway: Value,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            tls: true,
            gateway: json!({}),
        }
    }
}

fn merge(base: &mut Value, extra: &Value) {
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
        let key_file = dir.path().join("master.key");
        std::fs::write(&key_file, format!("{key}\n")).unwrap();
        let mut gateway = json!({
            "listen": "127.0.0.1:0",
            "upstream": blnk.url(),
            "secret_key_file": "master.key",
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
        let config_path = dir.path().join("blnk.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        let loaded = config::load(&config_path, &Env::default(), Purpose::Serve)
            .unwrap_or_else(|p| panic!("test config rejected:\n{p}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Gateway::new(loaded);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(blnk_gateway::server::run(
            state.clone(),
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        TestGateway {
            addr,
            blnk,
            key,
            certs,
            dir,
            config_path,
            state,
            shutdown: Some(tx),
            task: Some(task),
        }
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

    /// Signals shutdown and waits for the drain.
    pub async fn stop(mut self) -> Drain {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn join(mut self) -> Drain {
        self.task.take().unwrap().await.unwrap()
    }
}
