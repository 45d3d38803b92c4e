//! Ledger safety, second round: money moves once on every route, and the client's answer is the
//! ledger's. Each case is one way money moved twice, or the client was told something the
//! ledger contradicts, found against a model of Blnk; each asserts what reached Blnk (copies,
//! amounts committed, balances) and what the client was told (status, `transaction_id`, replay).
//!
//! "Lost answer": Blnk holds its answer past the gateway's `upstream_response_timeout`, so the
//! client gets 504 while Blnk has acted; Blnk is then released.

use serde_json::{json, Value};

use super::{gateway, post, replayed, send, txn};
use crate::support::client::{req, send1, Answer, H1};
use crate::support::fake_blnk::{transfer, Behavior};
use crate::support::gateway::TestGateway;

/// Blnk's answers arrive after the gateway's deadline.
fn lost_answers(extra: Value) -> Value {
    let mut v = json!({"limits": {"upstream_response_timeout": "300ms"}});
    crate::support::gateway::merge(&mut v, &extra);
    v
}

/// Sends `r` while Blnk holds its answer: the client gets 504, Blnk has acted.
async fn lose_answer(gw: &TestGateway, r: http::Request<http_body_util::Full<bytes::Bytes>>) {
    gw.blnk.set_behavior(Behavior::Hold);
    let mut c = gw.h1().await;
    let first = send(&mut c, r).await;
    first.assert_error(504, "GATEWAY_UPSTREAM_TIMEOUT");
    gw.blnk.release();
    gw.blnk.set_behavior(Behavior::Normal);
}

fn keyed(
    gw: &TestGateway,
    method: &str,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut r = req(method, path)
        .header("x-blnk-key", &gw.key)
        .header("content-type", "application/json");
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    r.body(http_body_util::Full::new(bytes::Bytes::from(
        body.to_string(),
    )))
    .unwrap()
}

/// A hold of `amount` to `@bob`, made through the gateway with `skip_queue`; its id.
async fn hold(gw: &TestGateway, c: &mut H1, reference: &str, amount: u64) -> String {
    let mut body: Value = serde_json::from_str(&transfer(reference, amount)).unwrap();
    body["inflight"] = json!(true);
    body["skip_queue"] = json!(true);
    body["destination"] = json!("@bob");
    let a = send1(c, post(gw, "/transactions", &body.to_string(), None)).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a.json()["transaction_id"].as_str().unwrap().to_string()
}

/// `@bob`'s settled balance, in minor units.
async fn bob(gw: &TestGateway) -> i128 {
    gw.blnk.settled().await;
    gw.blnk.balance("@bob", "USD").unwrap_or(0)
}

fn puts(gw: &TestGateway, id: &str) -> usize {
    gw.blnk.sent("PUT", &format!("/transactions/inflight/{id}"))
}

/// Case 1: a client following the IETF draft keeps its key and regenerates the reference inside
/// its retry loop. The same key with another request is 422, never a second transfer.
#[tokio::test]
async fn an_idempotency_key_reused_with_a_regenerated_reference_is_422() {
    let gw = gateway(lost_answers(json!({}))).await;
    lose_answer(
        &gw,
        post(&gw, "/transactions", &txn("r-1", 100), Some("order-7")),
    )
    .await;
    let mut c = gw.h1().await;
    let retry = send(
        &mut c,
        post(&gw, "/transactions", &txn("r-2", 100), Some("order-7")),
    )
    .await;
    retry.assert_error(422, "GATEWAY_IDEMPOTENCY_KEY_REUSED");
    assert_eq!(gw.blnk.transaction_posts(), 1);
    gw.blnk.settled().await;
    assert_eq!(gw.blnk.balance("@alice", "USD"), Some(10000));
}

