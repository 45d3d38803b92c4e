//! The rules of `service` against the embedded store, on a clock the tests hold.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::*;
use crate::body::Buffered;
use crate::idempotency::{key, LocalStore};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    now: Arc<AtomicU64>,
    idem: Idempotency,
}

fn open(dir: tempfile::TempDir, now: Arc<AtomicU64>) -> Fixture {
    let path = dir.path().join("idem.redb");
    let store = LocalStore::open(&path, 1000, Clock::Manual(now.clone())).unwrap();
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
    )
}

fn request(body: &str) -> RequestKey {
    let body = Buffered::from_chunks(vec![Bytes::copy_from_slice(body.as_bytes())]);
    key::of(
        &Method::POST,
        "/transactions",
        &HeaderMap::new(),
        &body,
        "key:0123456789ab",
        true,
    )
    .unwrap()
    .unwrap()
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

const TXN: &str = r#"{"reference":"r1","amount":1}"#;

#[tokio::test]
async fn first_then_in_progress_then_replayed_and_mismatched() {
    let f = fixture();
    let k = request(TXN);
    let Gate::Claimed(claim) = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!("the first request takes the key")
    };
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::InProgress
    ));
    let stored = answer(201, r#"{"transaction_id":"txn_1"}"#);
    f.idem
        .settle(&claim, Settle::Keep(stored.clone()))
        .await
        .unwrap();
    match f.idem.gate(&k, DAY).await.unwrap() {
        Gate::Replay(s) => assert_eq!(s, stored),
        other => panic!("{other:?}"),
    }
    let other = request(r#"{"reference":"r1","amount":2}"#);
    assert!(matches!(
        f.idem.gate(&other, DAY).await.unwrap(),
        Gate::Mismatch
    ));
}

#[tokio::test]
async fn a_refused_request_gives_the_key_back_and_an_unknown_one_keeps_it() {
    let f = fixture();
    let k = request(TXN);
    let Gate::Claimed(c) = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!()
    };
    f.idem.settle(&c, Settle::Release).await.unwrap();
    let Gate::Claimed(c) = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!("released keys are free")
    };
    f.idem.settle(&c, Settle::Unknown).await.unwrap();
    let Gate::Unknown { version, since_ms } = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!("unknown stays taken")
    };
    assert_eq!(since_ms, f.now.load(Ordering::Relaxed));
    // Resolved by what Blnk says, once: a second resolve with the old version does nothing.
    let stored = answer(201, "{}");
    assert!(f
        .idem
        .resolve(&k, version, stored.clone(), DAY)
        .await
        .unwrap());
    assert!(!f
        .idem
        .resolve(&k, version, stored.clone(), DAY)
        .await
        .unwrap());
    assert!(matches!(f.idem.gate(&k, DAY).await.unwrap(), Gate::Replay(s) if s == stored));
}

#[tokio::test]
async fn an_unknown_key_is_taken_over_once() {
    let f = fixture();
    let k = request(TXN);
    let Gate::Claimed(c) = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!()
    };
    f.idem.settle(&c, Settle::Unknown).await.unwrap();
    let Gate::Unknown { version, .. } = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!()
    };
    let first = f.idem.take_over(&k, version, DAY).await.unwrap();
    let second = f.idem.take_over(&k, version, DAY).await.unwrap();
    assert!(first.is_some() && second.is_none());
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::InProgress
    ));
}

#[tokio::test]
async fn a_request_in_flight_for_longer_than_any_exchange_has_an_unknown_outcome() {
    let f = fixture();
    let k = request(TXN);
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::Claimed(_)
    ));
    f.now.fetch_add(
        u64::try_from(IDEMPOTENCY_IN_FLIGHT_MAX.as_millis()).unwrap(),
        Ordering::Relaxed,
    );
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::Unknown { .. }
    ));
}

#[tokio::test]
async fn keys_expire_after_their_ttl() {
    let f = fixture();
    let k = request(TXN);
    let Gate::Claimed(c) = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!()
    };
    f.idem
        .settle(&c, Settle::Keep(answer(201, "{}")))
        .await
        .unwrap();
    f.now.fetch_add(
        u64::try_from(DAY.as_millis()).unwrap() - 1,
        Ordering::Relaxed,
    );
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::Replay(_)
    ));
    f.now.fetch_add(1, Ordering::Relaxed);
    assert!(matches!(
        f.idem.gate(&k, DAY).await.unwrap(),
        Gate::Claimed(_)
    ));
}

#[tokio::test]
async fn concurrent_duplicates_claim_once() {
    let f = fixture();
    let idem = Arc::new(f.idem);
    let k = request(TXN);
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
            Gate::InProgress => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(claimed, 1);
}

#[tokio::test]
async fn answers_survive_a_restart() {
    let f = fixture();
    let k = request(TXN);
    let Gate::Claimed(c) = f.idem.gate(&k, DAY).await.unwrap() else {
        panic!()
    };
    let stored = answer(201, r#"{"transaction_id":"txn_9"}"#);
    f.idem
        .settle(&c, Settle::Keep(stored.clone()))
        .await
        .unwrap();
    let (path, now, dir) = (f.path.clone(), f.now.clone(), f._dir);
    drop(f.idem);
    // The store's thread lets go of the file once the last handle is gone.
    let reopened = (0..200).find_map(|_| {
        std::thread::sleep(Duration::from_millis(10));
        LocalStore::open(&path, 1000, Clock::Manual(now.clone())).ok()
    });
    let idem = Idempotency::new(reopened.expect("reopened"), Clock::Manual(now));
    assert!(matches!(idem.gate(&k, DAY).await.unwrap(), Gate::Replay(s) if s == stored));
    drop(dir);
}

#[tokio::test]
async fn a_full_store_refuses_new_keys() {
    let dir = tempfile::tempdir().unwrap();
    let now = Arc::new(AtomicU64::new(1_800_000_000_000));
    let store =
        LocalStore::open(&dir.path().join("s.redb"), 2, Clock::Manual(now.clone())).unwrap();
    let idem = Idempotency::new(store, Clock::Manual(now));
    for r in ["a", "b"] {
        let k = request(&format!(r#"{{"reference":"{r}"}}"#));
        assert!(matches!(
            idem.gate(&k, DAY).await.unwrap(),
            Gate::Claimed(_)
        ));
    }
    let k = request(r#"{"reference":"c"}"#);
    assert_eq!(idem.gate(&k, DAY).await.unwrap_err(), StoreError::Full);
}

#[test]
fn answers_settle_by_status() {
    let keep = |s| matches!(Settle::of_status(s, || answer(s, "")), Settle::Keep(_));
    assert!(keep(200) && keep(201) && keep(302));
    for s in [400, 401, 404, 409, 422, 429, 503] {
        assert_eq!(
            Settle::of_status(s, || answer(s, "")),
            Settle::Release,
            "{s}"
        );
    }
    for s in [500, 502, 504] {
        assert_eq!(
            Settle::of_status(s, || answer(s, "")),
            Settle::Unknown,
            "{s}"
        );
    }
}
