//! The real binary as a process of its own, for what an in-process gateway cannot show: a
//! `kill -9` (nothing runs after it), or a clock moved by libfaketime's `faketime` wrapper. It
//! serves plain HTTP on a free port of 127.0.0.1 in front of a fake Blnk; its files live in the
//! directory the test gives it, so a second process can start on what the first left.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::client::H1;
use super::gateway::merge;

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");
/// Bound on the wait for the process to listen.
const START: Duration = Duration::from_secs(20);

pub struct Process {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Process {
    /// Starts `blnk-gateway serve` (behind `wrapper`, if any) with a config in `dir`: the
    /// gateway section is plain HTTP to `upstream` with `key` in `dir/master.key`, and `extra`
    /// merged in. Returns once the port accepts connections.
    pub fn start(dir: &Path, upstream: &str, key: &str, extra: Value, wrapper: &[&str]) -> Process {
        let port = free_port();
        let mut gateway = json!({
            "listen": format!("127.0.0.1:{port}"), "upstream": upstream,
            "allow_plaintext": true, "admin_listen": "off", "secret_key_file": "master.key",
            "audit": {"path": "audit.log"},
            "idempotency": {"path": "idempotency.redb"},
        });
        merge(&mut gateway, &extra);
        let cfg = dir.join("blnk.json");
        std::fs::write(&cfg, json!({"gateway": gateway}).to_string()).unwrap();
        std::fs::write(dir.join("master.key"), format!("{key}\n")).unwrap();
        let mut cmd = match wrapper.split_first() {
            Some((tool, args)) => {
                let mut c = Command::new(tool);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        // A process group of its own, so a kill reaches the gateway behind a wrapper (faketime
        // forks it) too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.args(["serve", "--config"])
            .arg(&cfg)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run {:?}: {e} (faketime is the Debian package faketime; .ci/test.sh installs it)", cmd.get_program())
        });
        let mut p = Process {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        p.wait_listening();
        p
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + START;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the gateway exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not listen within {START:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A plain HTTP/1.1 connection to the gateway.
    pub async fn h1(&self) -> H1 {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        super::client::h1(tcp).await
    }

    /// SIGKILL to the process group: nothing of the gateway (or its wrapper) runs after it.
    /// Returns once the process is gone.
    pub fn kill9(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The audit log's lines as JSON (a torn last line, which a kill can leave, is not one).
    pub fn audit_records(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.join("audit.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}
