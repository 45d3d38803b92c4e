//! The rules of `service` against the embedded store, on a clock the tests hold.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use super::*;
use crate::body::Buffered;
use crate::idempotency::{key, LocalStore, Sizing};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    now: Arc<AtomicU64>,
    idem: Idempotency,
}

fn sizing(max_entries: u64) -> Sizing {
    Sizing {
        max_entries,
        remember: 7 * DAY,
        ttl: DAY,
    }
}

fn open(dir: tempfile::TempDir, now: Arc<AtomicU64>, max_entries: u64) -> Fixture {
    let path = dir.path().join("idem.redb");
    let store = LocalStore::open(&path, &sizing(max_entries), Clock::Manual(now.clone())).unwrap();
    Fixture {
        idem: Idempotency::new(store, Clock::Manual(now.clone())),
        _dir: dir,
        path,
        now,
    }
}

fn fixture() -> Fixture {
    open(
        tempfile::tempdir().unwrap(),
        Arc::new(AtomicU64::new(1_800_000_000_000)),
        1000,
    )
}

fn transfer(reference: &str, amount: u64) -> String {
    format!(
        r#"{{"reference":"{reference}","amount":{amount},"currency":"USD","source":"@a","destination":"@b","description":"d"}}"#
    )
}

fn request_with(body: &str, header: Option<&str>) -> RequestKeys {
    let body = Buffered::from_chunks(vec![Bytes::copy_from_slice(body.as_bytes())]);
    let mut headers = HeaderMap::new();
    if let Some(h) = header {
        headers.insert("idempotency-key", HeaderValue::from_str(h).unwrap());
    }
    key::of(
        &Method::POST,
        "/transactions",
        &headers,
        &body,
        "master",
        true,
    )
    .unwrap()
    .unwrap()
}

fn request(body: &str) -> RequestKeys {
    request_with(body, None)
}

fn answer(status: u16, body: &str) -> Stored {
    Stored {
        status,
        headers: vec![(
            "content-type".into(),
            Bytes::from_static(b"application/json"),
        )],
        body: Some(Bytes::copy_from_slice(body.as_bytes())),
    }
}

async fn claimed_by(idem: &Idempotency, k: &RequestKeys) -> Claims {
    match idem.gate(k, DAY).await.unwrap() {
        Gate::Claimed(c) => c,
        other => panic!("not claimed: {other:?}"),
    }
}

async fn claimed(f: &Fixture, k: &RequestKeys) -> Claims {
    claimed_by(&f.idem, k).await
}

#[tokio::test]
async fn first_then_in_progress_then_replayed_and_mismatched() {
    let f = fixture();
    let k = request(&transfer("r1", 1));
    let mut claim = claimed(&f, &k).await;
    assert!(!claim.suspect);
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::InProgress { .. }
    ));
    let stored = answer(201, r#"{"transaction_id":"txn_1"}"#);
    f.idem
        .settle(&mut claim, Settle::Keep(stored.clone()))
        .await
        .unwrap();
    assert!(matches!(f.idem.gate(&k, DAY).await.unwrap(), Gate::Replay(s) if s == stored));
    let other = request(&transfer("r1", 2));
    assert!(matches!(
        f.idem.gate(&other, DAY).await.unwrap(),
        Gate::Mismatch
    ));
}

#[tokio::test]
async fn both_keys_are_taken_and_a_header_key_reused_with_another_reference_is_a_mismatch() {
    let f = fixture();
    let first = request_with(&transfer("r-1", 1), Some("order-7"));
    let mut claims = claimed(&f, &first).await;
    assert_eq!(claims.claims.len(), 2);
    f.idem.settle(&mut claims, Settle::Unknown).await.unwrap();
    // The client regenerates its reference inside its retry loop, keeping its key.
    let retry = request_with(&transfer("r-2", 1), Some("order-7"));
    assert!(matches!(
        f.idem.gate(&retry, DAY).await.unwrap(),
        Gate::Mismatch
    ));
    // The refusal gave back nothing of the retry: its reference is still free.
    let alone = request(&transfer("r-2", 1));
    claimed(&f, &alone).await;
}

