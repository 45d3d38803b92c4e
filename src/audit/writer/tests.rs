//! The writer and the request path's side of the channel, without sockets: batching by time
//! (paused clock), a full channel, an entry dropped before it was answered.

use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Version};
use serde_json::Value;

use crate::audit::chain::Chain;
use crate::audit::{Audit, Decision, Entry, RequestHead, RequestRecord};
use crate::config::{AuditTarget, AuditWriter, Fsync};
use crate::conn::{Alpn, CertHash, ConnClock, ConnInfo, TlsInfo};
use crate::error::Reject;
use crate::mode::Mode;

/// Yields this many times at most while waiting for the writer's blocking write.
const MAX_YIELDS: usize = 1_000_000;

fn conn() -> Arc<ConnInfo> {
    Arc::new(ConnInfo::new(
        "[::ffff:10.1.2.3]:4567".parse().unwrap(),
        Some(TlsInfo {
            version: "TLSv1.3",
            alpn: Alpn::H2,
            client_cert: Some(CertHash::new([0xab; 32])),
        }),
        Arc::new(ConnClock::default()),
    ))
}

fn entry(audit: &Audit, id: &'static str) -> Entry {
    let target = PathAndQuery::from_static("/transactions?x=1");
    let id = HeaderValue::from_static(id);
    let head = RequestHead {
        method: &Method::POST,
        version: Version::HTTP_2,
        target: &target,
        request_id: &id,
    };
    audit.begin(&conn(), Mode::Verify, false, head)
}

fn json(record: &RequestRecord) -> Value {
    let mut buf = Vec::new();
    record.frame(&mut Chain::genesis(), &mut buf).unwrap();
    serde_json::from_slice(&buf).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_record_waits_for_the_flush_interval_then_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let settings = AuditWriter {
        target: AuditTarget::File(path.clone()),
        flush_interval: Duration::from_millis(50),
        fsync: Fsync::Never,
        ..AuditWriter::default()
    };
    let audit = Audit::start(&settings);
    audit.flush().await.unwrap();
    let mut e = entry(&audit, "timed");
    e.answered(Decision::Forwarded { status: 201 });
    drop(e);
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let lines = || std::fs::read_to_string(&path).unwrap().lines().count();
    assert_eq!(lines(), 1, "written before the flush interval");
    tokio::time::advance(Duration::from_millis(50)).await;
    let mut yields = 0;
    while audit.stats().written < 1 {
        assert!(yields < MAX_YIELDS, "not written after the flush interval");
        yields += 1;
        tokio::task::yield_now().await;
    }
    assert_eq!(lines(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_is_written_at_once_and_the_rest_at_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let settings = AuditWriter {
        target: AuditTarget::File(path.clone()),
        flush_interval: Duration::from_secs(3600),
        flush_records: 4,
        fsync: Fsync::Never,
        ..AuditWriter::default()
    };
    let audit = Audit::start(&settings);
    audit.flush().await.unwrap();
    // Ten records: two full batches of four are written without the clock moving; the last two
    // wait for the interval.
    for id in ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"] {
        let mut e = entry(&audit, id);
        e.answered(Decision::Forwarded { status: 200 });
        drop(e);
        tokio::task::yield_now().await;
    }
    let mut yields = 0;
    while audit.stats().written < 8 {
        assert!(
            yields < MAX_YIELDS,
            "full batches not written without the interval"
        );
        yields += 1;
        tokio::task::yield_now().await;
    }
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        audit.stats().written,
        8,
        "a partial batch was written early"
    );
    tokio::time::advance(Duration::from_secs(3600)).await;
    let mut yields = 0;
    while audit.stats().written < 10 {
        assert!(
            yields < MAX_YIELDS,
            "the partial batch not written at the interval"
        );
        yields += 1;
        tokio::task::yield_now().await;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let ids: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["request_id"].to_string())
        .collect();
    assert_eq!(ids.len(), 10);
    assert!(
        ids.iter()
            .zip(0..)
            .all(|(id, i)| *id == format!("\"r{i}\"")),
        "{ids:?}"
    );
}

#[tokio::test]
async fn a_full_channel_loses_the_record_counts_it_and_refuses_writes() {
    let (audit, mut records) = Audit::detached(2);
    for id in ["a", "b", "c"] {
        drop(entry(&audit, id));
    }
    let stats = audit.stats();
    assert_eq!((stats.lost, stats.refused_writes), (1, 0));
    assert!(!audit.admit_write());
    assert_eq!(audit.stats().refused_writes, 1);
    assert_eq!(json(&records.recv().await.unwrap())["request_id"], "a");
    assert_eq!(json(&records.recv().await.unwrap())["request_id"], "b");
}

#[tokio::test]
async fn entries_record_what_happened_and_close_once() {
    let (audit, mut records) = Audit::detached(8);
    // Dropped before any answer: the client went away while the request was upstream.
    let mut e = entry(&audit, "gone");
    e.sent_upstream();
    drop(e);
    let r = json(&records.recv().await.unwrap());
    assert_eq!(
        (&r["decision"], &r["reason"], &r["end"], &r["sent_upstream"]),
        (
            &Value::from("abandoned"),
            &Value::from("CLIENT_GONE"),
            &Value::from("client_gone"),
            &Value::from(true)
        )
    );
    assert_eq!(
        (&r["peer"], &r["http"], &r["query"]),
        (
            &Value::from("10.1.2.3:4567"),
            &Value::from("HTTP/2"),
            &Value::Null
        )
    );
    assert_eq!(r["client_cert_sha256"], "ab".repeat(32));

    // Answered and finished: closed once, whatever happens to it after.
    let mut e = entry(&audit, "refused");
    e.answered(Decision::Rejected(Reject::AuditUnavailable));
    e.count_out(10);
    e.finish(crate::audit::End::Complete);
    e.finish(crate::audit::End::ClientGone);
    drop(e);
    let r = json(&records.recv().await.unwrap());
    assert_eq!(
        (&r["reason"], &r["end"], &r["bytes_out"]),
        (
            &Value::from("GATEWAY_AUDIT_UNAVAILABLE"),
            &Value::from("complete"),
            &Value::from(10)
        )
    );
    assert!(records.try_recv().is_err(), "closed twice");
}