/// Case 2: a partial commit whose answer is lost, retried without a key: the gateway cannot tell
/// a retry from a second commit of the same amount, so the retry is not forwarded blindly.
#[tokio::test]
async fn a_partial_commit_retried_after_a_lost_answer_commits_once() {
    let gw = gateway(lost_answers(json!({}))).await;
    let mut c = gw.h1().await;
    let id = hold(&gw, &mut c, "hold-1", 100).await;
    let path = format!("/transactions/inflight/{id}");
    let commit = r#"{"status":"commit","amount":30,"skip_queue":true}"#;
    lose_answer(&gw, keyed(&gw, "PUT", &path, commit, None)).await;
    let mut c = gw.h1().await;
    let retry = send(&mut c, keyed(&gw, "PUT", &path, commit, None)).await;
    retry.assert_error(409, "GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN");
    assert_eq!(puts(&gw, &id), 1);
    assert_eq!(bob(&gw).await, 3000, "committed once");

    // With a key, a retry after a lost answer is never forwarded again either.
    let key = Some("commit-2");
    lose_answer(&gw, keyed(&gw, "PUT", &path, commit, key)).await;
    let mut c = gw.h1().await;
    let retry = send(&mut c, keyed(&gw, "PUT", &path, commit, key)).await;
    assert_ne!(retry.status, 200, "{:?}", retry.body);
    assert_eq!(puts(&gw, &id), 2);
    assert_eq!(bob(&gw).await, 6000);
}

/// Case 2, answered: an `Idempotency-Key` on a PUT is honoured, never silently ignored.
#[tokio::test]
async fn a_keyed_partial_commit_is_replayed_and_a_second_key_commits_again() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let id = hold(&gw, &mut c, "hold-2", 100).await;
    let path = format!("/transactions/inflight/{id}");
    let commit = r#"{"status":"commit","amount":30,"skip_queue":true}"#;
    let first = send(&mut c, keyed(&gw, "PUT", &path, commit, Some("c-1"))).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let again = send(&mut c, keyed(&gw, "PUT", &path, commit, Some("c-1"))).await;
    assert!(replayed(&again));
    assert_eq!(again.body, first.body);
    // Another key is another intent: the second commit of the same amount goes through.
    let second = send(&mut c, keyed(&gw, "PUT", &path, commit, Some("c-2"))).await;
    assert_eq!(second.status, 200);
    assert!(!replayed(&second));
    assert_eq!(puts(&gw, &id), 2);
    assert_eq!(bob(&gw).await, 6000);
}

/// Case 2, bulk: the bulk commit without a key, retried after a lost answer, commits once.
#[tokio::test]
async fn a_bulk_commit_retried_after_a_lost_answer_commits_once() {
    let gw = gateway(lost_answers(json!({}))).await;
    let mut c = gw.h1().await;
    let id = hold(&gw, &mut c, "hold-3", 100).await;
    let body = json!({"transactions": [{"transaction_id": id, "amount": 30}], "skip_queue": true})
        .to_string();
    let path = "/transactions/inflight/bulk/commit";
    lose_answer(&gw, keyed(&gw, "POST", path, &body, None)).await;
    let mut c = gw.h1().await;
    let retry = send(&mut c, keyed(&gw, "POST", path, &body, None)).await;
    retry.assert_error(409, "GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN");
    assert_eq!(gw.blnk.sent("POST", path), 1);
    assert_eq!(bob(&gw).await, 3000);
}

/// Case 2, the rule: a key is refused with a clear 400 where the gateway cannot honour it.
#[tokio::test]
async fn a_key_on_a_safe_method_is_refused_not_ignored() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let a = send(&mut c, keyed(&gw, "GET", "/ledgers", "", Some("g-1"))).await;
    a.assert_error(400, "GATEWAY_IDEMPOTENCY_KEY_NOT_SUPPORTED");
    assert_eq!(gw.blnk.count(), 0);
    let off = gateway(json!({"idempotency": {"enabled": false}})).await;
    let mut c = off.h1().await;
    let a = send(
        &mut c,
        post(&off, "/transactions", &txn("r-off", 1), Some("k")),
    )
    .await;
    a.assert_error(400, "GATEWAY_IDEMPOTENCY_KEY_NOT_SUPPORTED");
    assert_eq!(off.blnk.count(), 0);
}