#[tokio::test]
async fn a_key_taken_before_a_replay_keeps_the_replayed_answer() {
    let f = fixture();
    let plain = request(&transfer("r-1", 1));
    let mut claims = claimed(&f, &plain).await;
    let stored = answer(201, r#"{"transaction_id":"txn_1"}"#);
    f.idem
        .settle(&mut claims, Settle::Keep(stored.clone()))
        .await
        .unwrap();
    // The same request under a new header key: replayed, and the header key now holds it too.
    let keyed = request_with(&transfer("r-1", 1), Some("k-new"));
    assert!(matches!(f.idem.gate(&keyed, DAY).await.unwrap(), Gate::Replay(s) if s == stored));
    assert!(matches!(f.idem.gate(&keyed, DAY).await.unwrap(), Gate::Replay(s) if s == stored));
}

#[tokio::test]
async fn a_refused_request_gives_the_key_back_and_an_unknown_one_keeps_it() {
    let f = fixture();
    let k = request(&transfer("r1", 1));
    let mut c = claimed(&f, &k).await;
    f.idem.settle(&mut c, Settle::Release).await.unwrap();
    let mut c = claimed(&f, &k).await;
    f.idem.settle(&mut c, Settle::Unknown).await.unwrap();
    let Gate::Unknown(at) = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!("unknown stays taken")
    };
    assert_eq!(at.since_ms, f.now.load(Ordering::Relaxed));
    // Resolved by what Blnk says, once: a second resolve with the old version does nothing.
    let stored = answer(201, "{}");
    assert!(f.idem.resolve(&at, &k, stored.clone(), DAY).await.unwrap());
    assert!(!f.idem.resolve(&at, &k, stored.clone(), DAY).await.unwrap());
    assert!(matches!(f.idem.gate(&k, DAY).await.unwrap(), Gate::Replay(s) if s == stored));
}

#[tokio::test]
async fn an_unknown_key_is_taken_over_once_and_the_take_over_is_suspect() {
    let f = fixture();
    let k = request(&transfer("r1", 1));
    let mut c = claimed(&f, &k).await;
    f.idem.settle(&mut c, Settle::Unknown).await.unwrap();
    let Gate::Unknown(at) = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!()
    };
    let first = f.idem.take_over(&at, &k, DAY).await.unwrap();
    let second = f.idem.take_over(&at, &k, DAY).await.unwrap();
    assert!(first.as_ref().is_some_and(|c| c.suspect) && second.is_none());
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::InProgress { .. }
    ));
}

#[tokio::test]
async fn a_request_in_flight_for_longer_than_any_exchange_has_an_unknown_outcome() {
    let f = fixture();
    let k = request(&transfer("r1", 1));
    claimed(&f, &k).await;
    f.now
        .fetch_add(ms(IDEMPOTENCY_IN_FLIGHT_MAX), Ordering::Relaxed);
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::Unknown(_)
    ));
}

#[tokio::test]
async fn a_key_reused_after_its_ttl_is_free_but_suspect() {
    let f = fixture();
    let k = request(&transfer("r1", 1));
    let mut c = claimed(&f, &k).await;
    f.idem
        .settle(&mut c, Settle::Keep(answer(201, "{}")))
        .await
        .unwrap();
    f.now.fetch_add(ms(DAY) - 1, Ordering::Relaxed);
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::Replay(_)
    ));
    f.now.fetch_add(1, Ordering::Relaxed);
    let again = claimed(&f, &k).await;
    assert!(again.suspect, "seen within remember: Blnk is asked first");
    // A key never seen is not suspect.
    assert!(!claimed(&f, &request(&transfer("r-new", 1))).await.suspect);
}

#[tokio::test]
async fn concurrent_duplicates_claim_once() {
    let f = fixture();
    let idem = Arc::new(f.idem);
    let k = request(&transfer("r1", 1));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (idem, k) = (idem.clone(), k.clone());
        tasks.push(tokio::spawn(
            async move { idem.gate(&k, DAY).await.unwrap() },
        ));
    }
    let mut claimed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Gate::Claimed(_) => claimed += 1,
            Gate::InProgress { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(claimed, 1);
}

/// Reopens the store at `path` once the previous handle's thread has let go of the file.
fn reopen(path: &std::path::Path, now: &Arc<AtomicU64>, max_entries: u64) -> Idempotency {
    let reopened = (0..200).find_map(|_| {
        std::thread::sleep(Duration::from_millis(10));
        LocalStore::open(path, &sizing(max_entries), Clock::Manual(now.clone())).ok()
    });
    Idempotency::new(reopened.expect("reopened"), Clock::Manual(now.clone()))
}

