//! The first request's outcome never reached the client: Blnk took longer than
//! `upstream_response_timeout`, or its connection dropped after the request was sent. The
//! transfer may or may not have happened; the retry must not make it happen twice, and must not
//! tell the client it did not happen when it did.

use serde_json::json;

use super::{gateway, post, replayed, send, txn};
use crate::support::fake_blnk::Behavior;

/// Blnk holds its answer past the gateway's deadline (its ledger already has the transfer).
fn slow_blnk() -> serde_json::Value {
    json!({"limits": {"upstream_response_timeout": "300ms"}})
}

fn lookups(gw: &crate::support::gateway::TestGateway) -> usize {
    gw.blnk
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.target.starts_with("/transactions/reference/"))
        .count()
}

#[tokio::test]
async fn after_a_timeout_the_retry_gets_blnks_record_of_the_transfer() {
    let gw = gateway(slow_blnk()).await;
    gw.blnk.set_behavior(Behavior::Hold);
    let mut c = gw.h1().await;
    let body = txn("ref-timeout", 100);
    let first = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    first.assert_error(504, "GATEWAY_UPSTREAM_TIMEOUT");
    gw.blnk.release();

    let mut c = gw.h1().await;
    let retry = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert_eq!(retry.status, 201, "{:?}", retry.body);
    assert!(replayed(&retry));
    // Blnk's record: the transaction the first request created, not a new one.
    let ledger = gw.blnk.transactions();
    assert_eq!(retry.json(), ledger["ref-timeout"]);
    // Kept: the next retry is answered from the store, without asking Blnk again.
    let again = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert_eq!(again.body, retry.body);
    assert_eq!((gw.blnk.transaction_posts(), lookups(&gw)), (1, 1));
    let audit = gw.stop_and_read_audit().await;
    let outcomes: Vec<_> = audit
        .requests()
        .iter()
        .map(|r| r["idempotency"].clone())
        .collect();
    assert_eq!(outcomes, vec!["first", "recovered", "replayed"]);
}

#[tokio::test]
async fn with_no_reference_to_ask_about_the_retry_is_told_the_outcome_is_unknown() {
    let gw = gateway(slow_blnk()).await;
    gw.blnk.set_behavior(Behavior::Hold);
    let mut c = gw.h1().await;
    let body = r#"{"name":"operations"}"#;
    let first = send(&mut c, post(&gw, "/ledgers", body, Some("\"ledger-1\""))).await;
    first.assert_error(504, "GATEWAY_UPSTREAM_TIMEOUT");
    gw.blnk.release();
    let mut c = gw.h1().await;
    for _ in 0..2 {
        let retry = send(&mut c, post(&gw, "/ledgers", body, Some("\"ledger-1\""))).await;
        retry.assert_error(409, "GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN");
        // Waiting will not tell: no Retry-After.
        assert!(retry.headers.get("retry-after").is_none());
    }
    assert_eq!(gw.blnk.count(), 1);
}

#[tokio::test]
async fn a_reference_blnk_does_not_know_is_retried_only_once_it_has_settled() {
    // Blnk's connection drops after the request was written: it may have arrived.
    let gw = gateway(json!({})).await;
    gw.blnk.set_behavior(Behavior::Hangup);
    let mut c = gw.h1().await;
    let body = txn("ref-dropped", 100);
    let first = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    first.assert_error(502, "GATEWAY_BAD_UPSTREAM_RESPONSE");
    gw.blnk.set_behavior(Behavior::Normal);

    // Blnk does not know it, but a queued transfer is stored just after Blnk answers: not yet.
    let mut c = gw.h1().await;
    let retry = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    retry.assert_error(409, "GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN");
    let wait: u64 = retry.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((50..=60).contains(&wait), "{wait}");
    assert_eq!(gw.blnk.transaction_posts(), 1);
    assert!(gw.blnk.transactions().is_empty());

    // The same, with a gateway that trusts Blnk's "not found" at once: the retry goes through,
    // once, and later retries get its answer.
    let gw = gateway(json!({"idempotency": {"unknown_settle": "0s"}})).await;
    gw.blnk.set_behavior(Behavior::Hangup);
    let mut c = gw.h1().await;
    let first = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    first.assert_error(502, "GATEWAY_BAD_UPSTREAM_RESPONSE");
    gw.blnk.set_behavior(Behavior::Normal);
    let mut c = gw.h1().await;
    let retry = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert_eq!(retry.status, 201);
    assert!(!replayed(&retry));
    let again = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    assert_eq!(again.body, retry.body);
    assert_eq!(gw.blnk.transaction_posts(), 2);
    gw.blnk.settled().await;
    assert_eq!(
        gw.blnk.transactions()["ref-dropped"]["transaction_id"],
        retry.json()["transaction_id"]
    );
}

#[tokio::test]
async fn when_blnk_cannot_be_asked_the_retry_waits() {
    let gw = gateway(slow_blnk()).await;
    gw.blnk.set_behavior(Behavior::Hold);
    let mut c = gw.h1().await;
    let body = txn("ref-unreachable", 100);
    let first = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    first.assert_error(504, "GATEWAY_UPSTREAM_TIMEOUT");
    // Blnk still holds everything: the lookup itself times out. Never forwarded meanwhile.
    let mut c = gw.h1().await;
    let retry = send(&mut c, post(&gw, "/transactions", &body, None)).await;
    retry.assert_error(409, "GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN");
    assert_eq!(retry.headers["retry-after"], "1");
    assert_eq!(gw.blnk.transaction_posts(), 1);
    gw.blnk.release();
}