/// Case 3: every master-key holder is one client, before and after the master key rotates.
#[tokio::test]
async fn a_keyed_partial_commit_replayed_before_a_rotation_is_replayed_after_it() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let id = hold(&gw, &mut c, "hold-4", 100).await;
    let path = format!("/transactions/inflight/{id}");
    let commit = r#"{"status":"commit","amount":30,"skip_queue":true}"#;
    let first = send(&mut c, keyed(&gw, "PUT", &path, commit, Some("rot-1"))).await;
    assert_eq!(first.status, 200);
    let next = crate::support::gateway::new_key("rotated");
    gw.write_key(&next);
    gw.blnk.set_key(&next);
    gw.reloader.reload("test").await;
    let mut rotated = keyed(&gw, "PUT", &path, commit, Some("rot-1"));
    rotated
        .headers_mut()
        .insert("x-blnk-key", next.parse().unwrap());
    let mut c = gw.h1().await;
    let again = send(&mut c, rotated).await;
    assert!(replayed(&again), "{:?}", again.body);
    assert_eq!(puts(&gw, &id), 1);
    assert_eq!(bob(&gw).await, 3000);
}

/// Case 4: after a lost answer, a record found under the reference is the retry's answer only
/// if it is the retry's transfer.
#[tokio::test]
async fn a_record_of_another_transfer_under_the_reference_is_not_the_answer() {
    let gw = gateway(lost_answers(
        json!({"idempotency": {"unknown_settle": "0s"}}),
    ))
    .await;
    // An earlier transfer of 100.00 took the reference at Blnk, outside this gateway's memory.
    let mut earlier: Value = serde_json::from_str(&transfer("r-taken", 100)).unwrap();
    earlier["skip_queue"] = json!(true);
    blnk_post(&gw, &earlier.to_string()).await;
    let mut body: Value = serde_json::from_str(&transfer("r-taken", 250)).unwrap();
    body["skip_queue"] = json!(true);
    lose_answer(&gw, post(&gw, "/transactions", &body.to_string(), None)).await;
    let mut c = gw.h1().await;
    let retry = send(&mut c, post(&gw, "/transactions", &body.to_string(), None)).await;
    assert!(!replayed(&retry) || retry.status != 201, "{:?}", retry.body);
    retry.assert_error(409, "TXN_DUPLICATE_REFERENCE");
    gw.blnk.settled().await;
    assert_eq!(
        gw.blnk.balance("@alice", "USD"),
        Some(10000),
        "only the earlier 100.00"
    );
}

/// POSTs straight to the fake Blnk, as another client of Blnk would.
async fn blnk_post(gw: &TestGateway, body: &str) -> Answer {
    let tcp = tokio::net::TcpStream::connect(gw.blnk.addr).await.unwrap();
    let mut c = crate::support::client::h1(tcp).await;
    let r = req("POST", "/transactions")
        .header("x-blnk-key", &gw.key)
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap();
    let a = send1(&mut c, r).await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    a
}

/// Whether Blnk holds a transaction with this id.
fn holds_id(gw: &TestGateway, id: &Value) -> bool {
    gw.blnk
        .transactions()
        .values()
        .any(|t| &t["transaction_id"] == id)
}

/// Case 5: a copy forwarded after `unknown_settle` while the first is still in Blnk's queue (no
/// deadline there) must not leave the client holding an id Blnk drops.
#[tokio::test]
async fn a_take_over_while_the_first_is_still_queued_hands_out_no_phantom_id() {
    let gw = gateway(lost_answers(
        json!({"idempotency": {"unknown_settle": "0s"}}),
    ))
    .await;
    gw.blnk.hold_queue();
    lose_answer(&gw, post(&gw, "/transactions", &txn("r-queued", 100), None)).await;
    let mut c = gw.h1().await;
    let retry = send(
        &mut c,
        post(&gw, "/transactions", &txn("r-queued", 100), None),
    )
    .await;
    gw.blnk.release_queue();
    gw.blnk.settled().await;
    if retry.status == 201 {
        assert!(
            holds_id(&gw, &retry.json()["transaction_id"]),
            "phantom: {:?}",
            retry.body
        );
    } else {
        retry.assert_error(409, "GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN");
    }
    assert_eq!(gw.blnk.balance("@alice", "USD"), Some(10000));
}

