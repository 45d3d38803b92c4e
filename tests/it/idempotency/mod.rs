//! Retries made safe (the idempotency issue): a retried transfer reaches Blnk once, and the
//! client and the ledger agree on what happened. Each case counts the `POST /transactions` the
//! fake Blnk received and compares the answers the client got with the fake's ledger.
//!
//! - here: replays, the reference as the key, concurrent duplicates, mismatched bodies, scopes,
//!   failures that free a key, answers too large to keep, invalid keys, restarts, a retry storm.
//! - `unknown`: the first request's outcome never reached the client (an upstream timeout, a
//!   dropped connection), and the retry asks Blnk.
//! - `sdk`: Blnk's Python SDK, unchanged, retrying `transactions.create`.

mod pending;
mod safety;
mod sdk;
mod unknown;

use bytes::Bytes;
use http_body_util::Full;
use serde_json::{json, Value};

use crate::support::client::{req, send1, send2, Answer, H1};
use crate::support::fake_blnk::Behavior;
use crate::support::gateway::{Setup, TestGateway};
use crate::support::until;

async fn gateway(extra: Value) -> TestGateway {
    TestGateway::start(Setup {
        gateway: extra,
        ..Setup::default()
    })
    .await
}

fn txn(reference: &str, amount: u64) -> String {
    crate::support::fake_blnk::transfer(reference, amount)
}

/// A keyed POST (with `Idempotency-Key` when `key` is given) carrying the gateway's master key.
fn post(gw: &TestGateway, path: &str, body: &str, key: Option<&str>) -> http::Request<Full<Bytes>> {
    let mut r = req("POST", path)
        .header("x-blnk-key", &gw.key)
        .header("content-type", "application/json");
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    r.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

async fn send(c: &mut H1, r: http::Request<Full<Bytes>>) -> Answer {
    send1(c, r).await
}

fn replayed(a: &Answer) -> bool {
    a.headers.get("idempotent-replayed").map(|v| v.as_bytes()) == Some(b"true")
}

#[tokio::test]
async fn a_retry_gets_the_first_answer_byte_for_byte_and_blnk_sees_one_request() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let body = txn("ref-replay", 100);
    let first = send(&mut c, post(&gw, "/transactions", &body, Some("\"k-1\""))).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert!(!replayed(&first));
    for _ in 0..3 {
        let again = send(&mut c, post(&gw, "/transactions", &body, Some("\"k-1\""))).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.body, first.body);
        assert!(replayed(&again));
        assert_eq!(again.headers["content-type"], first.headers["content-type"]);
        // Every answer is the gateway's own: its request id is new, Blnk's rate headers absent.
        assert_ne!(again.headers["x-request-id"], first.headers["x-request-id"]);
        assert!(again.headers.get("x-rate-limit-limit").is_none());
    }
    assert_eq!(gw.blnk.transaction_posts(), 1);
    gw.blnk.settled().await;
    let ledger = gw.blnk.transactions();
    assert_eq!(
        first.json()["transaction_id"],
        ledger["ref-replay"]["transaction_id"]
    );
}

