//! What the audit log costs: on the request path (open an entry, fill it in, close it, hand it
//! to the writer) and on the writer's task (frame one record into the chain: JSON + SHA-256;
//! seal it with a checkpoint: Ed25519; with epochs, a fresh key and the key file replaced).
//!
//! `cargo bench --bench audit`. The request-path figure is what every request pays; the writer
//! figure is paid once per record on the writer's own task, off the request path.

// Setup that cannot fail on a sound build; like the tests, a benchmark may stop at once.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blnk_gateway::audit::chain::Chain;
use blnk_gateway::audit::checkpoint::Checkpoint;
use blnk_gateway::audit::{Audit, Decision, End, RequestHead};
use blnk_gateway::conn::{Alpn, ConnClock, ConnInfo, TlsInfo};
use blnk_gateway::limits::AUDIT_CHANNEL_CAPACITY;
use blnk_gateway::mode::Mode;
use blnk_gateway::secret::Fingerprint;
use blnk_gateway::signing::{self, SigningKey};
use criterion::{criterion_group, criterion_main, Criterion};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Version};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef0123456789ab";

fn conn() -> Arc<ConnInfo> {
    Arc::new(ConnInfo::new(
        "10.1.2.3:45678".parse().expect("address"),
        Some(TlsInfo {
            version: "TLSv1.3",
            alpn: Alpn::Http11,
            client_cert: None,
        }),
        Arc::new(ConnClock::default()),
    ))
}

/// The request path alone: records go into the channel with no task waiting on it, and are
/// drained between timed batches, so the figure is building the record plus one `try_send`.
fn request_path_isolated(c: &mut Criterion) {
    let (audit, mut records) = Audit::detached(AUDIT_CHANNEL_CAPACITY);
    let conn = conn();
    let target =
        PathAndQuery::from_static("/transactions/txn_0d1f6c0e-2b4a-4c55-9d7e-3a1f/lineage");
    let id = HeaderValue::from_static("6f1e0c2a9b3d4e5f6f1e0c2a9b3d4e5f");
    c.bench_function("audit request path, isolated", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(AUDIT_CHANNEL_CAPACITY as u64);
                let start = Instant::now();
                for _ in 0..n {
                    let head = RequestHead {
                        method: &Method::GET,
                        version: Version::HTTP_11,
                        target: black_box(&target),
                        request_id: &id,
                    };
                    let mut e = audit.begin(&conn, Mode::Verify, false, head);
                    e.identify(Some(Fingerprint::of(black_box(KEY))), None);
                    e.sent_upstream();
                    e.answered(Decision::Forwarded { status: 200 });
                    e.count_out(512);
                    e.finish(End::Complete);
                }
                total += start.elapsed();
                while records.try_recv().is_ok() {}
                left -= n;
            }
            total
        })
    });
}

/// The same with a consumer thread parked on the channel, as the writer task is when idle: each
/// record may also pay for waking it.
fn request_path(c: &mut Criterion) {
    // A writer stand-in that takes records as fast as they come, so the channel never fills.
    let (audit, mut records) = Audit::detached(AUDIT_CHANNEL_CAPACITY);
    let drain = std::thread::spawn(move || while records.blocking_recv().is_some() {});
    let conn = conn();
    let target =
        PathAndQuery::from_static("/transactions/txn_0d1f6c0e-2b4a-4c55-9d7e-3a1f/lineage");
    let id = HeaderValue::from_static("6f1e0c2a9b3d4e5f6f1e0c2a9b3d4e5f");
    c.bench_function("audit request path, waking a consumer", |b| {
        b.iter(|| {
            let head = RequestHead {
                method: &Method::GET,
                version: Version::HTTP_11,
                target: black_box(&target),
                request_id: &id,
            };
            let mut e = audit.begin(&conn, Mode::Verify, false, head);
            e.identify(Some(Fingerprint::of(black_box(KEY))), None);
            e.sent_upstream();
            e.answered(Decision::Forwarded { status: 200 });
            e.count_out(512);
            e.finish(End::Complete);
        })
    });
    drop(audit);
    let _ = drain.join();
}

fn writer_frame(c: &mut Criterion) {
    let (audit, mut records) = Audit::detached(1);
    let target =
        PathAndQuery::from_static("/transactions/txn_0d1f6c0e-2b4a-4c55-9d7e-3a1f/lineage");
    let id = HeaderValue::from_static("6f1e0c2a9b3d4e5f6f1e0c2a9b3d4e5f");
    let head = RequestHead {
        method: &Method::GET,
        version: Version::HTTP_11,
        target: &target,
        request_id: &id,
    };
    let mut e = audit.begin(&conn(), Mode::Verify, false, head);
    e.identify(Some(Fingerprint::of(KEY)), None);
    e.answered(Decision::Forwarded { status: 200 });
    e.finish(End::Complete);
    let record = records.try_recv().expect("one record");
    let mut chain = Chain::genesis();
    let mut buf = Vec::with_capacity(1024);
    c.bench_function("audit writer: frame one record (JSON + SHA-256)", |b| {
        b.iter(|| {
            buf.clear();
            record.frame(&mut chain, &mut buf).expect("frame");
            black_box(&buf);
        })
    });
}

/// One checkpoint as the writer makes it: sign the head (Ed25519), frame the line (JSON +
/// SHA-256). Paid once per `checkpoint_records` lines or `checkpoint_interval`.
fn writer_checkpoint(c: &mut Criterion) {
    let (key, _) = SigningKey::generate().expect("key");
    let mut chain = Chain::genesis();
    let mut buf = Vec::with_capacity(1024);
    chain
        .append(&mut buf, &serde_json::json!({"kind": "genesis"}))
        .expect("genesis");
    let now = std::time::SystemTime::now();
    c.bench_function(
        "audit writer: one checkpoint (Ed25519 sign + JSON + SHA-256)",
        |b| {
            b.iter(|| {
                buf.clear();
                Checkpoint::seal(&mut chain, &mut buf, &key, now, None).expect("seal");
                black_box(&buf);
            })
        },
    );
}

/// With `key_epoch`, once per epoch: a fresh key, and the key file replaced (written, synced,
/// renamed, the directory synced, the old bytes overwritten and synced).
fn writer_epoch(c: &mut Criterion) {
    c.bench_function("audit writer: next-epoch key (generate)", |b| {
        b.iter(|| black_box(SigningKey::generate().expect("key")))
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.key");
    let (_, pem) = SigningKey::generate().expect("key");
    signing::create_new(&path, pem.as_bytes(), 0o600).expect("key file");
    c.bench_function(
        "audit writer: key file replaced (2 fsyncs + dir fsync)",
        |b| b.iter(|| signing::replace_secret(&path, pem.as_bytes()).expect("replace")),
    );
}

criterion_group!(
    benches,
    request_path_isolated,
    request_path,
    writer_frame,
    writer_checkpoint,
    writer_epoch
);
criterion_main!(benches);