/// Case 5: a reference retried after the key's TTL is not a new transfer with a phantom id.
#[tokio::test(start_paused = true)]
async fn a_reference_retried_after_its_ttl_gets_blnks_record_not_a_phantom() {
    crate::support::clock::pace();
    let gw = gateway(json!({"idempotency": {"ttl": "20s", "unknown_settle": "5s"}})).await;
    let mut c = gw.h1().await;
    let first = send(&mut c, post(&gw, "/transactions", &txn("r-ttl", 100), None)).await;
    assert_eq!(first.status, 201);
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    let mut c = gw.h1().await;
    let retry = send(&mut c, post(&gw, "/transactions", &txn("r-ttl", 100), None)).await;
    gw.blnk.settled().await;
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert_eq!(
        retry.json()["transaction_id"],
        first.json()["transaction_id"]
    );
    assert!(holds_id(&gw, &retry.json()["transaction_id"]));
    assert_eq!(gw.blnk.balance("@alice", "USD"), Some(10000));
}

/// Case 5: a refund retried after a lost answer while the first is still queued.
#[tokio::test]
async fn a_refund_retried_after_a_lost_answer_hands_out_no_phantom_id() {
    let gw = gateway(lost_answers(
        json!({"idempotency": {"unknown_settle": "0s"}}),
    ))
    .await;
    let mut c = gw.h1().await;
    let mut body: Value = serde_json::from_str(&txn("r-refund", 100)).unwrap();
    body["skip_queue"] = json!(true);
    let paid = send(&mut c, post(&gw, "/transactions", &body.to_string(), None)).await;
    let id = paid.json()["transaction_id"].as_str().unwrap().to_string();
    let path = format!("/refund-transaction/{id}");
    gw.blnk.hold_queue();
    lose_answer(&gw, keyed(&gw, "POST", &path, "", None)).await;
    let mut c = gw.h1().await;
    let retry = send(&mut c, keyed(&gw, "POST", &path, "", None)).await;
    gw.blnk.release_queue();
    gw.blnk.settled().await;
    if retry.status == 201 {
        assert!(
            holds_id(&gw, &retry.json()["transaction_id"]),
            "phantom: {:?}",
            retry.body
        );
    } else {
        assert_eq!(retry.status, 409, "{:?}", retry.body);
    }
    assert_eq!(gw.blnk.balance("@alice", "USD"), Some(0), "refunded once");
}

/// Case 6: bytes Go turns into U+FFFD make one reference at Blnk, so one key at the gateway.
#[tokio::test]
async fn references_go_reads_as_one_are_one_key() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let first = txn("r-\\ud800", 100);
    assert_eq!(
        send(&mut c, post(&gw, "/transactions", &first, None))
            .await
            .status,
        201
    );
    for other in [txn("r-\\udc00", 100).into_bytes(), {
        let mut b = txn("r-X", 100).into_bytes();
        let at = b.windows(3).position(|w| w == b"r-X").unwrap() + 2;
        b[at] = 0xff;
        b
    }] {
        let r = req("POST", "/transactions")
            .header("x-blnk-key", &gw.key)
            .body(http_body_util::Full::new(bytes::Bytes::from(other)))
            .unwrap();
        let a = send(&mut c, r).await;
        a.assert_error(422, "GATEWAY_IDEMPOTENCY_KEY_REUSED");
    }
    assert_eq!(gw.blnk.transaction_posts(), 1);
}

/// Case 6: a split Go binds (`"deſtinations"`) is a split to the gateway too: after a lost
/// answer, the retry finds its legs, never a second split.
#[tokio::test]
async fn a_split_written_with_a_folded_name_is_looked_up_by_its_legs() {
    let gw = gateway(lost_answers(
        json!({"idempotency": {"unknown_settle": "0s"}}),
    ))
    .await;
    let body = r#"{"amount":100,"precision":100,"reference":"r-split","currency":"USD","source":"@world","allow_overdraft":true,"description":"d","deſtinations":[{"identifier":"@bob","distribution":"100%"}]}"#;
    lose_answer(&gw, post(&gw, "/transactions", body, None)).await;
    gw.blnk.settled().await;
    let mut c = gw.h1().await;
    let retry = send(&mut c, post(&gw, "/transactions", body, None)).await;
    assert_ne!(retry.status, 201, "{:?}", retry.body);
    assert_eq!(gw.blnk.transaction_posts(), 1);
    assert_eq!(bob(&gw).await, 10000);
}

