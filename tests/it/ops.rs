//! Operations: the systemd unit, sd_notify, socket activation, the admin listener, a crashed
//! serve task. The tools these tests run (systemd-analyze, systemd-socket-activate, taskset,
//! kill, promtool) are required: a missing one fails its test, naming its Debian package.

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use blnk_gateway::app;
use blnk_gateway::config::{Env, Purpose};
use blnk_gateway::state;

use crate::support::client::{bare, get_ledgers, keyed_empty, keyed_with_id, send1};
use crate::support::fake_blnk::FakeBlnk;
use crate::support::gateway::{new_key, Setup, TestGateway};
use crate::support::upstream::gateway_without_blnk;

const BIN: &str = env!("CARGO_BIN_EXE_blnk-gateway");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Bound on every wait for the child process.
const WAIT: Duration = Duration::from_secs(20);

/// Runs `tool` with `probe` (its version or help) and fails the test, naming the Debian package
/// that holds it, when the tool cannot be run. .ci/test.sh installs each one: a test that passed
/// without running would say something it never checked.
fn require(tool: &'static str, probe: &str, package: &str) -> &'static str {
    if let Err(e) = Command::new(tool).arg(probe).output() {
        panic!(
            "{tool} is needed for this test ({e}): install the Debian package `{package}` \
             (sudo apt-get install {package}), or run .ci/test.sh, which installs it"
        );
    }
    tool
}

/// The unit with ExecStart pointing at the binary under test, so `verify` can check it.
fn unit_copy(dir: &Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(format!("{ROOT}/systemd/blnk-gateway.service")).unwrap();
    let path = dir.join("blnk-gateway.service");
    std::fs::write(&path, unit.replace("/usr/bin/blnk-gateway", BIN)).unwrap();
    path
}

#[test]
fn the_unit_verifies_and_rates_ok() {
    let tool = require("systemd-analyze", "--version", "systemd");
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_copy(dir.path());
    // The man page Documentation= names is installed by the package, not here (.ci/package.sh
    // verifies the installed unit with it).
    let out = Command::new(tool)
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(tool)
        .args(["security", "--offline=true"])
        .arg(&unit)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(score <= 2.0, "{line}");
    let unit = std::fs::read_to_string(format!("{ROOT}/systemd/blnk-gateway.service")).unwrap();
    for directive in [
        "Type=notify",
        "ExecReload=/usr/bin/blnk-gateway check",
        "WatchdogSec=",
        "RestartPreventExitStatus=78",
        "LimitNOFILE=",
    ] {
        assert!(unit.contains(directive), "{directive}");
    }
}

struct Started {
    child: Child,
    notify: UnixDatagram,
    _dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Started {
    /// A test that fails midway leaves no gateway running (SIGKILL, from std: no tool needed).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the real binary with a socket standing in for $NOTIFY_SOCKET.
fn start(
    blnk: &FakeBlnk,
    key: &str,
    extra_env: &[(&str, &str)],
    wrapper: Option<&[&str]>,
) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("blnk.json");
    let config = json!({"gateway": {
        "listen": format!("127.0.0.1:{port}"), "upstream": blnk.url(), "allow_plaintext": true,
        "admin_listen": "off", "secret_key_file": "master.key"}});
    std::fs::write(&cfg, config.to_string()).unwrap();
    std::fs::write(dir.path().join("master.key"), format!("{key}\n")).unwrap();
    let sock_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&sock_path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    let mut cmd = match wrapper {
        Some(w) => {
            let mut c = Command::new(w[0]);
            c.args(&w[1..]).arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    cmd.args(["serve", "--config"])
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    Started {
        child: cmd.spawn().unwrap(),
        notify,
        _dir: dir,
        port,
    }
}

fn next_message(s: &Started) -> String {
    let mut buf = [0u8; 512];
    let n = s
        .notify
        .recv(&mut buf)
        .expect("no sd_notify message before the deadline");
    // sd_notify messages are newline-separated assignments; the last newline is optional.
    String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
}

/// Everything the child wrote on stderr (read once it has exited).
fn stderr(s: &mut Started) -> String {
    let mut err = String::new();
    s.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

fn signal(child: &Child, sig: &str) {
    assert!(Command::new(require("kill", "--version", "procps"))
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

fn wait_exit(child: &mut Child) -> i32 {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sd_notify_ready_reload_stopping_in_order_with_watchdog() {
    let key = new_key("notify");
    let blnk = FakeBlnk::start(&key).await;
    let mut s = start(&blnk, &key, &[("WATCHDOG_USEC", "200000")], None);
    let first = tokio::task::block_in_place(|| next_message(&s));
    assert!(first.starts_with("READY=1"), "{first}");
    // Ready means bound: the port answers now.
    std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    signal(&s.child, "-HUP");
    let mut seen = Vec::new();
    tokio::task::block_in_place(|| {
        while seen
            .iter()
            .filter(|m: &&String| !m.starts_with("WATCHDOG"))
            .count()
            < 2
        {
            seen.push(next_message(&s));
        }
    });
    let lifecycle: Vec<&String> = seen.iter().filter(|m| !m.starts_with("WATCHDOG")).collect();
    assert!(lifecycle[0].starts_with("RELOADING=1"), "{seen:?}");
    assert!(lifecycle[1].starts_with("READY=1"), "{seen:?}");
    // The watchdog pings at half of WATCHDOG_USEC.
    let ping = tokio::task::block_in_place(|| loop {
        let m = next_message(&s);
        if m == "WATCHDOG=1" {
            break m;
        }
    });
    assert_eq!(ping, "WATCHDOG=1");
    signal(&s.child, "-TERM");
    let stopping = tokio::task::block_in_place(|| loop {
        let m = next_message(&s);
        if !m.starts_with("WATCHDOG") {
            break m;
        }
    });
    assert!(stopping.starts_with("STOPPING=1"), "{stopping}");
    assert_eq!(tokio::task::block_in_place(|| wait_exit(&mut s.child)), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_core_the_gateway_runs_a_current_thread_runtime_and_serves() {
    let taskset = require("taskset", "--version", "util-linux");
    let key = new_key("onecore");
    let blnk = FakeBlnk::start(&key).await;
    // One CPU this process may use (a container's cpuset need not include CPU 0).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap();
    let cpu: String = allowed
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let mut s = start(&blnk, &key, &[], Some(&[taskset, "-c", &cpu]));
    let ready = tokio::task::block_in_place(|| next_message(&s));
    assert!(ready.starts_with("READY=1"), "{ready}");
    let port = s.port;
    let request = format!(
        "GET /ledgers HTTP/1.1\r\nHost: x\r\nX-Blnk-Key: {key}\r\nConnection: close\r\n\r\n"
    );
    let answer = tokio::task::block_in_place(move || {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(WAIT)).unwrap();
        std::io::Write::write_all(&mut c, request.as_bytes()).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        answer
    });
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(blnk.count(), 1);
    signal(&s.child, "-TERM");
    assert_eq!(tokio::task::block_in_place(|| wait_exit(&mut s.child)), 0);
    let err = stderr(&mut s);
    assert!(err.contains("runtime=current_thread"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_key_never_becomes_ready() {
    let blnk = FakeBlnk::start("unused").await;
    let mut s = start(&blnk, "   ", &[], None);
    let code = tokio::task::block_in_place(|| wait_exit(&mut s.child));
    assert_eq!(code, 78);
    s.notify.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 256];
    assert!(
        s.notify.recv(&mut buf).is_err(),
        "a message was sent: {:?}",
        String::from_utf8_lossy(&buf)
    );
    let err = stderr(&mut s);
    assert!(err.contains("gateway.secret_key_file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_activated_gateway_serves_the_inherited_socket() {
    let activate = require("systemd-socket-activate", "--version", "systemd");
    let key = new_key("sockact");
    let blnk = FakeBlnk::start(&key).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    // The config names another port: only the inherited socket can answer on `port`.
    let mut s = start(
        &blnk,
        &key,
        &[],
        Some(&[activate, "-l", &listen, "-E", "NOTIFY_SOCKET"]),
    );
    // The socket exists before the gateway runs: the first connection waits in the kernel's
    // queue while the gateway starts (systemd-socket-activate starts it on that connection).
    let connecting = tokio::spawn({
        let listen = listen.clone();
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                match tokio::net::TcpStream::connect(&listen).await {
                    Ok(tcp) => break tcp,
                    Err(e) if tokio::time::Instant::now() > deadline => panic!("{e}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }
    });
    let tcp = connecting.await.unwrap();
    let ready = tokio::task::block_in_place(|| next_message(&s));
    assert!(ready.starts_with("READY=1"), "{ready}");
    let mut c = crate::support::client::h1(tcp).await;
    let a = send1(&mut c, get_ledgers(&key)).await;
    assert_eq!(a.status, 200);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err(),
        "gateway.listen was bound too"
    );
    signal(&s.child, "-TERM");
    assert_eq!(tokio::task::block_in_place(|| wait_exit(&mut s.child)), 0);
}

/// Parses Prometheus text: every sample line is `name{labels} value` with a numeric value, and
/// every sample's family was declared with # TYPE.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split_whitespace().next().unwrap().to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        // OpenMetrics names a counter's family without its `_total`.
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(
            typed.contains(name) || typed.contains(family),
            "no # TYPE for {name}"
        );
        samples.push((series.to_string(), value));
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .map_or(0.0, |(_, v)| *v)
}

#[tokio::test]
async fn metrics_parse_and_move_as_requests_flow_and_readyz_follows_blnk() {
    let gw = TestGateway::start(Setup {
        admin: true,
        ..Setup::default()
    })
    .await;
    let admin_addr = gw.admin_addr.unwrap();
    let mut admin =
        crate::support::client::h1(tokio::net::TcpStream::connect(admin_addr).await.unwrap()).await;

    let scrape = |text: bytes::Bytes| parse_metrics(&String::from_utf8_lossy(&text));
    let before = scrape(send1(&mut admin, bare("GET", "/metrics")).await.body);
    let mut c = gw.h1().await;
    for _ in 0..3 {
        send1(&mut c, get_ledgers(&gw.key)).await;
    }
    send1(&mut c, keyed_empty("GET", "/balances", "wrong")).await;
    let after = scrape(send1(&mut admin, bare("GET", "/metrics")).await.body);
    let ok = r#"blnk_gateway_requests_total{mode="verify",status_class="2xx",resource="ledgers"}"#;
    let denied =
        r#"blnk_gateway_requests_total{mode="verify",status_class="4xx",resource="balances"}"#;
    assert_eq!(sample(&after, ok) - sample(&before, ok), 3.0);
    assert_eq!(sample(&after, denied) - sample(&before, denied), 1.0);
    assert_eq!(
        sample(
            &after,
            r#"blnk_gateway_auth_failures_total{reason="invalid_key"}"#
        ),
        1.0
    );
    assert!(sample(&after, "blnk_gateway_tls_handshakes_total") >= 1.0);
    assert!(sample(&after, "blnk_gateway_open_connections") >= 1.0);
    assert!(sample(&after, "blnk_gateway_upstream_duration_seconds_count") >= 3.0);
    assert!(after
        .iter()
        .any(|(s, _)| s == "blnk_gateway_key_age_seconds"));
    // No key in the metrics, ever.
    let text = send1(&mut admin, bare("GET", "/metrics")).await.body;
    assert!(!String::from_utf8_lossy(&text).contains(&gw.key));

    let a = send1(&mut admin, bare("GET", "/healthz")).await;
    assert_eq!(a.status, 200);
    let a = send1(&mut admin, bare("GET", "/readyz")).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
}

/// Nothing listening where Blnk should be reads differently from a Blnk that answers but is
/// not healthy.
#[tokio::test]
async fn readyz_is_503_when_blnk_is_down_and_says_why() {
    let (gw, free) = gateway_without_blnk(Setup {
        admin: true,
        ..Setup::default()
    })
    .await;
    let addr = gw.admin_addr.unwrap();
    let mut admin =
        crate::support::client::h1(tokio::net::TcpStream::connect(addr).await.unwrap()).await;
    let a = send1(&mut admin, bare("GET", "/readyz")).await;
    assert_eq!(a.status, 503);
    assert_eq!(
        String::from_utf8_lossy(&a.body),
        format!("not ready: cannot connect to Blnk at http://{free} (gateway.upstream): refused, or not accepted within gateway.limits.upstream_connect_timeout\n")
    );
    let a = send1(&mut admin, bare("GET", "/healthz")).await;
    assert_eq!(a.status, 200);

    // A Blnk that answers /health, but not UP.
    let unhealthy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = unhealthy.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = unhealthy.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = r#"{"status":"DOWN"}"#;
                let head = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(format!("{head}{body}").as_bytes()).await;
            });
        }
    });
    let key = new_key("unhealthy");
    let blnk = FakeBlnk::start(&key).await;
    let gw = TestGateway::start_with(
        Setup {
            admin: true,
            gateway: json!({"upstream": format!("http://{at}")}),
            ..Setup::default()
        },
        key,
        blnk,
    )
    .await;
    let mut admin = crate::support::client::h1(
        tokio::net::TcpStream::connect(gw.admin_addr.unwrap())
            .await
            .unwrap(),
    )
    .await;
    let a = send1(&mut admin, bare("GET", "/readyz")).await;
    assert_eq!(a.status, 503);
    assert_eq!(
        String::from_utf8_lossy(&a.body),
        "not ready: Blnk's /health answered 503 Service Unavailable\n"
    );
}

/// Prometheus's own scrape header, which prefers OpenMetrics.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// `/metrics` answers the format the scrape asks for: the classic text format unless `Accept`
/// asks for OpenMetrics, and `promtool check metrics` (which reads the classic format) accepts
/// it; OpenMetrics to Prometheus, with the same series.
#[tokio::test]
async fn metrics_are_classic_text_unless_openmetrics_is_asked_for() {
    let gw = TestGateway::start(Setup {
        admin: true,
        ..Setup::default()
    })
    .await;
    let mut c = gw.h1().await;
    send1(&mut c, get_ledgers(&gw.key)).await;
    send1(&mut c, keyed_empty("GET", "/balances", "wrong")).await;
    let mut admin = crate::support::client::h1(
        tokio::net::TcpStream::connect(gw.admin_addr.unwrap())
            .await
            .unwrap(),
    )
    .await;
    let classic = send1(&mut admin, bare("GET", "/metrics")).await;
    assert_eq!(
        classic.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8_lossy(&classic.body).into_owned();
    assert!(
        text.contains("# TYPE blnk_gateway_requests_total counter\n") && !text.contains("# EOF"),
        "{text}"
    );
    let checked = promtool_check_metrics(&text);
    assert!(
        checked.0,
        "promtool check metrics refused the classic format:\n{}",
        checked.1
    );

    let om = send1(
        &mut admin,
        crate::support::client::req("GET", "/metrics")
            .header("accept", PROMETHEUS_ACCEPT)
            .body(crate::support::client::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        om.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let om = String::from_utf8_lossy(&om.body).into_owned();
    assert!(
        om.ends_with("# EOF\n") && om.contains("# TYPE blnk_gateway_requests counter\n"),
        "{om}"
    );
    let series = |t: &str| -> std::collections::BTreeSet<String> {
        parse_metrics(t).into_iter().map(|(s, _)| s).collect()
    };
    assert_eq!(series(&text), series(&om));
}

/// `promtool check metrics` on `text`: whether it passed, and what it said. promtool is
/// required: .ci/test.sh installs it (Debian package `prometheus`).
fn promtool_check_metrics(text: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is needed to check the metrics format ({e}): install the Debian package \
                 `prometheus` (sudo apt-get install prometheus), or run .ci/test.sh, which installs it"
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// A gateway serving plain HTTP on 127.0.0.1:0 through `app::start`, as `serve` starts it, whose
/// serve task panics with `message` when `crash` fires: the shutdown future runs inside the
/// serve task, so a panic there is a panic of the serve task.
async fn crashing_gateway(
    blnk: &FakeBlnk,
    key: &str,
    dir: &Path,
    message: &'static str,
) -> (app::Running, tokio::sync::oneshot::Sender<()>) {
    let cfg = dir.join("blnk.json");
    let config = json!({"gateway": {
        "listen": "127.0.0.1:0", "upstream": blnk.url(), "allow_plaintext": true,
        "admin_listen": "off", "secret_key_file": "master.key", "audit": {"path": "audit.log"}}});
    std::fs::write(&cfg, config.to_string()).unwrap();
    std::fs::write(dir.join("master.key"), format!("{key}\n")).unwrap();
    let loaded = state::load(&cfg, &Env::default(), Purpose::Serve).unwrap();
    let listeners = app::Listeners {
        client: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: None,
    };
    let options = app::Options {
        config_path: cfg,
        env: Env::default(),
        systemd: std::sync::Arc::new(blnk_gateway::systemd::Notifier::disabled()),
        watch_files: false,
    };
    let (crash, crashed) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = crashed.await;
        panic!("{message}");
    };
    (
        app::start(loaded, listeners, options, shutdown).unwrap(),
        crash,
    )
}

/// A serve task that panics is a crash, not a drain: `finished` says so, with the panic's
/// message (which `serve` logs before exiting 1, so systemd's `Restart=on-failure` restarts it),
/// and the records already handed to the audit log are still written.
#[tokio::test]
async fn a_panicked_serve_task_is_a_crash_with_its_message_not_a_drain() {
    let key = new_key("crash");
    let blnk = FakeBlnk::start(&key).await;
    let dir = tempfile::tempdir().unwrap();
    let (running, crash) =
        crashing_gateway(&blnk, &key, dir.path(), "injected: accept broke").await;
    let tcp = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let mut c = crate::support::client::h1(tcp).await;
    let a = send1(
        &mut c,
        keyed_with_id("GET", "/ledgers", &key, "before-crash"),
    )
    .await;
    assert_eq!(a.status, 200);
    drop(c);
    crash.send(()).unwrap();
    let outcome = running.finished().await.unwrap_err().to_string();
    assert_eq!(outcome, "the serve task panicked: injected: accept broke");
    let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains(r#""request_id":"before-crash""#)),
        "the record handed over before the crash was lost:\n{audit}"
    );
}

/// A SIGTERM sent the instant READY=1 arrives drains and exits 0: the handlers are installed
/// before the gateway says ready, not when the shutdown future is first polled (the default
/// action would kill the process with no drain and no exit status). The window is a few
/// microseconds wide, so the test takes the race several times, signalling from this process
/// with no tool in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_right_after_ready_is_a_clean_drain() {
    use rustix::process::{kill_process, Pid, Signal};
    let key = new_key("early-term");
    let blnk = FakeBlnk::start(&key).await;
    for attempt in 0..5 {
        let mut s = start(&blnk, &key, &[], None);
        let first = tokio::task::block_in_place(|| next_message(&s));
        let pid = Pid::from_raw(s.child.id() as i32).unwrap();
        kill_process(pid, Signal::TERM).unwrap();
        assert!(first.starts_with("READY=1"), "{first}");
        let code = tokio::task::block_in_place(|| wait_exit(&mut s.child));
        let log = stderr(&mut s);
        assert_eq!(code, 0, "attempt {attempt}: {log}");
        assert!(log.contains("SIGTERM received"), "attempt {attempt}: {log}");
    }
}