#[tokio::test]
async fn answers_survive_a_restart_and_what_was_in_flight_becomes_unknown() {
    let f = fixture();
    let k = request(&transfer("r1", 1));
    let mut c = claimed(&f, &k).await;
    let stored = answer(201, r#"{"transaction_id":"txn_9"}"#);
    f.idem
        .settle(&mut c, Settle::Keep(stored.clone()))
        .await
        .unwrap();
    let flying = request(&transfer("r-flying", 1));
    claimed(&f, &flying).await;
    let (path, now, dir) = (f.path.clone(), f.now.clone(), f._dir);
    drop(f.idem);
    let idem = reopen(&path, &now, 1000);
    assert!(matches!(idem.gate(&k, DAY).await.unwrap(), Gate::Replay(s) if s == stored));
    // Left in flight by the stopped process: unknown at once, not after IN_FLIGHT_MAX.
    assert!(matches!(
        idem.gate(&flying, DAY).await.unwrap(),
        Gate::Unknown(_)
    ));
    assert_eq!(idem.stats().unknown, 1);
    drop(dir);
}

#[tokio::test]
async fn a_full_store_evicts_the_oldest_settled_keys_never_one_in_flight() {
    let f = open(
        tempfile::tempdir().unwrap(),
        Arc::new(AtomicU64::new(1_800_000_000_000)),
        2,
    );
    let a = request(&transfer("a", 1));
    let mut ca = claimed(&f, &a).await;
    f.idem
        .settle(&mut ca, Settle::Keep(answer(201, "{}")))
        .await
        .unwrap();
    f.now.fetch_add(1000, Ordering::Relaxed);
    let b = request(&transfer("b", 1));
    claimed(&f, &b).await;
    // Full: the settled `a` goes, the one in flight stays.
    claimed(&f, &request(&transfer("c", 1))).await;
    let stats = f.idem.stats();
    assert_eq!((stats.entries, stats.evictions), (2, 1));
    assert!(matches!(
        f.idem.gate(&b, DAY).await.unwrap(),
        Gate::InProgress { .. }
    ));
    // Everything in flight: nothing can make room.
    let e = f
        .idem
        .gate(&request(&transfer("d", 1)), DAY)
        .await
        .unwrap_err();
    assert_eq!(e, StoreError::Full);
}

#[tokio::test]
async fn expiry_keeps_pace_and_the_counts_follow() {
    let f = fixture();
    for i in 0..300 {
        let mut c = claimed(&f, &request(&transfer(&format!("r{i}"), 1))).await;
        f.idem
            .settle(&mut c, Settle::Keep(answer(201, "{}")))
            .await
            .unwrap();
    }
    let full = f.idem.stats();
    assert_eq!(full.entries, 300);
    assert!(full.bytes > 300 * 60, "{full:?}");
    f.now.fetch_add(ms(DAY) + 1, Ordering::Relaxed);
    // Each batch of writes removes up to twice what it writes, and more: a few writes clear it.
    for i in 0..30 {
        let mut c = claimed(&f, &request(&transfer(&format!("s{i}"), 1))).await;
        f.idem.settle(&mut c, Settle::Release).await.unwrap();
    }
    assert_eq!(f.idem.stats().entries, 0, "{:?}", f.idem.stats());
    assert_eq!(f.idem.stats().bytes, 0);
}

/// The `seen` filters are written once a second and at close; a process that stopped without
/// closing (killed) loses what it had not written, and the next one puts every key it finds
/// back in: a key settled just before the kill is still suspect once its entry has expired.
#[tokio::test]
async fn what_was_seen_survives_a_stop_with_or_without_a_close() {
    for close in [false, true] {
        let f = fixture();
        let k = request(&transfer("r-seen", 1));
        let mut c = claimed(&f, &k).await;
        f.idem
            .settle(&mut c, Settle::Keep(answer(201, "{}")))
            .await
            .unwrap();
        let (path, now, dir) = (f.path.clone(), f.now.clone(), f._dir);
        if close {
            f.idem.close().await.unwrap();
        }
        drop(f.idem);
        let idem = reopen(&path, &now, 1000);
        now.fetch_add(ms(DAY) + 1, Ordering::Relaxed);
        // Another key's claim sweeps the expired entry: only the filters know `r-seen` now.
        claimed_by(&idem, &request(&transfer("r-other", 1))).await;
        assert_eq!(idem.stats().entries, 1);
        let again = match idem.gate(&k, DAY).await.unwrap() {
            Gate::Claimed(c) => c,
            other => panic!("{other:?}"),
        };
        assert!(again.suspect, "close: {close}");
        drop(dir);
    }
}