/// Case 6: a money-moving body the gateway cannot read as Go does is refused, not forwarded.
#[tokio::test]
async fn a_money_body_go_cannot_bind_is_refused_before_blnk() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    for body in [
        r#"{"reference":"r-x","amount":"5"}"#,
        "[1]",
        r#"{"reference":"r-y""#,
    ] {
        let a = send(&mut c, post(&gw, "/transactions", body, None)).await;
        a.assert_error(400, "GEN_MALFORMED_REQUEST");
    }
    assert_eq!(gw.blnk.count(), 0);
}

/// Case 7: a non-atomic bulk that fails on item 3 keeps items 1 and 2 and answers 409: a
/// refusal after an effect keeps the key, so the retry is the same answer, not a new attempt.
#[tokio::test]
async fn a_refusal_after_an_effect_keeps_the_key() {
    let gw = gateway(json!({})).await;
    let mut c = gw.h1().await;
    let item = |r: &str, n: u64| -> Value { serde_json::from_str(&transfer(r, n)).unwrap() };
    let body = json!({"atomic": false, "skip_queue": true,
        "transactions": [item("b-1", 1), item("b-2", 2), item("b-1", 3)]})
    .to_string();
    let first = send(&mut c, post(&gw, "/transactions/bulk", &body, None)).await;
    first.assert_error(409, "TXN_DUPLICATE_REFERENCE");
    let again = send(&mut c, post(&gw, "/transactions/bulk", &body, None)).await;
    assert!(replayed(&again), "{:?}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(gw.blnk.sent("POST", "/transactions/bulk"), 1);
}

/// Case 8: a full store lets money keep moving: the oldest settled entries go, counted.
#[tokio::test]
async fn a_full_store_evicts_settled_entries_and_money_keeps_moving() {
    let gw = gateway(json!({"idempotency": {"max_entries": 5}})).await;
    let mut c = gw.h1().await;
    for i in 0..8 {
        let a = send(
            &mut c,
            post(&gw, "/transactions", &txn(&format!("full-{i}"), 1), None),
        )
        .await;
        assert_eq!(a.status, 201, "transfer {i}: {:?}", a.body);
    }
    assert!(gw.metric("blnk_gateway_idempotency_evictions_total").await >= 3.0);
    assert!(gw.metric("blnk_gateway_idempotency_entries").await <= 5.0);
}

/// Case 8: an entry in flight is never evicted: with every slot in flight, a new key waits, and
/// `/readyz` says why until a claim succeeds again.
#[tokio::test]
async fn entries_in_flight_are_never_evicted_and_readyz_says_the_store_is_full() {
    let gw = gateway(json!({"idempotency": {"max_entries": 2}})).await;
    gw.blnk.set_behavior(Behavior::Hold);
    let c = gw.h2().await;
    let mut held = Vec::new();
    for i in 0..2 {
        let mut c = c.clone();
        let r = post(&gw, "/transactions", &txn(&format!("fly-{i}"), 1), None);
        held.push(tokio::spawn(async move {
            crate::support::client::send2(&mut c, r).await
        }));
    }
    crate::support::until(|| gw.blnk.transaction_posts() == 2).await;
    let mut c2 = c.clone();
    let third =
        crate::support::client::send2(&mut c2, post(&gw, "/transactions", &txn("fly-2", 1), None))
            .await;
    third.assert_error(503, "GATEWAY_IDEMPOTENCY_UNAVAILABLE");
    let (status, why) = gw.admin_get("/readyz").await;
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("idempotency store is full"), "{why}");

    gw.blnk.release();
    for h in held {
        assert_eq!(h.await.unwrap().status, 201);
    }
    gw.blnk.set_behavior(Behavior::Normal);
    let mut c3 = c.clone();
    let next =
        crate::support::client::send2(&mut c3, post(&gw, "/transactions", &txn("fly-3", 1), None))
            .await;
    assert_eq!(next.status, 201, "{:?}", next.body);
    let (status, why) = gw.admin_get("/readyz").await;
    assert_eq!(status, 200, "{why}");
    // The refused transfer's record says why, as docs/audit.md lists it.
    let audit = gw.stop_and_read_audit().await;
    let refused: Vec<_> = audit
        .requests()
        .into_iter()
        .filter(|r| r["reason"] == "GATEWAY_IDEMPOTENCY_UNAVAILABLE")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["idempotency"], "store_unavailable");
}
