//! A real `redis-server` for one test, on a free port of 127.0.0.1, with no persistence, killed
//! when the test ends. Needs the Debian package `redis-server` (.ci/test.sh installs it); without
//! it the test fails and says so.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts a server and waits (at most 10 s) until it answers PING; tries another free port
    /// if the one it picked was taken meanwhile.
    pub fn start() -> Redis {
        for _ in 0..5 {
            let mut r = Redis {
                port: free_port(),
                child: None,
                dir: tempfile::tempdir().unwrap(),
            };
            if r.spawn() {
                return r;
            }
        }
        panic!("redis-server did not start on a free port (5 tries)");
    }

    /// Runs the server on `self.port`; false if it did not come up (the port was taken).
    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server: {e} (install the Debian package redis-server; .ci/test.sh does)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// PING over a plain socket: true on +PONG.
    pub fn ping(&self) -> bool {
        self.command(&["PING"])
            .is_some_and(|r| r.starts_with("+PONG"))
    }

    /// One command, its raw reply (enough for tests to look at keys).
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = [0u8; 65536];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Keys matching `pattern`, counted.
    pub fn count_keys(&self, pattern: &str) -> usize {
        let reply = self.command(&["KEYS", pattern]).unwrap_or_default();
        reply
            .lines()
            .next()
            .and_then(|l| l.strip_prefix('*'))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// SIGKILL: Redis is gone at once, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A new, empty server on the same port (as after a restart without persistence).
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.spawn(),
            "redis-server did not come back on port {}",
            self.port
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