#[tokio::test]
async fn without_a_key_the_reference_is_the_key_unless_turned_off() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let body = txn("ref-implicit", 100);
    let first = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    let again = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert_eq!(first.status, 201);
    assert_eq!(again.body, first.body);
    assert!(replayed(&again));
    assert_eq!(gw.blnk.transaction_posts(), 1);

    // Turned off, both reach Blnk: its queue takes the second and tells the client it is a new
    // transaction (a fresh id) that it will then drop. This is what the gateway prevents.
    let off = gateway(json!({"idempotency": {"from_reference": false}})).await;
    let mut c = off.h1().await;
    let first = send(&mut c, post(&off, "/transactions", &body, None)).await;
    let again = send(&mut c, post(&off, "/transactions", &body, None)).await;
    assert_eq!(off.blnk.transaction_posts(), 2);
    assert_ne!(
        first.json()["transaction_id"],
        again.json()["transaction_id"]
    );
    assert!(!replayed(&again));
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused_with_422() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let first = send(&mut c, post(&gw, "/transactions", &txn("ref-a", 100), None)).await;
    assert_eq!(first.status, 201);
    // Another amount under the same reference: a different transfer, not a retry. Blnk would
    // say 201 and then drop it.
    for key in [None, Some("\"another-key\"")] {
        let other = send(&mut c, post(&gw, "/transactions", &txn("ref-a", 999), key)).await;
        other.assert_error(422, "GATEWAY_IDEMPOTENCY_KEY_REUSED");
    }
    // A header key on another route, with another body.
    let ledger = send(
        &mut c,
        post(&gw, "/ledgers", r#"{"name":"a"}"#, Some("k-2")),
    )
    .await;
    assert_eq!(ledger.status, 201);
    let other = send(
        &mut c,
        post(&gw, "/ledgers", r#"{"name":"b"}"#, Some("k-2")),
    )
    .await;
    other.assert_error(422, "GATEWAY_IDEMPOTENCY_KEY_REUSED");
    assert_eq!(gw.blnk.transaction_posts(), 1);
    assert_eq!(gw.blnk.count(), 2);
}

#[tokio::test]
async fn concurrent_duplicates_reach_blnk_once_and_the_others_are_told_to_wait() {
    let gw = gateway(json!({})).await;
    gw.blnk.set_behavior(Behavior::Hold);
    let c = gw.h2().await;
    let body = txn("ref-race", 100);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..20 {
        let mut c = c.clone();
        let r = post(&gw, "/transactions", &body, None);
        let tx = tx.clone();
        tokio::spawn(async move { tx.send(send2(&mut c, r).await) });
    }
    // While Blnk holds the one it has, the other 19 are answered.
    for _ in 0..19 {
        let a = next(&mut rx).await;
        a.assert_error(409, "GATEWAY_IDEMPOTENCY_IN_PROGRESS");
        assert_eq!(a.headers["retry-after"], "1");
    }
    // The one that holds the key reaches Blnk (it may still be on its way).
    until(|| gw.blnk.transaction_posts() == 1).await;
    gw.blnk.release();
    let created = next(&mut rx).await;
    assert_eq!(created.status, 201);
    // Retried after the first finished: its answer.
    let mut c = c.clone();
    let again = send2(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert_eq!(again.body, created.body);
    assert_eq!(gw.blnk.transaction_posts(), 1);
    let audit = gw.stop_and_read_audit().await;
    let outcomes: Vec<String> = audit
        .requests()
        .iter()
        .map(|r| r["idempotency"].as_str().unwrap_or("none").to_string())
        .collect();
    let count = |o: &str| outcomes.iter().filter(|x| *x == o).count();
    assert_eq!(
        (count("first"), count("in_progress"), count("replayed")),
        (1, 19, 1),
        "{outcomes:?}"
    );
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Answer>) -> Answer {
    let got = tokio::time::timeout(crate::support::client::CLIENT_DEADLINE, rx.recv());
    got.await.expect("an answer").expect("a sender")
}

#[tokio::test]
async fn header_keys_are_each_clients_own_and_references_the_ledgers() {
    let staging = tempfile::tempdir().unwrap();
    let a_key = crate::support::keys::issue(staging.path(), "a", &["transactions:write"], &[]);
    let b_key = crate::support::keys::issue(staging.path(), "b", &["ledgers:write"], &[]);
    let c_key = crate::support::keys::issue(staging.path(), "c", &["transactions:write"], &[]);
    let clients = std::fs::read_to_string(staging.path().join("clients.json")).unwrap();
    let gw = TestGateway::start(Setup {
        gateway: json!({"mode": "inject", "clients_file": "clients.json"}),
        files: vec![("clients.json".into(), clients)],
        ..Setup::default()
    })
    .await;
    let mut c = gw.h1().await;
    let as_client = |key: &str, path: &str, body: &str| {
        req("POST", path)
            .header("x-blnk-key", key)
            .header("idempotency-key", "\"shared-key\"")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    };
    let ledger = r#"{"name":"ops"}"#;
    // Both clients send the key "shared-key": each is its own.
    let a1 = send(&mut c, as_client(&a_key, "/transactions", &txn("ref-a", 1))).await;
    let b1 = send(&mut c, as_client(&b_key, "/ledgers", ledger)).await;
    assert_eq!((a1.status.as_u16(), b1.status.as_u16()), (201, 201));
    assert!(!replayed(&b1));
    let a2 = send(&mut c, as_client(&a_key, "/transactions", &txn("ref-a", 1))).await;
    let b2 = send(&mut c, as_client(&b_key, "/ledgers", ledger)).await;
    assert_eq!(a2.body, a1.body);
    assert_eq!(b2.body, b1.body);
    assert_eq!(gw.blnk.count(), 2);

    // A reference is the ledger's: another client using it gets 422, not A's answer, and Blnk
    // does not see it (it would answer 201 for a transfer it then drops).
    let c1 = send(&mut c, as_client(&c_key, "/transactions", &txn("ref-a", 1))).await;
    c1.assert_error(422, "GATEWAY_IDEMPOTENCY_KEY_REUSED");
    assert_eq!(gw.blnk.count(), 2);
}

#[tokio::test]
async fn a_refusal_frees_the_key_and_a_success_is_kept() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let body = txn("ref-refused", 100);
    // Blnk refuses (its key was rotated, say): a 4xx changed nothing, so the retry goes through.
    gw.blnk.set_key("another-key-entirely-padpadpadpad");
    let refused = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert_eq!(refused.status, 401);
    gw.blnk.set_key(&gw.key);
    let created = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert_eq!(created.status, 201);
    assert!(!replayed(&created));
    let again = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert!(replayed(&again));
    assert_eq!(gw.blnk.transaction_posts(), 2);
    gw.blnk.settled().await;
    assert_eq!(gw.blnk.balance("@alice", "USD"), Some(10000), "moved once");
}

#[tokio::test]
async fn an_answer_too_large_to_keep_is_not_replayed_or_repeated() {
    let gw = gateway(json!({"idempotency": {"max_answer_bytes": 1024}})).await;
    let mut c = gw.h1().await;
    let first = send(&mut c, post(&gw, "/_fake/bytes/5000", "{}", Some("big"))).await;
    assert_eq!((first.status.as_u16(), first.body.len()), (200, 5000));
    let again = send(&mut c, post(&gw, "/_fake/bytes/5000", "{}", Some("big"))).await;
    again.assert_error(409, "GATEWAY_IDEMPOTENCY_ANSWER_NOT_KEPT");
    assert_eq!(gw.blnk.count(), 1);
}

#[tokio::test]
async fn invalid_keys_are_refused_before_blnk_and_so_are_keys_on_gets() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let long = "k".repeat(256);
    for bad in ["", "\"unterminated", "a\tb", long.as_str(), "\"\""] {
        let a = send(
            &mut c,
            post(&gw, "/transactions", &txn("ref-bad", 1), Some(bad)),
        )
        .await;
        a.assert_error(400, "GATEWAY_IDEMPOTENCY_KEY_INVALID");
    }
    // Two keys on one request: which one would the client retry with?
    let two = req("POST", "/transactions")
        .header("x-blnk-key", &gw.key)
        .header("idempotency-key", "\"a\"")
        .header("idempotency-key", "\"b\"")
        .body(Full::new(Bytes::from(txn("ref-bad", 1))))
        .unwrap();
    send(&mut c, two)
        .await
        .assert_error(400, "GATEWAY_IDEMPOTENCY_KEY_INVALID");
    assert_eq!(gw.blnk.count(), 0);
    // A GET is safe to repeat: a key on it cannot be honoured, and is refused, not ignored.
    let get = req("GET", "/transactions/txn_1")
        .header("x-blnk-key", &gw.key)
        .header("idempotency-key", "\"g\"")
        .body(Full::new(Bytes::new()))
        .unwrap();
    send(&mut c, get)
        .await
        .assert_error(400, "GATEWAY_IDEMPOTENCY_KEY_NOT_SUPPORTED");
    assert_eq!(gw.blnk.count(), 0);
}

