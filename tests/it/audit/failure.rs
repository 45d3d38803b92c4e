//! When the audit log cannot be written: writes refused (or not, with fail_open), reads served,
//! nothing lost silently, and recovery once the log is writable again.
//!
//! Tests run as root, so permission bits would not stop a write. Two failures that do: the log
//! is a symlink to /dev/full (every write fails with ENOSPC, as on a full disk), and the path is
//! a directory when the log is reopened (the open fails with EISDIR).

use serde_json::{json, Value};

use super::h1_send;
use crate::support::client::{bare, h1, keyed_ledger, keyed_transfer, keyed_with_id, send1};
use crate::support::gateway::{Setup, TestGateway};
use blnk_gateway::audit::verify::{verify, Outcome};

/// The value of `name` on the gateway's /metrics.
async fn metric(gw: &TestGateway, name: &str) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(blnk_gateway::admin::Admin::new(gw.state.clone()).run(listener));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut admin = h1(tcp).await;
    let a = send1(&mut admin, bare("GET", "/metrics")).await;
    let text = String::from_utf8_lossy(&a.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in:\n{text}"))
}

/// A gateway whose audit log is a symlink to /dev/full, in a directory the test keeps.
async fn on_a_full_disk(audit: Value) -> (TestGateway, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();
    let mut settings = json!({"path": path});
    crate::support::gateway::merge(&mut settings, &audit);
    let gw = TestGateway::start(Setup {
        gateway: json!({ "audit": settings }),
        ..Setup::default()
    })
    .await;
    // The writer's first write (the genesis record) has failed once this returns.
    assert!(gw.state.audit.flush().await.is_err());
    assert!(!gw.state.audit.stats().healthy);
    (gw, dir, path)
}

#[tokio::test]
async fn a_full_disk_refuses_writes_serves_reads_and_recovers_without_loss() {
    let (gw, _dir, path) = on_a_full_disk(json!({})).await;
    let key = gw.key.clone();
    let post = || keyed_transfer(&key, "");
    h1_send(&gw, post())
        .await
        .assert_error(503, "GATEWAY_AUDIT_UNAVAILABLE");
    let read = h1_send(&gw, keyed_with_id("GET", "/ledgers", &key, "read")).await;
    assert_eq!(read.status, 200);
    assert_eq!(gw.blnk.count(), 1, "the refused write reached Blnk");
    assert_eq!(gw.state.audit.stats().refused_writes, 1);
    assert_eq!(metric(&gw, "blnk_gateway_audit_healthy").await, 0.0);
    assert_eq!(
        metric(&gw, "blnk_gateway_audit_refused_writes_total").await,
        1.0
    );

    // The operator frees the path and reopens (what SIGHUP does): writes work again.
    std::fs::remove_file(&path).unwrap();
    gw.state.audit.reopen().await.unwrap();
    assert!(gw.state.audit.stats().healthy);
    assert_eq!(h1_send(&gw, post()).await.status, 201);
    assert_eq!(metric(&gw, "blnk_gateway_audit_healthy").await, 1.0);

    let log = gw.stop_and_read_audit_at(&path).await;
    assert_eq!(log.all()[0]["kind"], "genesis");
    // The records kept in memory during the outage were written after it: none lost.
    let requests = log.requests();
    assert_eq!(requests.len(), 3, "{:#?}", log.lines);
    let refused = requests
        .iter()
        .filter(|r| r["reason"] == "GATEWAY_AUDIT_UNAVAILABLE");
    assert_eq!(refused.count(), 1);
    assert_eq!(log.one("read")["decision"], "forwarded");
    assert_eq!(log.state.audit.stats().lost, 0);
    assert!(matches!(verify(&[path]).unwrap(), Outcome::Intact(_)));
}

#[tokio::test]
async fn fail_open_serves_writes_while_the_log_cannot_be_written() {
    let (gw, _dir, _path) = on_a_full_disk(json!({"on_failure": "fail_open"})).await;
    let key = gw.key.clone();
    let a = h1_send(&gw, keyed_transfer(&key, "w")).await;
    assert_eq!(a.status, 201);
    assert_eq!(gw.state.audit.stats().refused_writes, 0);
}

#[tokio::test]
async fn records_beyond_the_pending_bound_are_counted_and_reported_by_a_gap_record() {
    let (gw, _dir, path) =
        on_a_full_disk(json!({"max_pending_records": 2, "flush_records": 1})).await;
    let key = gw.key.clone();
    for i in 0..5 {
        let id = format!("r{i}");
        let a = h1_send(&gw, keyed_with_id("GET", "/ledgers", &key, &id)).await;
        assert_eq!(a.status, 200);
    }
    std::fs::remove_file(&path).unwrap();
    gw.state.audit.reopen().await.unwrap();
    let log = gw.stop_and_read_audit_at(&path).await;
    // Whatever arrived while the log was unwritable beyond the bound is lost, and said so.
    let all = log.all();
    let lost: u64 = all
        .iter()
        .filter(|r| r["kind"] == "gap")
        .map(|r| r["lost"].as_u64().unwrap())
        .sum();
    let written = log.requests().len() as u64;
    assert!(lost >= 1, "{:#?}", log.lines);
    assert_eq!(written + lost, 5, "{:#?}", log.lines);
    assert_eq!(log.state.audit.stats().lost, lost);
    assert!(matches!(verify(&[path]).unwrap(), Outcome::Intact(_)));
}

#[tokio::test]
async fn a_directory_in_the_way_of_a_reopen_refuses_writes_until_it_is_gone() {
    let gw = TestGateway::start(Setup::default()).await;
    let key = gw.key.clone();
    let a = h1_send(&gw, keyed_with_id("GET", "/ledgers", &key, "before")).await;
    assert_eq!(a.status, 200);
    // The log exists and holds what came before.
    gw.state.audit.flush().await.unwrap();
    let path = gw.audit_path();
    let rotated = path.with_extension("log.1");
    std::fs::rename(&path, &rotated).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert!(gw.state.audit.reopen().await.is_err());

    h1_send(&gw, keyed_with_id("DELETE", "/hooks/1", &key, "refused"))
        .await
        .assert_error(503, "GATEWAY_AUDIT_UNAVAILABLE");
    let a = h1_send(&gw, keyed_with_id("GET", "/ledgers", &key, "read")).await;
    assert_eq!(a.status, 200);

    // Once the directory is gone, the writer's next attempt (a flush here, a timer otherwise)
    // opens the path, continues the chain there and writes what it kept.
    std::fs::remove_dir(&path).unwrap();
    gw.state.audit.flush().await.unwrap();
    let a = h1_send(&gw, keyed_ledger(&key, "after")).await;
    assert_eq!(a.status, 201);

    let log = gw.stop_and_read_audit().await;
    assert_eq!(log.all()[0]["kind"], "continue");
    for id in ["refused", "read", "after"] {
        log.one(id);
    }
    let Outcome::Intact(intact) = verify(&[rotated, log.path.clone()]).unwrap() else {
        panic!("chain broken across the reopen")
    };
    assert_eq!(intact.files, 2);
}