#[tokio::test]
async fn keys_survive_a_restart() {
    let store = tempfile::tempdir().unwrap();
    let path = store.path().join("keys.redb");
    let setup = || Setup {
        gateway: json!({"idempotency": {"path": path.to_str().unwrap()}}),
        ..Setup::default()
    };
    let gw = TestGateway::start(setup()).await;
    let blnk = gw.blnk.clone();
    let key = gw.key.clone();
    let body = txn("ref-restart", 100);
    let mut c = gw.h1().await;
    let first = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert_eq!(first.status, 201);
    drop(c);
    gw.stop().await;

    let gw = TestGateway::start_with(setup(), key, blnk).await;
    let mut c = gw.h1().await;
    let again = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);
    assert_eq!(gw.blnk.transaction_posts(), 1);
}

#[tokio::test]
async fn a_retry_storm_moves_each_transfer_once() {
    const REFERENCES: usize = 100;
    const COPIES: usize = 10;
    let gw = gateway(json!({})).await;
    gw.blnk
        .set_behavior(Behavior::Delay(std::time::Duration::from_millis(2)));
    let conns = [gw.h2().await, gw.h2().await, gw.h2().await, gw.h2().await];
    let mut tasks = Vec::new();
    for copy in 0..COPIES {
        for r in 0..REFERENCES {
            let mut c = conns[(copy + r) % conns.len()].clone();
            let req = post(&gw, "/transactions", &txn(&format!("storm-{r}"), 10), None);
            tasks.push(tokio::spawn(async move { (r, send2(&mut c, req).await) }));
        }
    }
    let mut ids: Vec<Option<Value>> = vec![None; REFERENCES];
    for t in tasks {
        let (r, a) = t.await.unwrap();
        match a.status.as_u16() {
            201 => {
                let id = a.json()["transaction_id"].clone();
                // Every 201 for a reference names the same transaction.
                assert_eq!(ids[r].get_or_insert(id.clone()), &id);
            }
            409 => a.assert_error(409, "GATEWAY_IDEMPOTENCY_IN_PROGRESS"),
            s => panic!("{s}: {:?}", a.body),
        }
    }
    assert_eq!(gw.blnk.transaction_posts(), REFERENCES);
    gw.blnk.settled().await;
    let ledger = gw.blnk.transactions();
    for (r, id) in ids.iter().enumerate() {
        // One copy of each was first, and got Blnk's answer.
        let id = id.as_ref().unwrap_or_else(|| panic!("storm-{r}: no 201"));
        assert_eq!(&ledger[&format!("storm-{r}")]["transaction_id"], id);
    }
}
